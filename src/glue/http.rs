//! The Worker's HTTP answers: JSON responses, and a [`RestError`] as Pusher's
//! `{"error": "..."}` with its status. Every layer that answers HTTP uses these.

use crate::protocol::rest_error::RestError;
use worker::{Request, Response, Result};

/// What a REST endpoint (or any JSON route) answers: a response, or a refusal.
pub type RestResult = std::result::Result<Response, RestError>;

pub fn json_response(status: u16, body: &str) -> Result<Response> {
    let response = Response::ok(body)?.with_status(status);
    response.headers().set("Content-Type", "application/json")?;
    Ok(response)
}

impl RestError {
    pub fn into_response(self) -> Result<Response> {
        let response = json_response(self.status, &self.body())?;
        if let Some(allow) = self.allow {
            response.headers().set("Allow", allow)?;
        }
        Ok(response)
    }
}

/// A failure of the runtime (a stub, a subrequest, a body read) behind a REST call is the
/// service's fault: 500, saying what failed.
impl From<worker::Error> for RestError {
    fn from(e: worker::Error) -> Self {
        RestError::internal(e.to_string())
    }
}

/// Answers a route's result: the response, or the refusal as JSON.
pub fn respond(result: RestResult) -> Result<Response> {
    result.or_else(RestError::into_response)
}

/// A request body of at most `max` bytes, declared by `Content-Length` (a body of unknown
/// length, or a larger one, is refused before it is read).
pub async fn bounded_body(mut req: Request, max: u64) -> std::result::Result<String, RestError> {
    let length = req
        .headers()
        .get("Content-Length")?
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| RestError::new(411, "A Content-Length is required"))?;
    if length > max {
        return Err(RestError::new(413, format!("The body is over {max} bytes")));
    }
    Ok(req.text().await?)
}

/// Bodies a refusal still reads (and drops) before it answers.
const DRAIN_MAX: u64 = 16 * 1024;

/// Reads and drops a small body of declared length before a refusal. Answering without reading
/// the body makes the runtime close the connection after the answer, and an HTTP client that
/// reuses its keep-alive connection for the next call then fails ("fetch failed") instead of
/// reading a clear error. A larger body, or one of unknown length, stays unread.
pub async fn drain_small_body(req: &mut Request) {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|n| n.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > 0 && n <= DRAIN_MAX) {
        let _ = req.bytes().await;
    }
}
