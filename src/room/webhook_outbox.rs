//! A channel room's durable webhook outbox, in the room's SQLite storage.
//!
//! Every webhook is written here before it is attempted. `channel_vacated` and
//! `member_removed` first wait out the grace period in `hook_pending` (cancelled when the
//! channel is re-occupied or the user rejoins); due events move to `hook_outbox`, one row per
//! receiving URL. Each URL gets its rows in order, up to 100 per request; a failed request is
//! retried with exponential back-off (the URL's later rows wait behind it, so order holds)
//! until the rows are older than the retry window, when they are dropped and counted as failed.
//! The room's alarm drives it all, so an eviction or restart loses nothing.

use crate::config::{App, Webhook};
use crate::internal_query::host_of;
use crate::protocol::webhook::{self, WebhookEvent, GRACE_MS, MAX_EVENTS_PER_REQUEST};
use futures_util::future::{select, Either};
use serde::Deserialize;
use std::time::Duration;
use wasm_bindgen::JsValue;
use worker::{
    Delay, Fetch, Headers, Method, Request, RequestInit, Result, SqlStorage, SqlStorageValue,
};

const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS hook_pending (
        key TEXT PRIMARY KEY, event TEXT NOT NULL, created_ms REAL NOT NULL, due_ms REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hook_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, event TEXT NOT NULL,
        name TEXT NOT NULL, created_ms REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hook_targets (
        url TEXT PRIMARY KEY, failures INTEGER NOT NULL, next_try_ms REAL NOT NULL)",
    // What receivers have been told is there (the channel occupied, each member), so a room
    // restarted without its sockets can still tell them it is gone.
    "CREATE TABLE IF NOT EXISTS hook_announced (subject TEXT PRIMARY KEY)",
];

/// How long one delivery attempt may take.
const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Events that arrive this close together share a request.
pub const BATCH_WINDOW_MS: f64 = 50.0;

#[derive(Deserialize)]
struct PendingRow {
    key: String,
    event: String,
    created_ms: f64,
}

#[derive(Deserialize)]
struct OutboxRow {
    seq: f64,
    event: String,
    created_ms: f64,
}

#[derive(Deserialize)]
struct UrlRow {
    url: String,
}

#[derive(Deserialize)]
struct TargetRow {
    failures: f64,
    next_try_ms: f64,
}

#[derive(Deserialize)]
struct Due {
    due: Option<f64>,
}

/// What an arrival or departure is about: the channel being occupied, or one member. A
/// delayed departure waits under its subject and is cancelled by an arrival of the same one.
pub const CHANNEL_SUBJECT: &str = "channel";

pub fn member_subject(user_id: &str) -> String {
    format!("member:{user_id}")
}

/// The departure event of a subject (for subjects announced but no longer present).
pub fn departure_of(subject: &str) -> WebhookEvent {
    match subject.strip_prefix("member:") {
        Some(user_id) => WebhookEvent::MemberRemoved {
            user_id: user_id.to_string(),
        },
        None => WebhookEvent::ChannelVacated,
    }
}

fn wants(hook: &Webhook, name: &str) -> bool {
    hook.event_types.is_empty() || hook.event_types.iter().any(|t| t == name)
}

/// The name of the event in a stored JSON object (to match `event_types` on promotion).
fn event_name(event_json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(event_json)
        .ok()
        .and_then(|v| v.get("name")?.as_str().map(String::from))
        .unwrap_or_default()
}

pub struct Outbox {
    sql: SqlStorage,
}

impl Outbox {
    /// Opens the outbox; `schema_ready` remembers (per object instance) that the tables exist.
    pub fn open(sql: SqlStorage, schema_ready: &mut bool) -> Result<Outbox> {
        if !*schema_ready {
            for statement in SCHEMA {
                sql.exec(statement, None)?;
            }
            *schema_ready = true;
        }
        Ok(Outbox { sql })
    }

    /// Queues `event` for every URL that wants it; true if any does.
    pub fn emit(
        &self,
        hooks: &[Webhook],
        channel: &str,
        event: &WebhookEvent,
        now: f64,
    ) -> Result<bool> {
        self.enqueue(hooks, event.name(), &event.to_json(channel), now)
    }

