//! The dashboard's webhooks panel: the app's delivery log (its ledger keeps the last 100
//! requests to its receivers) and a test request to one receiver, signed like every webhook.

use super::{Answer, AnswerResult};
use crate::config::App;
use crate::glue::clock::now_ms;
use crate::glue::http::json_response;
use crate::glue::internal_query::host_of;
use crate::ledger::client::{send_report, webhook_log};
use crate::ledger::report::Report;
use crate::ledger::webhook_log::{line, Logged};
use crate::protocol::json_writer::JsonObject;
use crate::protocol::rest_error::RestError;
use crate::protocol::webhook::test_body;
use crate::room::webhook_outbox::post;
use worker::{console_error, Env};

/// `GET /dashboard/api/apps/{id}/webhook-log`: `{"attempts":[...]}`, newest first.
pub async fn log(env: &Env, app: &App) -> AnswerResult {
    let log = webhook_log(env, &app.id).await?;
    Ok(Answer::Done(json_response(200, &log)?))
}

/// `POST /dashboard/api/apps/{id}/webhooks/{index}/test`: one request to that receiver, with
/// its headers, whose body holds a single `webhook_test` event (no channel: no receiver can
/// take it for a channel's event), signed with the app's secret so its SDK verifies it. The
/// answer says how it went; the delivery log keeps it, marked as a test.
pub async fn send_test(env: &Env, app: &App, index: &str) -> AnswerResult {
    // The index as the page writes it: digits, no sign, no leading zero.
    let canonical = !index.is_empty()
        && index.bytes().all(|b| b.is_ascii_digit())
        && (index == "0" || !index.starts_with('0'));
    let hook = canonical
        .then(|| index.parse::<usize>().ok())
        .flatten()
        .and_then(|i| app.webhooks.get(i))
        .ok_or_else(|| RestError::not_found("No such webhook"))?;
    // Unique even for two tests in one millisecond (a receiver may de-duplicate by id).
    let id = format!(
        "test:{}-{:06}",
        now_ms() as u64,
        (js_sys::Math::random() * 1e6) as u32
    );
    let sent_ms = now_ms();
    let status = post(app, &hook.url, &test_body(sent_ms as u64, &id)).await;
    let latency_ms = (now_ms() - sent_ms).max(0.0) as u64;
    let host = host_of(&hook.url);
    let names = ["webhook_test".to_string()];
    let logged = Logged {
        at_ms: sent_ms as u64,
        host,
        event_names: &names,
        status,
        latency_ms,
        retries_left: None,
        test: true,
    };
    let report = Report {
        webhook_log: vec![line(&logged)],
        ..Report::default()
    };
    if let Err(e) = send_report(env, &app.id, &report).await {
        console_error!("dashboard: the test request to {host} was not logged: {e}");
    }
    let answer = JsonObject::new()
        .string("host", host)
        .string("id", &id)
        .value("status", status)
        .value("latency_ms", latency_ms)
        .value("delivered", (200..300).contains(&status))
        .finish();
    Ok(Answer::Done(json_response(200, &answer)?))
}
