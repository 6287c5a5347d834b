//! The REST API under `/apps/{app_id}/...`: the app and its signature first, then the endpoint.
//! Every endpoint answers a [`RestResult`]: a response, or a [`RestError`] as Pusher's JSON.

mod body_budget;
mod channels;
mod events;
mod signed_body;

use crate::apps::contract::IndexKind;
use crate::apps::lookup::{app_by_key, known};
use crate::config::App;
use crate::glue::http::{drain_small_body, json_response, RestResult};
use crate::glue::internal_error::InternalError;
use crate::glue::internal_query::request_query;
use crate::glue::rate_limit::client_address;
use crate::ledger::client::rest_read;
use crate::ledger::contract::LedgerRequest;
use crate::ledger::door::over_rate_limit;
use crate::protocol::query::{percent_decode, QueryParams};
use crate::protocol::rate_tier::Limited;
use crate::protocol::rest_error::RestError;
use crate::protocol::rest_signature::SignedRequest;
use std::rc::Rc;
use worker::{Context, Env, Method, Request, Response, ResponseBody};

pub async fn handle(mut req: Request, env: &Env, ctx: &Context) -> RestResult {
    let path = req.path();
    let (app_id, endpoint) = split_path(&path);
    let params = QueryParams::parse(&request_query(&req));
    let method = req.method();
    let signed = SignedRequest {
        method: method.as_ref(),
        path: &path,
        params: &params,
    };
    if over_lookup_limit(env, ctx, &signed, &req).await {
        drain_small_body(&mut req).await;
        return Err(RestError::new(
            429,
            "Too many REST calls from this address: slow down and retry",
        ));
    }
    let checked = match signing_app(env, &signed, app_id).await {
        Ok(app) => signed_body::read(&mut req, &signed, &app)
            .await
            .map(|body| (app, body)),
        Err(refused) => Err(refused),
    };
    let (app, body) = match checked {
        Ok(checked) => checked,
        Err(refused) => {
            // Refused before its body was read (unknown key, bad signature): a small body is
            // read now, so the caller's keep-alive connection survives the refusal. (A body
            // already read, or too large, is left alone.)
            drain_small_body(&mut req).await;
            return Err(refused);
        }
    };
    // Counted once the signature holds, before any object is asked: anyone can send calls
    // naming the app's public key, and they must not spend the budget of its servers.
    let app_named = (Some(app.clone()), app.id.as_str());
    if over_rate_limit(env, ctx, Limited::Rest, app_named, "").await {
        return Err(RestError::new(
            429,
            "Too many REST calls for this app: slow down and retry",
        ));
    }
    if !app.enabled {
        return Err(RestError::new(403, "Application disabled"));
    }
    let parts: Vec<&str> = endpoint.split('/').collect();
    if app_id.is_none() && !matches!(parts.as_slice(), ["users", _, "terminate_connections"]) {
        return Err(RestError::not_found(format!("No route for {path}")));
    }
    match (method, parts.as_slice()) {
        (Method::Post, ["events"]) => events::trigger(env, &app, &body.bytes).await,
        (Method::Post, ["batch_events"]) => events::batch(env, &app, &body.bytes).await,
        (Method::Get, ["channels"]) => channels::list(env, &app, &params).await,
        (Method::Get, ["channels", name]) => {
            channels::show(env, &app, &percent_decode(name), &params).await
        }
        (Method::Get, ["channels", name, "users"]) => {
            channels::users(env, &app, &percent_decode(name)).await
        }
        (Method::Post, ["users", user_id, "terminate_connections"]) => {
            events::terminate_user(env, &app, &percent_decode(user_id)).await
        }
        (Method::Get, ["stats"]) => stats(env, &app).await,
        (method, _) => Err(match allowed_method(&parts) {
            Some(allow) => RestError::method_not_allowed(method.as_ref(), &path, allow),
            None => RestError::not_found(format!("Unknown REST endpoint: {path}")),
        }),
    }
}

/// A call naming a key this isolate does not know costs a lookup of the app registry before
/// its signature can be checked, so such calls count first, per client address (one count
/// for all made-up keys, as for connection attempts), keyed on what the request carries.
async fn over_lookup_limit(
    env: &Env,
    ctx: &Context,
    signed: &SignedRequest<'_>,
    req: &Request,
) -> bool {
    let Ok(key) = signed.auth_key() else {
        return false;
    };
    known(env, IndexKind::Key, key).is_none()
        && over_rate_limit(env, ctx, Limited::Rest, (None, key), &client_address(req)).await
}

/// `/apps/{app_id}/{endpoint}`, or `/users/{id}/terminate_connections` without the app
/// prefix: the path the Python SDK (pusher 3.3) signs and requests, the app then being the
/// one the auth_key names.
fn split_path(path: &str) -> (Option<&str>, &str) {
    match path.strip_prefix("/apps/") {
        Some(rest) => {
            let (id, endpoint) = rest.split_once('/').unwrap_or((rest, ""));
            (Some(id), endpoint)
        }
        None => (None, path.trim_start_matches('/')),
    }
}

/// The app whose key signed the request. Some hosted services tell users to put the key where
/// an SDK wants the app id, so a path naming the app by its key (`/apps/{key}/...`) is that
/// app; the signature still decides.
async fn signing_app(
    env: &Env,
    signed: &SignedRequest<'_>,
    app_id: Option<&str>,
) -> Result<Rc<App>, RestError> {
    let auth_key = signed
        .auth_key()
        .map_err(|e| RestError::unauthorized(e.to_string()))?;
    match (app_by_key(env, auth_key).await?, app_id) {
        (Some(app), Some(id)) if app.id != id && app.key != id => Err(RestError::unauthorized(
            format!("auth_key {auth_key} does not belong to app {id}"),
        )),
        (Some(app), _) => Ok(app),
        (None, _) => Err(RestError::unauthorized(format!(
            "Invalid authentication key: {auth_key}"
        ))),
    }
}

/// `GET /apps/{id}/stats`: the ledger's counters.
async fn stats(env: &Env, app: &App) -> RestResult {
    pass_json(
        "ledger",
        rest_read(env, &app.id, LedgerRequest::Stats).await?,
    )
    .await
}

/// Answers with a Durable Object's JSON answer as it streams in, never whole in Wasm memory
/// (`GET /channels`, which lists every occupied channel), or a 500 naming its failure.
async fn stream_json(object: &'static str, response: Response) -> RestResult {
    match (response.status_code(), response.body()) {
        (200, ResponseBody::Stream(stream)) => {
            let passed = Response::from_body(ResponseBody::Stream(stream.clone()))?;
            passed.headers().set("Content-Type", "application/json")?;
            Ok(passed)
        }
        _ => pass_json(object, response).await,
    }
}

/// Answers with a Durable Object's JSON answer as it is, or a 500 naming its failure.
async fn pass_json(object: &'static str, mut response: Response) -> RestResult {
    let status = response.status_code();
    let body = response.text().await.unwrap_or_default();
    match status {
        200 => Ok(json_response(200, &body)?),
        _ => Err(InternalError::status(object, status, body).into()),
    }
}

/// The method a REST path takes (for an `Allow` header), or `None` for no endpoint.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    match split_path(path) {
        (Some(_), endpoint) => allowed_method(&endpoint.split('/').collect::<Vec<_>>()),
        (None, endpoint) => match endpoint.split('/').collect::<Vec<_>>()[..] {
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
