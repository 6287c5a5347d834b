//! What channel rooms and connection shards tell the app ledger, and how a room gathers it
//! between two reports (batching: at most one ledger request per second per object, except
//! that a room reports an occupancy change at once).

use super::console::{ConsoleLines, ConsoleWatch, HeldLines};
use serde::{Deserialize, Serialize};

/// How long a room or shard gathers counts before it reports them.
pub const REPORT_INTERVAL_MS: f64 = 1_000.0;
/// After a failed report, how long before the next try.
pub const RETRY_INTERVAL_MS: f64 = 5_000.0;
/// While over quota, how often a room asks the ledger again (the quota may have been raised).
pub const QUOTA_RECHECK_MS: f64 = 30_000.0;

/// Counters the ledger keeps per day, per month and in total.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    /// One per channel a REST event was published to: the billing unit.
    pub broadcasts: u64,
    /// Event frames sent to subscribers (REST events and client events).
    pub messages_delivered: u64,
    /// Client events accepted from connections.
    pub client_events: u64,
    /// Signed REST calls that passed the signature check and reached a channel or the ledger.
    pub rest_calls: u64,
    pub connections_opened: u64,
    /// Webhooks given up on: past their retry window, or dropped from a full outbox.
    pub webhooks_failed: u64,
    /// Webhooks dropped (oldest first) because a receiver's outbox was full; also counted in
    /// `webhooks_failed`.
    pub webhooks_dropped: u64,
    /// Frames sessions rejoining a reset room never got: its new instance's replay log was
    /// past its cap (or its window) when they came back.
    pub replay_lost: u64,
    /// Connection attempts refused by the app's rate limit (HTTP 429), before any object.
    pub connections_rate_limited: u64,
    /// REST calls refused by the app's rate limit (HTTP 429).
    pub rest_rate_limited: u64,
    /// Connections refused because their page's origin is not in `allowed_origins` (4009).
    pub origins_refused: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.broadcasts += other.broadcasts;
        self.messages_delivered += other.messages_delivered;
        self.client_events += other.client_events;
        self.rest_calls += other.rest_calls;
        self.connections_opened += other.connections_opened;
        self.webhooks_failed += other.webhooks_failed;
        self.webhooks_dropped += other.webhooks_dropped;
        self.replay_lost += other.replay_lost;
        self.connections_rate_limited += other.connections_rate_limited;
        self.rest_rate_limited += other.rest_rate_limited;
        self.origins_refused += other.origins_refused;
    }

    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

/// A channel's entry in the ledger's index of occupied channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occupancy {
    pub channel: String,
    pub occupied: bool,
    /// Presence channels: distinct users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_count: Option<u64>,
}

/// A connection shard's live connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCount {
    pub index: u32,
    pub connections: u64,
}

/// One batched report to the ledger.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    pub counts: Counts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occupancy: Option<Occupancy>,
    /// Orders a room's occupancy reports: the ledger ignores one older than what it last
    /// applied for the channel (two reports of one room can cross on the way). 0: unordered.
    #[serde(skip_serializing_if = "is_zero")]
    pub occupancy_seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardCount>,
    /// Lines for the app's debug console (JSON texts), while one is open.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub console: Vec<String>,
    /// Console lines this object could not send (over the per-report cap, a failed report).
    #[serde(skip_serializing_if = "is_zero")]
    pub console_dropped: u64,
    /// Webhook requests for the app's delivery log (`super::webhook_log` lines).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhook_log: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The ledger's answer: whether the app is over its monthly broadcast quota, and for which
/// month (rooms refuse publishes until the month changes).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportAnswer {
    pub over_quota_month: Option<String>,
    /// While a debug console watches the app: until when the reporter should send it lines
    /// (Unix ms; 0 when nobody watches).
    #[serde(skip_serializing_if = "is_zero")]
    pub console_until_ms: u64,
}

