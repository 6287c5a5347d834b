//! `GET /app/{key}`: a pusher-js connection. Checks the upgrade, the protocol version, the
//! rate limit (before the app is looked up), the app and the page's origin, takes a place in
//! the app's connection ledger, then starts the session. Nothing before the place is taken
//! asks a Durable Object (but a lookup of an app this isolate has not seen yet).

use super::session;
use super::session_core::protocol_problem;
use crate::apps::contract::IndexKind;
use crate::apps::lookup::{found_by_key, known};
use crate::config::App;
use crate::glue::http::RestResult;
use crate::glue::internal_query::{query_value, request_query};
use crate::glue::rate_limit::client_address;
use crate::ledger::client::hold_connection;
use crate::ledger::door::{count_refusal, over_rate_limit};
use crate::ledger::refusal_tally::Refusal;
use crate::protocol::close_codes;
use crate::protocol::origin::origin_allowed;
use crate::protocol::rate_tier::Limited;
use crate::protocol::rest_error::RestError;
use crate::protocol::socket_id::new_socket_id;
use worker::{Context, Env, Request};

pub async fn client_connection(req: Request, env: Env, ctx: &Context, key: &str) -> RestResult {
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
    let named = (known(&env, IndexKind::Key, key), key);
    if over_rate_limit(
        &env,
        ctx,
        Limited::Connections,
        named,
        &client_address(&req),
    )
    .await
    {
        // pusher-js retries a refused upgrade after 15 s, then 30 s, then every 60 s.
        return Err(RestError::new(
            429,
            "Too many connection attempts from this address: wait and retry",
        ));
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
    let origin = req.headers().get("Origin")?;
    if !page_allowed(app, origin.as_deref()) {
        count_refusal(&env, ctx, &app.id, Refusal::OriginRefused);
        return Ok(session::refuse(
            close_codes::UNAUTHORIZED,
            "Origin not allowed",
        )?);
    }
    let socket_id = new_socket_id().map_err(|e| RestError::internal(e.to_string()))?;
    // With a connection quota, the place is taken first: a full app refuses with 4004 before
    // `connection_established`. Without one, nothing needs it first: the session answers the
    // client at once and takes its place right after (no round trip to the shard first).
    let place = match app.limits.max_connections {
        Some(_) => match hold_connection(&env, app, &socket_id).await {
            Ok(place) => Some(place),
            Err(refused) => return Ok(session::refuse(refused.code, &refused.message)?),
        },
        None => None,
    };
    Ok(session::start(
        env,
        socket_id,
        place,
        found.app.clone(),
        found.rev,
    )?)
}

/// Whether a page of `origin` may connect to `app` (no `Origin`: a server-side client, allowed
/// unless the app requires one).
fn page_allowed(app: &App, origin: Option<&str>) -> bool {
    match origin {
        Some(origin) => origin_allowed(&app.allowed_origins, origin),
        None => !app.require_origin,
    }
}
