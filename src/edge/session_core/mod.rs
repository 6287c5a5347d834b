//! The session's decisions, free of I/O: given what the client (or a channel room) did,
//! say what the socket glue must do. One `SessionCore` per pusher-js connection.

use crate::protocol::auth_token::{channel_string_to_sign, user_string_to_sign, verify_token};
use crate::protocol::channel_name::{validate_channel_name, ChannelKind, SERVER_TO_USER_PREFIX};
use crate::protocol::client_message::{parse_client_message, ClientMessage, Subscribe};
use crate::protocol::close_codes;
use crate::protocol::frames;
use crate::protocol::limits::Limits;
use crate::protocol::user_data::{parse_channel_data, parse_user_data};
use crate::room::directory_shards::{self, is_directory_channel};
use crate::room::member::{Join, Member, TERMINATED_CLOSE_CODE, TERMINATED_STATUS};
use std::collections::BTreeMap;

/// What the glue must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send this frame to the client.
    Send(String),
    /// Open an internal socket to the channel's room (or, for a directory channel, to one of
    /// the app's user directory shards: see `directory_shards`).
    OpenChannel(Box<OpenChannel>),
    /// Send a frame up the channel's internal socket (a client event).
    SendToChannel { channel: String, frame: String },
    /// Close the channel's internal socket (unsubscribe).
    CloseChannel { channel: String },
    /// Close the client connection with this code; every channel socket closes with it.
    CloseClient { code: u16, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenChannel {
    /// Tells a late answer to an abandoned attempt from the current one.
    pub attempt: u64,
    pub join: Join,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Opening(u64),
    Open(u64),
}

#[derive(Debug, Clone)]
struct Subscription {
    phase: Phase,
    kind: ChannelKind,
    /// The member id on a presence channel, added to client events.
    presence_user_id: Option<String>,
}

/// The app settings a session needs.
#[derive(Debug, Clone)]
pub struct SessionApp {
    pub key: String,
    pub secret: String,
    pub enable_client_messages: bool,
    pub enable_subscription_count: bool,
    /// Close connections that neither sign in nor pass a private/presence channel's auth in
    /// time (Pusher's "authorized connections").
    pub enable_user_authentication: bool,
    pub limits: Limits,
}

pub struct SessionCore {
    socket_id: String,
    app: SessionApp,
    subscriptions: BTreeMap<String, Subscription>,
    /// The signed-in user's id.
    user_id: Option<String>,
    next_attempt: u64,
    closed: bool,
    last_activity_ms: f64,
    ping_sent_ms: Option<f64>,
    client_event_window_ms: f64,
    client_events_in_window: u32,
    subscribe_window_ms: f64,
    subscribes_in_window: u32,
    /// When the connection signed in (the session's clock): a terminate of the user at or
    /// after this time closes it, even if its user channel's socket is not open yet.
    signed_in_ms: Option<u64>,
    /// The session asked the glue to close it for a spent budget.
    ending: bool,
    subrequests: u32,
    frames: u64,
    started_ms: f64,
    /// Signed in, or authorised for a private or presence channel.
    authorized: bool,
}

fn error(message: &str) -> Command {
    Command::Send(frames::error(None, message, None))
}

fn coded_error(code: u16, message: &str) -> Command {
    Command::Send(frames::error(Some(code), message, None))
}

/// A refused subscription: Pusher's `pusher:error`, plus the channel-scoped
/// `pusher:subscription_error` that pusher-js and Laravel Echo surface on the channel.
fn refuse(channel: &str, error_type: &str, message: &str, status: u16) -> Vec<Command> {
    vec![
        Command::Send(frames::error(None, message, Some(channel))),
        Command::Send(frames::subscription_error(
            channel, error_type, message, status,
        )),
    ]
}

impl SessionCore {
    pub fn new(socket_id: String, app: SessionApp, now_ms: f64) -> Self {
        SessionCore {
            socket_id,
            app,
            subscriptions: BTreeMap::new(),
            user_id: None,
            next_attempt: 0,
            closed: false,
            last_activity_ms: now_ms,
            ping_sent_ms: None,
            client_event_window_ms: now_ms,
            client_events_in_window: 0,
            subscribe_window_ms: now_ms,
            subscribes_in_window: 0,
            signed_in_ms: None,
            ending: false,
            subrequests: 0,
            frames: 0,
            started_ms: now_ms,
            authorized: false,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.app.limits
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// A text frame from the client.
    pub fn on_text(&mut self, text: &str, now_ms: f64) -> Vec<Command> {
        if self.closed {
            return Vec::new();
        }
        self.client_activity(now_ms);
        if let Some(close) = self.budget_exhausted() {
            return close;
        }
        if text.len() > self.app.limits.max_client_frame_bytes {
            return vec![self.too_large(text.len())];
        }
        match parse_client_message(text) {
            Err(e) => vec![error(&e.to_string())],
            Ok(ClientMessage::Ping) => vec![Command::Send(frames::PONG.to_string())],
            Ok(ClientMessage::Pong) => Vec::new(),
            Ok(ClientMessage::Subscribe(s)) => self.subscribe(s, now_ms),
            Ok(ClientMessage::Unsubscribe { channel }) => self.unsubscribe(&channel),
            Ok(ClientMessage::ClientEvent {
                event,
                channel,
                data,
            }) => self.client_event(&event, channel.as_deref(), data.as_deref(), now_ms),
            Ok(ClientMessage::Signin { auth, user_data }) => self.signin(&auth, &user_data, now_ms),
            Ok(ClientMessage::Unknown { event }) => {
                vec![error(&format!("Unsupported event received: {event}"))]
            }
        }
    }

    /// A text frame the glue found too large from its length alone (at least `bytes` bytes),
    /// without reading it.
    pub fn on_too_large(&mut self, bytes: usize, now_ms: f64) -> Vec<Command> {
        if self.closed {
            return Vec::new();
        }
        self.client_activity(now_ms);
        if let Some(close) = self.budget_exhausted() {
            return close;
        }
        vec![self.too_large(bytes)]
    }

    fn too_large(&self, bytes: usize) -> Command {
        error(&format!(
            "Message too large: {bytes} bytes or more, the maximum is {} bytes",
            self.app.limits.max_client_frame_bytes
        ))
    }

    /// A binary frame from the client: the protocol is text only.
    pub fn on_binary(&mut self, now_ms: f64) -> Vec<Command> {
        if self.closed {
            return Vec::new();
        }
        self.client_activity(now_ms);
        vec![error(
            "Binary frames are not supported: send JSON in text frames",
        )]
    }

    fn client_activity(&mut self, now_ms: f64) {
        self.last_activity_ms = now_ms;
        self.ping_sent_ms = None;
        self.frames += 1;
    }

    /// Periodic check: ping a silent client, close one that does not answer with 4201.
    pub fn on_tick(&mut self, now_ms: f64) -> Vec<Command> {
        if self.closed {
            return Vec::new();
        }
        let limits = &self.app.limits;
        let auth_deadline =
            self.started_ms + f64::from(limits.user_authentication_timeout_secs) * 1000.0;
        if self.app.enable_user_authentication && !self.authorized && now_ms >= auth_deadline {
            return vec![Command::CloseClient {
                code: close_codes::UNAUTHORIZED,
                reason: "Connection not authorized within timeout".into(),
            }];
        }
        match self.ping_sent_ms {
            Some(sent) if now_ms - sent >= f64::from(limits.pong_timeout_secs) * 1000.0 => {
                vec![Command::CloseClient {
                    code: close_codes::PONG_NOT_RECEIVED,
                    reason: "Pong reply not received".into(),
                }]
            }
            None if now_ms - self.last_activity_ms
                >= f64::from(limits.activity_timeout_secs) * 1000.0 =>
            {
                self.ping_sent_ms = Some(now_ms);
                vec![Command::Send(frames::PING.to_string())]
            }
            _ => Vec::new(),
        }
    }

    /// `frames` frames were relayed from a room to the client. Returns commands only when
    /// the session's CPU budget is spent.
    pub fn on_relayed(&mut self, frames: u32) -> Vec<Command> {
        self.frames += u64::from(frames);
        self.budget_exhausted().unwrap_or_default()
    }

    /// The runtime signalled that an invocation is close to its CPU limit. The signal is one
    /// flag for the whole Wasm instance, which every session of the isolate shares, so it may
    /// be another session's: this one ends only if its own estimate has used half its budget.
    pub fn on_cpu_limit_signal(&mut self) -> Vec<Command> {
        if self.estimated_cpu_micros() * 2 >= self.cpu_budget_micros() {
            return self.end_for_budget("CPU");
        }
        Vec::new()
    }

    /// The glue made a subrequest of its own (a leaf's upgrade, a wake request): it counts
    /// against the session's budget like a channel's upgrade.
    pub fn on_subrequest(&mut self) -> Vec<Command> {
        if self.closed {
            return Vec::new();
        }
        self.subrequests += 1;
        if self.subrequests > self.app.limits.session_subrequest_budget {
            return self.end_for_budget("subrequest");
        }
        Vec::new()
    }

    /// Whether `attempt` is still the wanted way to `channel`: a queued upgrade that is no
    /// longer wanted is not made.
    pub fn wants(&self, channel: &str, attempt: u64) -> bool {
        !self.closed
            && self.subscriptions.get(channel).map(|s| s.phase) == Some(Phase::Opening(attempt))
    }

    fn estimated_cpu_micros(&self) -> u64 {
        self.frames * u64::from(self.app.limits.session_cpu_micros_per_frame)
    }

    fn cpu_budget_micros(&self) -> u64 {
        u64::from(self.app.limits.session_cpu_budget_ms) * 1000
    }

    fn budget_exhausted(&mut self) -> Option<Vec<Command>> {
        if self.closed {
            return None;
        }
        if self.estimated_cpu_micros() >= self.cpu_budget_micros() {
            return Some(self.end_for_budget("CPU"));
        }
        None
    }

    /// Ends the session so the client reconnects on a fresh invocation with fresh budgets.
    fn end_for_budget(&mut self, which: &str) -> Vec<Command> {
        // Once: a sign-in's several opens may each find the budget spent.
        if self.closed || std::mem::replace(&mut self.ending, true) {
            return Vec::new();
        }
        vec![Command::CloseClient {
            code: close_codes::RECONNECT_IMMEDIATELY,
            reason: format!("Session {which} budget used up; please reconnect"),
        }]
    }

    /// Counts one subrequest; ends the session instead when the budget is spent.
    fn open(&mut self, channel: String, kind: ChannelKind, mut member: Member) -> Vec<Command> {
        if self.subrequests >= self.app.limits.session_subrequest_budget {
            return self.end_for_budget("subrequest");
        }
        self.subrequests += 1;
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        member.attempt = attempt;
        let presence_user_id = if kind.is_presence() {
            member.user_id.clone()
        } else {
            None
        };
        self.subscriptions.insert(
            channel.clone(),
            Subscription {
                phase: Phase::Opening(attempt),
                kind,
                presence_user_id,
            },
        );
        vec![Command::OpenChannel(Box::new(OpenChannel {
            attempt,
            join: Join {
                app_id: String::new(),
                channel,
                member,
                max_members: self.app.limits.max_presence_members,
                split_at: self.app.limits.channel_split_threshold,
                leaf: None,
            },
        }))]
    }

    fn client_channel_count(&self) -> usize {
        self.subscriptions
            .iter()
            .filter(|(name, _)| !self.is_session_channel(name))
            .count()
    }

    /// Channels the session itself opened: its user channel and the directory.
    fn is_session_channel(&self, name: &str) -> bool {
        is_directory_channel(name) || Some(name) == self.user_channel().as_deref()
    }

    fn user_channel(&self) -> Option<String> {
        self.user_id
            .as_ref()
            .map(|id| format!("{SERVER_TO_USER_PREFIX}{id}"))
    }

    /// Counts a subscribe in the current minute; false past `max_subscribes_per_minute`.
    fn subscribe_allowed(&mut self, now_ms: f64) -> bool {
        if now_ms - self.subscribe_window_ms >= 60_000.0 {
            self.subscribe_window_ms = now_ms;
            self.subscribes_in_window = 0;
        }
        self.subscribes_in_window += 1;
        self.subscribes_in_window <= self.app.limits.max_subscribes_per_minute
    }

    fn subscribe(&mut self, s: Subscribe, now_ms: f64) -> Vec<Command> {
        let channel = s.channel;
        if !self.subscribe_allowed(now_ms) {
            let max = self.app.limits.max_subscribes_per_minute;
            let message =
                format!("Subscription rejected due to rate limit ({max} subscribes per minute)");
            return vec![
                Command::Send(frames::error(
                    Some(close_codes::CLIENT_EVENT_RATE_LIMIT),
                    &message,
                    Some(&channel),
                )),
                Command::Send(frames::subscription_error(
                    &channel,
                    "LimitReached",
                    &message,
                    429,
                )),
            ];
        }
        let limits = &self.app.limits;
        let kind = match validate_channel_name(&channel, limits.max_channel_name_length) {
            Ok(kind) => kind,
            Err(e) => {
                let message = format!("Invalid channel name '{channel}': {e}");
                return refuse(&channel, "InvalidChannel", &message, 400);
            }
        };
        if kind == ChannelKind::ServerToUser {
            return self.subscribe_user_channel(&channel);
        }
        if self.subscriptions.contains_key(&channel) {
            return vec![error(&format!(
                "Existing subscription to channel {channel}"
            ))];
        }
        let max = limits.max_channels_per_connection;
        if self.client_channel_count() >= max {
            let message = format!("Too many channels: a connection may subscribe to at most {max}");
            return refuse(&channel, "LimitReached", &message, 4100);
        }

        let mut member = Member::new(self.socket_id.clone());
        if kind.requires_auth() {
            // A private channel's auth may sign `channel_data` too: the common Next.js auth
            // route passes presence data to `authorizeChannel` for every channel, and pusher-js
            // then sends it. The signature covers whatever was sent; private channels ignore it.
            let channel_data = s.channel_data.as_deref();
            if kind.is_presence() && channel_data.is_none() {
                return refuse(
                    &channel,
                    "AuthError",
                    "Presence channels need channel_data (signed with the auth)",
                    401,
                );
            }
            let string_to_sign = channel_string_to_sign(&self.socket_id, &channel, channel_data);
            if let Err(e) = verify_token(
                &self.app.key,
                &self.app.secret,
                s.auth.as_deref(),
                &string_to_sign,
            ) {
                return refuse(&channel, "AuthError", &e.to_string(), 401);
            }
            self.authorized = true;
            if let Some(raw) = channel_data.filter(|_| kind.is_presence()) {
                match parse_channel_data(raw, limits) {
                    Ok(presence) => {
                        member.user_id = Some(presence.user_id);
                        member.user_info = presence.user_info;
                    }
                    Err(e) => {
                        return refuse(&channel, "AuthError", &format!("Invalid {e}"), 400);
                    }
                }
            }
        }
        member.count_subscriptions = self.app.enable_subscription_count && !kind.is_presence();
        self.open(channel, kind, member)
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
        match self.subscriptions.get(channel).map(|s| s.phase) {
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

    fn user_member(&self) -> Member {
        let mut member = Member::new(self.socket_id.clone());
        member.user_id = self.user_id.clone();
        member.signed_in_ms = self.signed_in_ms;
        member
    }

    fn unsubscribe(&mut self, channel: &str) -> Vec<Command> {
        if self.is_session_channel(channel) {
            // The user channel belongs to the sign-in, not to the client: terminate_connections
            // and server-to-user events must still reach the connection. (pusher-js never sends
            // this; it only forgets the channel locally.) Like any unsubscribe, no answer.
            return Vec::new();
        }
        match self.subscriptions.get(channel).map(|s| s.phase) {
            Some(Phase::Open(_)) => {
                self.subscriptions.remove(channel);
                vec![Command::CloseChannel {
                    channel: channel.to_string(),
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

    fn client_event(
        &mut self,
        event: &str,
        channel: Option<&str>,
        data: Option<&str>,
        now_ms: f64,
    ) -> Vec<Command> {
        let limits = &self.app.limits;
        if !self.app.enable_client_messages {
            return vec![coded_error(
                close_codes::CLIENT_EVENT_RATE_LIMIT,
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
        if !matches!(sub.phase, Phase::Open(_)) || self.is_session_channel(channel) {
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
        if now_ms - self.client_event_window_ms >= 1000.0 {
            self.client_event_window_ms = now_ms;
            self.client_events_in_window = 0;
        }
        self.client_events_in_window += 1;
        let max_rate = limits.max_client_events_per_second;
        if self.client_events_in_window > max_rate {
            return vec![coded_error(
                close_codes::CLIENT_EVENT_RATE_LIMIT,
                &format!("Client event rejected due to rate limit ({max_rate} per second)"),
            )];
        }
        let frame = frames::client_event(event, channel, data, sub.presence_user_id.as_deref());
        vec![Command::SendToChannel {
            channel: channel.to_string(),
            frame,
        }]
    }

    fn signin(&mut self, auth: &str, user_data: &str, now_ms: f64) -> Vec<Command> {
        let string_to_sign = user_string_to_sign(&self.socket_id, user_data);
        if let Err(e) = verify_token(&self.app.key, &self.app.secret, Some(auth), &string_to_sign) {
            return vec![coded_error(close_codes::UNAUTHORIZED, &e.to_string())];
        }
        let user = match parse_user_data(user_data, &self.app.limits) {
            Ok(user) => user,
            Err(e) => {
                return vec![coded_error(
                    close_codes::UNAUTHORIZED,
                    &format!("Invalid {e}"),
                )]
            }
        };
        match &self.user_id {
            Some(current) if *current != user.id => {
                return vec![coded_error(
                    close_codes::UNAUTHORIZED,
                    &format!("This connection is already signed in as user {current}"),
                )];
            }
            Some(_) => return vec![Command::Send(frames::signin_success(user_data))],
            None => {}
        }
        self.user_id = Some(user.id.clone());
        self.signed_in_ms = Some(now_ms.max(0.0) as u64);
        self.authorized = true;
        let mut cmds = vec![Command::Send(frames::signin_success(user_data))];
        if user.watchlist_truncated {
            cmds.push(coded_error(
                close_codes::WATCHLIST_LIMIT,
                &format!(
                    "Watchlist limit exceeded: the first {} ids were accepted",
                    self.app.limits.max_watchlist_size
                ),
            ));
        }
        let user_channel = format!("{SERVER_TO_USER_PREFIX}{}", user.id);
        cmds.extend(self.open(user_channel, ChannelKind::ServerToUser, self.user_member()));
        let shards = self.app.limits.user_directory_shards;
        for (channel, member) in
            directory_shards::joins(&self.user_member(), user.watchlist, shards)
        {
            let opened = self.open(channel, ChannelKind::ServerToUser, member);
            let ended = opened
                .iter()
                .any(|c| matches!(c, Command::CloseClient { .. }));
            cmds.extend(opened);
            if ended {
                break;
            }
        }
        cmds
    }

    /// The room accepted the internal socket. Returns whether to keep it: `false` when the
    /// client unsubscribed (or left) meanwhile, and the glue must close it.
    pub fn on_channel_opened(&mut self, channel: &str, attempt: u64) -> bool {
        match self.subscriptions.get_mut(channel) {
            Some(sub) if sub.phase == Phase::Opening(attempt) => {
                sub.phase = Phase::Open(attempt);
                true
            }
            _ => false,
        }
    }

    /// The room could not be reached or refused the socket (`status` is its HTTP answer).
    pub fn on_channel_failed(
        &mut self,
        channel: &str,
        attempt: u64,
        status: u16,
        why: &str,
    ) -> Vec<Command> {
        if self.subscriptions.get(channel).map(|s| s.phase) != Some(Phase::Opening(attempt)) {
            return Vec::new();
        }
        self.subscriptions.remove(channel);
        if is_directory_channel(channel) {
            return vec![error(&format!("Watchlist unavailable: {why}"))];
        }
        if self.is_session_channel(channel) {
            // Without its user channel the connection could not be terminated: it does not
            // stay open signed in. A terminate that came first closes it as terminated.
            if status == TERMINATED_STATUS {
                return vec![self.terminated()];
            }
            return vec![Command::CloseClient {
                code: close_codes::RECONNECT_IMMEDIATELY,
                reason: format!("Could not join the user's channel ({why}); please reconnect"),
            }];
        }
        match status {
            // The room's own refusal (e.g. the presence member limit) is for the client.
            403 => refuse(channel, "LimitReached", why, close_codes::OVER_CAPACITY),
            _ => refuse(
                channel,
                "ServerError",
                &format!("Could not subscribe to {channel}: {why} (status {status})"),
                500,
            ),
        }
    }

    /// An internal socket ended with `code`. If the session did not close it, the room
    /// dropped it: a restart or deploy (close the client with 4200 so pusher-js reconnects
    /// and resubscribes) or the app terminating the user's connections (close with that code).
    pub fn on_channel_closed(&mut self, channel: &str, attempt: u64, code: u16) -> Vec<Command> {
        if self.closed
            || self.subscriptions.get(channel).map(|s| s.phase) != Some(Phase::Open(attempt))
        {
            return Vec::new();
        }
        if code == TERMINATED_CLOSE_CODE {
            return vec![self.terminated()];
        }
        vec![Command::CloseClient {
            code: close_codes::RECONNECT_IMMEDIATELY,
            reason: format!("Lost the connection to channel {channel}; please reconnect"),
        }]
    }

    fn terminated(&self) -> Command {
        Command::CloseClient {
            code: TERMINATED_CLOSE_CODE,
            reason: "Connection terminated by the app".into(),
        }
    }

    /// The client connection is gone (or being closed): close every channel socket.
    pub fn on_client_closed(&mut self) -> Vec<Command> {
        self.closed = true;
        std::mem::take(&mut self.subscriptions)
            .into_iter()
            .filter(|(_, sub)| matches!(sub.phase, Phase::Open(_)))
            .map(|(channel, _)| Command::CloseChannel { channel })
            .collect()
    }
}

/// The close code and reason for a `protocol` query value we cannot serve, if any.
/// A missing value is accepted as 7 (no server refuses it, and Pusher only plans to).
pub fn protocol_problem(protocol: Option<&str>) -> Option<(u16, String)> {
    let raw = protocol?;
    match raw.parse::<u32>() {
        Ok(v) if (close_codes::MIN_PROTOCOL..=close_codes::MAX_PROTOCOL).contains(&v) => None,
        Ok(v) => Some((
            close_codes::UNSUPPORTED_PROTOCOL,
            format!(
                "Unsupported protocol version {v}; this server speaks {} to {}",
                close_codes::MIN_PROTOCOL,
                close_codes::MAX_PROTOCOL
            ),
        )),
        Err(_) => Some((
            close_codes::INVALID_VERSION_FORMAT,
            format!("Invalid protocol version format: {raw:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::auth_token::sign_token;
    use serde_json::{json, Value};

    const KEY: &str = "app-key";
    const SECRET: &str = "app-secret";
    const SID: &str = "123.456";

    fn app() -> SessionApp {
        SessionApp {
            key: KEY.into(),
            secret: SECRET.into(),
            enable_client_messages: true,
            enable_subscription_count: false,
            enable_user_authentication: false,
            limits: Limits::default(),
        }
    }

    #[test]
    fn user_authentication_timeout_closes_unauthorized_connections() {
        let strict = || SessionApp {
            enable_user_authentication: true,
            ..app()
        };
        let mut idle = SessionCore::new(SID.into(), strict(), 0.0);
        assert!(idle.on_tick(29_000.0).is_empty());
        let cmds = idle.on_tick(30_000.0);
        assert!(matches!(
            cmds.as_slice(),
            [Command::CloseClient { code: 4009, reason }] if reason.contains("not authorized")
        ));
        // A private channel's valid auth counts as authorised.
        let mut private = SessionCore::new(SID.into(), strict(), 0.0);
        let auth = sign_token(KEY, SECRET, "123.456:private-a");
        open_ok(
            &mut private,
            &subscribe_frame("private-a", Some(&auth), None),
        );
        assert!(private
            .on_tick(60_000.0)
            .iter()
            .all(|c| !matches!(c, Command::CloseClient { .. })));
        // Public channels do not; the setting off never closes.
        let mut public = SessionCore::new(SID.into(), strict(), 0.0);
        open_ok(&mut public, &subscribe_frame("chat", None, None));
        assert!(!public.on_tick(30_000.0).is_empty());
        let mut off = SessionCore::new(SID.into(), app(), 0.0);
        assert!(off.on_tick(30_000.0).is_empty());
    }

    fn session() -> SessionCore {
        SessionCore::new(SID.into(), app(), 0.0)
    }

    fn sent(cmds: &[Command]) -> Vec<Value> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::Send(s) => Some(serde_json::from_str(s).unwrap()),
                _ => None,
            })
            .collect()
    }

    fn opens(cmds: &[Command]) -> Vec<OpenChannel> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::OpenChannel(o) => Some((**o).clone()),
                _ => None,
            })
            .collect()
    }

    fn subscribe_frame(channel: &str, auth: Option<&str>, channel_data: Option<&str>) -> String {
        let mut data = json!({ "channel": channel });
        if let Some(a) = auth {
            data["auth"] = json!(a);
        }
        if let Some(cd) = channel_data {
            data["channel_data"] = json!(cd);
        }
        json!({"event": "pusher:subscribe", "data": data}).to_string()
    }

    fn open_ok(s: &mut SessionCore, frame: &str) -> OpenChannel {
        let cmds = s.on_text(frame, 0.0);
        match cmds.as_slice() {
            [Command::OpenChannel(o)] => {
                assert_eq!(o.join.member.socket_id, SID);
                assert!(s.on_channel_opened(&o.join.channel, o.attempt));
                (**o).clone()
            }
            other => panic!("expected OpenChannel, got {other:?}"),
        }
    }

    fn open(s: &mut SessionCore, channel: &str) -> u64 {
        open_ok(s, &subscribe_frame(channel, Some(""), None)).attempt
    }

    fn message(v: &Value) -> &str {
        v["data"]["message"].as_str().unwrap()
    }

    #[test]
    fn protocol_versions() {
        assert_eq!(protocol_problem(None), None);
        assert_eq!(protocol_problem(Some("7")), None);
        assert_eq!(protocol_problem(Some("4")), None);
        assert_eq!(protocol_problem(Some("3")).unwrap().0, 4007);
        assert_eq!(protocol_problem(Some("8")).unwrap().0, 4007);
        assert_eq!(protocol_problem(Some("seven")).unwrap().0, 4006);
    }

    #[test]
    fn ping_gets_pong_and_pong_is_ignored() {
        let mut s = session();
        assert_eq!(
            s.on_text(r#"{"event":"pusher:ping","data":{}}"#, 0.0),
            vec![Command::Send(frames::PONG.into())]
        );
        assert!(s
            .on_text(r#"{"event":"pusher:pong","data":{}}"#, 0.0)
            .is_empty());
    }

    #[test]
    fn bad_frames_get_pusher_errors() {
        let mut s = session();
        let cases = [
            ("not json", "Invalid message format"),
            (r#"{"event":"nope"}"#, "Unsupported event received: nope"),
            (
                r#"{"event":"pusher:subscribe","data":{}}"#,
                "Invalid data for pusher:subscribe",
            ),
        ];
        for (frame, needle) in cases {
            let out = sent(&s.on_text(frame, 0.0));
            assert_eq!(out.len(), 1);
            assert_eq!(out[0]["event"], "pusher:error");
            assert!(message(&out[0]).contains(needle), "{frame}");
        }
        let out = sent(&s.on_binary(0.0));
        assert!(message(&out[0]).contains("Binary frames"));
        let big = format!(
            r#"{{"event":"client-x","channel":"a","data":"{}"}}"#,
            "x".repeat(20_000)
        );
        let out = sent(&s.on_text(&big, 0.0));
        assert!(message(&out[0]).starts_with("Message too large"));
    }

    #[test]
    fn public_subscribe_double_subscribe_and_unsubscribe() {
        let mut s = session();
        let attempt = open(&mut s, "my-channel");
        let out = sent(&s.on_text(&subscribe_frame("my-channel", None, None), 0.0));
        assert_eq!(
            message(&out[0]),
            "Existing subscription to channel my-channel"
        );
        let unsub = r#"{"event":"pusher:unsubscribe","data":{"channel":"my-channel"}}"#;
        assert_eq!(
            s.on_text(unsub, 0.0),
            vec![Command::CloseChannel {
                channel: "my-channel".into()
            }]
        );
        // The close we caused is not a lost connection.
        assert!(s.on_channel_closed("my-channel", attempt, 1000).is_empty());
        let out = sent(&s.on_text(unsub, 0.0));
        assert_eq!(
            message(&out[0]),
            "No current subscription to channel my-channel, or subscription in progress"
        );
    }

    #[test]
    fn invalid_channel_names_are_refused_on_the_channel() {
        let mut s = session();
        let out = sent(&s.on_text(&subscribe_frame("bad channel", None, None), 0.0));
        assert_eq!(out[0]["event"], "pusher:error");
        assert_eq!(out[1]["event"], "pusher:subscription_error");
        assert_eq!(out[1]["channel"], "bad channel");
        assert_eq!(out[1]["data"]["status"], 400);
        let long = "a".repeat(201);
        let out = sent(&s.on_text(&subscribe_frame(&long, None, None), 0.0));
        assert!(message(&out[0]).contains("201 characters"));
        // The internal directory name is not a channel a client can touch.
        let directory = directory_shards::channel(0);
        let out = sent(&s.on_text(&subscribe_frame(&directory, None, None), 0.0));
        assert_eq!(out[1]["data"]["status"], 400);
    }

    #[test]
    fn private_channels_need_a_valid_signature() {
        let mut s = session();
        let good = sign_token(KEY, SECRET, "123.456:private-a");
        open_ok(&mut s, &subscribe_frame("private-a", Some(&good), None));
        for channel in [
            "private-b",
            "private-cache-b",
            "private-encrypted-b",
            "private-encrypted-cache-b",
        ] {
            let out = sent(&s.on_text(&subscribe_frame(channel, Some(&good), None), 0.0));
            assert!(
                message(&out[0]).starts_with(&format!(
                    "Invalid signature: Expected HMAC SHA256 hex digest of 123.456:{channel}, but got "
                )),
                "{}",
                message(&out[0])
            );
            assert_eq!(out[1]["data"]["type"], "AuthError");
            assert_eq!(out[1]["data"]["status"], 401);
        }
        let out = sent(&s.on_text(&subscribe_frame("private-c", None, None), 0.0));
        assert_eq!(message(&out[0]), "Missing auth signature");
        let out = sent(&s.on_text(&subscribe_frame("private-c", Some("wrong:abc"), None), 0.0));
        assert_eq!(
            message(&out[0]),
            "Invalid key in subscription auth data: 'wrong'"
        );
    }

    #[test]
    fn a_private_channel_auth_may_sign_channel_data_which_is_then_ignored() {
        // What `authorizeChannel(socketId, channel, presenceData)` signs for a private channel.
        let data = r#"{"user_id":"7","user_info":{"name":"Ada"}}"#;
        let mut s = session();
        let signed = sign_token(KEY, SECRET, &format!("123.456:private-d:{data}"));
        let o = open_ok(
            &mut s,
            &subscribe_frame("private-d", Some(&signed), Some(data)),
        );
        assert_eq!(
            o.join.member.user_id, None,
            "no member data on a private channel"
        );
        // The data is covered by the signature: other data, or none, does not verify.
        let other = r#"{"user_id":"8"}"#;
        let out = sent(&s.on_text(
            &subscribe_frame("private-e", Some(&signed), Some(other)),
            0.0,
        ));
        assert_eq!(out[1]["data"]["status"], 401);
        let out = sent(&s.on_text(&subscribe_frame("private-d2", Some(&signed), None), 0.0));
        assert_eq!(out[1]["data"]["status"], 401);
    }

    #[test]
    fn presence_signature_covers_channel_data_and_the_member_is_sent_to_the_room() {
        let mut s = session();
        let cd = r#"{"user_id":7,"user_info":{"name":"Ada"}}"#;
        for channel in ["presence-room", "presence-cache-room"] {
            let auth = sign_token(KEY, SECRET, &format!("{SID}:{channel}:{cd}"));
            let o = open_ok(&mut s, &subscribe_frame(channel, Some(&auth), Some(cd)));
            assert_eq!(o.join.member.user_id.as_deref(), Some("7"));
            assert_eq!(
                o.join.member.user_info.as_deref(),
                Some(r#"{"name":"Ada"}"#)
            );
            assert_eq!(o.join.max_members, 100);
            // Signed without channel_data: refused.
            let private_style = sign_token(KEY, SECRET, &format!("{SID}:{channel}-2"));
            let out = sent(&s.on_text(
                &subscribe_frame(&format!("{channel}-2"), Some(&private_style), Some(cd)),
                0.0,
            ));
            assert!(
                message(&out[0]).starts_with("Invalid signature"),
                "{channel}"
            );
            let out = sent(&s.on_text(
                &subscribe_frame(&format!("{channel}-3"), Some(&auth), None),
                0.0,
            ));
            assert!(message(&out[0]).contains("need channel_data"));
        }
        // Signed, but the channel_data itself is unusable.
        let bad = r#"{"user_info":{}}"#;
        let auth = sign_token(KEY, SECRET, &format!("{SID}:presence-x:{bad}"));
        let out = sent(&s.on_text(&subscribe_frame("presence-x", Some(&auth), Some(bad)), 0.0));
        assert!(message(&out[0]).contains("user_id"));
    }

    #[test]
    fn channels_per_connection_are_capped() {
        let mut s = SessionCore::new(
            SID.into(),
            SessionApp {
                limits: Limits {
                    max_channels_per_connection: 2,
                    ..Limits::default()
                },
                ..app()
            },
            0.0,
        );
        open(&mut s, "a");
        open(&mut s, "b");
        let out = sent(&s.on_text(&subscribe_frame("c", Some(""), None), 0.0));
        assert!(message(&out[0]).contains("at most 2"));
        assert_eq!(out[1]["data"]["type"], "LimitReached");
    }

    #[test]
    fn unsubscribe_while_opening_discards_the_late_socket() {
        let mut s = session();
        let first = opens(&s.on_text(&subscribe_frame("c", None, None), 0.0)).remove(0);
        assert!(s
            .on_text(
                r#"{"event":"pusher:unsubscribe","data":{"channel":"c"}}"#,
                0.0
            )
            .is_empty());
        // Subscribing again starts a new attempt; the first one's socket is not kept.
        let second = opens(&s.on_text(&subscribe_frame("c", None, None), 0.0)).remove(0);
        assert!(!s.on_channel_opened("c", first.attempt));
        assert!(s.on_channel_opened("c", second.attempt));
    }

    #[test]
    fn failed_open_is_reported_and_can_be_retried() {
        let mut s = session();
        let o = opens(&s.on_text(&subscribe_frame("c", None, None), 0.0)).remove(0);
        let out = sent(&s.on_channel_failed("c", o.attempt, 500, "room unavailable"));
        assert_eq!(out[1]["event"], "pusher:subscription_error");
        assert_eq!(out[1]["data"]["status"], 500);
        open(&mut s, "c");
        // A refusal by the room itself (member limit) is passed on as such.
        let o = opens(&s.on_text(&subscribe_frame("d", None, None), 0.0)).remove(0);
        let out = sent(&s.on_channel_failed("d", o.attempt, 403, "Presence channel is full"));
        assert_eq!(
            out[1]["data"],
            json!({"type":"LimitReached","error":"Presence channel is full","status":4100})
        );
    }

    #[test]
    fn a_dropped_room_socket_closes_the_client_with_4200_and_terminate_with_4009() {
        let mut s = session();
        let a = open(&mut s, "c");
        let d = open(&mut s, "d");
        assert!(matches!(
            &s.on_channel_closed("c", a, 1006)[..],
            [Command::CloseClient { code: 4200, .. }]
        ));
        assert!(matches!(
            &s.on_channel_closed("d", d, TERMINATED_CLOSE_CODE)[..],
            [Command::CloseClient { code: 4009, .. }]
        ));
        let mut closes = s.on_client_closed();
        closes.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(
            closes,
            vec![
                Command::CloseChannel {
                    channel: "c".into()
                },
                Command::CloseChannel {
                    channel: "d".into()
                }
            ]
        );
        assert!(s.is_closed());
        assert!(s
            .on_text(r#"{"event":"pusher:ping","data":{}}"#, 0.0)
            .is_empty());
    }

    #[test]
    fn client_events_rules() {
        let mut s = session();
        let auth = sign_token(KEY, SECRET, &format!("{SID}:private-a"));
        open_ok(&mut s, &subscribe_frame("private-a", Some(&auth), None));
        let cd = r#"{"user_id":"u1"}"#;
        let pauth = sign_token(KEY, SECRET, &format!("{SID}:presence-p:{cd}"));
        open_ok(
            &mut s,
            &subscribe_frame("presence-p", Some(&pauth), Some(cd)),
        );
        let eauth = sign_token(KEY, SECRET, &format!("{SID}:private-encrypted-e"));
        open_ok(
            &mut s,
            &subscribe_frame("private-encrypted-e", Some(&eauth), None),
        );
        open(&mut s, "public");

        let ev =
            |ch: &str| format!(r#"{{"event":"client-typing","channel":"{ch}","data":{{"x":1}}}}"#);
        assert_eq!(
            s.on_text(&ev("private-a"), 0.0),
            vec![Command::SendToChannel {
                channel: "private-a".into(),
                frame: r#"{"event":"client-typing","channel":"private-a","data":{"x":1}}"#.into()
            }]
        );
        let cmds = s.on_text(&ev("presence-p"), 0.0);
        let Command::SendToChannel { frame, .. } = &cmds[0] else {
            panic!("{cmds:?}")
        };
        assert_eq!(
            serde_json::from_str::<Value>(frame).unwrap()["user_id"],
            "u1"
        );
        for (ch, needle) in [
            ("public", "only allowed on private and presence"),
            (
                "private-encrypted-e",
                "only allowed on private and presence",
            ),
            ("private-other", "not subscribed"),
        ] {
            let out = sent(&s.on_text(&ev(ch), 0.0));
            assert!(
                message(&out[0]).contains(needle),
                "{ch}: {}",
                message(&out[0])
            );
        }
        let big = format!(
            r#"{{"event":"client-x","channel":"private-a","data":"{}"}}"#,
            "x".repeat(10_300)
        );
        assert!(message(&sent(&s.on_text(&big, 0.0))[0]).contains("maximum is 10240"));

        // Rate limit: 10 per second (2 already sent at t=0), the next ones refused with 4301.
        let mut s2 = session();
        open_ok(&mut s2, &subscribe_frame("private-a", Some(&auth), None));
        for _ in 0..10 {
            assert!(matches!(
                s2.on_text(&ev("private-a"), 100.0)[0],
                Command::SendToChannel { .. }
            ));
        }
        let out = sent(&s2.on_text(&ev("private-a"), 500.0));
        assert_eq!(out[0]["data"]["code"], 4301);
        assert!(matches!(
            s2.on_text(&ev("private-a"), 1100.0)[0],
            Command::SendToChannel { .. }
        ));

        let mut off = SessionCore::new(
            SID.into(),
            SessionApp {
                enable_client_messages: false,
                ..app()
            },
            0.0,
        );
        open_ok(&mut off, &subscribe_frame("private-a", Some(&auth), None));
        let out = sent(&off.on_text(&ev("private-a"), 0.0));
        assert_eq!(out[0]["data"]["code"], 4301);
        assert!(message(&out[0]).contains("not have client messaging enabled"));
    }

    fn signin_frame(user_data: &str, secret: &str) -> String {
        let auth = sign_token(KEY, secret, &format!("{SID}::user::{user_data}"));
        json!({"event":"pusher:signin","data":{"auth":auth,"user_data":user_data}}).to_string()
    }

    #[test]
    fn signin_joins_the_user_channel_and_directory() {
        let mut s = session();
        let ud = r#"{"id":"42","watchlist":["1","2"]}"#;
        let cmds = s.on_text(&signin_frame(ud, SECRET), 0.0);
        let out = sent(&cmds);
        assert_eq!(
            out[0],
            json!({"event":"pusher:signin_success","data":{"user_data":ud}})
        );
        let o = opens(&cmds);
        assert_eq!(o[0].join.channel, "#server-to-user-42");
        assert_eq!(o[0].join.member.user_id.as_deref(), Some("42"));
        // Then the user's directory shard, and the shards of the watched users.
        let shards = app().limits.user_directory_shards;
        let watched = vec!["1".to_string(), "2".to_string()];
        let expected = directory_shards::joins(&o[0].join.member, watched, shards);
        assert_eq!(o.len(), 1 + expected.len());
        for (open, (channel, member)) in o[1..].iter().zip(&expected) {
            assert_eq!(&open.join.channel, channel);
            assert_eq!(open.join.member.user_id, member.user_id);
            assert_eq!(open.join.member.watchlist, member.watchlist);
        }
        // The directory sockets are the session's own: no client unsubscribes them (the
        // unsubscribe is ignored, as for the user channel).
        assert!(s.on_channel_opened(&o[1].join.channel, o[1].attempt));
        let unsub = json!({"event":"pusher:unsubscribe","data":{"channel":o[1].join.channel}});
        assert!(s.on_text(&unsub.to_string(), 0.0).is_empty());
        assert!(
            s.wants(&o[1].join.channel, o[1].attempt) || s.is_session_channel(&o[1].join.channel)
        );

        // pusher-js then subscribes to its user channel: acknowledged once the room is open.
        let own = subscribe_frame("#server-to-user-42", Some(""), None);
        assert!(s.on_text(&own, 0.0).is_empty());
        assert!(s.on_channel_opened("#server-to-user-42", o[0].attempt));
        let out = sent(&s.on_text(&own, 0.0));
        assert_eq!(out[0]["event"], "pusher_internal:subscription_succeeded");
        // Someone else's user channel is refused.
        let out = sent(&s.on_text(&subscribe_frame("#server-to-user-7", Some(""), None), 0.0));
        assert_eq!(out[1]["data"]["status"], 403);
        // Signing in as another user is refused; as the same user, acknowledged again.
        let out = sent(&s.on_text(&signin_frame(r#"{"id":"43"}"#, SECRET), 0.0));
        assert_eq!(out[0]["data"]["code"], 4009);
        assert!(message(&out[0]).contains("already signed in as user 42"));
        let again = s.on_text(&signin_frame(ud, SECRET), 0.0);
        assert_eq!(sent(&again)[0]["event"], "pusher:signin_success");
        assert!(opens(&again).is_empty());
        // The user's own channels don't count against the channel cap or client events.
        let out = sent(&s.on_text(
            r##"{"event":"client-x","channel":"#server-to-user-42","data":{}}"##,
            0.0,
        ));
        assert!(message(&out[0]).contains("not subscribed"));
    }

    #[test]
    fn signin_refusals() {
        let mut s = session();
        let out = sent(&s.on_text(&signin_frame(r#"{"id":"1"}"#, "wrong-secret"), 0.0));
        assert_eq!(out[0]["data"]["code"], 4009);
        assert!(message(&out[0]).contains(&format!("{SID}::user::")));
        let out = sent(&s.on_text(&signin_frame(r#"{"id":1}"#, SECRET), 0.0));
        assert!(message(&out[0]).contains("id must be a non-empty string"));
        // Subscribing to a user channel without signing in.
        let out = sent(&s.on_text(&subscribe_frame("#server-to-user-1", Some(""), None), 0.0));
        assert_eq!(out[1]["data"]["status"], 403);
        let many: Vec<String> = (0..101).map(|i| format!("\"u{i}\"")).collect();
        let ud = format!(r#"{{"id":"9","watchlist":[{}]}}"#, many.join(","));
        let cmds = s.on_text(&signin_frame(&ud, SECRET), 0.0);
        let out = sent(&cmds);
        assert_eq!(out[0]["event"], "pusher:signin_success");
        assert_eq!(out[1]["data"]["code"], 4302);
        let watched: usize = opens(&cmds)[1..]
            .iter()
            .map(|o| o.join.member.watchlist.len())
            .sum();
        assert_eq!(watched, 100);
    }

    #[test]
    fn silent_clients_are_pinged_then_closed_with_4201() {
        let mut s = session();
        assert!(s.on_tick(119_000.0).is_empty());
        assert_eq!(
            s.on_tick(120_000.0),
            vec![Command::Send(frames::PING.into())]
        );
        assert!(s.on_tick(140_000.0).is_empty());
        assert!(matches!(
            &s.on_tick(150_000.0)[..],
            [Command::CloseClient { code: 4201, .. }]
        ));

        // Any frame (here the pong) counts as activity and cancels the pending close.
        let mut s = session();
        s.on_tick(120_000.0);
        s.on_text(r#"{"event":"pusher:pong","data":{}}"#, 130_000.0);
        assert!(s.on_tick(200_000.0).is_empty());
        assert_eq!(
            s.on_tick(250_000.0),
            vec![Command::Send(frames::PING.into())]
        );
    }

    #[test]
    fn budgets_end_the_session_with_4200() {
        let limits = Limits {
            session_subrequest_budget: 2,
            session_cpu_budget_ms: 1,
            session_cpu_micros_per_frame: 100,
            ..Limits::default()
        };
        let mut s = SessionCore::new(SID.into(), SessionApp { limits, ..app() }, 0.0);
        open(&mut s, "a");
        open(&mut s, "b");
        assert!(matches!(
            &s.on_text(&subscribe_frame("c", None, None), 0.0)[..],
            [Command::CloseClient { code: 4200, .. }]
        ));
        // 1 ms at 100 µs a frame: the 10th frame ends it.
        let mut s = SessionCore::new(
            SID.into(),
            SessionApp {
                limits: Limits {
                    session_cpu_budget_ms: 1,
                    session_cpu_micros_per_frame: 100,
                    ..Limits::default()
                },
                ..app()
            },
            0.0,
        );
        for _ in 0..9 {
            assert!(s.on_relayed(1).is_empty());
        }
        assert!(matches!(
            &s.on_relayed(1)[..],
            [Command::CloseClient { code: 4200, .. }]
        ));
        // The close is asked for once.
        assert!(s.on_cpu_limit_signal().is_empty());
    }

    #[test]
    fn the_own_user_channel_cannot_be_unsubscribed_and_its_loss_ends_the_connection() {
        let mut s = session();
        let cmds = s.on_text(&signin_frame(r#"{"id":"42"}"#, SECRET), 5.0);
        let user = opens(&cmds).remove(0);
        assert_eq!(user.join.member.signed_in_ms, Some(5));
        assert!(s.on_channel_opened("#server-to-user-42", user.attempt));
        let unsubscribe =
            r##"{"event":"pusher:unsubscribe","data":{"channel":"#server-to-user-42"}}"##;
        assert!(
            s.on_text(unsubscribe, 0.0).is_empty(),
            "no answer, nothing closed"
        );
        let again = sent(&s.on_text(&subscribe_frame("#server-to-user-42", Some(""), None), 0.0));
        assert_eq!(again[0]["event"], "pusher_internal:subscription_succeeded");
        // A room answer that the user was terminated before the join arrived: closed as such.
        let mut s = session();
        let user = opens(&s.on_text(&signin_frame(r#"{"id":"42"}"#, SECRET), 0.0)).remove(0);
        assert!(matches!(
            &s.on_channel_failed(&user.join.channel, user.attempt, TERMINATED_STATUS, "")[..],
            [Command::CloseClient { code: 4009, .. }]
        ));
        // Any other failure: the client reconnects and signs in again.
        let mut s = session();
        let user = opens(&s.on_text(&signin_frame(r#"{"id":"42"}"#, SECRET), 0.0)).remove(0);
        assert!(matches!(
            &s.on_channel_failed(&user.join.channel, user.attempt, 500, "down")[..],
            [Command::CloseClient { code: 4200, .. }]
        ));
    }

    #[test]
    fn queued_upgrades_no_longer_wanted_are_skipped() {
        let mut s = session();
        let o = opens(&s.on_text(&subscribe_frame("c", None, None), 0.0)).remove(0);
        assert!(s.wants("c", o.attempt));
        s.on_text(
            r#"{"event":"pusher:unsubscribe","data":{"channel":"c"}}"#,
            0.0,
        );
        assert!(!s.wants("c", o.attempt));
        let again = opens(&s.on_text(&subscribe_frame("c", None, None), 0.0)).remove(0);
        assert!(!s.wants("c", o.attempt) && s.wants("c", again.attempt));
        s.on_client_closed();
        assert!(!s.wants("c", again.attempt));
    }

    #[test]
    fn subscribes_are_rate_limited_per_minute() {
        let limits = Limits {
            max_subscribes_per_minute: 2,
            ..Limits::default()
        };
        let mut s = SessionCore::new(SID.into(), SessionApp { limits, ..app() }, 0.0);
        open(&mut s, "a");
        open(&mut s, "b");
        let out = sent(&s.on_text(&subscribe_frame("c", None, None), 59_999.0));
        assert_eq!(out[0]["data"]["code"], 4301);
        assert_eq!(out[0]["channel"], "c");
        assert_eq!(out[1]["data"]["status"], 429);
        // A new minute, a new allowance.
        assert_eq!(
            opens(&s.on_text(&subscribe_frame("c", None, None), 60_000.0)).len(),
            1
        );
    }

    #[test]
    fn the_shared_cpu_signal_ends_only_sessions_near_their_own_budget() {
        let limits = Limits {
            session_cpu_budget_ms: 1,
            session_cpu_micros_per_frame: 100,
            ..Limits::default()
        };
        let mut s = SessionCore::new(SID.into(), SessionApp { limits, ..app() }, 0.0);
        assert!(
            s.on_cpu_limit_signal().is_empty(),
            "a fresh session is a bystander"
        );
        for _ in 0..5 {
            s.on_relayed(1);
        }
        assert!(matches!(
            &s.on_cpu_limit_signal()[..],
            [Command::CloseClient { code: 4200, .. }]
        ));
    }

    #[test]
    fn a_sign_in_past_the_budget_closes_the_client_once() {
        let limits = Limits {
            session_subrequest_budget: 1,
            ..Limits::default()
        };
        let mut s = SessionCore::new(SID.into(), SessionApp { limits, ..app() }, 0.0);
        open(&mut s, "a");
        let cmds = s.on_text(
            &signin_frame(r#"{"id":"1","watchlist":["2","3"]}"#, SECRET),
            0.0,
        );
        let closes = cmds
            .iter()
            .filter(|c| matches!(c, Command::CloseClient { .. }))
            .count();
        assert_eq!(closes, 1, "{cmds:?}");
    }

    #[test]
    fn every_subrequest_counts_against_the_budget() {
        let limits = Limits {
            session_subrequest_budget: 2,
            ..Limits::default()
        };
        let mut s = SessionCore::new(SID.into(), SessionApp { limits, ..app() }, 0.0);
        open(&mut s, "a");
        assert!(s.on_subrequest().is_empty(), "a leaf's upgrade");
        assert!(matches!(
            &s.on_subrequest()[..],
            [Command::CloseClient { code: 4200, .. }]
        ));
    }

    #[test]
    fn frames_too_large_by_length_get_an_error() {
        let mut s = session();
        let out = sent(&s.on_too_large(50_000, 0.0));
        assert_eq!(
            message(&out[0]),
            "Message too large: 50000 bytes or more, the maximum is 12288 bytes"
        );
        assert!(!s.is_closed());
    }
}