/// A room's or shard's side of the ledger: counts gathered since the last report, the
/// occupancy last reported, and the quota state learnt from the ledger's answers.
#[derive(Debug, Default)]
pub struct Feed {
    pending: Counts,
    reported_occupancy: Option<Occupancy>,
    reported_shard: Option<ShardCount>,
    over_quota_month: Option<String>,
    /// Send a report even with nothing in it (to ask the ledger about the quota).
    force: bool,
    quota_asked_ms: f64,
    /// A report is scheduled (an alarm is set for it).
    pub scheduled: bool,
    last_seq: u64,
    /// Whether a debug console watches the app, and the lines gathered for it.
    pub console: ConsoleWatch,
    console_lines: ConsoleLines,
    held_lines: HeldLines,
    /// Webhook requests for the delivery log, newest last.
    webhook_log: Vec<String>,
}

impl Feed {
    pub fn counts(&mut self) -> &mut Counts {
        &mut self.pending
    }

    /// Adds a line for the debug console (callers write lines only while
    /// `console.wants_lines`): it goes with the next report if a console watches, or waits
    /// for the ledger's first word in this instance.
    pub fn console_line(&mut self, line: String, now_ms: f64) {
        if self.console.is_open(now_ms) {
            self.console_lines.push(line);
        } else {
            self.held_lines.hold(line);
        }
    }

    /// The ledger (or the dashboard) said the console lease runs to `until_ms`: held lines go
    /// out if it is open, else are forgotten. Returns the lease to store, if storage should
    /// change.
    pub fn learn_console(&mut self, until_ms: f64, now_ms: f64) -> Option<f64> {
        let store = self.console.learn(until_ms, now_ms);
        let held = self.held_lines.take();
        if self.console.is_open(now_ms) {
            for line in held {
                self.console_lines.push(line);
            }
        }
        store
    }

    /// A webhook request for the app's delivery log: it goes with the next report.
    pub fn webhook_logged(&mut self, line: String) {
        super::webhook_log::keep_newest(&mut self.webhook_log, line);
    }

    /// Console lines wait for a report.
    pub fn has_console_lines(&self) -> bool {
        !self.console_lines.is_empty()
    }

    /// The report to send now, if anything changed: the gathered counts, plus the current
    /// occupancy or shard count when it differs from what the ledger last heard.
    pub fn take_report(
        &mut self,
        occupancy: Option<Occupancy>,
        shard: Option<ShardCount>,
    ) -> Option<Report> {
        let occupancy = occupancy.filter(|o| self.reported_occupancy.as_ref() != Some(o));
        let shard = shard.filter(|s| self.reported_shard != Some(*s));
        if self.pending.is_zero()
            && occupancy.is_none()
            && shard.is_none()
            && !self.force
            && self.console_lines.is_empty()
            && self.webhook_log.is_empty()
        {
            return None;
        }
        self.force = false;
        if occupancy.is_some() {
            self.reported_occupancy.clone_from(&occupancy);
        }
        if shard.is_some() {
            self.reported_shard = shard;
        }
        let console = std::mem::take(&mut self.console_lines);
        Some(Report {
            counts: std::mem::take(&mut self.pending),
            occupancy,
            occupancy_seq: 0,
            shard,
            console: console.lines,
            console_dropped: console.dropped,
            webhook_log: std::mem::take(&mut self.webhook_log),
        })
    }

    /// Stamps a report's occupancy with an increasing sequence number: microseconds of the
    /// clock, so a restarted room's numbers continue above its earlier ones.
    pub fn stamp(&mut self, report: &mut Report, now_ms: f64) {
        if report.occupancy.is_some() {
            self.last_seq = (self.last_seq + 1).max((now_ms.max(0.0) * 1000.0) as u64);
            report.occupancy_seq = self.last_seq;
        }
    }

    /// Whether `occupancy` differs from what the ledger last heard (rooms report such a
    /// change at once rather than in the batch).
    pub fn occupancy_changed(&self, occupancy: Option<&Occupancy>) -> bool {
        occupancy.is_some_and(|o| self.reported_occupancy.as_ref() != Some(o))
    }