    fn enqueue(&self, hooks: &[Webhook], name: &str, json: &str, created_ms: f64) -> Result<bool> {
        let mut any = false;
        for hook in hooks.iter().filter(|h| wants(h, name)) {
            self.sql.exec(
                "INSERT INTO hook_outbox (url, event, name, created_ms) VALUES (?, ?, ?, ?)",
                vec![
                    hook.url.as_str().into(),
                    json.into(),
                    name.into(),
                    created_ms.into(),
                ],
            )?;
            any = true;
        }
        Ok(any)
    }

    /// Holds `event` for the grace period under `key`; returns when it falls due.
    pub fn delay(&self, key: &str, channel: &str, event: &WebhookEvent, now: f64) -> Result<f64> {
        let due = now + GRACE_MS;
        self.sql.exec(
            "INSERT OR REPLACE INTO hook_pending (key, event, created_ms, due_ms) VALUES (?, ?, ?, ?)",
            vec![
                key.into(),
                event.to_json(channel).into(),
                now.into(),
                due.into(),
            ],
        )?;
        Ok(due)
    }

    /// Drops the delayed event under `key`; true if there was one (so its counterpart, the
    /// re-occupation or rejoin, is not reported either).
    pub fn cancel(&self, key: &str) -> Result<bool> {
        let cursor = self
            .sql
            .exec("DELETE FROM hook_pending WHERE key = ?", vec![key.into()])?;
        // The cursor must be drained for rows_written to be final.
        let _ = cursor.to_array::<serde_json::Value>();
        Ok(cursor.rows_written() > 0)
    }

    /// Records that receivers know `subject` is present.
    pub fn announce(&self, subject: &str) -> Result<()> {
        self.sql.exec(
            "INSERT OR IGNORE INTO hook_announced (subject) VALUES (?)",
            vec![subject.into()],
        )?;
        Ok(())
    }

    /// Records that `subject`'s departure is on its way.
    pub fn unannounce(&self, subject: &str) -> Result<()> {
        self.sql.exec(
            "DELETE FROM hook_announced WHERE subject = ?",
            vec![subject.into()],
        )?;
        Ok(())
    }

