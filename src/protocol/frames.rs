//! Server→client frames, serialised once into the exact JSON Pusher sends.
//!
//! `data` is a JSON *string* where Pusher sends one (connection_established,
//! subscription_succeeded, channel events) and an object where Pusher sends one
//! (pusher:error, pusher:pong).

/// A JSON string literal (quotes included) for `s`.
pub fn json_string(s: &str) -> String {
    // Serialising a &str cannot fail.
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

pub fn connection_established(socket_id: &str, activity_timeout_secs: u32) -> String {
    let data = format!(
        "{{\"socket_id\":{},\"activity_timeout\":{}}}",
        json_string(socket_id),
        activity_timeout_secs
    );
    format!(
        "{{\"event\":\"pusher:connection_established\",\"data\":{}}}",
        json_string(&data)
    )
}

pub const PONG: &str = r#"{"event":"pusher:pong","data":{}}"#;
pub const PING: &str = r#"{"event":"pusher:ping","data":{}}"#;

/// `pusher:error` with an object `data`; `code` is `null` for command-level errors, as Pusher sends.
pub fn error(code: Option<u16>, message: &str, channel: Option<&str>) -> String {
    let code = code.map_or_else(|| "null".to_string(), |c| c.to_string());
    let channel = channel
        .map(|c| format!(",\"channel\":{}", json_string(c)))
        .unwrap_or_default();
    format!(
        "{{\"event\":\"pusher:error\",\"data\":{{\"code\":{code},\"message\":{}}}{channel}}}",
        json_string(message)
    )
}

/// Channel-scoped `pusher:subscription_error` `{type,error,status}`: pusher-js emits it on the
/// channel, so Laravel Echo's `.error()` callback fires.
pub fn subscription_error(channel: &str, error_type: &str, error: &str, status: u16) -> String {
    format!(
        "{{\"event\":\"pusher:subscription_error\",\"channel\":{},\"data\":{{\"type\":{},\"error\":{},\"status\":{status}}}}}",
        json_string(channel),
        json_string(error_type),
        json_string(error)
    )
}

/// `pusher_internal:subscription_succeeded`; `data_json` is the JSON text to string-encode
/// (`{}` for non-presence channels; never omitted, the Swift SDK needs it).
pub fn subscription_succeeded(channel: &str, data_json: &str) -> String {
    format!(
        "{{\"event\":\"pusher_internal:subscription_succeeded\",\"channel\":{},\"data\":{}}}",
        json_string(channel),
        json_string(data_json)
    )
}

/// A channel event as delivered to subscribers: `data` is the string given to the REST API.
pub fn channel_event(event: &str, channel: &str, data: &str) -> String {
    format!(
        "{{\"event\":{},\"channel\":{},\"data\":{}}}",
        json_string(event),
        json_string(channel),
        json_string(data)
    )
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
    format!(
        "{{\"event\":\"pusher:signin_success\",\"data\":{{\"user_data\":{}}}}}",
        json_string(user_data)
    )
}

/// A client event as forwarded to the channel's other subscribers: `data` is the raw JSON
/// the client sent; presence channels add the sender's `user_id`.
pub fn client_event(
    event: &str,
    channel: &str,
    raw_data: Option<&str>,
    user_id: Option<&str>,
) -> String {
    let user = user_id
        .map(|u| format!(",\"user_id\":{}", json_string(u)))
        .unwrap_or_default();
    format!(
        "{{\"event\":{},\"channel\":{},\"data\":{}{user}}}",
        json_string(event),
        json_string(channel),
        raw_data.unwrap_or("null")
    )
}

/// `pusher_internal:member_added` with `{"user_id","user_info"}` string-encoded.
pub fn member_added(channel: &str, user_id: &str, user_info: Option<&str>) -> String {
    let data = format!(
        "{{\"user_id\":{},\"user_info\":{}}}",
        json_string(user_id),
        user_info.unwrap_or("null")
    );
    format!(
        "{{\"event\":\"pusher_internal:member_added\",\"channel\":{},\"data\":{}}}",
        json_string(channel),
        json_string(&data)
    )
}

/// `pusher_internal:member_removed` with `{"user_id"}` string-encoded.
pub fn member_removed(channel: &str, user_id: &str) -> String {
    let data = format!("{{\"user_id\":{}}}", json_string(user_id));
    format!(
        "{{\"event\":\"pusher_internal:member_removed\",\"channel\":{},\"data\":{}}}",
        json_string(channel),
        json_string(&data)
    )
}

/// `pusher:cache_miss` for a cache channel with nothing cached.
pub fn cache_miss(channel: &str) -> String {
    format!(
        "{{\"event\":\"pusher:cache_miss\",\"channel\":{}}}",
        json_string(channel)
    )
}

/// `pusher_internal:subscription_count`.
pub fn subscription_count(channel: &str, count: usize) -> String {
    format!(
        "{{\"event\":\"pusher_internal:subscription_count\",\"channel\":{},\"data\":{{\"subscription_count\":{count}}}}}",
        json_string(channel)
    )
}

/// One `pusher_internal:watchlist_events` frame, in the shape pusher-js's watchlist reads.
pub fn watchlist_events(online: &[&str], offline: &[&str]) -> String {
    let list = |ids: &[&str]| {
        ids.iter()
            .map(|id| json_string(id))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut events = Vec::new();
    if !online.is_empty() {
        events.push(format!(
            "{{\"name\":\"online\",\"user_ids\":[{}]}}",
            list(online)
        ));
    }
    if !offline.is_empty() {
        events.push(format!(
            "{{\"name\":\"offline\",\"user_ids\":[{}]}}",
            list(offline)
        ));
    }
    format!(
        "{{\"event\":\"pusher_internal:watchlist_events\",\"data\":{{\"events\":[{}]}}}}",
        events.join(",")
    )
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
