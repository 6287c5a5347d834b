//! The session's decisions, free of I/O: given what the client (or a channel room) did,
//! say what the socket glue must do. One `SessionCore` per pusher-js connection.

use crate::protocol::auth_token::{channel_string_to_sign, verify_token};
use crate::protocol::channel_name::{validate_channel_name, ChannelKind};
use crate::protocol::client_message::{parse_client_message, ClientMessage, Subscribe};
use crate::protocol::close_codes;
use crate::protocol::frames;
use crate::protocol::limits::Limits;
use crate::room::member::Member;
use std::collections::BTreeMap;

/// What the glue must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send this frame to the client.
    Send(String),
    /// Open the channel room's internal socket for this member.
    OpenChannel(OpenChannel),
    /// Close the channel's internal socket (unsubscribe).
    CloseChannel { channel: String },
    /// Close the client connection with this code; every channel socket closes with it.
    CloseClient { code: u16, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenChannel {
    pub channel: String,
    /// Tells a late answer to an abandoned attempt from the current one.
    pub attempt: u64,
    pub member: Member,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subscription {
    Opening(u64),
    Open(u64),
}

/// The app credentials and limits a session needs.
#[derive(Debug, Clone)]
pub struct SessionApp {
    pub key: String,
    pub secret: String,
    pub limits: Limits,
}

pub struct SessionCore {
    socket_id: String,
    app: SessionApp,
    subscriptions: BTreeMap<String, Subscription>,
    next_attempt: u64,
    closed: bool,
}

fn error(message: &str) -> Command {
    Command::Send(frames::error(None, message, None))
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
    pub fn new(socket_id: String, app: SessionApp) -> Self {
        SessionCore {
            socket_id,
            app,
            subscriptions: BTreeMap::new(),
            next_attempt: 0,
            closed: false,
        }
    }

    pub fn socket_id(&self) -> &str {
        &self.socket_id
    }

    /// A text frame from the client.
    pub fn on_text(&mut self, text: &str) -> Vec<Command> {
        if self.closed {
            return Vec::new();
        }
        let max = self.app.limits.max_client_frame_bytes;
        if text.len() > max {
            return vec![error(&format!(
                "Message too large: {} bytes, the maximum is {max} bytes",
                text.len()
            ))];
        }
        match parse_client_message(text) {
            Err(e) => vec![error(&e.to_string())],
            Ok(ClientMessage::Ping) => vec![Command::Send(frames::PONG.to_string())],
            Ok(ClientMessage::Pong) => Vec::new(),
            Ok(ClientMessage::Subscribe(s)) => self.subscribe(s),
            Ok(ClientMessage::Unsubscribe { channel }) => self.unsubscribe(&channel),
            Ok(ClientMessage::ClientEvent { .. }) => vec![Command::Send(frames::error(
                Some(close_codes::CLIENT_EVENT_RATE_LIMIT),
                "The app does not have client messaging enabled",
                None,
            ))],
            Ok(ClientMessage::Signin { .. }) => {
                vec![error(
                    "User authentication (pusher:signin) is not available on this server yet",
                )]
            }
            Ok(ClientMessage::Unknown { event }) => {
                vec![error(&format!("Unsupported event received: {event}"))]
            }
        }
    }

    /// A binary frame from the client: the protocol is text only.
    pub fn on_binary(&mut self) -> Vec<Command> {
        if self.closed {
            return Vec::new();
        }
        vec![error(
            "Binary frames are not supported: send JSON in text frames",
        )]
    }

    fn subscribe(&mut self, s: Subscribe) -> Vec<Command> {
        let channel = s.channel;
        let kind = match validate_channel_name(&channel, self.app.limits.max_channel_name_length) {
            Ok(kind) => kind,
            Err(e) => {
                let message = format!("Invalid channel name '{channel}': {e}");
                return refuse(&channel, "InvalidChannel", &message, 400);
            }
        };
        if self.subscriptions.contains_key(&channel) {
            return vec![error(&format!(
                "Existing subscription to channel {channel}"
            ))];
        }
        if kind == ChannelKind::ServerToUser {
            return refuse(
                &channel,
                "AuthError",
                "Subscribing to a #server-to-user- channel requires pusher:signin first",
                401,
            );
        }
        if kind.is_presence() {
            return refuse(
                &channel,
                "ServerError",
                "Presence channels are not available on this server yet",
                501,
            );
        }
        if kind.requires_auth() {
            let string_to_sign = channel_string_to_sign(&self.socket_id, &channel, None);
            if let Err(e) = verify_token(
                &self.app.key,
                &self.app.secret,
                s.auth.as_deref(),
                &string_to_sign,
            ) {
                return refuse(&channel, "AuthError", &e.to_string(), 401);
            }
        }
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        self.subscriptions
            .insert(channel.clone(), Subscription::Opening(attempt));
        vec![Command::OpenChannel(OpenChannel {
            channel,
            attempt,
            member: Member {
                socket_id: self.socket_id.clone(),
            },
        })]
    }

    fn unsubscribe(&mut self, channel: &str) -> Vec<Command> {
        match self.subscriptions.remove(channel) {
            Some(Subscription::Open(_)) => vec![Command::CloseChannel {
                channel: channel.to_string(),
            }],
            // The socket is still being opened; it is closed as soon as it arrives.
            Some(Subscription::Opening(_)) => Vec::new(),
            None => vec![error(&format!(
                "No current subscription to channel {channel}, or subscription in progress"
            ))],
        }
    }

    /// The room accepted the internal socket. Returns whether to keep it: `false` when the
    /// client unsubscribed (or left) meanwhile, and the glue must close it.
    pub fn on_channel_opened(&mut self, channel: &str, attempt: u64) -> bool {
        match self.subscriptions.get_mut(channel) {
            Some(sub) if *sub == Subscription::Opening(attempt) => {
                *sub = Subscription::Open(attempt);
                true
            }
            _ => false,
        }
    }

    /// The room could not be reached or refused the socket.
    pub fn on_channel_failed(&mut self, channel: &str, attempt: u64, why: &str) -> Vec<Command> {
        if self.subscriptions.get(channel) != Some(&Subscription::Opening(attempt)) {
            return Vec::new();
        }
        self.subscriptions.remove(channel);
        refuse(
            channel,
            "ServerError",
            &format!("Could not subscribe to {channel}: {why}"),
            500,
        )
    }

    /// An internal socket ended. If the session did not close it, the room dropped it (a
    /// restart or deploy): close the client with 4200 so pusher-js reconnects and resubscribes.
    pub fn on_channel_closed(&mut self, channel: &str, attempt: u64) -> Vec<Command> {
        if self.closed || self.subscriptions.get(channel) != Some(&Subscription::Open(attempt)) {
            return Vec::new();
        }
        vec![Command::CloseClient {
            code: close_codes::RECONNECT_IMMEDIATELY,
            reason: format!("Lost the connection to channel {channel}; please reconnect"),
        }]
    }

    /// The client connection is gone (or being closed): close every channel socket.
    pub fn on_client_closed(&mut self) -> Vec<Command> {
        self.closed = true;
        std::mem::take(&mut self.subscriptions)
            .into_iter()
            .filter(|(_, sub)| matches!(sub, Subscription::Open(_)))
            .map(|(channel, _)| Command::CloseChannel { channel })
            .collect()
    }

    pub fn is_closed(&self) -> bool {
        self.closed
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
    use serde_json::Value;

    const KEY: &str = "app-key";
    const SECRET: &str = "app-secret";

    fn session() -> SessionCore {
        SessionCore::new(
            "123.456".into(),
            SessionApp {
                key: KEY.into(),
                secret: SECRET.into(),
                limits: Limits::default(),
            },
        )
    }

    fn sent(cmds: &[Command]) -> Vec<Value> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::Send(s) => Some(serde_json::from_str(s).unwrap()),
                _ => None,
            })
            .collect()
    }

    fn subscribe_frame(channel: &str, auth: Option<&str>) -> String {
        match auth {
            Some(a) => format!(
                r#"{{"event":"pusher:subscribe","data":{{"channel":"{channel}","auth":"{a}"}}}}"#
            ),
            None => format!(r#"{{"event":"pusher:subscribe","data":{{"channel":"{channel}"}}}}"#),
        }
    }

    fn open(s: &mut SessionCore, channel: &str, auth: Option<&str>) -> u64 {
        let cmds = s.on_text(&subscribe_frame(channel, auth));
        match cmds.as_slice() {
            [Command::OpenChannel(o)] => {
                assert_eq!(o.channel, channel);
                assert_eq!(o.member.socket_id, "123.456");
                assert!(s.on_channel_opened(channel, o.attempt));
                o.attempt
            }
            other => panic!("expected OpenChannel, got {other:?}"),
        }
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
            s.on_text(r#"{"event":"pusher:ping","data":{}}"#),
            vec![Command::Send(frames::PONG.into())]
        );
        assert!(s.on_text(r#"{"event":"pusher:pong","data":{}}"#).is_empty());
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
            let out = sent(&s.on_text(frame));
            assert_eq!(out.len(), 1);
            assert_eq!(out[0]["event"], "pusher:error");
            assert!(
                out[0]["data"]["message"].as_str().unwrap().contains(needle),
                "{frame}"
            );
        }
        let out = sent(&s.on_binary());
        assert!(out[0]["data"]["message"]
            .as_str()
            .unwrap()
            .contains("Binary frames"));
        let big = format!(
            r#"{{"event":"client-x","channel":"a","data":"{}"}}"#,
            "x".repeat(20_000)
        );
        let out = sent(&s.on_text(&big));
        assert!(out[0]["data"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Message too large"));
    }

    #[test]
    fn public_subscribe_double_subscribe_and_unsubscribe() {
        let mut s = session();
        let attempt = open(&mut s, "my-channel", Some(""));
        let out = sent(&s.on_text(&subscribe_frame("my-channel", None)));
        assert_eq!(
            out[0]["data"]["message"],
            "Existing subscription to channel my-channel"
        );
        assert_eq!(
            s.on_text(r#"{"event":"pusher:unsubscribe","data":{"channel":"my-channel"}}"#),
            vec![Command::CloseChannel {
                channel: "my-channel".into()
            }]
        );
        // The close we caused is not a lost connection.
        assert!(s.on_channel_closed("my-channel", attempt).is_empty());
        let out =
            sent(&s.on_text(r#"{"event":"pusher:unsubscribe","data":{"channel":"my-channel"}}"#));
        assert_eq!(
            out[0]["data"]["message"],
            "No current subscription to channel my-channel, or subscription in progress"
        );
    }

    #[test]
    fn invalid_channel_names_are_refused_on_the_channel() {
        let mut s = session();
        let out = sent(&s.on_text(&subscribe_frame("bad channel", None)));
        assert_eq!(out[0]["event"], "pusher:error");
        assert_eq!(out[1]["event"], "pusher:subscription_error");
        assert_eq!(out[1]["channel"], "bad channel");
        assert_eq!(out[1]["data"]["status"], 400);
        let long = "a".repeat(201);
        let out = sent(&s.on_text(&subscribe_frame(&long, None)));
        assert!(out[0]["data"]["message"]
            .as_str()
            .unwrap()
            .contains("201 characters"));
    }

    #[test]
    fn private_channels_need_a_valid_signature() {
        let mut s = session();
        let good = sign_token(KEY, SECRET, "123.456:private-a");
        open(&mut s, "private-a", Some(&good));
        for channel in ["private-b", "private-cache-b", "private-encrypted-b"] {
            let out = sent(&s.on_text(&subscribe_frame(channel, Some(&good))));
            let message = out[0]["data"]["message"].as_str().unwrap();
            assert!(
                message.starts_with(&format!(
                    "Invalid signature: Expected HMAC SHA256 hex digest of 123.456:{channel}, but got "
                )),
                "{message}"
            );
            assert_eq!(out[1]["data"]["type"], "AuthError");
            assert_eq!(out[1]["data"]["status"], 401);
        }
        let out = sent(&s.on_text(&subscribe_frame("private-c", None)));
        assert_eq!(out[0]["data"]["message"], "Missing auth signature");
        let out = sent(&s.on_text(&subscribe_frame("private-c", Some("wrong:abc"))));
        assert_eq!(
            out[0]["data"]["message"],
            "Invalid key in subscription auth data: 'wrong'"
        );
    }

    #[test]
    fn unsubscribe_while_opening_discards_the_late_socket() {
        let mut s = session();
        let cmds = s.on_text(&subscribe_frame("c", None));
        let Command::OpenChannel(first) = &cmds[0] else {
            panic!()
        };
        assert!(s
            .on_text(r#"{"event":"pusher:unsubscribe","data":{"channel":"c"}}"#)
            .is_empty());
        // Subscribing again starts a new attempt; the first one's socket is not kept.
        let cmds = s.on_text(&subscribe_frame("c", None));
        let Command::OpenChannel(second) = &cmds[0] else {
            panic!()
        };
        assert!(!s.on_channel_opened("c", first.attempt));
        assert!(s.on_channel_opened("c", second.attempt));
    }

    #[test]
    fn failed_open_is_reported_and_can_be_retried() {
        let mut s = session();
        let cmds = s.on_text(&subscribe_frame("c", None));
        let Command::OpenChannel(o) = &cmds[0] else {
            panic!()
        };
        let out = sent(&s.on_channel_failed("c", o.attempt, "room unavailable"));
        assert_eq!(out[1]["event"], "pusher:subscription_error");
        assert_eq!(out[1]["data"]["status"], 500);
        open(&mut s, "c", None);
    }

    #[test]
    fn a_dropped_room_socket_closes_the_client_with_4200() {
        let mut s = session();
        let a = open(&mut s, "c", None);
        open(&mut s, "d", None);
        let cmds = s.on_channel_closed("c", a);
        assert!(matches!(
            &cmds[..],
            [Command::CloseClient { code: 4200, .. }]
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
        assert!(s.on_text(r#"{"event":"pusher:ping","data":{}}"#).is_empty());
    }

    #[test]
    fn features_of_later_issues_answer_clearly() {
        let mut s = session();
        let out = sent(&s.on_text(&subscribe_frame("presence-room", Some("x:y"))));
        assert_eq!(out[1]["event"], "pusher:subscription_error");
        let out = sent(&s.on_text(&subscribe_frame("#server-to-user-1", Some(""))));
        assert_eq!(out[1]["data"]["status"], 401);
        let out = sent(&s.on_text(r#"{"event":"client-x","channel":"private-a","data":{}}"#));
        assert_eq!(out[0]["data"]["code"], 4301);
    }
}
