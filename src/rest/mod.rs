//! The REST API under `/apps/{app_id}/...`: signature check first, then the endpoint.

mod events;

use crate::config::{App, Apps};
use crate::edge::router::json_error;
use crate::protocol::rest_signature::{percent_decode, QueryParams, SignedRequest};
use worker::{Date, Env, Method, Request, Response, Result};

pub async fn handle(mut req: Request, env: &Env, apps: &Apps) -> Result<Response> {
    let path = req.path();
    let rest = path.strip_prefix("/apps/").unwrap_or_default();
    let (app_id, endpoint) = rest.split_once('/').unwrap_or((rest, ""));

    let params = QueryParams::parse(req.url()?.query().unwrap_or_default());
    let method = req.method();
    let probe = SignedRequest {
        method: method.as_ref(),
        path: &path,
        params: &params,
        body: &[],
    };
    let auth_key = match probe.auth_key() {
        Ok(key) => key,
        Err(e) => return json_error(401, &e.to_string()),
    };
    let app: &App = match apps.by_key(auth_key) {
        Some(app) if app.id == app_id => app,
        Some(_) => {
            return json_error(
                401,
                &format!("auth_key {auth_key} does not belong to app {app_id}"),
            )
        }
        None => return json_error(401, &format!("Invalid authentication key: {auth_key}")),
    };

    let max_body = app.limits.max_request_body_bytes;
    if let Some(length) = req.headers().get("Content-Length")? {
        if length.parse::<usize>().is_ok_and(|n| n > max_body) {
            return json_error(413, &format!("Request body exceeds {max_body} bytes"));
        }
    }
    let body = if method == Method::Get || method == Method::Head {
        Vec::new()
    } else {
        req.bytes().await.unwrap_or_default()
    };
    if body.len() > max_body {
        return json_error(413, &format!("Request body exceeds {max_body} bytes"));
    }

    let signed = SignedRequest {
        method: method.as_ref(),
        path: &path,
        params: &params,
        body: &body,
    };
    let now = (Date::now().as_millis() / 1000) as i64;
    if let Err(e) = signed.verify(&app.secret, now) {
        return json_error(401, &e.to_string());
    }

    let terminate_user = endpoint
        .strip_prefix("users/")
        .and_then(|rest| rest.strip_suffix("/terminate_connections"));
    match (method, endpoint, terminate_user) {
        (Method::Post, "events", _) => events::trigger(env, app, &body).await,
        (_, "events", _) => json_error(405, "Use POST for /events"),
        (Method::Post, _, Some(user_id)) => {
            events::terminate_user(env, app, &percent_decode(user_id)).await
        }
        _ => json_error(404, &format!("Unknown REST endpoint: {path}")),
    }
}
