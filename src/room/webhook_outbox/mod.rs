//! A channel room's durable webhook outbox, in the room's SQLite storage.
//!
//! Every webhook is written here before it is attempted. `channel_vacated` and
//! `member_removed` first wait out the grace period in `hook_pending` (cancelled when the
//! channel is re-occupied or the user rejoins); due events move to `hook_outbox`, one row per
//! receiving URL. Each URL gets its rows in order, up to 100 per request and a few requests per
//! pass when it is behind; a failed request is retried with exponential back-off (the URL's
//! later rows wait behind it, so order holds). Rows older than the retry window are dropped on
//! every pass and counted as failed. Each URL's queue is capped in events and bytes
//! (`limits.webhook_outbox_max_events`, `limits.webhook_outbox_max_bytes`): past it the oldest
//! are dropped and counted as dropped (and failed). `hook_queues` holds each URL's event count
//! and bytes, kept by triggers, so neither the caps nor the alarm scan the backlog. The room's
//! alarm drives it all, so an eviction or restart loses nothing.
//!
//! This file holds the rows (schema, queueing, grace periods, announcements, what is due);
//! `delivery` sends them.

mod delivery;

pub use delivery::{post, Attempt};

use crate::config::App;
use crate::glue::clock::now_ms;
use crate::glue::sql::{int, number, numbers, texts, MAX_SAFE_INTEGER};
use crate::protocol::webhook::{self, WebhookEvent, GRACE_MS};
use serde::Deserialize;
use worker::{Result, SqlStorage, SqlStorageValue};

const SCHEMA: [&str; 9] = [
    "CREATE TABLE IF NOT EXISTS hook_pending (
        key TEXT PRIMARY KEY, event TEXT NOT NULL, created_ms REAL NOT NULL, due_ms REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS hook_pending_due ON hook_pending (due_ms)",
    "CREATE TABLE IF NOT EXISTS hook_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, event TEXT NOT NULL,
        name TEXT NOT NULL, created_ms REAL NOT NULL)",
    // A URL's rows in order, for its batches, its oldest (caps) and its stale ones.
    "CREATE INDEX IF NOT EXISTS hook_outbox_url ON hook_outbox (url, seq)",
    "CREATE TABLE IF NOT EXISTS hook_targets (
        url TEXT PRIMARY KEY, failures INTEGER NOT NULL, next_try_ms REAL NOT NULL)",
    // What receivers have been told is there (the channel occupied, each member), so a room
    // restarted without its sockets can still tell them it is gone.
    "CREATE TABLE IF NOT EXISTS hook_announced (subject TEXT PRIMARY KEY)",
    // Each URL with queued rows: how many, and their bytes.
    "CREATE TABLE IF NOT EXISTS hook_queues (
        url TEXT PRIMARY KEY, events INTEGER NOT NULL, bytes INTEGER NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS hook_queued AFTER INSERT ON hook_outbox BEGIN
        INSERT OR IGNORE INTO hook_queues (url, events, bytes) VALUES (NEW.url, 0, 0);
        UPDATE hook_queues SET events = events + 1,
            bytes = bytes + length(CAST(NEW.event AS BLOB)) WHERE url = NEW.url;
    END",
    // Last in the schema: its absence means `hook_queues` must be counted afresh.
    "CREATE TRIGGER IF NOT EXISTS hook_dequeued AFTER DELETE ON hook_outbox BEGIN
        UPDATE hook_queues SET events = events - 1,
            bytes = bytes - length(CAST(OLD.event AS BLOB)) WHERE url = OLD.url;
        DELETE FROM hook_queues WHERE url = OLD.url AND events <= 0;
    END",
];

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

/// What queueing an event did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    /// Some URL wants the event.
    pub any: bool,
    /// Older events dropped from full queues to make room.
    pub dropped: u64,
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

