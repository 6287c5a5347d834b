//! `GET /metrics`: every app's ledger counters as Prometheus text, for a scraper holding the
//! deployment's `METRICS_TOKEN` (sent as `Authorization: Bearer <token>`).

use crate::apps::client::first_page;
use crate::glue::clock::now_ms;
use crate::glue::http::RestResult;
use crate::ledger::{client, stats::prometheus_text};
use crate::protocol::auth_token::constant_time_eq;
use crate::protocol::rest_error::RestError;
use crate::protocol::timestamp::utc_month;
use futures_util::future::join_all;
use worker::{console_error, Env, Request, Response};

pub async fn handle(req: &Request, env: &Env) -> RestResult {
    let Some(token) = env.var("METRICS_TOKEN").ok().map(|v| v.to_string()) else {
        return Err(RestError::not_found(
            "Metrics are off: set the METRICS_TOKEN secret to turn them on",
        ));
    };
    let given = req
        .headers()
        .get("Authorization")?
        .and_then(|h| h.strip_prefix("Bearer ").map(str::to_string))
        .unwrap_or_default();
    if token.is_empty() || !constant_time_eq(&given, &token) {
        return Err(RestError::unauthorized(
            "A valid Authorization: Bearer <METRICS_TOKEN> is required",
        ));
    }
    // The environment's apps and the registry's first 1,000 (each one ledger read).
    let ids: Vec<String> = first_page(env)
        .await?
        .iter()
        .filter_map(|app| app["id"].as_str().map(str::to_string))
        .collect();
    let reads = ids.iter().map(|id| client::stats(env, id));
    let mut all = Vec::new();
    for (result, id) in join_all(reads).await.into_iter().zip(ids.iter()) {
        match result {
            Ok(stats) => all.push(stats),
            Err(e) => console_error!("metrics: ledger of app {id} unavailable: {e}"),
        }
    }
    let text = prometheus_text(&all, &utc_month(now_ms()));
    let response = Response::ok(text)?;
    response
        .headers()
        .set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")?;
    Ok(response)
}