    pub fn announced(&self) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            subject: String,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT subject FROM hook_announced", None)?
            .to_array()?;
        Ok(rows.into_iter().map(|r| r.subject).collect())
    }

    /// Moves delayed events whose grace period is over into the outbox.
    pub fn promote_due(&self, hooks: &[Webhook], now: f64) -> Result<()> {
        let due: Vec<PendingRow> = self
            .sql
            .exec(
                "SELECT key, event, created_ms FROM hook_pending WHERE due_ms <= ? ORDER BY due_ms, rowid",
                vec![now.into()],
            )?
            .to_array()?;
        for row in due {
            let name = event_name(&row.event);
            // Time of the event: when the grace period ended, as Pusher reports it.
            self.enqueue(hooks, &name, &row.event, now.max(row.created_ms))?;
            self.sql.exec(
                "DELETE FROM hook_pending WHERE key = ?",
                vec![row.key.as_str().into()],
            )?;
        }
        Ok(())
    }

    /// When the outbox next needs the alarm: the next grace period's end, or the next try
    /// of a URL with events waiting.
    pub fn next_due(&self, now: f64) -> Result<Option<f64>> {
        let pending: Due = self
            .sql
            .exec("SELECT MIN(due_ms) AS due FROM hook_pending", None)?
            .one()?;
        let waiting: Due = self
            .sql
            .exec(
                "SELECT MIN(COALESCE(t.next_try_ms, 0)) AS due FROM hook_outbox o
                 LEFT JOIN hook_targets t ON t.url = o.url",
                None,
            )?
            .one()?;
        Ok(match (pending.due, waiting.due.map(|d| d.max(now))) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Sends what is due to every URL; returns how many events were given up on (older than
    /// `retry_window_ms` after a failed try).
    pub async fn deliver(
        &self,
        app: &App,
        channel: &str,
        now: f64,
        retry_window_ms: f64,
    ) -> Result<u64> {
        let urls: Vec<UrlRow> = self
            .sql
            .exec("SELECT DISTINCT url FROM hook_outbox", None)?
            .to_array()?;
        let mut given_up = 0;
        for UrlRow { url } in urls {
            if !app.webhooks.iter().any(|hook| hook.url == url) {
                // The URL was removed from the app's configuration: nothing more goes there.
                self.drop_url(&url)?;
                continue;
            }
            let target: Option<TargetRow> = self
                .sql
                .exec(
                    "SELECT failures, next_try_ms FROM hook_targets WHERE url = ?",
                    vec![url.as_str().into()],
                )?
                .to_array()?
                .into_iter()
                .next();
            if target.as_ref().is_some_and(|t| t.next_try_ms > now) {
                continue;
            }
            let rows: Vec<OutboxRow> = self
                .sql
                .exec(
                    "SELECT seq, event, created_ms FROM hook_outbox WHERE url = ? ORDER BY seq LIMIT ?",
                    vec![
                        url.as_str().into(),
                        SqlStorageValue::Integer(MAX_EVENTS_PER_REQUEST as i64),
                    ],
                )?
                .to_array()?;
            let Some(last) = rows.last() else { continue };
            let last_seq = last.seq as i64;
            let events: Vec<String> = rows
                .iter()
                .map(|r| webhook::with_id(&r.event, &format!("{channel}:{}", r.seq as i64)))
                .collect();
            let time_ms = rows.iter().map(|r| r.created_ms).fold(f64::MAX, f64::min) as u64;
            let body = webhook::body(time_ms, &events);

            if post(app, &url, &body).await {
                self.sql.exec(
                    "DELETE FROM hook_outbox WHERE url = ? AND seq <= ?",
                    vec![url.as_str().into(), SqlStorageValue::Integer(last_seq)],
                )?;
                self.sql.exec(
                    "DELETE FROM hook_targets WHERE url = ?",
                    vec![url.as_str().into()],
                )?;
                continue;
            }
            let failures = target.map_or(0, |t| t.failures as u32) + 1;
            let stale: Due = self
                .sql
                .exec(
                    "SELECT COUNT(*) AS due FROM hook_outbox WHERE url = ? AND created_ms < ?",
                    vec![url.as_str().into(), (now - retry_window_ms).into()],
                )?
                .one()?;
            let stale = stale.due.unwrap_or(0.0) as u64;
            if stale > 0 {
                self.sql.exec(
                    "DELETE FROM hook_outbox WHERE url = ? AND created_ms < ?",
                    vec![url.as_str().into(), (now - retry_window_ms).into()],
                )?;
                given_up += stale;
            }
            let left: Due = self
                .sql
                .exec(
                    "SELECT COUNT(*) AS due FROM hook_outbox WHERE url = ?",
                    vec![url.as_str().into()],
                )?
                .one()?;
            if left.due.unwrap_or(0.0) == 0.0 {
                // Nothing left to retry: the next event starts with a fresh back-off.
                self.sql.exec(
                    "DELETE FROM hook_targets WHERE url = ?",
                    vec![url.as_str().into()],
                )?;
                continue;
            }
            self.sql.exec(
                "INSERT OR REPLACE INTO hook_targets (url, failures, next_try_ms) VALUES (?, ?, ?)",
                vec![
                    url.as_str().into(),
                    SqlStorageValue::Integer(i64::from(failures)),
                    (now + webhook::backoff_ms(failures)).into(),
                ],
            )?;
        }
        Ok(given_up)
    }
}

impl Outbox {
    fn drop_url(&self, url: &str) -> Result<()> {
        self.sql
            .exec("DELETE FROM hook_outbox WHERE url = ?", vec![url.into()])?;
        self.sql
            .exec("DELETE FROM hook_targets WHERE url = ?", vec![url.into()])?;
        Ok(())
    }
}

/// One signed POST; true on a 2xx answer within the timeout.
async fn post(app: &App, url: &str, body: &str) -> bool {
    let attempt = async {
        let headers = Headers::new();
        headers.set("Content-Type", "application/json")?;
        headers.set("X-Pusher-Key", &app.key)?;
        headers.set("X-Pusher-Signature", &webhook::signature(&app.secret, body))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(JsValue::from_str(body)));
        let response = Fetch::Request(Request::new_with_init(url, &init)?)
            .send()
            .await?;
        Ok::<u16, worker::Error>(response.status_code())
    };
    let timeout = Delay::from(Duration::from_millis(REQUEST_TIMEOUT_MS));
    match select(Box::pin(attempt), timeout).await {
        Either::Left((Ok(status), _)) => (200..300).contains(&status),
        Either::Left((Err(_), _)) => {
            // The runtime's error text can quote the URL, which may carry a token.
            worker::console_warn!("webhook to {} failed", host_of(url));
            false
        }
        Either::Right(_) => {
            worker::console_warn!("webhook to {} timed out", host_of(url));
            false
        }
    }
}
