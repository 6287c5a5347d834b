//! `POST /apps/{id}/events` bodies: parsing and validation against the limits.

use super::channel_info::InfoAttrs;
use super::channel_name::validate_channel_name;
use super::limits::Limits;
use super::rest_error::RestError;
use super::socket_id::is_valid_socket_id;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// Event name prefixes of the protocol's own frames: clients would take such an event for a
/// protocol frame (pusher-js handles `pusher_internal:` events itself), so apps cannot publish
/// them.
pub const RESERVED_EVENT_PREFIXES: [&str; 2] = ["pusher:", "pusher_internal:"];

/// A validated trigger: one event for one or more channels.
#[derive(Debug, PartialEq, Eq)]
pub struct Trigger {
    pub name: String,
    pub data: String,
    pub channels: Vec<String>,
    /// The connection to leave out of the fan-out.
    pub socket_id: Option<String>,
    /// Requested `info` attributes, answered per channel.
    pub info: InfoAttrs,
}

#[derive(Deserialize)]
struct TriggerBody {
    name: Option<Value>,
    data: Option<Value>,
    channel: Option<Value>,
    channels: Option<Value>,
    socket_id: Option<Value>,
    info: Option<Value>,
}

fn optional_string(value: Option<Value>, field: &str) -> Result<Option<String>, RestError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(RestError::bad_request(format!("{field} must be a string"))),
    }
}

/// serde also reads a struct from a JSON array (fields by position), so
/// `["e","x","a",null,null,null]` would pass for a trigger. Bodies must be objects.
fn is_object_text(body: &[u8]) -> bool {
    body.trim_ascii_start().starts_with(b"{")
}

/// Parses and validates a trigger body. Errors: 400 for a bad request, 413 for data over
/// the payload limit.
pub fn parse_trigger(body: &[u8], limits: &Limits) -> Result<Trigger, RestError> {
    let not_object = || RestError::bad_request("Request body must be a JSON object");
    if !is_object_text(body) {
        return Err(not_object());
    }
    let body: TriggerBody = serde_json::from_slice(body).map_err(|_| not_object())?;
    validate(body, limits)
}

#[derive(Deserialize)]
struct BatchBody<'a> {
    /// Each item read on its own from its text (no `Value` tree to convert from).
    #[serde(borrow)]
    batch: Option<Vec<&'a RawValue>>,
}

/// Parses `POST /batch_events`: `{"batch":[{name,data,channel,socket_id?,info?},...]}`, each
/// item one event on exactly one channel. An error names the item at fault.
pub fn parse_batch(body: &[u8], limits: &Limits) -> Result<Vec<Trigger>, RestError> {
    let not_object =
        || RestError::bad_request("Request body must be a JSON object with a batch array");
    if !is_object_text(body) {
        return Err(not_object());
    }
    let body: BatchBody = serde_json::from_slice(body).map_err(|_| not_object())?;
    let items = body
        .batch
        .ok_or_else(|| RestError::bad_request("batch is required (an array of events)"))?;
    if items.len() > limits.max_batch_size {
        return Err(RestError::bad_request(format!(
            "Batch too large: {} events, the maximum is {}",
            items.len(),
            limits.max_batch_size
        )));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = |e: RestError| e.within(&format!("batch[{i}]"));
            let not_object = || at(RestError::bad_request("must be a JSON object"));
            if !is_object_text(item.get().as_bytes()) {
                return Err(not_object());
            }
            // From bytes, as the single trigger is: one copy of the parser in the bundle.
            let item: TriggerBody =
                serde_json::from_slice(item.get().as_bytes()).map_err(|_| not_object())?;
            if item.channels.is_some() {
                return Err(at(RestError::bad_request(
                    "a batch event names exactly one channel (use channel, not channels)",
                )));
            }
            validate(item, limits).map_err(at)
        })
        .collect()
}

