//! Size and count limits, in one configurable struct (Pusher's defaults).

use serde::{Deserialize, Serialize};

/// The Worker's CPU limit per invocation, from wrangler.toml's `[limits] cpu_ms` (30 s without
/// it), read by build.rs.
const WORKER_CPU_MS: u64 = parse_ms(env!("PUSHER_EDGE_CPU_MS"));

/// The most CPU a session may estimate it spent: half the Worker's limit, since a CPU-limit
/// kill resets every session in the isolate (far worse than one session's 4200), until the
/// per-frame cost is calibrated on Cloudflare. Also the default `session_cpu_budget_ms`.
pub const SESSION_CPU_CEILING_MS: u32 = {
    let half = WORKER_CPU_MS / 2;
    if half > u32::MAX as u64 {
        u32::MAX
    } else {
        half as u32
    }
};

const fn parse_ms(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let (mut value, mut i) = (0u64, 0);
    while i < bytes.len() {
        value = value * 10 + (bytes[i] - b'0') as u64;
        i += 1;
    }
    value
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Longest channel name, prefix included. Pusher documents 164; its SDKs allow 200.
    pub max_channel_name_length: usize,
    /// Longest event name.
    pub max_event_name_length: usize,
    /// Largest `data` of one event, in bytes (REST 413 above it).
    pub max_event_payload_bytes: usize,
    /// Most channels one REST trigger may name.
    pub max_channels_per_trigger: usize,
    /// Largest WebSocket frame a client may send; room for an event of
    /// `max_event_payload_bytes` plus its envelope.
    pub max_client_frame_bytes: usize,
    /// Largest REST request body accepted before it is even parsed.
    pub max_request_body_bytes: usize,
    /// Most channels one connection may be subscribed to at once.
    pub max_channels_per_connection: usize,
    /// Most distinct users in one presence channel.
    pub max_presence_members: usize,
    /// Largest presence `user_info`, in bytes of JSON.
    pub max_presence_user_info_bytes: usize,
    /// Longest presence `user_id`.
    pub max_presence_user_id_length: usize,
    /// Client events one connection may send per second; more get `pusher:error` 4301.
    pub max_client_events_per_second: u32,
    /// `pusher:subscribe` frames one connection may send per minute; past it the subscribe is
    /// refused with `pusher:error` 4301 (the connection stays open). A reconnecting client
    /// resubscribes on a fresh connection, so this only stops churn.
    pub max_subscribes_per_minute: u32,
    /// Most user ids in a sign-in watchlist; the rest are dropped with `pusher:error` 4302.
    pub max_watchlist_size: usize,
    /// Seconds of client silence before the server pings (also sent in the handshake).
    pub activity_timeout_secs: u32,
    /// Seconds the server waits for the answer to its ping before closing with 4201.
    pub pong_timeout_secs: u32,
    /// Internal socket upgrades one session may have waiting at once (Workers allow 6).
    pub max_upgrades_in_flight: usize,
    /// Subrequests (channel sockets opened) after which a session closes with 4200 so the
    /// client reconnects on a fresh invocation. Workers Paid allows 10,000 by default.
    pub session_subrequest_budget: u32,
    /// Estimated CPU milliseconds after which a session closes with 4200, at most (and by
    /// default) [`SESSION_CPU_CEILING_MS`]: a larger value counts as the ceiling (not refused,
    /// so a configuration written for a larger `cpu_ms` still loads). Each frame handled or
    /// relayed is counted at `session_cpu_micros_per_frame`.
    pub session_cpu_budget_ms: u32,
    /// The CPU estimate per frame, in microseconds. Conservative on purpose: the sessions'
    /// own process measured 65-105 µs per relayed frame (rooms in another process,
    /// `bench/lib/split_processes.mjs`, a busy machine, the inter-process hop and permessage-deflate
    /// included; BENCHMARKS.md), so 150 keeps a margin of about 1.4× over the worst of it and
    /// a session's share is over-counted, never under.
    pub session_cpu_micros_per_frame: u32,
    /// How long a cache channel keeps its last event (Pusher: up to 30 minutes).
    pub cache_ttl_secs: u32,
    /// Most items in one `POST /batch_events`.
    pub max_batch_size: usize,
    /// Most concurrent connections of the app; more are refused with 4004. `None`: no limit.
    pub max_connections: Option<u64>,
    /// Broadcasts (one per channel a REST event is published to) per calendar month (UTC);
    /// past it the REST API answers 403. `None`: no quota.
    pub max_broadcasts_per_month: Option<u64>,
    /// Connection-ledger shards of the app when `max_connections` is not set; each holds up
    /// to 32,768 connections (a Durable Object's socket limit). With `max_connections`, the
    /// shard count follows from it.
    pub connection_shards: u32,
    /// With `enable_user_authentication`: seconds a connection has to sign in or subscribe to
    /// a private or presence channel before it is closed with 4009.
    pub user_authentication_timeout_secs: u32,
    /// How long a webhook is retried (with exponential back-off) before it is given up on and
    /// counted in the app's `webhooks_failed`. Pusher retries for 5 minutes.
    pub webhook_retry_window_secs: u32,
    /// Most webhook events a channel's room keeps queued per receiving URL; past it (or past
    /// `webhook_outbox_max_bytes`) the oldest are dropped and counted in `webhooks_dropped`
    /// (and `webhooks_failed`).
    pub webhook_outbox_max_events: usize,
    /// Most bytes of webhook events a channel's room keeps queued per receiving URL.
    pub webhook_outbox_max_bytes: usize,
    /// Subscribers a channel's room holds before new subscribers go to leaf rooms that the
    /// room fans publishes out to (a Durable Object holds at most 32,768 sockets). Presence
    /// and cache channels never split.
    pub channel_split_threshold: usize,
    /// Shards of the app's user directory (who is signed in, for watchlists). A signed-in
    /// session holds one socket on its user's shard, plus one on each other shard that its
    /// watchlist's users live on; each shard holds at most 32,768 sockets.
    pub user_directory_shards: u32,
    /// Seconds a presence member whose connection dropped without a clean close (a network
    /// loss noticed at the pong timeout, a reconnect the server asked for) stays a member:
    /// back within it, the others see neither `member_removed` nor `member_added`. 0 (as on
    /// Pusher): removed at once.
    pub presence_grace_secs: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_channel_name_length: 200,
            max_event_name_length: 200,
            max_event_payload_bytes: 10 * 1024,
            max_channels_per_trigger: 100,
            max_client_frame_bytes: 10 * 1024 + 2 * 1024,
            max_request_body_bytes: 256 * 1024,
            max_channels_per_connection: 100,
            max_presence_members: 100,
            max_presence_user_info_bytes: 1024,
            max_presence_user_id_length: 128,
            max_client_events_per_second: 10,
            max_subscribes_per_minute: 600,
            max_watchlist_size: 100,
            activity_timeout_secs: 120,
            pong_timeout_secs: 30,
            max_upgrades_in_flight: 6,
            session_subrequest_budget: 9_000,
            session_cpu_budget_ms: SESSION_CPU_CEILING_MS,
            session_cpu_micros_per_frame: 150,
            cache_ttl_secs: 30 * 60,
            max_batch_size: 10,
            max_connections: None,
            max_broadcasts_per_month: None,
            connection_shards: 8,
            user_authentication_timeout_secs: 30,
            webhook_retry_window_secs: 300,
            webhook_outbox_max_events: 10_000,
            webhook_outbox_max_bytes: 10 * 1024 * 1024,
            channel_split_threshold: 16_000,
            user_directory_shards: 8,
            presence_grace_secs: 0,
        }
    }
}

