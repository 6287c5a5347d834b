//! The session's decisions, free of I/O: given what the client (or a channel room) did,
//! say what the socket glue must do. One `SessionCore` per pusher-js connection.
//!
//! This file holds the entry points and the channel sockets' lifecycle; the client's
//! messages are handled in `subscribe`, `client_event` and `signin`, and the side concerns
//! are small types of their own: `liveness`, `budget`, `rate_window`, `subscriptions`.

mod app_change;
mod budget;
mod client_event;
mod liveness;
mod protocol_version;
mod rate_window;
mod rejoin;
mod signin;
mod subscribe;
mod subscriptions;
mod upgrade_slots;

pub use protocol_version::protocol_problem;
pub use upgrade_slots::UpgradeSlots;

use crate::config::App;
use crate::protocol::auth_token::{verify_token, TokenError};
use crate::protocol::channel_name::ChannelKind;
use crate::protocol::client_message::{parse_client_message, ClientMessage};
use crate::protocol::close_codes;
use crate::protocol::frames;
use crate::protocol::limits::Limits;
use crate::room::contract::{Join, Member, PRESENCE_FULL_STATUS, TERMINATED_STATUS};
use crate::room::directory_shards::is_directory_channel;
use budget::Budget;
use liveness::{Check, Liveness};
use rate_window::RateWindow;
use rejoin::Jitter;
use std::rc::Rc;
use subscriptions::{Phase, Subscriptions};

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
    /// Close the channel's internal socket: an unsubscribe, or the client went away
    /// (`lost`: without a clean close, see `room::contract::CLIENT_LOST_CLOSE`).
    CloseChannel { channel: String, lost: bool },
    /// Close the client connection with this code; every channel socket closes with it.
    CloseClient { code: u16, reason: String },
    /// Wake the channel's room, which the session was rejoining when its client left: its new
    /// instance then reports its occupancy and settles its webhooks even if nobody comes back.
    WakeRoom { channel: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenChannel {
    /// Tells a late answer to an abandoned attempt from the current one.
    pub attempt: u64,
    /// Wait this long first (a rejoin's jitter or back-off).
    pub delay_ms: u32,
    pub join: Join,
}

pub struct SessionCore {
    socket_id: String,
    /// Shared with the isolate's cache of apps until the operators change it.
    app: Rc<App>,
    subscriptions: Subscriptions,
    /// The signed-in user's id.
    user_id: Option<String>,
    /// The `user_data` the connection signed in with (its presence member on a presence
    /// channel whose auth carries no `channel_data`; a second sign-in must repeat it).
    signin_data: Option<String>,
    /// When the connection signed in (the session's clock): a terminate of the user at or
    /// after this time closes it, even if its user channel's socket is not open yet.
    signed_in_ms: Option<u64>,
    closed: bool,
    liveness: Liveness,
    budget: Budget,
    client_events: RateWindow,
    subscribes: RateWindow,
    jitter: Jitter,
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
    /// Checks a channel or user auth token against the app's current secret, or a secret
    /// being rotated out (until its expiry); a refusal says what the current secret found.
    fn verify_auth(
        &self,
        token: Option<&str>,
        string_to_sign: &str,
        now_ms: f64,
    ) -> Result<(), TokenError> {
        let now_secs = (now_ms / 1000.0) as i64;
        self.app.verify_with_secrets(now_secs, |secret| {
            verify_token(&self.app.key, secret, token, string_to_sign)
        })
    }

    pub fn new(socket_id: String, app: impl Into<Rc<App>>, now_ms: f64) -> Self {
        let app = app.into();
        let limits = &app.limits;
        let jitter = Jitter::seeded(&socket_id);
        SessionCore {
            socket_id,
            subscriptions: Subscriptions::default(),
            user_id: None,
            signin_data: None,
            signed_in_ms: None,
            closed: false,
            liveness: Liveness::new(now_ms),
            budget: Budget::new(limits),
            client_events: RateWindow::new(1000.0, limits.max_client_events_per_second, now_ms),
            subscribes: RateWindow::new(60_000.0, limits.max_subscribes_per_minute, now_ms),
            jitter,
            app,
        }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    pub fn socket_id(&self) -> &str {
        &self.socket_id
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
        self.liveness.activity(now_ms);
        self.budget.count_frames(1);
    }

    /// Periodic check: ping a silent client, close one that does not answer with 4201.
    pub fn on_tick(&mut self, now_ms: f64) -> Vec<Command> {
        if self.closed {
            return Vec::new();
        }
        let required = self.app.enable_user_authentication;
        match self.liveness.check(now_ms, &self.app.limits, required) {
            Check::Fine => Vec::new(),
            Check::SendPing => vec![Command::Send(frames::PING.to_string())],
            Check::PongOverdue => vec![Command::CloseClient {
                code: close_codes::PONG_NOT_RECEIVED,
                reason: "Pong reply not received".into(),
            }],
            Check::Unauthorized => vec![Command::CloseClient {
                code: close_codes::UNAUTHORIZED,
                reason: "Connection not authorized within timeout".into(),
            }],
        }
    }

    /// `frames` frames were relayed from a room to the client (the relays count them in
    /// JavaScript; the glue hands over the count). Returns commands only when the session's
    /// CPU budget is spent.
    pub fn on_relayed(&mut self, frames: u64) -> Vec<Command> {
        self.budget.count_frames(frames);
        self.budget_exhausted().unwrap_or_default()
    }

    /// How many more frames the relays may forward before the CPU budget is spent: the glue
    /// gives this cap to the relays, which tell it when they reach it (the last frame spends
    /// the budget). `None`: no cap (frames are free, or the session is closed).
    pub fn relayed_frames_left(&self) -> Option<u64> {
        if self.closed {
            return None;
        }
        self.budget.frames_until_spent()
    }

    /// The runtime signalled that an invocation is close to its CPU limit. The signal is one
    /// flag for the whole Wasm instance, which every session of the isolate shares, so it may
    /// be another session's: this one ends only if its own estimate has used half its budget.
    pub fn on_cpu_limit_signal(&mut self) -> Vec<Command> {
        if self.budget.cpu_half_spent() {
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
        if !self.budget.take_subrequest() {
            return self.end_for_budget("subrequest");
        }
        Vec::new()
    }

    /// Whether `attempt` is still the wanted way to `channel`: a queued upgrade that is no
    /// longer wanted is not made.
    pub fn wants(&self, channel: &str, attempt: u64) -> bool {
        !self.closed && self.subscriptions.phase(channel) == Some(Phase::Opening(attempt))
    }

    fn budget_exhausted(&mut self) -> Option<Vec<Command>> {
        if self.closed {
            return None;
        }
        if self.budget.cpu_spent() {
            return Some(self.end_for_budget("CPU"));
        }
        None
    }

    /// Ends the session so the client reconnects on a fresh invocation with fresh budgets.
    fn end_for_budget(&mut self, which: &str) -> Vec<Command> {
        if self.closed || !self.budget.start_ending() {
            return Vec::new();
        }
        vec![Command::CloseClient {
            code: close_codes::RECONNECT_IMMEDIATELY,
            reason: format!("Session {which} budget used up; please reconnect"),
        }]
    }

    /// Counts one subrequest; ends the session instead when the budget is spent.
    fn open(&mut self, channel: String, kind: ChannelKind, mut member: Member) -> Vec<Command> {
        if !self.budget.take_subrequest() {
            return self.end_for_budget("subrequest");
        }
        let attempt = self
            .subscriptions
            .start(channel.clone(), kind, member.clone());
        member.attempt = attempt;
        let limits = &self.app.limits;
        vec![Command::OpenChannel(Box::new(OpenChannel {
            attempt,
            delay_ms: 0,
            join: Join {
                app_id: String::new(),
                channel,
                member,
                max_members: limits.max_presence_members,
                split_at: limits.channel_split_threshold,
                leaf: None,
                rejoin: None,
            },
        }))]
    }

    /// Channels the session itself opened: its user channel and the directory.
    fn is_session_channel(&self, name: &str) -> bool {
        is_directory_channel(name) || Some(name) == self.user_channel().as_deref()
    }

    /// The room accepted the internal socket (its instance's `epoch`, its `size` in
    /// subscribers, in `leaf` of a split channel). `None` when the client unsubscribed (or left) meanwhile, and the glue must
    /// close it; otherwise what to send once it is listed: the client events held while
    /// the channel rejoined.
    pub fn on_channel_opened(
        &mut self,
        channel: &str,
        attempt: u64,
        epoch: u64,
        size: u64,
        leaf: Option<u32>,
    ) -> Option<Vec<Command>> {
        let room = subscriptions::RoomSeen { epoch, size, leaf };
        let held = self.subscriptions.opened(channel, attempt, room)?;
        Some(
            held.into_iter()
                .map(|frame| Command::SendToChannel {
                    channel: channel.to_string(),
                    frame,
                })
                .collect(),
        )
    }

    /// The room could not be reached or refused the socket (`status` is its HTTP answer).
    pub fn on_channel_failed(
        &mut self,
        channel: &str,
        attempt: u64,
        status: u16,
        why: &str,
        now_ms: f64,
    ) -> Vec<Command> {
        if self.closed || self.subscriptions.phase(channel) != Some(Phase::Opening(attempt)) {
            return Vec::new();
        }
        if self.is_rejoining(channel) {
            return self.rejoin_failed(channel, status, now_ms);
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
            PRESENCE_FULL_STATUS => {
                refuse(channel, "LimitReached", why, close_codes::OVER_CAPACITY)
            }
            _ => refuse(
                channel,
                "ServerError",
                &format!("Could not subscribe to {channel}: {why} (status {status})"),
                500,
            ),
        }
    }

    /// An internal socket ended with `code`. If the session did not close it, the room
    /// dropped it: the app terminating the user's connections (close the client with that
    /// code), or anything else, a reset or deploy of the object: rejoin it, quietly.
    pub fn on_channel_closed(
        &mut self,
        channel: &str,
        attempt: u64,
        code: u16,
        now_ms: f64,
    ) -> Vec<Command> {
        if self.closed || self.subscriptions.phase(channel) != Some(Phase::Open(attempt)) {
            return Vec::new();
        }
        if code == close_codes::UNAUTHORIZED {
            return vec![self.terminated()];
        }
        self.rejoin(channel, now_ms)
    }

    fn terminated(&self) -> Command {
        Command::CloseClient {
            code: close_codes::UNAUTHORIZED,
            reason: "Connection terminated by the app".into(),
        }
    }

    /// The client connection is gone (or being closed): close every channel socket.
    /// `lost`: it went without a clean close (a presence room may keep its members for the
    /// app's grace period).
    pub fn on_client_closed(&mut self, lost: bool) -> Vec<Command> {
        self.closed = true;
        let (open, rejoining) = self.subscriptions.take_all();
        let woken = rejoining
            .into_iter()
            .filter(|channel| !is_directory_channel(channel))
            .map(|channel| Command::WakeRoom { channel });
        open.into_iter()
            .map(|channel| Command::CloseChannel { channel, lost })
            .chain(woken)
            .collect()
    }
}

#[cfg(test)]
mod tests;
