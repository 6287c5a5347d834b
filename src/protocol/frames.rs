//! Server→client frames, serialised once into the exact JSON Pusher sends.
//!
//! `data` is a JSON *string* where Pusher sends one (connection_established,
//! subscription_succeeded, channel events) and an object where Pusher sends one
//! (pusher:error, pusher:pong).

use super::json_writer::{string_array, JsonObject};

/// A frame: `{"event":..., "channel":...}`, the caller adding `data` and the rest.
fn frame(event: &str, channel: Option<&str>, capacity: usize) -> JsonObject {
    JsonObject::with_capacity(capacity + 64)
        .string("event", event)
        .string_if("channel", channel)
}

pub fn connection_established(socket_id: &str, activity_timeout_secs: u32) -> String {
    let data = JsonObject::new()
        .string("socket_id", socket_id)
        .value("activity_timeout", activity_timeout_secs)
        .finish();
    frame("pusher:connection_established", None, data.len())
        .string("data", &data)
        .finish()
}

pub const PONG: &str = r#"{"event":"pusher:pong","data":{}}"#;
pub const PING: &str = r#"{"event":"pusher:ping","data":{}}"#;

/// `pusher:error` with an object `data`; `code` is `null` for command-level errors, as Pusher sends.
pub fn error(code: Option<u16>, message: &str, channel: Option<&str>) -> String {
    let code = code.map_or_else(|| "null".to_string(), |c| c.to_string());
    let data = JsonObject::new()
        .raw("code", &code)
        .string("message", message)
        .finish();
    JsonObject::new()
        .string("event", "pusher:error")
        .raw("data", &data)
        .string_if("channel", channel)
        .finish()
}

/// Channel-scoped `pusher:subscription_error` `{type,error,status}`: pusher-js emits it on the
/// channel, so Laravel Echo's `.error()` callback fires.
pub fn subscription_error(channel: &str, error_type: &str, error: &str, status: u16) -> String {
    let data = JsonObject::new()
        .string("type", error_type)
        .string("error", error)
        .value("status", status)
        .finish();
    frame("pusher:subscription_error", Some(channel), data.len())
        .raw("data", &data)
        .finish()
}

/// `pusher_internal:subscription_succeeded`; `data_json` is the JSON text to string-encode
/// (`{}` for non-presence channels; never omitted, the Swift SDK needs it).
pub fn subscription_succeeded(channel: &str, data_json: &str) -> String {
    frame(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        data_json.len(),
    )
    .string("data", data_json)
    .finish()
}

