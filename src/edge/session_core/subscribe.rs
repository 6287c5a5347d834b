//! `pusher:subscribe` and `pusher:unsubscribe`: the checks a subscription passes (rate, name,
//! channel cap, private/presence auth) before the session opens the channel's room.

use super::{error, refuse, Command, Member, Phase, SessionCore};
use crate::protocol::auth_token::channel_string_to_sign;
use crate::protocol::channel_name::{validate_channel_name, ChannelKind};
use crate::protocol::client_message::Subscribe;
use crate::protocol::close_codes;
use crate::protocol::frames;
use crate::protocol::user_data::{parse_channel_data, signed_in_member};

impl SessionCore {
    pub(super) fn subscribe(&mut self, s: Subscribe, now_ms: f64) -> Vec<Command> {
        if !self.subscribes.allow(now_ms) {
            return self.subscribe_rate_limited(&s.channel);
        }
        let limits = &self.app.limits;
        let channel = &s.channel;
        let kind = match validate_channel_name(channel, limits.max_channel_name_length) {
            Ok(kind) => kind,
            Err(e) => {
                let message = format!("Invalid channel name '{channel}': {e}");
                return refuse(channel, "InvalidChannel", &message, 400);
            }
        };
        if kind == ChannelKind::ServerToUser {
            return self.subscribe_user_channel(channel);
        }
        if self.subscriptions.contains(channel) {
            return vec![error(&format!(
                "Existing subscription to channel {channel}"
            ))];
        }
        let max = limits.max_channels_per_connection;
        if self.client_channel_count() >= max {
            let message = format!("Too many channels: a connection may subscribe to at most {max}");
            return refuse(
                channel,
                "LimitReached",
                &message,
                close_codes::OVER_CAPACITY,
            );
        }

        let mut member = Member::new(self.socket_id.clone());
        if kind.requires_auth() {
            if let Err(refusal) = self.authorize_channel(&s, kind, &mut member, now_ms) {
                return refusal;
            }
        }
        member.count_subscriptions = self.app.enable_subscription_count && !kind.is_presence();
        if kind.is_presence() {
            member.presence_grace_ms = u64::from(self.app.limits.presence_grace_secs) * 1000;
        }
        self.open(s.channel, kind, member)
    }

    fn subscribe_rate_limited(&self, channel: &str) -> Vec<Command> {
        let max = self.app.limits.max_subscribes_per_minute;
        let message =
            format!("Subscription rejected due to rate limit ({max} subscribes per minute)");
        vec![
            Command::Send(frames::error(
                Some(close_codes::CLIENT_EVENT_REJECTED),
                &message,
                Some(channel),
            )),
            Command::Send(frames::subscription_error(
                channel,
                "LimitReached",
                &message,
                429,
            )),
        ]
    }

    /// Checks a private or presence channel's auth, and on a presence channel fills in the
    /// member from the signed `channel_data`, or from the sign-in when the auth carries none;
    /// the refusal to send otherwise.
    fn authorize_channel(
        &mut self,
        s: &Subscribe,
        kind: ChannelKind,
        member: &mut Member,
        now_ms: f64,
    ) -> Result<(), Vec<Command>> {
        let channel = &s.channel;
        // A private channel's auth may sign `channel_data` too: the common Next.js auth
        // route passes presence data to `authorizeChannel` for every channel, and pusher-js
        // then sends it. The signature covers whatever was sent; private channels ignore it.
        let channel_data = s.channel_data.as_deref();
        if kind.is_presence() && channel_data.is_none() && self.signin_data.is_none() {
            return Err(refuse(
                channel,
                "AuthError",
                "Presence channels need channel_data (signed with the auth), or a connection \
                 signed in first (pusher:signin) to be the member",
                401,
            ));
        }
        let string_to_sign = channel_string_to_sign(&self.socket_id, channel, channel_data);
        self.verify_auth(s.auth.as_deref(), &string_to_sign, now_ms)
            .map_err(|e| refuse(channel, "AuthError", &e.to_string(), 401))?;
        self.liveness.authorize();
        let presence = match (channel_data, &self.signin_data) {
            _ if !kind.is_presence() => return Ok(()),
            (Some(raw), _) => parse_channel_data(raw, &self.app.limits),
            (None, Some(signed_in)) => signed_in_member(signed_in, &self.app.limits),
            (None, None) => return Ok(()),
        };
        let presence =
            presence.map_err(|e| refuse(channel, "AuthError", &format!("Invalid {e}"), 400))?;
        member.user_id = Some(presence.user_id);
        member.user_info = presence.user_info;
        Ok(())
    }

    fn client_channel_count(&self) -> usize {
        self.subscriptions
            .channels()
            .filter(|name| !self.is_session_channel(name))
            .count()
    }

    /// pusher-js subscribes to `#server-to-user-{id}` after sign-in. The session joined that
    /// room at sign-in already, so this only acknowledges; anyone else's user channel is refused.
    fn subscribe_user_channel(&mut self, channel: &str) -> Vec<Command> {
        if self.user_channel().as_deref() != Some(channel) {
            return refuse(
                channel,
                "AuthError",
                "A #server-to-user- channel can only be subscribed to by that user, after pusher:signin",
                403,
            );
        }
        match self.subscriptions.phase(channel) {
            Some(Phase::Open(_)) => {
                vec![Command::Send(frames::subscription_succeeded(channel, "{}"))]
            }
            // The room's own acknowledgement is on its way.
            Some(Phase::Opening(_)) => Vec::new(),
            None => self.open(
                channel.to_string(),
                ChannelKind::ServerToUser,
                self.user_member(),
            ),
        }
    }

    pub(super) fn unsubscribe(&mut self, channel: &str) -> Vec<Command> {
        if self.is_session_channel(channel) {
            // The user channel belongs to the sign-in, not to the client: terminate_connections
            // and server-to-user events must still reach the connection. (pusher-js never sends
            // this; it only forgets the channel locally.) Like any unsubscribe, no answer.
            return Vec::new();
        }
        match self.subscriptions.phase(channel) {
            Some(Phase::Open(_)) => {
                self.subscriptions.remove(channel);
                vec![Command::CloseChannel {
                    channel: channel.to_string(),
                    lost: false,
                }]
            }
            // The socket is still being opened; it is closed as soon as it arrives.
            Some(Phase::Opening(_)) => {
                self.subscriptions.remove(channel);
                Vec::new()
            }
            None => vec![error(&format!(
                "No current subscription to channel {channel}, or subscription in progress"
            ))],
        }
    }
}
