//! The Worker's front door: routes each request to the session, the REST API or an info page.

use super::metrics;
use super::session;
use super::session_core::protocol_problem;
use crate::config::Apps;
use crate::config_env::load_apps;
use crate::internal_query::{query_value, request_query};
use crate::ledger::client::hold_connection;
use crate::protocol::close_codes;
use crate::protocol::socket_id::new_socket_id;
use crate::rest;
use worker::{console_error, Env, Request, Response, Result};

pub fn json_response(status: u16, body: &str) -> Result<Response> {
    let response = Response::ok(body)?.with_status(status);
    response.headers().set("Content-Type", "application/json")?;
    Ok(response)
}

pub fn json_error(status: u16, message: &str) -> Result<Response> {
    let body = serde_json::json!({ "error": message }).to_string();
    json_response(status, &body)
}

/// The methods the Worker routes. workers-rs reads a method it does not know (PROPFIND,
/// PURGE, ...) as GET, so the raw method is checked before routing.
const ROUTED_METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

pub async fn route(req: Request, env: Env) -> Result<Response> {
    let path = req.path();
    let method = req.inner().method();
    if !ROUTED_METHODS.contains(&method.as_str()) {
        return other_method(&method, &path);
    }
    if path == "/" {
        return json_response(200, &service_info());
    }
    if path == "/up" {
        // Health check: the Worker runs. (It does not read the configuration, so a load
        // balancer keeps routing while an operator fixes a bad PUSHER_APPS.)
        return json_response(200, r#"{"status":"ok"}"#);
    }
    let apps = match load_apps(&env) {
        Ok(apps) => apps,
        Err(e) => {
            console_error!("{e}");
            return json_error(500, &e.to_string());
        }
    };
    if let Some(key) = path.strip_prefix("/app/") {
        return client_connection(req, env, &apps, key).await;
    }
    if path.starts_with("/apps/") || path.starts_with("/users/") {
        return rest::handle(req, &env, &apps).await;
    }
    if path == "/metrics" {
        return metrics::handle(&req, &env, &apps).await;
    }
    json_error(404, &format!("No route for {path}"))
}

/// OPTIONS names the methods a path takes (204 with `Allow`); CONNECT, TRACE and any other
/// method get 405 with the same `Allow`, or 404 on a path the Worker does not serve.
fn other_method(method: &str, path: &str) -> Result<Response> {
    let Some(allow) = allowed_methods(path) else {
        return json_error(404, &format!("No route for {path}"));
    };
    let response = if method == "OPTIONS" {
        Response::empty()?.with_status(204)
    } else {
        json_error(
            405,
            &format!("{method} is not allowed on {path}: use {allow}"),
        )?
    };
    response.headers().set("Allow", allow)?;
    Ok(response)
}

/// The methods a path takes (for `Allow`), or `None` for a path the Worker does not serve.
fn allowed_methods(path: &str) -> Option<&'static str> {
    match path {
        "/" | "/up" | "/metrics" => Some("GET, HEAD"),
        _ if path.starts_with("/app/") => Some("GET"),
        _ if path.starts_with("/apps/") || path.starts_with("/users/") => {
            rest::allowed_methods(path)
        }
        _ => None,
    }
}

async fn client_connection(req: Request, env: Env, apps: &Apps, key: &str) -> Result<Response> {
    let is_upgrade = req
        .headers()
        .get("Upgrade")?
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return json_error(
            426,
            "This is a Pusher WebSocket endpoint: connect with pusher-js (Upgrade: websocket)",
        );
    }
    let url = request_query(&req);
    let protocol = query_value(&url, "protocol");
    if let Some((code, reason)) = protocol_problem(protocol.as_deref()) {
        return session::refuse(code, &reason);
    }
    if key.is_empty() || key.contains('/') {
        return session::refuse(
            close_codes::PATH_NOT_FOUND,
            "Path not found: use /app/{key}",
        );
    }
    let Some(app) = apps.by_key(key) else {
        return session::refuse(
            close_codes::APP_DOES_NOT_EXIST,
            &format!("Application does not exist: no app has key {key}"),
        );
    };
    if !app.enabled {
        return session::refuse(close_codes::APP_DISABLED, "Application disabled");
    }
    let socket_id = new_socket_id().map_err(|e| worker::Error::RustError(e.to_string()))?;
    let place = match hold_connection(&env, app, &socket_id).await {
        Ok(place) => place,
        Err(refused) => return session::refuse(refused.code, &refused.message),
    };
    session::start(env, app.id.clone(), socket_id, place, app.clone())
}

fn service_info() -> String {
    serde_json::json!({
        "service": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "commit": env!("PUSHER_EDGE_COMMIT"),
        "protocol": close_codes::MAX_PROTOCOL,
    })
    .to_string()
}