/// A channel event as delivered to subscribers: `data` is the string given to the REST API.
pub fn channel_event(event: &str, channel: &str, data: &str) -> String {
    frame(
        event,
        Some(channel),
        channel.len() + data.len() + data.len() / 8,
    )
    .string("data", data)
    .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("valid JSON")
    }

    #[test]
    fn connection_established_double_encodes_data() {
        let frame = connection_established("123.456", 120);
        assert_eq!(
            frame,
            r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":120}"}"#
        );
        let data: Value = parse(parse(&frame)["data"].as_str().unwrap());
        assert_eq!(
            data,
            json!({"socket_id": "123.456", "activity_timeout": 120})
        );
    }

    #[test]
    fn error_frames() {
        assert_eq!(
            error(Some(4001), "Application does not exist", None),
            r#"{"event":"pusher:error","data":{"code":4001,"message":"Application does not exist"}}"#
        );
        let e = parse(&error(
            None,
            "Existing subscription to channel \"x\"",
            Some("x"),
        ));
        assert_eq!(e["data"]["code"], Value::Null);
        assert_eq!(
            e["data"]["message"],
            "Existing subscription to channel \"x\""
        );
        assert_eq!(e["channel"], "x");
    }

    #[test]
    fn subscription_frames() {
        assert_eq!(
            subscription_succeeded("my-channel", "{}"),
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"my-channel","data":"{}"}"#
        );
        let e = parse(&subscription_error("private-x", "AuthError", "bad", 401));
        assert_eq!(
            e,
            json!({"event":"pusher:subscription_error","channel":"private-x",
                   "data":{"type":"AuthError","error":"bad","status":401}})
        );
    }

    #[test]
    fn channel_event_keeps_data_as_given() {
        let frame = channel_event("my-event", "c", r#"{"message":"hi \"there\""}"#);
        let v = parse(&frame);
        assert_eq!(v["event"], "my-event");
        assert_eq!(v["channel"], "c");
        assert_eq!(v["data"], r#"{"message":"hi \"there\""}"#);
        assert_eq!(parse(PONG), json!({"event":"pusher:pong","data":{}}));
    }
}

/// A WebSocket close reason must fit in 123 bytes; cut longer ones at a character boundary.
pub fn close_reason(reason: &str) -> &str {
    const MAX: usize = 123;
    if reason.len() <= MAX {
        return reason;
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod close_reason_tests {
    use super::close_reason;

    #[test]
    fn reasons_fit_a_close_frame() {
        assert_eq!(close_reason("short"), "short");
        assert_eq!(close_reason(&"a".repeat(200)).len(), 123);
        let accented = "é".repeat(100);
        let cut = close_reason(&accented);
        assert!(cut.len() <= 123 && cut.chars().all(|c| c == 'é'));
    }
}

/// `pusher:signin_success` with the `user_data` string as signed.
pub fn signin_success(user_data: &str) -> String {
    let data = JsonObject::new().string("user_data", user_data).finish();
    frame("pusher:signin_success", None, data.len())
        .raw("data", &data)
        .finish()
}

/// A client event as forwarded to the channel's other subscribers: `data` is the raw JSON
/// the client sent; presence channels add the sender's `user_id`.
pub fn client_event(
    event: &str,
    channel: &str,
    raw_data: Option<&str>,
    user_id: Option<&str>,
) -> String {
    let data = raw_data.unwrap_or("null");
    frame(event, Some(channel), data.len())
        .raw("data", data)
        .string_if("user_id", user_id)
        .finish()
}

/// `pusher_internal:member_added` with `{"user_id","user_info"}` string-encoded.
pub fn member_added(channel: &str, user_id: &str, user_info: Option<&str>) -> String {
    let data = JsonObject::new()
        .string("user_id", user_id)
        .raw("user_info", user_info.unwrap_or("null"))
        .finish();
    frame("pusher_internal:member_added", Some(channel), data.len())
        .string("data", &data)
        .finish()
}

/// `pusher_internal:member_removed` with `{"user_id"}` string-encoded.
pub fn member_removed(channel: &str, user_id: &str) -> String {
    let data = JsonObject::new().string("user_id", user_id).finish();
    frame("pusher_internal:member_removed", Some(channel), data.len())
        .string("data", &data)
        .finish()
}

/// `pusher:cache_miss` for a cache channel with nothing cached.
pub fn cache_miss(channel: &str) -> String {
    frame("pusher:cache_miss", Some(channel), 0).finish()
}

/// `pusher_internal:subscription_count`.
pub fn subscription_count(channel: &str, count: usize) -> String {
    let data = JsonObject::new()
        .value("subscription_count", count)
        .finish();
    frame("pusher_internal:subscription_count", Some(channel), 0)
        .raw("data", &data)
        .finish()
}

/// One `pusher_internal:watchlist_events` frame, in the shape pusher-js's watchlist reads.
pub fn watchlist_events(online: &[&str], offline: &[&str]) -> String {
    let mut events = Vec::new();
    for (name, ids) in [("online", online), ("offline", offline)] {
        if !ids.is_empty() {
            let list = string_array(ids.iter().copied());
            events.push(
                JsonObject::new()
                    .string("name", name)
                    .raw("user_ids", &list)
                    .finish(),
            );
        }
    }
    let data = JsonObject::new()
        .raw("events", &super::json_writer::raw_array(&events))
        .finish();
    frame("pusher_internal:watchlist_events", None, data.len())
        .raw("data", &data)
        .finish()
}

#[cfg(test)]
mod feature_frame_tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn presence_frames_string_encode_data() {
        let added = parse(&member_added("presence-a", "7", Some(r#"{"name":"Ada"}"#)));
        assert_eq!(added["event"], "pusher_internal:member_added");
        assert_eq!(
            parse(added["data"].as_str().unwrap()),
            json!({"user_id":"7","user_info":{"name":"Ada"}})
        );
        let removed = parse(&member_removed("presence-a", "7"));
        assert_eq!(
            parse(removed["data"].as_str().unwrap()),
            json!({"user_id":"7"})
        );
    }

    #[test]
    fn client_signin_cache_count_and_watchlist_frames() {
        assert_eq!(
            parse(&client_event(
                "client-x",
                "private-a",
                Some(r#"{"k":1}"#),
                None
            )),
            json!({"event":"client-x","channel":"private-a","data":{"k":1}})
        );
        assert_eq!(
            parse(&client_event(
                "client-x",
                "presence-a",
                Some(r#""s""#),
                Some("7")
            ))["user_id"],
            "7"
        );
        assert_eq!(
            parse(&signin_success(r#"{"id":"1"}"#)),
            json!({"event":"pusher:signin_success","data":{"user_data":"{\"id\":\"1\"}"}})
        );
        assert_eq!(
            parse(&cache_miss("cache-a")),
            json!({"event":"pusher:cache_miss","channel":"cache-a"})
        );
        assert_eq!(
            parse(&subscription_count("a", 3)),
            json!({"event":"pusher_internal:subscription_count","channel":"a","data":{"subscription_count":3}})
        );
        assert_eq!(
            parse(&watchlist_events(&["1"], &["2", "3"])),
            json!({"event":"pusher_internal:watchlist_events","data":{"events":[
                {"name":"online","user_ids":["1"]},{"name":"offline","user_ids":["2","3"]}]}})
        );
    }
}