fn validate(body: TriggerBody, limits: &Limits) -> Result<Trigger, RestError> {
    let name = event_name(body.name, limits)?;
    let data = event_data(body.data, limits)?;
    let channels = channel_list(body.channel, body.channels, limits)?;
    let socket_id = optional_string(body.socket_id, "socket_id")?;
    if let Some(id) = &socket_id {
        if !is_valid_socket_id(id) {
            return Err(RestError::bad_request(format!(
                "Invalid socket_id {id:?}: expected two numbers joined by '.'"
            )));
        }
    }
    let info = match optional_string(body.info, "info")? {
        Some(list) => InfoAttrs::parse(&list, false)?,
        None => InfoAttrs::default(),
    };
    Ok(Trigger {
        name,
        data,
        channels,
        socket_id,
        info,
    })
}

/// The event name: present, within the length limit, and not one of the protocol's own.
fn event_name(value: Option<Value>, limits: &Limits) -> Result<String, RestError> {
    let name = optional_string(value, "name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| RestError::bad_request("name is required"))?;
    if name.chars().count() > limits.max_event_name_length {
        return Err(RestError::bad_request(format!(
            "Event name is too long: {} characters, the maximum is {}",
            name.chars().count(),
            limits.max_event_name_length
        )));
    }
    if let Some(prefix) = RESERVED_EVENT_PREFIXES
        .iter()
        .find(|prefix| name.starts_with(*prefix))
    {
        return Err(RestError::bad_request(format!(
            "Event name {name:?} is reserved: names starting with {prefix} are Pusher protocol events"
        )));
    }
    Ok(name)
}

/// The event data: a string (SDKs JSON-encode objects), 413 over the payload limit.
fn event_data(value: Option<Value>, limits: &Limits) -> Result<String, RestError> {
    let data = match value {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => return Err(RestError::bad_request("data is required")),
        Some(_) => {
            return Err(RestError::bad_request(
                "data must be a string (JSON-encode objects before sending)",
            ))
        }
    };
    if data.len() > limits.max_event_payload_bytes {
        return Err(RestError::new(
            413,
            format!(
                "The data content of this event exceeds the allowed maximum ({} bytes)",
                limits.max_event_payload_bytes
            ),
        ));
    }
    Ok(data)
}

/// The channels, from `channel` or `channels` (not both): valid names, none twice, within
/// the per-trigger limit.
fn channel_list(
    channel: Option<Value>,
    channels: Option<Value>,
    limits: &Limits,
) -> Result<Vec<String>, RestError> {
    let not_strings = || RestError::bad_request("channels must be an array of strings");
    let channels = match (channel, channels) {
        (Some(_), Some(_)) => {
            return Err(RestError::bad_request(
                "Give either channel or channels, not both",
            ))
        }
        (Some(Value::String(c)), None) => vec![c],
        (Some(_), None) => return Err(RestError::bad_request("channel must be a string")),
        (None, Some(Value::Array(list))) => list
            .into_iter()
            .map(|c| match c {
                Value::String(s) => Ok(s),
                _ => Err(not_strings()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        (None, Some(_)) => return Err(not_strings()),
        (None, None) => return Err(RestError::bad_request("channels is required")),
    };
    if channels.is_empty() {
        return Err(RestError::bad_request(
            "channels must name at least one channel",
        ));
    }
    if channels.len() > limits.max_channels_per_trigger {
        return Err(RestError::bad_request(format!(
            "Too many channels: {}, the maximum is {}",
            channels.len(),
            limits.max_channels_per_trigger
        )));
    }
    for (i, channel) in channels.iter().enumerate() {
        validate_channel_name(channel, limits.max_channel_name_length).map_err(|e| {
            RestError::bad_request(format!("Invalid channel name {channel:?}: {e}"))
        })?;
        if channels[..i].contains(channel) {
            return Err(RestError::bad_request(format!(
                "Channel {channel:?} is listed twice"
            )));
        }
    }
    Ok(channels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Trigger, RestError> {
        parse_trigger(body.as_bytes(), &Limits::default())
    }

    #[test]
    fn accepts_channel_or_channels() {
        let t = parse(r#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#)
            .unwrap();
        assert_eq!(t.name, "foo");
        assert_eq!(t.channels, vec!["project-3"]);
        assert_eq!(t.data, r#"{"some":"data"}"#);
        assert_eq!(t.socket_id, None);
        let t =
            parse(r##"{"name":"e","channel":"#server-to-user-7","data":"x","socket_id":"1.2"}"##)
                .unwrap();
        assert_eq!(t.channels, vec!["#server-to-user-7"]);
        assert_eq!(t.socket_id.as_deref(), Some("1.2"));
        // Only the exact reserved prefixes are refused.
        for name in [
            "client-x",
            "pusher-update",
            "Pusher:x",
            "my-pusher:x",
            "pusher_internal",
        ] {
            let body = format!(r#"{{"name":"{name}","data":"x","channel":"a"}}"#);
            assert_eq!(parse(&body).unwrap().name, name);
        }
    }

    #[test]
    fn batches_of_single_channel_events() {
        let body = r#"{"batch":[{"name":"a","channel":"c1","data":"1"},
            {"name":"b","channel":"presence-c2","data":"2","info":"user_count","socket_id":"1.2"}]}"#;
        let batch = parse_batch(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[1].channels, vec!["presence-c2"]);
        assert!(batch[1].info.user_count && batch[0].info.is_empty());
        assert_eq!(batch[1].socket_id.as_deref(), Some("1.2"));

        let eleven: Vec<String> = (0..11)
            .map(|i| format!(r#"{{"name":"e","channel":"c{i}","data":"x"}}"#))
            .collect();
        let too_many = format!(r#"{{"batch":[{}]}}"#, eleven.join(","));
        let cases = [
            (too_many.as_str(), 400, "maximum is 10"),
            ("{}", 400, "batch is required"),
            ("[]", 400, "batch array"),
            (
                r#"[[{"name":"e","channel":"a","data":"x"}]]"#,
                400,
                "batch array",
            ),
            (
                r#"{"batch":[["e","x","a",null,null,null]]}"#,
                400,
                "batch[0]: must be a JSON object",
            ),
            (r#"{"batch":[1]}"#, 400, "batch[0]: must be a JSON object"),
            (
                r#"{"batch":[{"name":"e","channels":["a"],"data":"x"}]}"#,
                400,
                "exactly one channel",
            ),
            (
                r#"{"batch":[{"name":"e","channel":"a","data":"x"},{"name":"e","channel":"a b","data":"x"}]}"#,
                400,
                "batch[1]: Invalid channel name",
            ),
            (
                r#"{"batch":[{"name":"e","channel":"a","data":"x","info":"cache"}]}"#,
                400,
                "Unknown info attribute",
            ),
            (
                r#"{"batch":[{"name":"e","channel":"a","data":"x"},{"name":"pusher_internal:member_added","channel":"presence-a","data":"{}"}]}"#,
                400,
                "batch[1]: Event name \"pusher_internal:member_added\" is reserved",
            ),
        ];
        for (body, status, needle) in cases {
            let err = parse_batch(body.as_bytes(), &Limits::default()).unwrap_err();
            assert_eq!(err.status, status, "{body}");
            assert!(err.message.contains(needle), "{body}: {}", err.message);
        }
        let big = format!(
            r#"{{"batch":[{{"name":"e","channel":"a","data":"{}"}}]}}"#,
            "x".repeat(10_241)
        );
        assert_eq!(
            parse_batch(big.as_bytes(), &Limits::default())
                .unwrap_err()
                .status,
            413
        );
    }

    #[test]
    fn refuses_bad_bodies_with_400() {
        let cases = [
            ("nope", "JSON object"),
            ("[]", "JSON object"),
            // Found by the fuzz harness: serde reads structs from arrays too.
            (r#"["e","x","a",null,null,null]"#, "JSON object"),
            (r#"{"data":"x","channel":"a"}"#, "name is required"),
            (
                r#"{"name":"","data":"x","channel":"a"}"#,
                "name is required",
            ),
            (r#"{"name":"e","channel":"a"}"#, "data is required"),
            (
                r#"{"name":"e","data":{"a":1},"channel":"a"}"#,
                "data must be a string",
            ),
            (r#"{"name":"e","data":"x"}"#, "channels is required"),
            (r#"{"name":"e","data":"x","channels":[]}"#, "at least one"),
            (
                r#"{"name":"e","data":"x","channels":"a"}"#,
                "array of strings",
            ),
            (
                r#"{"name":"e","data":"x","channels":[1]}"#,
                "array of strings",
            ),
            (
                r#"{"name":"e","data":"x","channel":"a","channels":["b"]}"#,
                "not both",
            ),
            (
                r#"{"name":"e","data":"x","channel":"a b"}"#,
                "Invalid channel name",
            ),
            (r##"{"name":"e","data":"x","channel":"#room"}"##, "reserved"),
            (
                r#"{"name":"e","data":"x","channels":["a","a"]}"#,
                "listed twice",
            ),
            (
                r#"{"name":"e","data":"x","channel":"a","socket_id":"abc"}"#,
                "Invalid socket_id",
            ),
            (
                r#"{"name":"e","data":"x","channel":"a","socket_id":5}"#,
                "socket_id must be a string",
            ),
            (
                r#"{"name":"pusher_internal:subscription_succeeded","data":"{}","channel":"a"}"#,
                "Event name \"pusher_internal:subscription_succeeded\" is reserved: names starting with pusher_internal: are Pusher protocol events",
            ),
            (
                r#"{"name":"pusher:error","data":"{}","channel":"a"}"#,
                "starting with pusher: are",
            ),
        ];
        for (body, needle) in cases {
            let err = parse(body).unwrap_err();
            assert_eq!(err.status, 400, "{body}");
            assert!(err.message.contains(needle), "{body}: {}", err.message);
        }
    }

    #[test]
    fn limits() {
        let l = Limits::default();
        let ok_data = "x".repeat(10240);
        assert!(parse(&format!(
            r#"{{"name":"e","data":"{ok_data}","channel":"a"}}"#
        ))
        .is_ok());
        let err = parse(&format!(
            r#"{{"name":"e","data":"{ok_data}x","channel":"a"}}"#
        ))
        .unwrap_err();
        assert_eq!(err.status, 413);
        assert_eq!(
            err.message,
            "The data content of this event exceeds the allowed maximum (10240 bytes)"
        );

        let hundred: Vec<String> = (0..100).map(|i| format!("\"c{i}\"")).collect();
        let body = format!(
            r#"{{"name":"e","data":"x","channels":[{}]}}"#,
            hundred.join(",")
        );
        assert_eq!(parse(&body).unwrap().channels.len(), 100);
        let body = format!(
            r#"{{"name":"e","data":"x","channels":[{},"c100"]}}"#,
            hundred.join(",")
        );
        assert!(parse(&body)
            .unwrap_err()
            .message
            .contains("Too many channels: 101"));

        let long_name = "n".repeat(l.max_event_name_length + 1);
        let err = parse(&format!(
            r#"{{"name":"{long_name}","data":"x","channel":"a"}}"#
        ))
        .unwrap_err();
        assert!(err.message.contains("Event name is too long"));
        let long_channel = "c".repeat(201);
        let err = parse(&format!(
            r#"{{"name":"e","data":"x","channel":"{long_channel}"}}"#
        ))
        .unwrap_err();
        assert!(err.message.contains("201 characters long"));
    }
}
