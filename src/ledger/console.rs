//! The debug console's feed: what rooms and connection shards tell an operator watching an
//! app (connections, subscriptions, publishes, client events, webhooks), how they learn that
//! someone watches, and the bounds that keep a fast app from flooding anyone.
//!
//! Nobody watching costs nothing: a room or shard writes lines only while it holds a lease,
//! which the ledger grants in its report answers while a console socket is open (and the
//! dashboard gives the app's occupied rooms and shards when a console opens). Lines ride
//! along with the reports the objects send anyway, at most once a second.
//!
//! A line never shows more than the app's secret would show through the REST API: ids,
//! names and sizes, and event data cut to [`DATA_SHOWN`] bytes. Never `user_info`, auth
//! signatures or webhook URLs beyond their host.

use crate::protocol::json_writer::JsonObject;

/// How long a console lease lasts: a room keeps writing lines this long after its last
/// word from the ledger. The ledger renews it in every answer while a console is open.
pub const LEASE_MS: f64 = 60_000.0;
/// A lease is stored (so a room woken from hibernation still knows it) when it has grown
/// by this much since last stored: one storage write per object per half lease at most.
const STORE_AFTER_MS: f64 = LEASE_MS / 2.0;
/// Lines one report carries at most; more are counted as dropped.
pub const MAX_LINES_PER_REPORT: usize = 100;
/// Lines an object holds before its first word from the ledger in this instance (a console
/// may have opened meanwhile: a publish to a channel nobody occupies still shows). Kept
/// small: this is the only work done when nobody watches.
pub const MAX_HELD_LINES: usize = 8;
/// Lines the ledger sends its consoles per second at most; more are dropped and counted.
pub const MAX_LINES_PER_SECOND: u64 = 200;
/// Consoles one app may have open at once (each is a socket its ledger holds).
pub const MAX_CONSOLES: usize = 8;
/// Event data shown in a line, at most (bytes, cut at a character boundary).
pub const DATA_SHOWN: usize = 200;

/// An object's knowledge of whether a console watches its app: a lease until `until_ms`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ConsoleWatch {
    until_ms: f64,
    /// The lease as last stored (or read from storage).
    stored_ms: f64,
    /// Storage has been read (once per instance).
    pub restored: bool,
    /// The ledger (or the dashboard) has spoken in this instance.
    heard: bool,
}

impl ConsoleWatch {
    pub fn is_open(&self, now_ms: f64) -> bool {
        now_ms < self.until_ms
    }

    /// Whether to write lines: while open, and until the first word of the ledger in this
    /// instance (they are held until then, see [`MAX_HELD_LINES`]).
    pub fn wants_lines(&self, now_ms: f64) -> bool {
        self.is_open(now_ms) || !self.heard
    }

    /// The lease read from storage when the instance started.
    pub fn restore(&mut self, stored_until_ms: f64) {
        self.restored = true;
        self.stored_ms = stored_until_ms;
        self.until_ms = self.until_ms.max(stored_until_ms);
    }

    /// The object deleted its storage: the lease is stored again at the next word.
    pub fn storage_cleared(&mut self) {
        self.stored_ms = 0.0;
    }

    /// The ledger (or the dashboard) said the lease runs to `until_ms` (0: nobody watches).
    /// Returns the value to store, when storage should change: the console opened or
    /// closed, or the lease outgrew the stored one by half a lease.
    pub fn learn(&mut self, until_ms: f64, now_ms: f64) -> Option<f64> {
        self.until_ms = until_ms;
        self.heard = true;
        let stored_open = now_ms < self.stored_ms;
        let open = now_ms < until_ms;
        let store = if open {
            !stored_open || until_ms - self.stored_ms >= STORE_AFTER_MS
        } else {
            stored_open
        };
        store.then(|| {
            self.stored_ms = until_ms;
            until_ms
        })
    }
}

/// Lines gathered for the next report, at most [`MAX_LINES_PER_REPORT`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConsoleLines {
    pub lines: Vec<String>,
    pub dropped: u64,
}

impl ConsoleLines {
    pub fn push(&mut self, line: String) {
        if self.lines.len() < MAX_LINES_PER_REPORT {
            self.lines.push(line);
        } else {
            self.dropped += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.dropped == 0
    }
}

/// Lines written before the object's first word from the ledger in this instance: sent if the
/// word is that a console watches, else forgotten.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeldLines(Vec<String>);

impl HeldLines {
    pub fn hold(&mut self, line: String) {
        if self.0.len() < MAX_HELD_LINES {
            self.0.push(line);
        }
    }

