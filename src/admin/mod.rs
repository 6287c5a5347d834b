//! `/admin/...`: the operators' API, for people and automation. `Authorization: Bearer
//! <DASHBOARD_TOKEN>` (constant-time compare), rate-limited per client address before the
//! token is even read; off (404) without a `DASHBOARD_TOKEN`. JSON in and out, refusals as
//! Pusher's `{"error": ...}`.
//!
//! The registry itself: `catalog` (the writer), `app_index` (the lookups' copies), one
//! Durable Object class for both (`registry_object`); `route` (paths to calls, pure), `token`
//! (pure).

mod app_index;
mod catalog;
mod credentials;
pub mod registry_object;
pub mod route;
pub mod token;

use crate::apps::client::catalog;
use crate::apps::contract::RegistryRequest;
use crate::apps::lookup::forget;
use crate::glue::http::{bounded_body, drain_small_body, RestResult};
use crate::glue::internal_query::request_query;
use crate::glue::rate_limit::within_limit;
use crate::protocol::json_read::from_text;
use crate::protocol::rest_error::RestError;
use token::{bearer_matches, operators_token};
use worker::{Env, Request, Response};

/// The Rate Limiting binding that bounds calls per client address (wrangler.toml).
const ADMIN_LIMITER: &str = "ADMIN_CALLS";
/// The largest request body the API reads (an app with many webhooks fits many times over).
const MAX_BODY_BYTES: u64 = 64 * 1024;

pub async fn handle(mut req: Request, env: &Env) -> RestResult {
    let secret = env.var("DASHBOARD_TOKEN").ok().map(|v| v.to_string());
    let Some(token) = operators_token(secret) else {
        drain_small_body(&mut req).await;
        return Err(RestError::not_found(
            "The operators' API is off: set the DASHBOARD_TOKEN secret (16 characters or more)",
        ));
    };
    // Every call counts, before the token is compared: guessing it is as slow as the limit.
    if !within_limit(env, ADMIN_LIMITER, &req).await? {
        drain_small_body(&mut req).await;
        return Err(RestError::new(
            429,
            "Too many calls to the operators' API from this address: wait a minute",
        ));
    }
    let authorization = req.headers().get("Authorization")?;
    if !bearer_matches(authorization.as_deref(), &token) {
        drain_small_body(&mut req).await;
        let refused = RestError::unauthorized(
            "Send Authorization: Bearer <DASHBOARD_TOKEN> to use the operators' API",
        )
        .into_response()?;
        refused.headers().set("WWW-Authenticate", "Bearer")?;
        return Ok(refused);
    }
    let path = req.path();
    let sub_path = path.strip_prefix(route::PREFIX).unwrap_or_default();
    operate_request(req, env, sub_path).await
}

/// Runs the API call a request makes on `sub_path` (the path after `/admin`, or after the
/// dashboard's `/dashboard/api/admin`): its method, query and body, once the caller has
/// checked who is asking.
pub async fn operate_request(mut req: Request, env: &Env, sub_path: &str) -> RestResult {
    let method = req.inner().method();
    let query = request_query(&req);
    let body = match method.as_str() {
        "POST" | "PATCH" => bounded_body(req, MAX_BODY_BYTES).await?,
        _ => {
            // A body the call does not take (a PUT refused with 405) is still read when small,
            // so the caller's keep-alive connection survives the answer.
            drain_small_body(&mut req).await;
            String::new()
        }
    };
    let call = route::registry_call(&method, sub_path, &query, || body)?;
    operate(env, &call).await
}

/// Runs an operators' API call (for `/admin` and the dashboard alike); the answer is the
/// catalog's. A change is in force in this isolate at once: its cached copies are dropped.
pub async fn operate(env: &Env, call: &RegistryRequest) -> RestResult {
    let mut answer = catalog(env, call).await?;
    let status = answer.status_code();
    let text = answer.text().await?;
    if !matches!(
        call,
        RegistryRequest::List { .. } | RegistryRequest::Read { .. }
    ) {
        if let Ok(value) = from_text::<serde_json::Value>(&text) {
            // A changed app's answer holds it; a deletion's, its id and key.
            let app = &value["app"];
            let key = app["key"].as_str().or(value["key"].as_str());
            let id = app["id"].as_str().or(value["id"].as_str());
            forget(key, id);
        }
    }
    let response = Response::ok(text)?.with_status(status);
    response.headers().set("Content-Type", "application/json")?;
    response.headers().set("Cache-Control", "no-store")?;
    Ok(response)
}
