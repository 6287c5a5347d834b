//! `GET /app/{key}`: a pusher-js connection. Checks the upgrade, the protocol version and the
//! app, takes a place in the app's connection ledger, then starts the session.

use super::session;
use super::session_core::protocol_problem;
use crate::apps::lookup::found_by_key;
use crate::config::App;
use crate::glue::http::RestResult;
use crate::glue::internal_query::{query_value, request_query};
use crate::ledger::client::hold_connection;
use crate::protocol::close_codes;
use crate::protocol::rest_error::RestError;
use crate::protocol::socket_id::new_socket_id;
use worker::{Env, Request};

pub async fn client_connection(req: Request, env: Env, key: &str) -> RestResult {
    let is_upgrade = req
        .headers()
        .get("Upgrade")?
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return Err(RestError::new(
            426,
            "This is a Pusher WebSocket endpoint: connect with pusher-js (Upgrade: websocket)",
        ));
    }
    let url = request_query(&req);
    let protocol = query_value(&url, "protocol");
    if let Some((code, reason)) = protocol_problem(protocol.as_deref()) {
        return Ok(session::refuse(code, &reason)?);
    }
    if key.is_empty() || key.contains('/') {
        return Ok(session::refuse(
            close_codes::PATH_NOT_FOUND,
            "Path not found: use /app/{key}",
        )?);
    }
    let Some(found) = found_by_key(&env, key).await? else {
        return Ok(session::refuse(
            close_codes::APP_DOES_NOT_EXIST,
            &format!("Application does not exist: no app has key {key}"),
        )?);
    };
    let app = &found.app;
    if !app.enabled {
        return Ok(session::refuse(
            close_codes::APP_DISABLED,
            "Application disabled",
        )?);
    }
    let socket_id = new_socket_id().map_err(|e| RestError::internal(e.to_string()))?;
    let place = match hold_connection(&env, app, &socket_id).await {
        Ok(place) => place,
        Err(refused) => return Ok(session::refuse(refused.code, &refused.message)?),
    };
    Ok(session::start(
        env,
        socket_id,
        place,
        App::clone(app),
        found.rev,
    )?)
}
