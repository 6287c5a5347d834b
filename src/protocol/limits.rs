//! Size and count limits, in one configurable struct (Pusher's defaults).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("limits.{name} must be greater than 0"));
            }
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
        assert!(serde_json::from_str::<Limits>(r#"{"max_payload": 1}"#).is_err());
    }
}
