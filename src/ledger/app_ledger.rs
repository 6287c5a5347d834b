//! The app ledger Durable Object, one per app: counters by day, month and in total, the
//! connection count (from the connection shards), the monthly broadcast quota, and the index
//! of occupied channels. Rooms and shards report counts to it in batches; nothing on the
//! publish path waits for it. A room reports an occupancy change at once (and waits for the
//! answer before a subscriber hears `subscription_succeeded`), so `GET /channels` is current.

use super::console::{self, ConsoleRate, LEASE_MS};
use super::contract::{LedgerCall, LedgerRequest, TOO_MANY_CONSOLES_STATUS, UNKNOWN_APP_STATUS};
use super::report::{Counts, Report, ReportAnswer};
use super::stats::{Stats, Usage};
use super::webhook_log_table;
use crate::apps::lookup::app_by_id;
use crate::config::App;
use crate::glue::clock::now_ms;
use crate::glue::internal_query::{read_request, refusal};
use crate::glue::sql::{int, numbers};
use crate::protocol::json_writer::{push_string, raw_array, JsonObject};
use crate::protocol::timestamp::{utc_day, utc_month};
use serde::Deserialize;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use wasm_bindgen::JsValue;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

/// The hibernation tag of debug console sockets.
const CONSOLE_TAG: &str = "console";

/// The tag of the consoles of one operator session (its login's nonce).
fn session_tag(session: &str) -> String {
    format!("session:{session}")
}

/// Days of daily counters kept.
const DAYS_KEPT: f64 = 62.0;

const SCHEMA: [&str; 5] = [
    "CREATE TABLE IF NOT EXISTS usage (
        period TEXT PRIMARY KEY,
        broadcasts INTEGER NOT NULL DEFAULT 0,
        messages_delivered INTEGER NOT NULL DEFAULT 0,
        client_events INTEGER NOT NULL DEFAULT 0,
        rest_calls INTEGER NOT NULL DEFAULT 0,
        connections_opened INTEGER NOT NULL DEFAULT 0,
        webhooks_failed INTEGER NOT NULL DEFAULT 0,
        peak_connections INTEGER NOT NULL DEFAULT 0,
        webhooks_dropped INTEGER NOT NULL DEFAULT 0,
        replay_lost INTEGER NOT NULL DEFAULT 0,
        connections_rate_limited INTEGER NOT NULL DEFAULT 0,
        rest_rate_limited INTEGER NOT NULL DEFAULT 0,
        origins_refused INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS channels (name TEXT PRIMARY KEY, user_count INTEGER)",
    "CREATE TABLE IF NOT EXISTS shards (idx INTEGER PRIMARY KEY, connections INTEGER NOT NULL)",
    // The sequence number of the last occupancy report applied per channel (also for vacated
    // channels, so a late "occupied" cannot bring one back); kept 10 minutes.
    "CREATE TABLE IF NOT EXISTS channel_seq (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS channel_seq_at ON channel_seq (at)",
];

/// How long the ledger remembers a channel's last occupancy sequence number: far longer than
/// two reports of one room can be apart on the way.
const SEQ_KEPT_MS: f64 = 600_000.0;

const ADD_USAGE: &str = "INSERT INTO usage (period, broadcasts, messages_delivered, client_events,
        rest_calls, connections_opened, webhooks_failed, peak_connections, webhooks_dropped,
        replay_lost, connections_rate_limited, rest_rate_limited, origins_refused)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(period) DO UPDATE SET
        broadcasts = broadcasts + excluded.broadcasts,
        messages_delivered = messages_delivered + excluded.messages_delivered,
        client_events = client_events + excluded.client_events,
        rest_calls = rest_calls + excluded.rest_calls,
        connections_opened = connections_opened + excluded.connections_opened,
        webhooks_failed = webhooks_failed + excluded.webhooks_failed,
        webhooks_dropped = webhooks_dropped + excluded.webhooks_dropped,
        replay_lost = replay_lost + excluded.replay_lost,
        connections_rate_limited = connections_rate_limited + excluded.connections_rate_limited,
        rest_rate_limited = rest_rate_limited + excluded.rest_rate_limited,
        origins_refused = origins_refused + excluded.origins_refused,
        peak_connections = MAX(peak_connections, excluded.peak_connections)";

