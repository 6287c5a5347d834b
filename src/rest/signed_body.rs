//! The body of a signed REST request, read only once the signature allows it: a declared
//! length over the cap is refused first, then the signature over the query (which signs
//! `body_md5`) is checked, so an unsigned caller's body is never read; a signed one is read
//! (in one call when its length is declared, else as a stream with a running cap), then
//! checked against `body_md5`.

use super::body_budget::{reserve, BodyPermit};
use crate::config::App;
use crate::glue::clock::now_secs;
use crate::protocol::rest_error::RestError;
use crate::protocol::rest_signature::SignedRequest;
use futures_util::StreamExt;
use worker::{Method, Request};

pub async fn read(
    req: &mut Request,
    signed: &SignedRequest<'_>,
    app: &App,
) -> Result<Body, RestError> {
    let max_body = app.limits.max_request_body_bytes;
    let too_large = || RestError::new(413, format!("Request body exceeds {max_body} bytes"));
    let declared = req
        .headers()
        .get("Content-Length")?
        .and_then(|n| n.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return Err(too_large());
    }
    // The current secret, or one being rotated out (until its expiry).
    let now = now_secs();
    app.verify_with_secrets(now, |secret| signed.verify_query(secret, now))
        .map_err(|e| RestError::unauthorized(e.to_string()))?;
    let method = req.method();
    if method == Method::Get || method == Method::Head {
        return Ok(Body {
            bytes: Vec::new(),
            _permit: None,
        });
    }
    // A chunked body may grow to the cap: it is counted at the cap.
    let permit = reserve(declared.map_or(max_body, |n| n as usize)).await;
    let body = if declared.is_some() {
        // The runtime hands over exactly the declared length, already within the cap: one
        // read instead of a stream's chunks (the stream's reader was a fifth of the CPU of a
        // publish). A body that breaks off reads as empty, as below.
        req.bytes().await.unwrap_or_default()
    } else {
        read_capped(req, max_body).await.ok_or_else(too_large)?
    };
    if body.len() > max_body {
        return Err(too_large());
    }
    signed
        .verify_body(&body)
        .map_err(|e| RestError::unauthorized(e.to_string()))?;
    Ok(Body {
        bytes: body,
        _permit: Some(permit),
    })
}

/// A signed request's body, and its room in the isolate's budget of bodies (`body_budget`),
/// held until the call is answered: the parsed copies live that long too.
pub struct Body {
    pub bytes: Vec<u8>,
    _permit: Option<BodyPermit>,
}

/// Reads the body as a stream, giving up as soon as it passes `max` bytes (a chunked body
/// has no length to check first). `None`: too large. A body that breaks off reads as empty.
async fn read_capped(req: &mut Request, max: usize) -> Option<Vec<u8>> {
    let Ok(mut stream) = req.stream() else {
        return Some(Vec::new());
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Some(Vec::new());
        };
        if body.len() + chunk.len() > max {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}
