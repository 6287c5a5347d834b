//! pusher-edge: a Pusher-protocol realtime service on Cloudflare Workers and Durable Objects.
//!
//! Layers, each importing only from those below it (`scripts/house_metrics.mjs` checks):
//! `protocol` (pure: frames, names, signatures, limits) → `config` (pure: apps) → `glue` (the
//! runtime helpers: clock, HTTP answers, internal requests, config from the environment) →
//! `apps` (finding an app: the environment's, then the registry's through a cache) →
//! `ledger` (per-app counters and connection shards) → `room` (channel rooms, user directory) → `edge`
//! (client sessions) → `rest` (REST API), `metrics`, `admin` (the operators' API and the
//! registry's objects) and `dashboard` (the operators' page; its REST calls, signed for the
//! operator, go through the router) → `router` (the front door).

// Public only where the fuzz harness (tests/fuzz) reaches in; everything else is the crate's
// own, so the compiler reports what nothing uses.
mod admin;
mod apps;
pub mod config;
mod dashboard;
pub mod edge;
mod glue;
mod ledger;
mod metrics;
pub mod protocol;
mod rest;
pub mod room;
mod router;

use worker::{event, Context, Env, Request, Response, Result};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    router::route(req, env, ctx).await
}
