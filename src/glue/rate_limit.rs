//! The Rate Limiting bindings (wrangler.toml `[[ratelimits]]`), keyed by the client's address.

use worker::{Env, Request, Result};

/// Counts one more call from the request's client address (`CF-Connecting-IP`) against the
/// binding's limit; whether it is within the limit.
pub async fn within_limit(env: &Env, binding: &str, req: &Request) -> Result<bool> {
    let address = req
        .headers()
        .get("CF-Connecting-IP")?
        .unwrap_or_else(|| "unknown".into());
    Ok(env.rate_limiter(binding)?.limit(address).await?.success)
}