/// The name of the period holding all-time totals.
const TOTAL: &str = "total";

#[derive(Deserialize)]
struct UsageRow {
    period: String,
    broadcasts: f64,
    messages_delivered: f64,
    client_events: f64,
    rest_calls: f64,
    connections_opened: f64,
    webhooks_failed: f64,
    peak_connections: f64,
    #[serde(default)]
    webhooks_dropped: f64,
    #[serde(default)]
    replay_lost: f64,
    #[serde(default)]
    connections_rate_limited: f64,
    #[serde(default)]
    rest_rate_limited: f64,
    #[serde(default)]
    origins_refused: f64,
}

impl UsageRow {
    fn usage(&self) -> Usage {
        Usage {
            counts: Counts {
                broadcasts: self.broadcasts as u64,
                messages_delivered: self.messages_delivered as u64,
                client_events: self.client_events as u64,
                rest_calls: self.rest_calls as u64,
                connections_opened: self.connections_opened as u64,
                webhooks_failed: self.webhooks_failed as u64,
                webhooks_dropped: self.webhooks_dropped as u64,
                replay_lost: self.replay_lost as u64,
                connections_rate_limited: self.connections_rate_limited as u64,
                rest_rate_limited: self.rest_rate_limited as u64,
                origins_refused: self.origins_refused as u64,
            },
            peak_connections: self.peak_connections as u64,
        }
    }
}

#[derive(Deserialize)]
struct Number {
    n: f64,
}

#[derive(Deserialize)]
struct ChannelRow {
    name: String,
    user_count: Option<f64>,
}

/// A ledger created before a counter was counted gets its column.
fn add_dropped_column(sql: &SqlStorage) -> Result<()> {
    for column in [
        "webhooks_dropped",
        "replay_lost",
        "connections_rate_limited",
        "rest_rate_limited",
        "origins_refused",
    ] {
        let has: Number = sql
            .exec(
                "SELECT COUNT(*) AS n FROM sqlite_master
                 WHERE type = 'table' AND name = 'usage' AND sql LIKE ?",
                vec![format!("%{column}%").into()],
            )?
            .one()?;
        if has.n == 0.0 {
            sql.exec(
                &format!("ALTER TABLE usage ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0"),
                None,
            )?;
        }
    }
    Ok(())
}

// Only the handlers it has (hibernatable sockets: no alarm): each unused one would bring workers-rs's default,
// which panics, and its glue into the bundle.
#[durable_object(websocket)]
pub struct AppLedger {
    state: State,
    env: Env,
    schema_ready: Cell<bool>,
    pruned_on: RefCell<String>,
    console_rate: Cell<ConsoleRate>,
}

