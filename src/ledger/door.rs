//! What the Worker's door refuses before any object: an app's rate limits (by its tier,
//! keyed on what the request names, before any lookup of the app), and the counting of every
//! door refusal. Counts gather in the isolate (`super::refusal_tally`): the first refusal
//! after a batch starts the next one, sent `BATCH_DELAY_MS` later, so an isolate sends each
//! app's ledger at most one request per `BATCH_DELAY_MS`, whatever the refusals' rate.

use super::client::send_report;
use super::refusal_tally::{Refusal, RefusalTally};
use super::report::Report;
use crate::config::{App, MAX_CREDENTIAL_LENGTH};
use crate::glue::clock::now_ms;
use crate::glue::rate_limit::within_app_limit;
use crate::protocol::rate_tier::{address_key, binding, Limited, STANDARD_TIER};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use worker::{console_error, Context, Delay, Env};

/// How long refusals gather before they are sent (well within the 30 s a Worker's
/// `waitUntil` may run after its answer).
const BATCH_DELAY_MS: u64 = 5_000;

thread_local! {
    static TALLY: RefCell<RefusalTally> = RefCell::new(RefusalTally::default());
}

/// Whether the call is past its app's rate limit for `kind` (and so refused). `app` is the
/// app as far as the caller knows it (a connection: what this isolate already holds for the
/// URL's key, before any lookup; a REST call: the app its signature proved), `name` what the
/// request names it by. A connection counts per client address and app key (per address alone
/// for a key this isolate does not know: made-up keys get no fresh count each), a REST call
/// per app (and, naming a key this isolate does not know, per address before the lookup); an
/// unknown app's tier is the standard one.
pub async fn over_rate_limit(
    env: &Env,
    ctx: &Context,
    kind: Limited,
    (app, name): (Option<Rc<App>>, &str),
    address: &str,
) -> bool {
    if name.len() > MAX_CREDENTIAL_LENGTH {
        // No app has such a name: the call is refused as unknown, and the binding's key stays short.
        return false;
    }
    let tier = app
        .as_ref()
        .map_or(STANDARD_TIER, |app| &app.rate_limit_tier);
    let Some(binding) = binding(kind, tier) else {
        return false;
    };
    let key = match (kind, &app) {
        (Limited::Connections, Some(_)) => format!("{} {name}", address_key(address)),
        (Limited::Rest, Some(_)) => name.to_string(),
        // A key this isolate does not know: one count per address, whatever the key.
        (_, None) => format!("{} ?", address_key(address)),
    };
    if within_app_limit(env, binding, &key).await {
        return false;
    }
    // Counted for an app this isolate knows; a made-up name has no ledger to count in.
    if let Some(app) = app {
        let refusal = match kind {
            Limited::Connections => Refusal::ConnectionRateLimited,
            Limited::Rest => Refusal::RestRateLimited,
        };
        count_refusal(env, ctx, &app.id, refusal);
    }
    true
}

/// Counts `refusal` for app `app_id`; a batch is sent after the answer if none is on its way.
pub fn count_refusal(env: &Env, ctx: &Context, app_id: &str, refusal: Refusal) {
    if TALLY.with(|tally| tally.borrow_mut().add(app_id, refusal, now_ms())) {
        ctx.wait_until(send_batch(env.clone()));
    }
}

async fn send_batch(env: Env) {
    Delay::from(Duration::from_millis(BATCH_DELAY_MS)).await;
    let batch = TALLY.with(|tally| tally.borrow_mut().take());
    for (app_id, counts) in batch {
        let report = Report {
            counts,
            ..Report::default()
        };
        if let Err(e) = send_report(&env, &app_id, &report).await {
            console_error!("refusal counts for app {app_id} were not reported: {e}");
        }
    }
}