    /// Learns the quota and console state from the ledger's answer; returns a console
    /// lease to store, when storage should change (see [`ConsoleWatch::learn`]).
    pub fn on_answer(&mut self, answer: ReportAnswer, now_ms: f64) -> Option<f64> {
        self.over_quota_month = answer.over_quota_month;
        self.learn_console(answer.console_until_ms as f64, now_ms)
    }

    /// The report did not reach the ledger: keep its counts for the next one and forget what
    /// was reported, so the state is sent again.
    /// Console lines are not sent again (they would arrive out of order): they are counted
    /// as dropped, and the console says so.
    pub fn on_failed(&mut self, report: &Report) {
        self.pending.add(&report.counts);
        let lost = report.console.len() as u64 + report.console_dropped;
        self.console_lines.dropped += lost;
        self.reported_occupancy = None;
        self.reported_shard = None;
    }

    pub fn is_over_quota(&self, month: &str) -> bool {
        self.over_quota_month.as_deref() == Some(month)
    }

    /// A publish was refused for the quota: whether to ask the ledger again now (at most
    /// every `QUOTA_RECHECK_MS`), in case the quota was raised.
    pub fn recheck_quota(&mut self, now_ms: f64) -> bool {
        if now_ms - self.quota_asked_ms < QUOTA_RECHECK_MS {
            return false;
        }
        self.quota_asked_ms = now_ms;
        self.force = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occupied(n: u64) -> Option<Occupancy> {
        Some(Occupancy {
            channel: "presence-a".into(),
            occupied: n > 0,
            user_count: Some(n),
        })
    }

    #[test]
    fn reports_only_what_changed() {
        let mut feed = Feed::default();
        assert_eq!(feed.take_report(None, None), None);
        feed.counts().broadcasts += 2;
        feed.counts().messages_delivered += 7;
        let first = feed.take_report(occupied(1), None).unwrap();
        assert_eq!(first.counts.broadcasts, 2);
        assert_eq!(first.counts.messages_delivered, 7);
        assert_eq!(first.occupancy, occupied(1));
        // Same occupancy, no counts: nothing to send.
        assert_eq!(feed.take_report(occupied(1), None), None);
        let next = feed.take_report(occupied(2), None).unwrap();
        assert!(next.counts.is_zero());
        assert_eq!(next.occupancy, occupied(2));
    }

    #[test]
    fn occupancy_changes_are_told_apart_from_counts() {
        let mut feed = Feed::default();
        assert!(
            !feed.occupancy_changed(None),
            "user channels and leaves are not listed"
        );
        assert!(feed.occupancy_changed(occupied(1).as_ref()));
        feed.take_report(occupied(1), None).unwrap();
        assert!(!feed.occupancy_changed(occupied(1).as_ref()));
        feed.counts().broadcasts += 1;
        assert!(
            !feed.occupancy_changed(occupied(1).as_ref()),
            "counts wait for the batch"
        );
        assert!(feed.occupancy_changed(occupied(2).as_ref()));
        assert!(feed.occupancy_changed(occupied(0).as_ref()));
        // A failed report is sent again with the next change.
        let failed = feed.take_report(occupied(0), None).unwrap();
        assert_eq!(failed.counts.broadcasts, 1, "counts ride along");
        feed.on_failed(&failed);
        assert!(feed.occupancy_changed(occupied(0).as_ref()));
    }

    #[test]
    fn occupancy_reports_are_numbered_in_order() {
        let mut feed = Feed::default();
        let mut first = feed.take_report(occupied(1), None).unwrap();
        feed.stamp(&mut first, 1_000.0);
        let mut second = feed.take_report(occupied(0), None).unwrap();
        // The same millisecond (or a clock step back) still numbers it after the first.
        feed.stamp(&mut second, 900.0);
        assert!(first.occupancy_seq >= 1_000_000);
        assert!(second.occupancy_seq > first.occupancy_seq);
        // Counts alone carry no number.
        feed.counts().broadcasts += 1;
        let mut counts = feed.take_report(occupied(0), None).unwrap();
        feed.stamp(&mut counts, 2_000.0);
        assert_eq!(counts.occupancy_seq, 0);
    }

    #[test]
    fn a_failed_report_is_merged_into_the_next() {
        let mut feed = Feed::default();
        feed.counts().broadcasts += 3;
        let shard = Some(ShardCount {
            index: 1,
            connections: 4,
        });
        let failed = feed.take_report(None, shard).unwrap();
        feed.on_failed(&failed);
        feed.counts().broadcasts += 1;
        let retry = feed.take_report(None, shard).unwrap();
        assert_eq!(retry.counts.broadcasts, 4);
        assert_eq!(retry.shard, shard);
    }

    #[test]
    fn quota_holds_for_the_month_it_was_reported_for() {
        let mut feed = Feed::default();
        assert!(!feed.is_over_quota("2026-11"));
        feed.on_answer(
            ReportAnswer {
                over_quota_month: Some("2026-11".into()),
                ..ReportAnswer::default()
            },
            0.0,
        );
        assert!(feed.is_over_quota("2026-11"));
        assert!(!feed.is_over_quota("2026-12"));
        feed.on_answer(ReportAnswer::default(), 0.0);
        assert!(!feed.is_over_quota("2026-11"));
    }

    #[test]
    fn a_refused_room_asks_again_every_30_seconds() {
        let mut feed = Feed::default();
        assert!(feed.recheck_quota(100_000.0));
        // An empty report goes out, to carry the ledger's answer back.
        assert_eq!(feed.take_report(None, None), Some(Report::default()));
        assert_eq!(feed.take_report(None, None), None);
        assert!(!feed.recheck_quota(110_000.0));
        assert!(feed.recheck_quota(130_000.0));
    }

    #[test]
    fn console_lines_ride_with_the_next_report_and_failures_are_counted() {
        let mut feed = Feed::default();
        let store = feed.on_answer(
            ReportAnswer {
                console_until_ms: 60_000,
                ..ReportAnswer::default()
            },
            0.0,
        );
        assert_eq!(store, Some(60_000.0));
        assert!(feed.console.is_open(1.0));
        feed.console_line("{}".into(), 1.0);
        let report = feed
            .take_report(None, None)
            .expect("lines alone are worth a report");
        assert_eq!(report.console, vec!["{}".to_string()]);
        feed.on_failed(&report);
        let retry = feed.take_report(None, None).unwrap();
        assert!(retry.console.is_empty(), "not sent again");
        assert_eq!(retry.console_dropped, 1, "but said to be lost");
        assert_eq!(feed.take_report(None, None), None);
        assert_eq!(
            feed.on_answer(ReportAnswer::default(), 2.0),
            Some(0.0),
            "closed"
        );
        assert!(!feed.console.is_open(2.0));
    }

    #[test]
    fn lines_before_the_first_answer_go_out_only_if_a_console_watches() {
        let mut feed = Feed::default();
        assert!(feed.console.wants_lines(0.0));
        feed.console_line("first publish".into(), 0.0);
        assert!(!feed.has_console_lines(), "held, not reported");
        feed.counts().broadcasts += 1;
        assert!(feed.take_report(None, None).unwrap().console.is_empty());
        let answer = |until| ReportAnswer {
            console_until_ms: until,
            ..ReportAnswer::default()
        };
        feed.on_answer(answer(60_000), 1.0);
        assert!(
            feed.has_console_lines(),
            "a console watches: the held line goes out"
        );
        assert_eq!(
            feed.take_report(None, None).unwrap().console,
            vec!["first publish"]
        );

        let mut quiet = Feed::default();
        quiet.console_line("unwatched".into(), 0.0);
        quiet.on_answer(answer(0), 1.0);
        assert!(!quiet.has_console_lines(), "nobody watches: forgotten");
        assert!(!quiet.console.wants_lines(2.0), "and no more are written");
    }

    #[test]
    fn wire_format_is_compact() {
        let report = Report {
            counts: Counts {
                broadcasts: 1,
                ..Counts::default()
            },
            ..Report::default()
        };
        let json = serde_json::to_string(&report).unwrap();
        assert!(
            !json.contains("occupancy") && !json.contains("shard"),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
        assert_eq!(
            serde_json::from_str::<Report>("{}").unwrap(),
            Report::default()
        );
    }
}
