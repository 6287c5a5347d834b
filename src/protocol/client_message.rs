//! Client→server frames: parsing the envelope and the commands the session understands.

use super::json_read::from_text;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;

/// A parsed client frame.
#[derive(Debug, PartialEq)]
pub enum ClientMessage {
    Ping,
    Pong,
    Subscribe(Subscribe),
    Unsubscribe {
        channel: String,
    },
    /// A `client-` event; `data` is the raw JSON as sent, forwarded without re-encoding.
    ClientEvent {
        event: String,
        channel: Option<String>,
        data: Option<String>,
    },
    Signin {
        auth: String,
        user_data: String,
    },
    /// Any other event name.
    Unknown {
        event: String,
    },
}

#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Subscribe {
    pub channel: String,
    pub auth: Option<String>,
    pub channel_data: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON, or not an object with a string `event`.
    Malformed(String),
    /// A known event with missing or mistyped fields.
    InvalidData { event: String, problem: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Malformed(why) => write!(f, "Invalid message format: {why}"),
            ParseError::InvalidData { event, problem } => {
                write!(f, "Invalid data for {event}: {problem}")
            }
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    event: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

/// Command `data` may arrive as an object (pusher-js) or as a JSON string holding the
/// object (some SDKs double-encode); both are accepted.
fn command_data(
    event: &str,
    data: Option<&RawValue>,
) -> Result<serde_json::Map<String, Value>, ParseError> {
    let invalid = |problem: &str| ParseError::InvalidData {
        event: event.to_string(),
        problem: problem.to_string(),
    };
    let raw = data.ok_or_else(|| invalid("data is missing"))?;
    let value: Value = from_text(raw.get()).map_err(|_| invalid("data is not JSON"))?;
    let value = match value {
        Value::String(s) => from_text(&s).map_err(|_| invalid("data is not a JSON object"))?,
        other => other,
    };
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(invalid("data must be an object")),
    }
}

fn string_field(
    event: &str,
    map: &serde_json::Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<Option<String>, ParseError> {
    match map.get(key) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(ParseError::InvalidData {
            event: event.to_string(),
            problem: format!("{key} is missing"),
        }),
        Some(_) => Err(ParseError::InvalidData {
            event: event.to_string(),
            problem: format!("{key} must be a string"),
        }),
    }
}

pub fn parse_client_message(text: &str) -> Result<ClientMessage, ParseError> {
    // serde would also read a struct from a JSON array; the envelope must be an object.
    if !text.trim_start().starts_with('{') {
        return Err(ParseError::Malformed(
            "expected a JSON object with a string \"event\"".to_string(),
        ));
    }
    let envelope: Envelope = from_text(text).map_err(|e| {
        ParseError::Malformed(if e.is_data() {
            "expected a JSON object with a string \"event\"".to_string()
        } else {
            "not valid JSON".to_string()
        })
    })?;
    let event = envelope.event.as_str();
    match event {
        "pusher:ping" => Ok(ClientMessage::Ping),
        "pusher:pong" => Ok(ClientMessage::Pong),
        "pusher:subscribe" => {
            let map = command_data(event, envelope.data)?;
            let channel = string_field(event, &map, "channel", true)?.unwrap_or_default();
            let auth = string_field(event, &map, "auth", false)?;
            let channel_data = match map.get("channel_data") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                // Tolerate an object where a JSON string is expected; the signature then
                // covers its compact serialisation.
                Some(other) => Some(other.to_string()),
            };
            Ok(ClientMessage::Subscribe(Subscribe {
                channel,
                auth,
                channel_data,
            }))
        }
        "pusher:unsubscribe" => {
            let map = command_data(event, envelope.data)?;
            let channel = string_field(event, &map, "channel", true)?.unwrap_or_default();
            Ok(ClientMessage::Unsubscribe { channel })
        }
        "pusher:signin" => {
            let map = command_data(event, envelope.data)?;
            let auth = string_field(event, &map, "auth", true)?.unwrap_or_default();
            let user_data = string_field(event, &map, "user_data", true)?.unwrap_or_default();
            Ok(ClientMessage::Signin { auth, user_data })
        }
        _ if event.starts_with("client-") => Ok(ClientMessage::ClientEvent {
            event: envelope.event.clone(),
            channel: envelope.channel,
            data: envelope.data.map(|d| d.get().to_string()),
        }),
        _ => Ok(ClientMessage::Unknown {
            event: envelope.event.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_exact_bytes_from_pusher_js() {
        assert_eq!(
            parse_client_message(r#"{"event":"pusher:ping","data":{}}"#),
            Ok(ClientMessage::Ping)
        );
    }

    #[test]
    fn subscribe_with_object_or_string_data() {
        let expected = ClientMessage::Subscribe(Subscribe {
            channel: "my-channel".into(),
            auth: Some("".into()),
            channel_data: None,
        });
        assert_eq!(
            parse_client_message(
                r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"my-channel"}}"#
            ),
            Ok(expected)
        );
        let double = r#"{"event":"pusher:subscribe","data":"{\"channel\":\"presence-a\",\"auth\":\"k:s\",\"channel_data\":\"{\\\"user_id\\\":1}\"}"}"#;
        assert_eq!(
            parse_client_message(double),
            Ok(ClientMessage::Subscribe(Subscribe {
                channel: "presence-a".into(),
                auth: Some("k:s".into()),
                channel_data: Some(r#"{"user_id":1}"#.into()),
            }))
        );
    }

    #[test]
    fn malformed_frames() {
        for text in [
            "",
            "not json",
            "[1,2]",
            r#"{"data":{}}"#,
            r#"{"event":5}"#,
            "{",
        ] {
            assert!(
                matches!(parse_client_message(text), Err(ParseError::Malformed(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn invalid_command_data() {
        let cases = [
            r#"{"event":"pusher:subscribe"}"#,
            r#"{"event":"pusher:subscribe","data":{}}"#,
            r#"{"event":"pusher:subscribe","data":{"channel":5}}"#,
            r#"{"event":"pusher:subscribe","data":[1]}"#,
            r#"{"event":"pusher:subscribe","data":"nope"}"#,
            r#"{"event":"pusher:unsubscribe","data":{}}"#,
            r#"{"event":"pusher:signin","data":{"auth":"x"}}"#,
        ];
        for text in cases {
            let err = parse_client_message(text).unwrap_err();
            assert!(matches!(err, ParseError::InvalidData { .. }), "{text}");
            assert!(
                err.to_string().starts_with("Invalid data for pusher:"),
                "{err}"
            );
        }
    }

    #[test]
    fn client_events_keep_raw_data_and_unknown_events_are_named() {
        assert_eq!(
            parse_client_message(
                r#"{"event":"client-typing","channel":"private-a","data":{"x": 1}}"#
            ),
            Ok(ClientMessage::ClientEvent {
                event: "client-typing".into(),
                channel: Some("private-a".into()),
                data: Some(r#"{"x": 1}"#.into()),
            })
        );
        assert_eq!(
            parse_client_message(r#"{"event":"hello"}"#),
            Ok(ClientMessage::Unknown {
                event: "hello".into()
            })
        );
    }
}
