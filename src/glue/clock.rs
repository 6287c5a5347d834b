//! The one clock of the glue: Unix time from the runtime (`Date.now()`). Pure code never reads
//! a clock; it is given `now_ms`, so its tests choose the time.
//!
//! In a Worker or Durable Object the clock advances only across I/O (Cloudflare's Spectre
//! mitigation), so two reads within one synchronous run give the same value.

use worker::Date;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> f64 {
    Date::now().as_millis() as f64
}

/// Whole seconds since the Unix epoch (REST request timestamps).
pub fn now_secs() -> i64 {
    (Date::now().as_millis() / 1000) as i64
}