    pub fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.0)
    }
}

/// The ledger's side: lines per second sent to its consoles, and those dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleRate {
    second: u64,
    sent: u64,
}

impl ConsoleRate {
    /// Of `n` lines arriving at `now_ms`, how many may go out this second.
    pub fn admit(&mut self, n: usize, now_ms: f64) -> usize {
        let second = (now_ms / 1000.0) as u64;
        if second != self.second {
            self.second = second;
            self.sent = 0;
        }
        let room = MAX_LINES_PER_SECOND.saturating_sub(self.sent) as usize;
        let admitted = n.min(room);
        self.sent += admitted as u64;
        admitted
    }
}

fn line(kind: &str, now_ms: f64) -> JsonObject {
    JsonObject::new()
        .string("kind", kind)
        .value("at", now_ms.max(0.0) as u64)
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn shown(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A client connection opened or closed.
pub fn connection(now_ms: f64, socket_id: &str, opened: bool) -> String {
    let kind = if opened { "connected" } else { "disconnected" };
    line(kind, now_ms).string("socket_id", socket_id).finish()
}

/// A socket subscribed to or left a channel.
pub fn subscription(
    now_ms: f64,
    channel: &str,
    socket_id: &str,
    user_id: Option<&str>,
    subscribed: bool,
) -> String {
    let kind = if subscribed {
        "subscribed"
    } else {
        "unsubscribed"
    };
    line(kind, now_ms)
        .string("channel", channel)
        .string("socket_id", socket_id)
        .string_if("user_id", user_id)
        .finish()
}

/// An event frame published to a channel: by the REST API (`api_message`) or by a client
/// (`client_event`, with the sender). The frame is the one subscribers got.
pub fn event(
    now_ms: f64,
    frame: &str,
    from: Option<(&str, Option<&str>)>,
    exclude: Option<&str>,
) -> String {
    // A `Value`, not a struct: the bundle has its parser already.
    let parsed: serde_json::Value =
        crate::protocol::json_read::from_text(frame).unwrap_or_default();
    let text = |key: &str| parsed.get(key).and_then(|v| v.as_str()).unwrap_or_default();
    let data = match parsed.get("data") {
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let kind = if from.is_some() {
        "client_event"
    } else {
        "api_message"
    };
    let mut out = line(kind, now_ms)
        .string("channel", text("channel"))
        .string("event", text("event"))
        .value("size", data.len())
        .string("data", shown(&data, DATA_SHOWN))
        .value("truncated", data.len() > DATA_SHOWN);
    if let Some((socket_id, user_id)) = from {
        out = out
            .string("socket_id", socket_id)
            .string_if("user_id", user_id);
    }
    out.string_if("excluded_socket_id", exclude).finish()
}

/// A webhook request: to which host, with which events, and whether it was taken (2xx).
pub fn webhook(now_ms: f64, host: &str, event_names: &[String], delivered: bool) -> String {
    let kind = if delivered {
        "webhook_sent"
    } else {
        "webhook_failed"
    };
    line(kind, now_ms)
        .string("host", host)
        .raw(
            "events",
            &crate::protocol::json_writer::string_array(event_names.iter().map(String::as_str)),
        )
        .finish()
}

/// Webhook events given up on (past their retry window, or dropped from a full outbox).
pub fn webhooks_given_up(now_ms: f64, channel: &str, count: u64) -> String {
    line("webhooks_given_up", now_ms)
        .string("channel", channel)
        .value("count", count)
        .finish()
}

/// Lines lost on the way (a full report, a report that failed, or the ledger's rate).
pub fn dropped(now_ms: f64, count: u64) -> String {
    line("dropped", now_ms).value("count", count).finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn a_lease_is_stored_when_it_opens_closes_or_grows_by_half() {
        let mut watch = ConsoleWatch::default();
        assert!(!watch.is_open(0.0));
        assert_eq!(watch.learn(60_000.0, 0.0), Some(60_000.0), "opened");
        assert!(watch.is_open(59_999.0));
        assert_eq!(watch.learn(61_000.0, 1_000.0), None, "renewed a little");
        assert_eq!(
            watch.learn(90_000.0, 30_000.0),
            Some(90_000.0),
            "half a lease on"
        );
        assert_eq!(watch.learn(0.0, 31_000.0), Some(0.0), "closed");
        assert!(!watch.is_open(31_000.0));
        assert_eq!(watch.learn(0.0, 32_000.0), None, "still closed");
    }

    #[test]
    fn a_woken_object_keeps_its_stored_lease() {
        let mut watch = ConsoleWatch::default();
        watch.restore(50_000.0);
        assert!(watch.restored);
        assert!(watch.is_open(40_000.0));
        assert!(!watch.is_open(50_000.0), "until it runs out");
        // A stored lease that ran out is renewed in storage at the next answer.
        assert_eq!(watch.learn(120_000.0, 60_000.0), Some(120_000.0));
    }

    #[test]
    fn lines_are_wanted_while_open_and_until_the_first_word() {
        let mut watch = ConsoleWatch::default();
        assert!(watch.wants_lines(0.0), "not heard yet: held");
        watch.learn(0.0, 0.0);
        assert!(!watch.wants_lines(0.0), "told nobody watches");
        watch.learn(60_000.0, 1.0);
        assert!(watch.wants_lines(2.0));
        let mut held = HeldLines::default();
        for i in 0..MAX_HELD_LINES + 3 {
            held.hold(i.to_string());
        }
        assert_eq!(held.take().len(), MAX_HELD_LINES);
        assert!(held.take().is_empty());
    }

    #[test]
    fn lines_are_capped_per_report_and_the_rest_counted() {
        let mut lines = ConsoleLines::default();
        assert!(lines.is_empty());
        for i in 0..MAX_LINES_PER_REPORT + 5 {
            lines.push(i.to_string());
        }
        assert_eq!(lines.lines.len(), MAX_LINES_PER_REPORT);
        assert_eq!(lines.dropped, 5);
    }

    #[test]
    fn the_ledger_sends_at_most_its_rate_per_second() {
        let mut rate = ConsoleRate::default();
        assert_eq!(rate.admit(150, 1_000.0), 150);
        assert_eq!(rate.admit(100, 1_500.0), 50);
        assert_eq!(rate.admit(1, 1_999.0), 0);
        assert_eq!(rate.admit(10, 2_000.0), 10, "a new second");
    }

    #[test]
    fn data_is_cut_at_a_character_boundary() {
        assert_eq!(shown("abc", 5), "abc");
        assert_eq!(shown("héllo", 2), "h", "é takes two bytes");
        let frame = json!({"event": "e", "channel": "c", "data": "é".repeat(150)}).to_string();
        let line = parse(&event(1.0, &frame, None, None));
        assert_eq!(line["size"], 300);
        assert_eq!(line["truncated"], true);
        assert_eq!(line["data"].as_str().unwrap().len(), DATA_SHOWN);
    }

    #[test]
    fn lines_name_what_happened() {
        assert_eq!(
            parse(&connection(5.0, "1.2", true)),
            json!({"kind": "connected", "at": 5, "socket_id": "1.2"})
        );
        assert_eq!(
            parse(&subscription(5.0, "presence-a", "1.2", Some("u"), false)),
            json!({"kind": "unsubscribed", "at": 5, "channel": "presence-a",
                   "socket_id": "1.2", "user_id": "u"})
        );
        let frame = r#"{"event":"client-x","channel":"private-a","data":{"n":1}}"#;
        assert_eq!(
            parse(&event(5.0, frame, Some(("1.2", None)), None)),
            json!({"kind": "client_event", "at": 5, "channel": "private-a", "event": "client-x",
                   "size": 7, "data": "{\"n\":1}", "truncated": false, "socket_id": "1.2"})
        );
        let frame = r#"{"event":"e","channel":"a","data":"hi"}"#;
        assert_eq!(
            parse(&event(5.0, frame, None, Some("3.4"))),
            json!({"kind": "api_message", "at": 5, "channel": "a", "event": "e", "size": 2,
                   "data": "hi", "truncated": false, "excluded_socket_id": "3.4"})
        );
        assert_eq!(
            parse(&webhook(
                5.0,
                "hooks.example",
                &["channel_occupied".into()],
                false
            )),
            json!({"kind": "webhook_failed", "at": 5, "host": "hooks.example",
                   "events": ["channel_occupied"]})
        );
        assert_eq!(
            parse(&dropped(5.0, 3)),
            json!({"kind": "dropped", "at": 5, "count": 3})
        );
    }
}
