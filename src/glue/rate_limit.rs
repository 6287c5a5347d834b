//! The Rate Limiting bindings (wrangler.toml `[[ratelimits]]`): counted where the request
//! comes in, before any Durable Object (each binding counts per Cloudflare location,
//! approximately, in the machine that runs the Worker).

use crate::protocol::rate_tier::address_key;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{console_warn, Env, Request, Result};

/// The request's client address (`CF-Connecting-IP`, which Cloudflare sets and a client
/// cannot forge; "unknown" where nothing set it).
pub fn client_address(req: &Request) -> String {
    req.headers()
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".into())
}

/// Counts one more call from the request's client address against the binding's limit;
/// whether it is within the limit.
pub async fn within_limit(env: &Env, binding: &str, req: &Request) -> Result<bool> {
    // An IPv6 client holds a whole /64: counted as one address.
    count(env, binding, &address_key(&client_address(req))).await
}

/// Counts one more call for `key` against the binding's limit; whether it is within it. A
/// binding missing from the deployment (or failing) limits nothing, and says so in the log:
/// an app's traffic is not refused for the operator's configuration.
pub async fn within_app_limit(env: &Env, binding: &str, key: &str) -> bool {
    match count(env, binding, key).await {
        Ok(within) => within,
        Err(e) => {
            console_warn!("rate limit {binding} not applied: {e}");
            true
        }
    }
}

/// `binding.limit({key})`, called on the JS object itself: worker's `RateLimiter` converts the
/// options and the outcome through serde, a weight in the bundle for one field each way.
async fn count(env: &Env, binding: &str, key: &str) -> Result<bool> {
    let limiter: JsValue = env.rate_limiter(binding)?.into();
    let options = Object::new();
    Reflect::set(&options, &"key".into(), &key.into())?;
    let limit: Function = Reflect::get(&limiter, &"limit".into())?.dyn_into()?;
    let outcome = JsFuture::from(Promise::from(limit.call1(&limiter, &options)?)).await?;
    Ok(Reflect::get(&outcome, &"success".into())?.as_bool() == Some(true))
}
