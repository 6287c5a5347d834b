//! The one door to the operator sessions store.

use super::contract::{SessionsRequest, OPERATORS_BINDING, STORE_NAME, TOO_MANY_APPS_STATUS};
use crate::glue::internal_error::InternalError;
use crate::glue::subrequest::send;
use crate::protocol::json_read::from_text;
use crate::protocol::rest_error::RestError;
use crate::protocol::wire::InternalRequest;
use serde::Deserialize;
use worker::{Env, Response, Result};

async fn call(env: &Env, request: &SessionsRequest) -> Result<Response> {
    let stub = env
        .durable_object(OPERATORS_BINDING)?
        .id_from_name(STORE_NAME)?
        .get_stub()?;
    send(&stub, "operators", &request.encode()).await
}

async fn answer<T: for<'a> Deserialize<'a>>(mut response: Response) -> Result<T> {
    let text = response.text().await?;
    if response.status_code() != 200 {
        return Err(
            InternalError::status("operator sessions", response.status_code(), text).into(),
        );
    }
    Ok(from_text(&text)?)
}

#[derive(Deserialize)]
struct Checked {
    revoked: bool,
}

#[derive(Deserialize)]
struct Revoked {
    apps: Vec<String>,
}

/// Whether the session with `nonce` was logged out.
pub async fn is_revoked(env: &Env, nonce: &str) -> Result<bool> {
    let check = SessionsRequest::Check {
        nonce: nonce.to_string(),
    };
    Ok(answer::<Checked>(call(env, &check).await?).await?.revoked)
}

/// Logs the session out until `until_secs`; returns the apps it had opened consoles on.
pub async fn revoke(env: &Env, nonce: &str, until_secs: i64) -> Result<Vec<String>> {
    let revoke = SessionsRequest::Revoke {
        nonce: nonce.to_string(),
        until_secs,
    };
    Ok(answer::<Revoked>(call(env, &revoke).await?).await?.apps)
}

/// Records that the session opened a console on `app_id`; refused past the session's cap.
pub async fn console_opened(
    env: &Env,
    nonce: &str,
    app_id: &str,
    until_secs: i64,
) -> std::result::Result<(), RestError> {
    let opened = SessionsRequest::ConsoleOpened {
        nonce: nonce.to_string(),
        app_id: app_id.to_string(),
        until_secs,
    };
    let mut response = call(env, &opened).await?;
    match response.status_code() {
        200 => Ok(()),
        TOO_MANY_APPS_STATUS => Err(RestError::new(429, response.text().await?)),
        status => Err(InternalError::status("operator sessions", status, "").into()),
    }
}
