//! The ledger's answer to `GET /apps/{id}/stats`, and the same numbers as Prometheus text.

use super::report::Counts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One period's counters, in JSON as one flat object (the counts, then `peak_connections`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "FlatUsage", into = "FlatUsage")]
pub struct Usage {
    pub counts: Counts,
    /// Most concurrent connections seen in the period.
    pub peak_connections: u64,
}

/// [`Usage`] as JSON has it. Spelt out rather than `#[serde(flatten)]`, whose buffering
/// deserializer is a sizeable part of the bundle.
#[derive(Serialize, Deserialize)]
struct FlatUsage {
    #[serde(default)]
    broadcasts: u64,
    #[serde(default)]
    messages_delivered: u64,
    #[serde(default)]
    client_events: u64,
    #[serde(default)]
    rest_calls: u64,
    #[serde(default)]
    connections_opened: u64,
    #[serde(default)]
    webhooks_failed: u64,
    #[serde(default)]
    webhooks_dropped: u64,
    #[serde(default)]
    replay_lost: u64,
    #[serde(default)]
    connections_rate_limited: u64,
    #[serde(default)]
    rest_rate_limited: u64,
    #[serde(default)]
    origins_refused: u64,
    peak_connections: u64,
}

impl From<FlatUsage> for Usage {
    fn from(flat: FlatUsage) -> Self {
        Usage {
            counts: Counts {
                broadcasts: flat.broadcasts,
                messages_delivered: flat.messages_delivered,
                client_events: flat.client_events,
                rest_calls: flat.rest_calls,
                connections_opened: flat.connections_opened,
                webhooks_failed: flat.webhooks_failed,
                webhooks_dropped: flat.webhooks_dropped,
                replay_lost: flat.replay_lost,
                connections_rate_limited: flat.connections_rate_limited,
                rest_rate_limited: flat.rest_rate_limited,
                origins_refused: flat.origins_refused,
            },
            peak_connections: flat.peak_connections,
        }
    }
}

impl From<Usage> for FlatUsage {
    fn from(usage: Usage) -> Self {
        let c = usage.counts;
        FlatUsage {
            broadcasts: c.broadcasts,
            messages_delivered: c.messages_delivered,
            client_events: c.client_events,
            rest_calls: c.rest_calls,
            connections_opened: c.connections_opened,
            webhooks_failed: c.webhooks_failed,
            webhooks_dropped: c.webhooks_dropped,
            replay_lost: c.replay_lost,
            connections_rate_limited: c.connections_rate_limited,
            rest_rate_limited: c.rest_rate_limited,
            origins_refused: c.origins_refused,
            peak_connections: usage.peak_connections,
        }
    }
}

/// Everything the ledger knows about one app.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub app_id: String,
    /// Live connections now (as last reported by the connection shards).
    pub connections: u64,
    /// Occupied channels now.
    pub occupied_channels: u64,
    pub max_broadcasts_per_month: Option<u64>,
    pub max_connections: Option<u64>,
    /// Since the ledger began.
    pub total: Usage,
    /// By UTC month, `2026-11`.
    pub months: BTreeMap<String, Usage>,
    /// By UTC day, `2026-11-27` (the last 62 days are kept).
    pub days: BTreeMap<String, Usage>,
}

/// Prometheus metric names, types and help, in output order.
const METRICS: [(&str, &str, &str); 14] = [
    (
        "pusher_edge_broadcasts_total",
        "counter",
        "Broadcasts: one per channel a REST event was published to.",
    ),
    (
        "pusher_edge_messages_delivered_total",
        "counter",
        "Event frames sent to subscribers.",
    ),
    (
        "pusher_edge_client_events_total",
        "counter",
        "Client events accepted from connections.",
    ),
    (
        "pusher_edge_rest_calls_total",
        "counter",
        "Signed REST calls served.",
    ),
    (
        "pusher_edge_connections_opened_total",
        "counter",
        "Client connections accepted.",
    ),
    (
        "pusher_edge_webhooks_failed_total",
        "counter",
        "Webhooks given up on: past their retry window, or dropped from a full outbox.",
    ),
    (
        "pusher_edge_webhooks_dropped_total",
        "counter",
        "Webhooks dropped, oldest first, because a receiver's outbox was full.",
    ),
    (
        "pusher_edge_replay_lost_total",
        "counter",
        "Frames sessions rejoining a reset room never got (its replay log was full).",
    ),
    (
        "pusher_edge_connections_rate_limited_total",
        "counter",
        "Connection attempts refused by the app's rate limit (HTTP 429).",
    ),
    (
        "pusher_edge_rest_rate_limited_total",
        "counter",
        "REST calls refused by the app's rate limit (HTTP 429).",
    ),
    (
        "pusher_edge_origins_refused_total",
        "counter",
        "Connections refused because their page's origin is not allowed (4009).",
    ),
    (
        "pusher_edge_connections",
        "gauge",
        "Live client connections.",
    ),
    (
        "pusher_edge_occupied_channels",
        "gauge",
        "Channels with at least one subscriber.",
    ),
    (
        "pusher_edge_month_broadcasts",
        "gauge",
        "Broadcasts in the current UTC month (the quota's measure).",
    ),
];

