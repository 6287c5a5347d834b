//! `client-` events: the checks one passes (enabled, subscribed, private or presence, size,
//! rate) before the session sends it up the channel's socket for the room to relay.

use super::{coded_error, error, Command, Phase, SessionCore};
use crate::protocol::close_codes;
use crate::protocol::frames;

impl SessionCore {
    pub(super) fn client_event(
        &mut self,
        event: &str,
        channel: Option<&str>,
        data: Option<&str>,
        now_ms: f64,
    ) -> Vec<Command> {
        let limits = &self.app.limits;
        if !self.app.enable_client_messages {
            return vec![coded_error(
                close_codes::CLIENT_EVENT_REJECTED,
                "The app does not have client messaging enabled",
            )];
        }
        let Some(channel) = channel else {
            return vec![error(&format!("Client event {event} names no channel"))];
        };
        if event.chars().count() > limits.max_event_name_length {
            return vec![error(&format!(
                "Event name is too long: the maximum is {} characters",
                limits.max_event_name_length
            ))];
        }
        let Some(sub) = self.subscriptions.get(channel) else {
            return vec![error(&format!(
                "Client event refused: not subscribed to channel {channel}"
            ))];
        };
        let rejoining = self.is_rejoining(channel);
        if !(matches!(sub.phase, Phase::Open(_)) || rejoining) || self.is_session_channel(channel) {
            return vec![error(&format!(
                "Client event refused: not subscribed to channel {channel}"
            ))];
        }
        let allowed = sub.kind.requires_auth() && !sub.kind.is_encrypted();
        if !allowed {
            return vec![error(&format!(
                "Client events are only allowed on private and presence channels (not on {channel})"
            ))];
        }
        let size = data.map_or(0, str::len);
        if size > limits.max_event_payload_bytes {
            return vec![error(&format!(
                "Client event data is {size} bytes, the maximum is {} bytes",
                limits.max_event_payload_bytes
            ))];
        }
        if !self.client_events.allow(now_ms) {
            let max_rate = limits.max_client_events_per_second;
            return vec![coded_error(
                close_codes::CLIENT_EVENT_REJECTED,
                &format!("Client event rejected due to rate limit ({max_rate} per second)"),
            )];
        }
        let frame = frames::client_event(event, channel, data, sub.presence_user_id());
        if rejoining {
            // The room's socket is being reopened: sent up once it is back.
            if self.hold_client_event(channel, frame) {
                return Vec::new();
            }
            return vec![coded_error(
                close_codes::CLIENT_EVENT_REJECTED,
                &format!("Client event rejected: channel {channel} is reconnecting, try again"),
            )];
        }
        vec![Command::SendToChannel {
            channel: channel.to_string(),
            frame,
        }]
    }
}
