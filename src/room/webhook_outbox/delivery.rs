//! Delivery of a channel room's webhook outbox: one pass sends each URL's due rows in order,
//! a batch at a time, signed, with a timeout; a failure backs the URL off.

use super::{event_name, Outbox, OutboxRow};
use crate::config::App;
use crate::glue::clock::now_ms;
use crate::glue::internal_query::host_of;
use crate::glue::sql::{int, numbers, texts};
use crate::glue::subrequest::request;
use crate::protocol::webhook::{self, MAX_EVENTS_PER_REQUEST};
use futures_util::future::{select, Either};
use std::time::Duration;
use worker::{Delay, Fetch, Headers, Method, Result, SqlStorageValue};

/// How long one delivery attempt may take.
const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Requests one pass may send to a URL that is behind (each of up to 100 events), one after
/// the other so order holds.
const MAX_REQUESTS_PER_PASS: usize = 10;

/// What the alarm should count after a pass.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Events given up on: past the retry window, or dropped from a full queue.
    pub failed: u64,
    /// Of those, the ones dropped from a full queue.
    pub dropped: u64,
    /// The requests made, for the debug console.
    pub attempts: Vec<Attempt>,
}

/// One webhook request: to which host, with which events, and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub host: String,
    pub event_names: Vec<String>,
    pub delivered: bool,
    /// The receiver's status; 0 when none came.
    pub status: u16,
    pub latency_ms: u64,
    /// After a failure, the tries its events still get.
    pub retries_left: Option<u32>,
}

impl Outcome {
    fn add_dropped(&mut self, dropped: u64) {
        self.failed += dropped;
        self.dropped += dropped;
    }
}

impl Outbox {
    /// One pass: drops what is past the retry window, then sends what is due to every URL.
    pub async fn deliver(&self, app: &App, channel: &str, now: f64) -> Result<Outcome> {
        let cutoff = now - window_ms(app);
        let urls = texts(&self.sql, "SELECT url AS t FROM hook_queues", vec![])?;
        let mut outcome = Outcome::default();
        for url in urls {
            if !app.webhooks.iter().any(|hook| hook.url == url) {
                // The URL was removed from the app's configuration: nothing more goes there.
                self.drop_url(&url)?;
                continue;
            }
            outcome.failed += self.prune(&url, cutoff)?;
            // Caps lowered in the configuration apply at once.
            outcome.add_dropped(self.trim(app, &url)?);
            if self.queue(&url)?.is_none() {
                // Nothing left to retry: the next event starts with a fresh back-off.
                self.forget_failures(&url)?;
                continue;
            }
            let target = numbers(
                &self.sql,
                "SELECT failures AS a, next_try_ms AS b FROM hook_targets WHERE url = ?",
                vec![url.as_str().into()],
            )?;
            if target.as_ref().and_then(|t| t.b).is_some_and(|at| at > now) {
                continue;
            }
            let failures = target.and_then(|t| t.a).map_or(0, |f| f as u32);
            self.send_due(app, channel, &url, failures, now, &mut outcome.attempts)
                .await?;
        }
        Ok(outcome)
    }

    /// Sends `url`'s queued events in order, a batch at a time, until they are all out, a
    /// request fails (then the URL backs off) or the pass has sent its share.
    async fn send_due(
        &self,
        app: &App,
        channel: &str,
        url: &str,
        mut failures: u32,
        now: f64,
        attempts: &mut Vec<Attempt>,
    ) -> Result<()> {
        for _ in 0..MAX_REQUESTS_PER_PASS {
            let rows: Vec<OutboxRow> = self
                .sql
                .exec(
                    "SELECT seq, event, created_ms FROM hook_outbox WHERE url = ? ORDER BY seq LIMIT ?",
                    vec![url.into(), int(MAX_EVENTS_PER_REQUEST as u64)],
                )?
                .to_array()?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            let last_seq = last.seq as i64;
            let events: Vec<String> = rows
                .iter()
                .map(|r| webhook::with_id(&r.event, &format!("{channel}:{}", r.seq as i64)))
                .collect();
            let time_ms = rows.iter().map(|r| r.created_ms).fold(f64::MAX, f64::min) as u64;
            let body = webhook::body(time_ms, &events);

            let sent_ms = now_ms();
            let status = post(app, url, &body).await;
            let delivered = (200..300).contains(&status);
            let give_up_ms = rows.first().map_or(now, |r| r.created_ms) + window_ms(app);
            attempts.push(Attempt {
                host: host_of(url).to_string(),
                event_names: rows.iter().map(|r| event_name(&r.event)).collect(),
                delivered,
                status,
                latency_ms: (now_ms() - sent_ms).max(0.0) as u64,
                retries_left: (!delivered)
                    .then(|| webhook::retries_left(failures + 1, now_ms(), give_up_ms)),
            });
            if !delivered {
                failures += 1;
                self.sql.exec(
                    "INSERT OR REPLACE INTO hook_targets (url, failures, next_try_ms) VALUES (?, ?, ?)",
                    vec![
                        url.into(),
                        SqlStorageValue::Integer(i64::from(failures)),
                        (now + webhook::backoff_ms(failures)).into(),
                    ],
                )?;
                return Ok(());
            }
            self.sql.exec(
                "DELETE FROM hook_outbox WHERE url = ? AND seq <= ?",
                vec![url.into(), SqlStorageValue::Integer(last_seq)],
            )?;
            if failures > 0 {
                self.forget_failures(url)?;
                failures = 0;
            }
            if rows.len() < MAX_EVENTS_PER_REQUEST {
                // Caught up; events queued meanwhile go with the next batch window.
                return Ok(());
            }
        }
        Ok(())
    }

    fn forget_failures(&self, url: &str) -> Result<()> {
        self.sql
            .exec("DELETE FROM hook_targets WHERE url = ?", vec![url.into()])?;
        Ok(())
    }

    fn drop_url(&self, url: &str) -> Result<()> {
        self.sql
            .exec("DELETE FROM hook_outbox WHERE url = ?", vec![url.into()])?;
        self.forget_failures(url)
    }
}

/// How long a webhook event is retried.
fn window_ms(app: &App) -> f64 {
    f64::from(app.limits.webhook_retry_window_secs) * 1000.0
}

/// One signed POST with the webhook's headers: the receiver's status, or 0 when none came
/// within the timeout. (Also the dashboard's test request.)
pub async fn post(app: &App, url: &str, body: &str) -> u16 {
    let attempt = async {
        let headers = Headers::new();
        // The operator's own first: the service's are set after, and win.
        if let Some(hook) = app.webhooks.iter().find(|hook| hook.url == url) {
            for (name, value) in &hook.headers {
                headers.set(name, value)?;
            }
        }
        headers.set("Content-Type", "application/json")?;
        headers.set("X-Pusher-Key", &app.key)?;
        headers.set("X-Pusher-Signature", &webhook::signature(&app.secret, body))?;
        let request = request(url, Method::Post, Some(&headers), Some(body))?;
        let response = Fetch::Request(request).send().await?;
        Ok::<u16, worker::Error>(response.status_code())
    };
    let timeout = Delay::from(Duration::from_millis(REQUEST_TIMEOUT_MS));
    match select(Box::pin(attempt), timeout).await {
        Either::Left((Ok(status), _)) => status,
        Either::Left((Err(_), _)) => {
            // The runtime's error text can quote the URL, which may carry a token.
            worker::console_warn!("webhook to {} failed", host_of(url));
            0
        }
        Either::Right(_) => {
            worker::console_warn!("webhook to {} timed out", host_of(url));
            0
        }
    }
}