impl DurableObject for AppLedger {
    fn new(state: State, env: Env) -> Self {
        AppLedger {
            state,
            env,
            schema_ready: Cell::new(false),
            pruned_on: RefCell::new(String::new()),
            console_rate: Cell::new(ConsoleRate::default()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let LedgerCall {
            app_id,
            rest_call,
            request,
        } = match read_request::<LedgerCall>(&mut req).await? {
            Ok(call) => call,
            Err(refused) => return refusal(&refused),
        };
        let Some(app) = app_by_id(&self.env, &app_id).await? else {
            return Response::error(format!("unknown app {app_id:?}"), UNKNOWN_APP_STATUS);
        };
        let sql = self.sql();
        if rest_call {
            let report = Report {
                counts: Counts {
                    rest_calls: 1,
                    ..Counts::default()
                },
                ..Report::default()
            };
            self.apply(&sql, &app, &report)?;
        }
        match request {
            LedgerRequest::Report(report) => {
                let mut answer = self.apply(&sql, &app, &report)?;
                answer.console_until_ms = self.console(&report);
                Response::from_json(&answer)
            }
            LedgerRequest::Console { session } => self.open_console(session.as_deref()),
            LedgerRequest::CloseConsoles { session } => {
                let tag = session_tag(&session);
                for ws in self.state.get_websockets_with_tag(&tag) {
                    let _ = ws.close(Some(1000), Some("logged out"));
                }
                Response::ok("{}")
            }
            LedgerRequest::Stats => Response::from_json(&self.stats(&sql, &app)?),
            LedgerRequest::WebhookLog => Response::ok(webhook_log_table::read(&sql)?),
            LedgerRequest::Channels {
                prefix,
                user_count,
                limit,
                offset,
            } => self.channels(&sql, &prefix, user_count, limit, offset),
        }
    }

    async fn websocket_message(
        &self,
        _ws: WebSocket,
        _msg: WebSocketIncomingMessage,
    ) -> Result<()> {
        // A console only listens.
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        // The next answers tell the rooms and shards nobody watches (if this was the last).
        let _ = ws.close(Some(1000), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: worker::Error) -> Result<()> {
        Ok(())
    }
}

impl AppLedger {
    /// A debug console's socket: held (hibernatable) until the operator closes the page.
    fn open_console(&self, session: Option<&str>) -> Result<Response> {
        if self.state.get_websockets_with_tag(CONSOLE_TAG).len() >= console::MAX_CONSOLES {
            return Response::error("too many consoles open", TOO_MANY_CONSOLES_STATUS);
        }
        let pair = WebSocketPair::new()?;
        // Tagged with its operator session too, so that session's logout closes it.
        let session = session.map(session_tag);
        let tags: Vec<&str> = std::iter::once(CONSOLE_TAG)
            .chain(session.as_deref())
            .collect();
        self.state.accept_websocket_with_tags(&pair.server, &tags);
        let opened = JsonObject::new()
            .string("kind", "console_opened")
            .value("at", now_ms() as u64)
            .finish();
        pair.server.send_with_str(raw_array([opened]))?;
        Response::from_websocket(pair.client)
    }

    /// Sends a report's console lines to the open consoles (at most
    /// [`console::MAX_LINES_PER_SECOND`], saying how many were dropped); answers the lease
    /// the reporter holds: until a minute from now while a console is open, else 0.
    fn console(&self, report: &Report) -> u64 {
        let consoles = self.state.get_websockets_with_tag(CONSOLE_TAG);
        if consoles.is_empty() {
            return 0;
        }
        let now = now_ms();
        if !report.console.is_empty() || report.console_dropped > 0 {
            let mut rate = self.console_rate.get();
            let admitted = rate.admit(report.console.len(), now);
            self.console_rate.set(rate);
            let dropped = report.console_dropped + (report.console.len() - admitted) as u64;
            let mut lines: Vec<&str> = report.console[..admitted]
                .iter()
                .map(String::as_str)
                .collect();
            let dropped_line = console::dropped(now, dropped);
            if dropped > 0 {
                lines.push(&dropped_line);
            }
            let message = raw_array(lines);
            for socket in &consoles {
                // A console that cannot take it is closing.
                let _ = socket.send_with_str(&message);
            }
        }
        (now + LEASE_MS) as u64
    }

    fn sql(&self) -> SqlStorage {
        let sql = self.state.storage().sql();
        if !self.schema_ready.get() {
            for statement in SCHEMA {
                if let Err(e) = sql.exec(statement, None) {
                    worker::console_error!("ledger schema: {e}");
                }
            }
            if let Err(e) = sql.exec(webhook_log_table::SCHEMA, None) {
                worker::console_error!("ledger schema: {e}");
            }
            if let Err(e) = add_dropped_column(&sql) {
                worker::console_error!("ledger schema: {e}");
            }
            self.schema_ready.set(true);
        }
        sql
    }

    /// Adds a report to the counters and the indexes; answers with the quota state.
    fn apply(&self, sql: &SqlStorage, app: &App, report: &Report) -> Result<ReportAnswer> {
        webhook_log_table::append(sql, &report.webhook_log)?;
        let now = now_ms();
        let month = utc_month(now);
        let day = utc_day(now);

        let mut peak = 0;
        if let Some(shard) = report.shard {
            sql.exec(
                "INSERT INTO shards (idx, connections) VALUES (?, ?)
                 ON CONFLICT(idx) DO UPDATE SET connections = excluded.connections",
                vec![int(u64::from(shard.index)), int(shard.connections)],
            )?;
            peak = self.connections(sql)?;
        }
        if !report.counts.is_zero() || peak > 0 {
            let c = &report.counts;
            for period in [TOTAL, month.as_str(), day.as_str()] {
                sql.exec(
                    ADD_USAGE,
                    vec![
                        period.into(),
                        int(c.broadcasts),
                        int(c.messages_delivered),
                        int(c.client_events),
                        int(c.rest_calls),
                        int(c.connections_opened),
                        int(c.webhooks_failed),
                        int(peak),
                        int(c.webhooks_dropped),
                        int(c.replay_lost),
                        int(c.connections_rate_limited),
                        int(c.rest_rate_limited),
                        int(c.origins_refused),
                    ],
                )?;
            }
        }
        let newest = match &report.occupancy {
            Some(occupancy) => {
                self.newest_occupancy(sql, &occupancy.channel, report.occupancy_seq, now)?
            }
            None => false,
        };
        if let Some(occupancy) = report.occupancy.as_ref().filter(|_| newest) {
            if occupancy.occupied {
                sql.exec(
                    "INSERT INTO channels (name, user_count) VALUES (?, ?)
                     ON CONFLICT(name) DO UPDATE SET user_count = excluded.user_count",
                    vec![
                        occupancy.channel.as_str().into(),
                        occupancy
                            .user_count
                            .map(int)
                            .unwrap_or(SqlStorageValue::Null),
                    ],
                )?;
            } else {
                sql.exec(
                    "DELETE FROM channels WHERE name = ?",
                    vec![occupancy.channel.as_str().into()],
                )?;
            }
        }
        self.prune_days(sql, now, &day)?;

        let over_quota_month = match app.limits.max_broadcasts_per_month {
            Some(quota) if self.month_broadcasts(sql, &month)? >= quota => Some(month),
            _ => None,
        };
        Ok(ReportAnswer {
            over_quota_month,
            console_until_ms: 0,
        })
    }

    /// Whether a report's occupancy (numbered `seq`) is newer than the last one applied for
    /// `channel`; records it if so. Unnumbered reports (0) always apply.
    fn newest_occupancy(
        &self,
        sql: &SqlStorage,
        channel: &str,
        seq: u64,
        now: f64,
    ) -> Result<bool> {
        if seq == 0 {
            return Ok(true);
        }
        sql.exec(
            "DELETE FROM channel_seq WHERE at < ?",
            vec![SqlStorageValue::Float(now - SEQ_KEPT_MS)],
        )?;
        let last = numbers(
            sql,
            "SELECT seq AS a FROM channel_seq WHERE name = ?",
            vec![channel.into()],
        )?;
        if last
            .and_then(|last| last.a)
            .is_some_and(|last| last >= seq as f64)
        {
            return Ok(false);
        }
        sql.exec(
            "INSERT INTO channel_seq (name, seq, at) VALUES (?, ?, ?)
             ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, at = excluded.at",
            vec![channel.into(), int(seq), SqlStorageValue::Float(now)],
        )?;
        Ok(true)
    }

    fn connections(&self, sql: &SqlStorage) -> Result<u64> {
        let row: Number = sql
            .exec(
                "SELECT COALESCE(SUM(connections), 0) AS n FROM shards",
                None,
            )?
            .one()?;
        Ok(row.n as u64)
    }

    fn month_broadcasts(&self, sql: &SqlStorage, month: &str) -> Result<u64> {
        let row: Number = sql
            .exec(
                "SELECT COALESCE(MAX(broadcasts), 0) AS n FROM usage WHERE period = ?",
                vec![month.into()],
            )?
            .one()?;
        Ok(row.n as u64)
    }

    /// Drops daily rows older than `DAYS_KEPT`, once a day per instance.
    fn prune_days(&self, sql: &SqlStorage, now: f64, today: &str) -> Result<()> {
        if *self.pruned_on.borrow() == today {
            return Ok(());
        }
        let cutoff = utc_day(now - DAYS_KEPT * 86_400_000.0);
        sql.exec(
            "DELETE FROM usage WHERE length(period) = 10 AND period < ?",
            vec![cutoff.into()],
        )?;
        *self.pruned_on.borrow_mut() = today.to_string();
        Ok(())
    }

    fn stats(&self, sql: &SqlStorage, app: &App) -> Result<Stats> {
        let rows: Vec<UsageRow> = sql.exec("SELECT * FROM usage", None)?.to_array()?;
        let mut stats = Stats {
            app_id: app.id.clone(),
            connections: self.connections(sql)?,
            occupied_channels: sql
                .exec("SELECT COUNT(*) AS n FROM channels", None)?
                .one::<Number>()?
                .n as u64,
            max_broadcasts_per_month: app.limits.max_broadcasts_per_month,
            max_connections: app.limits.max_connections,
            ..Stats::default()
        };
        let mut months = BTreeMap::new();
        let mut days = BTreeMap::new();
        for row in rows {
            match row.period.len() {
                7 => {
                    months.insert(row.period.clone(), row.usage());
                }
                10 => {
                    days.insert(row.period.clone(), row.usage());
                }
                _ if row.period == TOTAL => stats.total = row.usage(),
                _ => {}
            }
        }
        stats.months = months;
        stats.days = days;
        Ok(stats)
    }

    /// `{"channels":{name:{}|{"user_count":n}}}` for the occupied channels under `prefix`.
    ///
    /// Pusher's API has no paging, so this answer holds every occupied channel. It is written
    /// row by row into a Blob of JavaScript strings, never whole in Wasm memory, which stays
    /// grown: built as rows, a map and a string, 10,000 channels took 360 bytes each of it.
    fn channels(
        &self,
        sql: &SqlStorage,
        prefix: &str,
        user_count: bool,
        limit: Option<u32>,
        offset: Option<u32>,
    ) -> Result<Response> {
        // SQLite reads a negative LIMIT as none.
        let limit = limit.map_or(-1.0, f64::from);
        let offset = offset.map_or(0.0, f64::from);
        let rows = sql.exec(
            "SELECT name, user_count FROM channels
             WHERE substr(name, 1, length(?)) = ? ORDER BY name LIMIT ? OFFSET ?",
            vec![prefix.into(), prefix.into(), limit.into(), offset.into()],
        )?;
        let parts = js_sys::Array::new();
        parts.push(&JsValue::from_str("{\"channels\":{"));
        let mut entry = String::new();
        for (i, row) in rows.next::<ChannelRow>().enumerate() {
            let row = row?;
            entry.clear();
            if i > 0 {
                entry.push(',');
            }
            push_string(&mut entry, &row.name);
            entry.push(':');
            match user_count {
                true => entry.push_str(
                    &JsonObject::new()
                        .value("user_count", row.user_count.unwrap_or(0.0) as u64)
                        .finish(),
                ),
                false => entry.push_str("{}"),
            }
            parts.push(&JsValue::from_str(&entry));
        }
        parts.push(&JsValue::from_str("}}"));
        let blob = web_sys::Blob::new_with_str_sequence(&parts).map_err(worker::Error::from)?;
        let response =
            web_sys::Response::new_with_opt_blob(Some(&blob)).map_err(worker::Error::from)?;
        Ok(Response::from(response))
    }
}
