//! The Worker's front door: routes each request to the session, the REST API or an info page.

use super::session;
use super::session_core::{protocol_problem, SessionApp};
use crate::config::{Apps, ConfigError, RawConfig};
use crate::protocol::close_codes;
use crate::rest;
use std::cell::RefCell;
use std::rc::Rc;
use worker::{console_error, Env, Request, Response, Result};

thread_local! {
    /// Parsed configuration, reused while the environment's values stay the same.
    static APPS: RefCell<Option<(RawConfig, Rc<Apps>)>> = const { RefCell::new(None) };
}

fn env_string(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

fn load_apps(env: &Env) -> std::result::Result<Rc<Apps>, ConfigError> {
    let raw = RawConfig {
        apps_json: env_string(env, "PUSHER_APPS"),
        app_id: env_string(env, "PUSHER_APP_ID"),
        app_key: env_string(env, "PUSHER_APP_KEY"),
        app_secret: env_string(env, "PUSHER_APP_SECRET"),
    };
    if let Some(apps) = APPS.with(|cache| {
        cache
            .borrow()
            .as_ref()
            .filter(|(cached, _)| *cached == raw)
            .map(|(_, apps)| apps.clone())
    }) {
        return Ok(apps);
    }
    let apps = Rc::new(Apps::from_raw(&raw)?);
    APPS.with(|cache| *cache.borrow_mut() = Some((raw, apps.clone())));
    Ok(apps)
}

pub fn json_response(status: u16, body: &str) -> Result<Response> {
    let response = Response::ok(body)?.with_status(status);
    response.headers().set("Content-Type", "application/json")?;
    Ok(response)
}

pub fn json_error(status: u16, message: &str) -> Result<Response> {
    let body = serde_json::json!({ "error": message }).to_string();
    json_response(status, &body)
}

pub async fn route(req: Request, env: Env) -> Result<Response> {
    let path = req.path();
    if path == "/" {
        return json_response(200, &service_info());
    }
    let apps = match load_apps(&env) {
        Ok(apps) => apps,
        Err(e) => {
            console_error!("{e}");
            return json_error(500, &e.to_string());
        }
    };
    if let Some(key) = path.strip_prefix("/app/") {
        return client_connection(req, env, &apps, key);
    }
    if path.starts_with("/apps/") {
        return rest::handle(req, &env, &apps).await;
    }
    json_error(404, &format!("No route for {path}"))
}

fn client_connection(req: Request, env: Env, apps: &Apps, key: &str) -> Result<Response> {
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
    let url = req.url()?;
    let protocol = url
        .query_pairs()
        .find(|(k, _)| k == "protocol")
        .map(|(_, v)| v.into_owned());
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
    session::start(
        env,
        app.id.clone(),
        SessionApp {
            key: app.key.clone(),
            secret: app.secret.clone(),
            enable_client_messages: app.enable_client_messages,
            enable_subscription_count: app.enable_subscription_count,
            limits: app.limits.clone(),
        },
    )
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