impl Limits {
    /// Checks the limits make sense together, for configuration loading.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("max_channel_name_length", self.max_channel_name_length),
            ("max_event_name_length", self.max_event_name_length),
            ("max_event_payload_bytes", self.max_event_payload_bytes),
            ("max_channels_per_trigger", self.max_channels_per_trigger),
            ("max_client_frame_bytes", self.max_client_frame_bytes),
            ("max_request_body_bytes", self.max_request_body_bytes),
            (
                "max_channels_per_connection",
                self.max_channels_per_connection,
            ),
            ("max_presence_members", self.max_presence_members),
            (
                "max_presence_user_info_bytes",
                self.max_presence_user_info_bytes,
            ),
            (
                "max_presence_user_id_length",
                self.max_presence_user_id_length,
            ),
            (
                "max_subscribes_per_minute",
                self.max_subscribes_per_minute as usize,
            ),
            ("max_watchlist_size", self.max_watchlist_size),
            ("activity_timeout_secs", self.activity_timeout_secs as usize),
            ("pong_timeout_secs", self.pong_timeout_secs as usize),
            ("max_upgrades_in_flight", self.max_upgrades_in_flight),
            (
                "session_subrequest_budget",
                self.session_subrequest_budget as usize,
            ),
            ("session_cpu_budget_ms", self.session_cpu_budget_ms as usize),
            ("cache_ttl_secs", self.cache_ttl_secs as usize),
            ("max_batch_size", self.max_batch_size),
            ("connection_shards", self.connection_shards as usize),
            (
                "user_authentication_timeout_secs",
                self.user_authentication_timeout_secs as usize,
            ),
            (
                "webhook_retry_window_secs",
                self.webhook_retry_window_secs as usize,
            ),
            ("webhook_outbox_max_events", self.webhook_outbox_max_events),
            ("webhook_outbox_max_bytes", self.webhook_outbox_max_bytes),
            ("channel_split_threshold", self.channel_split_threshold),
            ("user_directory_shards", self.user_directory_shards as usize),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("limits.{name} must be greater than 0"));
            }
        }
        self.check_bounds()
    }

    /// The limits' upper bounds, and the ones that depend on one another.
    fn check_bounds(&self) -> Result<(), String> {
        if self.connection_shards > 1024 {
            return Err("limits.connection_shards must be at most 1024".into());
        }
        if self.presence_grace_secs > 3600 {
            return Err("limits.presence_grace_secs must be at most 3600".into());
        }
        if self.user_directory_shards > 1024 {
            return Err("limits.user_directory_shards must be at most 1024".into());
        }
        if self.max_connections == Some(0) {
            return Err(
                "limits.max_connections must be greater than 0 (leave it out for no limit)".into(),
            );
        }
        if self.max_request_body_bytes < self.max_event_payload_bytes {
            return Err(
                "limits.max_request_body_bytes must be at least limits.max_event_payload_bytes"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_pushers() {
        let l = Limits::default();
        assert_eq!(l.max_channel_name_length, 200);
        assert_eq!(l.max_event_name_length, 200);
        assert_eq!(l.max_event_payload_bytes, 10240);
        assert_eq!(l.max_channels_per_trigger, 100);
        assert!(l.validate().is_ok());
    }

    #[test]
    fn the_session_budget_is_half_the_workers_cpu_limit() {
        // wrangler.toml sets cpu_ms = 300000.
        assert_eq!(SESSION_CPU_CEILING_MS, 150_000);
        assert_eq!(Limits::default().session_cpu_budget_ms, 150_000);
        assert_eq!(parse_ms("30000"), 30_000);
    }

    #[test]
    fn partial_override_keeps_other_defaults() {
        let l: Limits = serde_json::from_str(r#"{"max_event_payload_bytes": 20480}"#).unwrap();
        assert_eq!(l.max_event_payload_bytes, 20480);
        assert_eq!(l.max_channels_per_trigger, 100);
    }

    #[test]
    fn rejects_zero_and_unknown_fields() {
        let l = Limits {
            max_event_name_length: 0,
            ..Limits::default()
        };
        assert!(l.validate().unwrap_err().contains("max_event_name_length"));
        let l = Limits {
            webhook_outbox_max_events: 0,
            ..Limits::default()
        };
        assert!(l
            .validate()
            .unwrap_err()
            .contains("webhook_outbox_max_events"));
        for bad in [0, 1025] {
            let l = Limits {
                user_directory_shards: bad,
                ..Limits::default()
            };
            assert!(l.validate().unwrap_err().contains("user_directory_shards"));
        }
        // Unknown limits are refused by the strict parse of configuration (config.rs), and
        // ignored in a stored record.
        assert!(serde_json::from_str::<Limits>(r#"{"max_payload": 1}"#).is_ok());
    }
}