fn metric_value(stats: &Stats, name: &str, month: &str) -> u64 {
    let total = &stats.total.counts;
    match name {
        "pusher_edge_broadcasts_total" => total.broadcasts,
        "pusher_edge_messages_delivered_total" => total.messages_delivered,
        "pusher_edge_client_events_total" => total.client_events,
        "pusher_edge_rest_calls_total" => total.rest_calls,
        "pusher_edge_connections_opened_total" => total.connections_opened,
        "pusher_edge_webhooks_failed_total" => total.webhooks_failed,
        "pusher_edge_webhooks_dropped_total" => total.webhooks_dropped,
        "pusher_edge_replay_lost_total" => total.replay_lost,
        "pusher_edge_connections_rate_limited_total" => total.connections_rate_limited,
        "pusher_edge_rest_rate_limited_total" => total.rest_rate_limited,
        "pusher_edge_origins_refused_total" => total.origins_refused,
        "pusher_edge_connections" => stats.connections,
        "pusher_edge_occupied_channels" => stats.occupied_channels,
        _ => stats.months.get(month).map_or(0, |u| u.counts.broadcasts),
    }
}

/// The Prometheus text exposition of every app's stats, labelled by `app_id`.
pub fn prometheus_text(apps: &[Stats], month: &str) -> String {
    let mut out = String::new();
    for (name, kind, help) in METRICS {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for stats in apps {
            // App ids are limited to [A-Za-z0-9-_.], so they need no label escaping.
            let _ = writeln!(
                out,
                "{name}{{app_id=\"{}\"}} {}",
                stats.app_id,
                metric_value(stats, name, month)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_serialises_flat() {
        let usage = Usage {
            counts: Counts {
                broadcasts: 3,
                ..Counts::default()
            },
            peak_connections: 2,
        };
        let json = serde_json::to_value(usage).unwrap();
        assert_eq!(json["broadcasts"], 3);
        assert_eq!(json["peak_connections"], 2);
        assert_eq!(json["messages_delivered"], 0);
    }

    #[test]
    fn usage_json_is_one_flat_object_in_field_order() {
        let usage = Usage {
            counts: Counts {
                broadcasts: 1,
                messages_delivered: 2,
                client_events: 3,
                rest_calls: 4,
                connections_opened: 5,
                webhooks_failed: 6,
                webhooks_dropped: 7,
                replay_lost: 9,
                connections_rate_limited: 10,
                rest_rate_limited: 11,
                origins_refused: 12,
            },
            peak_connections: 8,
        };
        let json = serde_json::to_string(&usage).unwrap();
        assert_eq!(
            json,
            r#"{"broadcasts":1,"messages_delivered":2,"client_events":3,"rest_calls":4,"connections_opened":5,"webhooks_failed":6,"webhooks_dropped":7,"replay_lost":9,"connections_rate_limited":10,"rest_rate_limited":11,"origins_refused":12,"peak_connections":8}"#
        );
        assert_eq!(serde_json::from_str::<Usage>(&json).unwrap(), usage);
        // Counts default to 0; the peak is required.
        let sparse: Usage =
            serde_json::from_str(r#"{"peak_connections":2,"rest_calls":1}"#).unwrap();
        assert_eq!((sparse.counts.rest_calls, sparse.counts.broadcasts), (1, 0));
        assert!(serde_json::from_str::<Usage>(r#"{"broadcasts":1}"#).is_err());
    }

    #[test]
    fn prometheus_lines_per_app() {
        let mut stats = Stats {
            app_id: "app-1".into(),
            connections: 5,
            ..Stats::default()
        };
        stats.total.counts.broadcasts = 12;
        stats.total.counts.webhooks_dropped = 4;
        stats.total.counts.replay_lost = 3;
        stats.total.counts.rest_rate_limited = 6;
        stats.months.insert(
            "2026-11".into(),
            Usage {
                counts: Counts {
                    broadcasts: 7,
                    ..Counts::default()
                },
                peak_connections: 0,
            },
        );
        let text = prometheus_text(&[stats], "2026-11");
        assert!(text.contains("# TYPE pusher_edge_broadcasts_total counter\n"));
        assert!(text.contains("pusher_edge_broadcasts_total{app_id=\"app-1\"} 12\n"));
        assert!(text.contains("pusher_edge_connections{app_id=\"app-1\"} 5\n"));
        assert!(text.contains("pusher_edge_webhooks_dropped_total{app_id=\"app-1\"} 4\n"));
        assert!(text.contains("pusher_edge_replay_lost_total{app_id=\"app-1\"} 3\n"));
        assert!(text.contains("pusher_edge_rest_rate_limited_total{app_id=\"app-1\"} 6\n"));
        assert!(text.contains("pusher_edge_month_broadcasts{app_id=\"app-1\"} 7\n"));
    }
}
