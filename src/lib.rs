//! pusher-edge: a Pusher-protocol realtime service on Cloudflare Workers and Durable Objects.
//!
//! `protocol` and `config` are pure Rust; `edge` (the Worker: router and client sessions),
//! `rest` (the REST API), `room` (the channel Durable Object) and `ledger` (the per-app
//! counters and connection shards) are the runtime glue around them.

pub mod clock;
pub mod config;
pub mod config_env;
pub mod edge;
pub mod http;
pub mod internal_error;
pub mod internal_query;
pub mod ledger;
mod metrics;
pub mod protocol;
pub mod rest;
pub mod room;
mod router;

use worker::{event, Context, Env, Request, Response, Result};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    router::route(req, env).await
}
