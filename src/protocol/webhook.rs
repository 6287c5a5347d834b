//! Webhooks: the events, the request body and its signature, and the retry schedule.
//!
//! Body: `{"time_ms":...,"events":[...]}`, signed with `X-Pusher-Signature` = hex
//! HMAC-SHA256 of the exact body bytes with the app secret, sent with `X-Pusher-Key` and
//! `Content-Type: application/json` (exactly: the Node SDK compares the string).

use super::auth_token::hmac_sha256_hex;
use super::json_writer::{raw_array, JsonObject};

/// `channel_vacated` and `member_removed` wait this long and are dropped if the channel is
/// re-occupied / the user rejoins meanwhile (Pusher: "up to 3 s"), so page reloads do not flap.
pub const GRACE_MS: f64 = 3_000.0;
/// Most events in one webhook request.
pub const MAX_EVENTS_PER_REQUEST: usize = 100;
/// First retry delay; it doubles up to `MAX_BACKOFF_MS`.
pub const FIRST_BACKOFF_MS: f64 = 1_000.0;
pub const MAX_BACKOFF_MS: f64 = 60_000.0;

/// One webhook event, as Pusher names and shapes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    ChannelOccupied,
    ChannelVacated,
    MemberAdded {
        user_id: String,
    },
    MemberRemoved {
        user_id: String,
    },
    ClientEvent {
        event: String,
        data: String,
        socket_id: String,
        user_id: Option<String>,
    },
    CacheMiss,
    SubscriptionCount {
        count: u64,
    },
}

impl WebhookEvent {
    /// The `name` field, which is also what `event_types` lists.
    pub fn name(&self) -> &'static str {
        match self {
            WebhookEvent::ChannelOccupied => "channel_occupied",
            WebhookEvent::ChannelVacated => "channel_vacated",
            WebhookEvent::MemberAdded { .. } => "member_added",
            WebhookEvent::MemberRemoved { .. } => "member_removed",
            WebhookEvent::ClientEvent { .. } => "client_event",
            WebhookEvent::CacheMiss => "cache_miss",
            WebhookEvent::SubscriptionCount { .. } => "subscription_count",
        }
    }

    /// The event's JSON object, without its `id` (see [`with_id`]).
    pub fn to_json(&self, channel: &str) -> String {
        let object = JsonObject::new()
            .string("name", self.name())
            .string("channel", channel);
        match self {
            WebhookEvent::MemberAdded { user_id } | WebhookEvent::MemberRemoved { user_id } => {
                object.string("user_id", user_id)
            }
            WebhookEvent::ClientEvent {
                event,
                data,
                socket_id,
                user_id,
            } => object
                .string("event", event)
                .string("data", data)
                .string("socket_id", socket_id)
                .string_if("user_id", user_id.as_deref()),
            WebhookEvent::SubscriptionCount { count } => object.value("subscription_count", count),
            WebhookEvent::ChannelOccupied
            | WebhookEvent::ChannelVacated
            | WebhookEvent::CacheMiss => object,
        }
        .finish()
    }
}

/// Adds the event's `id` to its JSON object. The id is stable across retries, so receivers
/// can de-duplicate (delivery is at-least-once).
pub fn with_id(event_json: &str, id: &str) -> String {
    JsonObject::reopen(event_json).string("id", id).finish()
}

/// The request body for events already serialised by [`WebhookEvent::to_json`].
pub fn body(time_ms: u64, events: &[String]) -> String {
    JsonObject::new()
        .value("time_ms", time_ms)
        .raw("events", &raw_array(events))
        .finish()
}

/// `X-Pusher-Signature` of a body.
pub fn signature(secret: &str, body: &str) -> String {
    hmac_sha256_hex(secret, body)
}

/// A URL's queue holds `events` events of `bytes` bytes in all: how many of the oldest to drop
/// to bring it within `max_events` and `max_bytes`. Past the byte cap one is dropped at a time
/// (ask again after), and the newest event is never dropped, however large.
pub fn overflow(events: u64, bytes: u64, max_events: u64, max_bytes: u64) -> u64 {
    if events <= 1 {
        return 0;
    }
    let over = events.saturating_sub(max_events);
    if over == 0 && bytes <= max_bytes {
        return 0;
    }
    over.clamp(1, events - 1)
}

/// Delay before the next try after `failures` failed tries (1 s, 2 s, 4 s, ... ≤ 60 s).
pub fn backoff_ms(failures: u32) -> f64 {
    let exponent = failures.saturating_sub(1).min(16);
    (FIRST_BACKOFF_MS * f64::from(1u32 << exponent)).min(MAX_BACKOFF_MS)
}