/// The name of the event in a stored JSON object (to match `event_types` on promotion).
fn event_name(event_json: &str) -> String {
    crate::protocol::json_read::from_text::<serde_json::Value>(event_json)
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
            let had = |name: &str| {
                number(
                    &sql,
                    "SELECT COUNT(*) AS a FROM sqlite_master WHERE name = ?",
                    vec![name.into()],
                )
                .map(|n| n > 0.0)
            };
            let (had_outbox, had_counts) = (had("hook_outbox")?, had("hook_dequeued")?);
            for statement in SCHEMA {
                sql.exec(statement, None)?;
            }
            let outbox = Outbox { sql };
            if !had_outbox {
                outbox.seed_sequence()?;
            } else if !had_counts {
                outbox.recount()?;
            }
            *schema_ready = true;
            return Ok(outbox);
        }
        Ok(Outbox { sql })
    }

    /// Event ids are `{channel}:{seq}`, and receivers de-duplicate on them. A room that
    /// emptied deleted its storage, sequence included, so a new outbox starts its sequence
    /// from the clock (in thousandths of a millisecond), above every id handed out before.
    fn seed_sequence(&self) -> Result<()> {
        let start = SqlStorageValue::Integer(now_ms() as i64 * 1000);
        self.sql.exec(
            "INSERT INTO hook_outbox (seq, url, event, name, created_ms) VALUES (?, '', '', '', 0)",
            vec![start.clone()],
        )?;
        self.sql
            .exec("DELETE FROM hook_outbox WHERE seq = ?", vec![start])?;
        Ok(())
    }

    /// Counts the queues from the rows (an outbox from before `hook_queues` was kept).
    fn recount(&self) -> Result<()> {
        self.sql.exec("DELETE FROM hook_queues", None)?;
        self.sql.exec(
            "INSERT INTO hook_queues (url, events, bytes)
             SELECT url, COUNT(*), SUM(length(CAST(event AS BLOB))) FROM hook_outbox GROUP BY url",
            None,
        )?;
        Ok(())
    }

    /// Queues `event` for every URL of `app` that wants it.
    pub fn emit(&self, app: &App, channel: &str, event: &WebhookEvent, now: f64) -> Result<Queued> {
        self.enqueue(app, channel, event.name(), &event.to_json(channel), now)
    }

    fn enqueue(
        &self,
        app: &App,
        channel: &str,
        name: &str,
        json: &str,
        created_ms: f64,
    ) -> Result<Queued> {
        let mut queued = Queued::default();
        for hook in app.webhooks.iter().filter(|h| h.wants(name, channel)) {
            self.sql.exec(
                "INSERT INTO hook_outbox (url, event, name, created_ms) VALUES (?, ?, ?, ?)",
                vec![
                    hook.url.as_str().into(),
                    json.into(),
                    name.into(),
                    created_ms.into(),
                ],
            )?;
            queued.any = true;
            queued.dropped += self.trim(app, &hook.url)?;
        }
        Ok(queued)
    }

    /// `url`'s queue: (events, bytes), if it has any.
    fn queue(&self, url: &str) -> Result<Option<(u64, u64)>> {
        let row = numbers(
            &self.sql,
            "SELECT events AS a, bytes AS b FROM hook_queues WHERE url = ?",
            vec![url.into()],
        )?;
        Ok(row.map(|row| {
            let n = |v: Option<f64>| v.unwrap_or(0.0) as u64;
            (n(row.a), n(row.b))
        }))
    }

    /// Drops `url`'s oldest events while its queue is over the app's caps; returns how many.
    fn trim(&self, app: &App, url: &str) -> Result<u64> {
        let max_events = app.limits.webhook_outbox_max_events as u64;
        let max_bytes = app.limits.webhook_outbox_max_bytes as u64;
        let mut dropped = 0;
        while let Some((events, bytes)) = self.queue(url)? {
            let drop = webhook::overflow(events, bytes, max_events, max_bytes);
            if drop == 0 {
                break;
            }
            self.sql.exec(
                "DELETE FROM hook_outbox WHERE seq IN
                 (SELECT seq FROM hook_outbox WHERE url = ? ORDER BY seq LIMIT ?)",
                vec![url.into(), int(drop)],
            )?;
            dropped += drop;
        }
        Ok(dropped)
    }

    /// Drops `url`'s events created before `cutoff` (their retry window is over); returns
    /// how many. Rows are queued in time order, so these are the oldest ones: everything
    /// before the first fresh row.
    fn prune(&self, url: &str, cutoff: f64) -> Result<u64> {
        let first_fresh = numbers(
            &self.sql,
            "SELECT seq AS a FROM hook_outbox WHERE url = ? AND created_ms >= ? ORDER BY seq LIMIT 1",
            vec![url.into(), cutoff.into()],
        )?;
        // Without a fresh row, every row is stale (sequence numbers stay below 2^53).
        let bound = first_fresh
            .and_then(|row| row.a)
            .map_or(MAX_SAFE_INTEGER, |seq| seq as i64);
        let stale = number(
            &self.sql,
            "SELECT COUNT(*) AS a FROM hook_outbox WHERE url = ? AND seq < ?",
            vec![url.into(), SqlStorageValue::Integer(bound)],
        )? as u64;
        if stale > 0 {
            self.sql.exec(
                "DELETE FROM hook_outbox WHERE url = ? AND seq < ?",
                vec![url.into(), SqlStorageValue::Integer(bound)],
            )?;
        }
        Ok(stale)
    }

    /// Holds `event` under `key` for `wait_ms` (at least the grace period); returns when it
    /// falls due.
    pub fn delay(
        &self,
        key: &str,
        channel: &str,
        event: &WebhookEvent,
        now: f64,
        wait_ms: f64,
    ) -> Result<f64> {
        let due = now + wait_ms.max(GRACE_MS);
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
        // The cursor must be drained for rows_written to be final (its rows, none for a
        // DELETE, are skipped unread).
        let _ = cursor.to_array::<serde::de::IgnoredAny>();
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

    /// Whether receivers were told `subject` is present (and not yet that it left).
    pub fn is_announced(&self, subject: &str) -> Result<bool> {
        let found = number(
            &self.sql,
            "SELECT EXISTS (SELECT 1 FROM hook_announced WHERE subject = ?) AS a",
            vec![subject.into()],
        )?;
        Ok(found != 0.0)
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
        texts(&self.sql, "SELECT subject AS t FROM hook_announced", vec![])
    }

    /// Whether the outbox holds nothing: no delayed event, no queued one, and no arrival
    /// whose departure receivers still expect.
    pub fn is_idle(&self) -> Result<bool> {
        let busy = number(
            &self.sql,
            "SELECT EXISTS (SELECT 1 FROM hook_pending) OR EXISTS (SELECT 1 FROM hook_outbox)
                OR EXISTS (SELECT 1 FROM hook_announced) AS a",
            vec![],
        )?;
        Ok(busy == 0.0)
    }

    /// Moves delayed events whose grace period is over into the outbox; returns how many
    /// older events that dropped from full queues.
    pub fn promote_due(&self, app: &App, channel: &str, now: f64) -> Result<u64> {
        let due: Vec<PendingRow> = self
            .sql
            .exec(
                "SELECT key, event, created_ms FROM hook_pending WHERE due_ms <= ? ORDER BY due_ms, rowid",
                vec![now.into()],
            )?
            .to_array()?;
        let mut dropped = 0;
        for row in due {
            let name = event_name(&row.event);
            // Time of the event: when the grace period ended, as Pusher reports it.
            dropped += self
                .enqueue(app, channel, &name, &row.event, now.max(row.created_ms))?
                .dropped;
            self.sql.exec(
                "DELETE FROM hook_pending WHERE key = ?",
                vec![row.key.as_str().into()],
            )?;
        }
        Ok(dropped)
    }

    /// When the outbox next needs the alarm: the next grace period's end, or the next try
    /// of a URL with events waiting.
    pub fn next_due(&self, now: f64) -> Result<Option<f64>> {
        let first = |query: &str| -> Result<Option<f64>> {
            Ok(numbers(&self.sql, query, vec![])?.and_then(|row| row.a))
        };
        let pending = first("SELECT MIN(due_ms) AS a FROM hook_pending")?;
        let waiting = first(
            "SELECT MIN(COALESCE(t.next_try_ms, 0)) AS a FROM hook_queues q
             LEFT JOIN hook_targets t ON t.url = q.url",
        )?;
        Ok(match (pending, waiting.map(|d| d.max(now))) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }
}
