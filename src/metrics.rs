//! `GET /metrics`: every app's ledger counters as Prometheus text, for a scraper holding the
//! deployment's `METRICS_TOKEN` (sent as `Authorization: Bearer <token>`).

use crate::config::Apps;
use crate::glue::clock::now_ms;
use crate::glue::http::RestResult;
use crate::ledger::{client, stats::prometheus_text};
use crate::protocol::auth_token::constant_time_eq;
use crate::protocol::rest_error::RestError;
use crate::protocol::timestamp::utc_month;
use futures_util::future::join_all;
use worker::{console_error, Env, Request, Response};

pub async fn handle(req: &Request, env: &Env, apps: &Apps) -> RestResult {
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
    let reads = apps.iter().map(|app| client::stats(env, &app.id));
    let mut all = Vec::new();
    for (result, app) in join_all(reads).await.into_iter().zip(apps.iter()) {
        match result {
            Ok(stats) => all.push(stats),
            Err(e) => console_error!("metrics: ledger of app {} unavailable: {e}", app.id),
        }
    }
    let text = prometheus_text(&all, &utc_month(now_ms()));
    let response = Response::ok(text)?;
    response
        .headers()
        .set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")?;
    Ok(response)
}