/// How many more tries a URL that has failed `failures` times in a row gets at `now_ms`
/// before its oldest waiting event is given up at `give_up_ms`, the back-off growing as it does.
pub fn retries_left(failures: u32, now_ms: f64, give_up_ms: f64) -> u32 {
    let (mut at, mut tries) = (now_ms, 0);
    while tries < 1_000 {
        at += backoff_ms(failures + tries);
        if at > give_up_ms {
            break;
        }
        tries += 1;
    }
    tries
}

/// The body of a dashboard test request: one event named `webhook_test`, with no channel, so
/// no receiver can take it for a channel's event, signed like any other.
pub fn test_body(time_ms: u64, id: &str) -> String {
    let event = JsonObject::new()
        .string("name", "webhook_test")
        .string("id", id)
        .finish();
    body(time_ms, &[event])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_vector_from_the_spec() {
        let body = r#"{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test_channel"}]}"#;
        assert_eq!(
            signature("7ad3773142a6692b25b8", body),
            "709fdb84c03664445f7698120b0edf0acc1ab1c8c6e93a0368c61841d6b998aa"
        );
    }

    #[test]
    fn event_shapes() {
        assert_eq!(
            with_id(&WebhookEvent::ChannelOccupied.to_json("c"), "1"),
            r#"{"name":"channel_occupied","channel":"c","id":"1"}"#
        );
        assert_eq!(
            with_id(
                &WebhookEvent::MemberRemoved {
                    user_id: "u\"1".into()
                }
                .to_json("presence-a"),
                "x"
            ),
            r#"{"name":"member_removed","channel":"presence-a","user_id":"u\"1","id":"x"}"#
        );
        let client = WebhookEvent::ClientEvent {
            event: "client-typing".into(),
            data: r#"{"a":1}"#.into(),
            socket_id: "1.2".into(),
            user_id: Some("7".into()),
        };
        assert_eq!(
            with_id(&client.to_json("presence-a"), "y"),
            r#"{"name":"client_event","channel":"presence-a","event":"client-typing","data":"{\"a\":1}","socket_id":"1.2","user_id":"7","id":"y"}"#
        );
        assert_eq!(
            with_id(
                &WebhookEvent::SubscriptionCount { count: 4 }.to_json("c"),
                "z"
            ),
            r#"{"name":"subscription_count","channel":"c","subscription_count":4,"id":"z"}"#
        );
        assert_eq!(
            body(5, &["{}".into(), "{}".into()]),
            r#"{"time_ms":5,"events":[{},{}]}"#
        );
    }

    #[test]
    fn overflow_drops_the_oldest_down_to_the_caps() {
        assert_eq!(overflow(0, 0, 5, 100), 0);
        assert_eq!(overflow(5, 100, 5, 100), 0, "at the caps");
        assert_eq!(overflow(6, 60, 5, 100), 1);
        assert_eq!(
            overflow(12, 60, 5, 100),
            7,
            "a lowered cap drops the excess at once"
        );
        assert_eq!(overflow(3, 101, 5, 100), 1, "over the bytes: one at a time");
        assert_eq!(
            overflow(1, 5_000, 5, 100),
            0,
            "the newest stays, however large"
        );
        assert_eq!(overflow(2, 5_000, 1, 100), 1);
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        let delays: Vec<f64> = (1..=8).map(backoff_ms).collect();
        assert_eq!(delays, vec![1e3, 2e3, 4e3, 8e3, 16e3, 32e3, 60e3, 60e3]);
        assert_eq!(backoff_ms(1000), MAX_BACKOFF_MS);
    }

    #[test]
    fn retries_left_follow_the_back_off_to_the_window() {
        // After a first failure: tries at +1, +3, +7, +15, +31, +63, +123, +183, +243 s.
        assert_eq!(retries_left(1, 0.0, 300_000.0), 9);
        assert_eq!(retries_left(1, 0.0, 1_000.0), 1);
        assert_eq!(retries_left(1, 0.0, 999.0), 0);
        assert_eq!(retries_left(7, 0.0, 300_000.0), 5);
    }

    #[test]
    fn a_test_body_has_one_event_without_a_channel() {
        assert_eq!(
            test_body(5, "test:ab"),
            r#"{"time_ms":5,"events":[{"name":"webhook_test","id":"test:ab"}]}"#
        );
    }
}
