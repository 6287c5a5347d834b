//! The REST API under `/apps/{app_id}/...`: signature check first, then the endpoint.

mod channels;
mod events;
mod rooms;

use crate::config::{App, Apps};
use crate::edge::router::{json_error, json_response};
use crate::internal_query::request_query;
use crate::ledger::client::rest_read;
use crate::ledger::contract::ledger_path;
use crate::protocol::rest_signature::{percent_decode, QueryParams, SignedRequest};
use futures_util::StreamExt;
use worker::{Date, Env, Method, Request, Response, Result};

pub async fn handle(mut req: Request, env: &Env, apps: &Apps) -> Result<Response> {
    let path = req.path();
    // `/apps/{app_id}/{endpoint}`; also `/users/{id}/terminate_connections` without the app
    // prefix, which is the path the Python SDK (pusher 3.3) signs and requests: the app is
    // then the one the auth_key names.
    let (app_id, endpoint) = match path.strip_prefix("/apps/") {
        Some(rest) => {
            let (id, endpoint) = rest.split_once('/').unwrap_or((rest, ""));
            (Some(id), endpoint)
        }
        None => (None, path.trim_start_matches('/')),
    };

    let params = QueryParams::parse(&request_query(&req));
    let method = req.method();
    let signed = SignedRequest {
        method: method.as_ref(),
        path: &path,
        params: &params,
        body: &[],
    };
    let auth_key = match signed.auth_key() {
        Ok(key) => key,
        Err(e) => return json_error(401, &e.to_string()),
    };
    // Some hosted services tell users to put the key where an SDK wants the app id, so a path
    // naming the app by its key (`/apps/{key}/...`) is that app; the signature still decides.
    let app: &App = match (apps.by_key(auth_key), app_id) {
        (Some(app), Some(id)) if app.id != id && app.key != id => {
            return json_error(
                401,
                &format!("auth_key {auth_key} does not belong to app {id}"),
            )
        }
        (Some(app), _) => app,
        (None, _) => return json_error(401, &format!("Invalid authentication key: {auth_key}")),
    };

    // A declared length over the cap is refused before anything is read.
    let max_body = app.limits.max_request_body_bytes;
    let too_large = || json_error(413, &format!("Request body exceeds {max_body} bytes"));
    if let Some(length) = req.headers().get("Content-Length")? {
        if length
            .trim()
            .parse::<u64>()
            .is_ok_and(|n| n > max_body as u64)
        {
            return too_large();
        }
    }
    // Then the signature, over the query (which signs `body_md5`): an unsigned caller's body
    // is never read, and a signed one is read with a running cap.
    let now = (Date::now().as_millis() / 1000) as i64;
    if let Err(e) = signed.verify_query(&app.secret, now) {
        return json_error(401, &e.to_string());
    }
    let body = if method == Method::Get || method == Method::Head {
        Vec::new()
    } else {
        match read_capped(&mut req, max_body).await {
            Some(body) => body,
            None => return too_large(),
        }
    };
    if let Err(e) = signed.verify_body(&body) {
        return json_error(401, &e.to_string());
    }

    if !app.enabled {
        return json_error(403, "Application disabled");
    }

    let parts: Vec<&str> = endpoint.split('/').collect();
    if app_id.is_none() && !matches!(parts.as_slice(), ["users", _, "terminate_connections"]) {
        return json_error(404, &format!("No route for {path}"));
    }
    match (method, parts.as_slice()) {
        (Method::Post, ["events"]) => events::trigger(env, app, &body).await,
        (Method::Post, ["batch_events"]) => events::batch(env, app, &body).await,
        (Method::Get, ["channels"]) => channels::list(env, app, &params).await,
        (Method::Get, ["channels", name]) => {
            channels::show(env, app, &percent_decode(name), &params).await
        }
        (Method::Get, ["channels", name, "users"]) => {
            channels::users(env, app, &percent_decode(name)).await
        }
        (Method::Post, ["users", user_id, "terminate_connections"]) => {
            events::terminate_user(env, app, &percent_decode(user_id)).await
        }
        (Method::Get, ["stats"]) => {
            let mut response = rest_read(env, &app.id, ledger_path::STATS, &[]).await?;
            let body = response.text().await?;
            match response.status_code() {
                200 => json_response(200, &body),
                status => json_error(500, &format!("ledger answered HTTP {status}: {body}")),
            }
        }
        (method, _) => match allowed_method(&parts) {
            Some(allowed) => {
                let response = json_error(
                    405,
                    &format!(
                        "{} is not allowed on {path}: use {allowed}",
                        method.as_ref()
                    ),
                )?;
                response.headers().set("Allow", allowed)?;
                Ok(response)
            }
            None => json_error(404, &format!("Unknown REST endpoint: {path}")),
        },
    }
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

/// The method a REST path takes (for an `Allow` header), or `None` for no endpoint.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    match path.strip_prefix("/apps/") {
        Some(rest) => {
            let (_, endpoint) = rest.split_once('/')?;
            allowed_method(&endpoint.split('/').collect::<Vec<_>>())
        }
        None => match path.trim_start_matches('/').split('/').collect::<Vec<_>>()[..] {
            ["users", _, "terminate_connections"] => Some("POST"),
            _ => None,
        },
    }
}

/// The method an existing endpoint takes, for a 405 answer.
fn allowed_method(parts: &[&str]) -> Option<&'static str> {
    match parts {
        ["events"] | ["batch_events"] | ["users", _, "terminate_connections"] => Some("POST"),
        ["channels"] | ["channels", _] | ["channels", _, "users"] | ["stats"] => Some("GET"),
        _ => None,
    }
}
