//! The session core as a state machine: random sequences of client frames, binary frames,
//! clock ticks and room answers (opened, failed, dropped) against a model of which channel
//! sockets exist. Every answer must be a documented frame or close; every channel socket
//! opened must be allowed (valid name, right signature checked independently, within the
//! channel cap, never twice); room answers must match the model.

use crate::config;
use crate::gen::{self, auth, encoding, is_valid, Auth};
use crate::oracle::{self, KEY, SECRET, SID};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use pusher_edge::config::App;
use pusher_edge::edge::session_core::{Command, SessionCore};
use pusher_edge::protocol::channel_name::{validate_channel_name, ChannelKind};
use pusher_edge::protocol::client_message::{parse_client_message, ClientMessage};
use pusher_edge::protocol::json_writer::json_string;
use pusher_edge::protocol::limits::Limits;
use pusher_edge::room::directory_shards::is_directory_channel;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Action {
    /// A text frame, `ms` after the previous action.
    Text(String, u32),
    Binary(u32),
    Tick(u32),
    Relayed,
    CpuLimit,
    /// A room's answer to one of the channel sockets opened so far (old ones included).
    Opened(Index),
    Failed(Index, u16),
    Dropped(Index, u16),
}

fn action(channels: BoxedStrategy<String>) -> BoxedStrategy<Action> {
    let ms = prop_oneof![8 => 0u32..2_000, 1 => 0u32..400_000];
    prop_oneof![
        120 => (gen::client_frame(SID, channels), ms.clone()).prop_map(|(f, ms)| Action::Text(f, ms)),
        6 => ms.clone().prop_map(Action::Binary),
        12 => ms.prop_map(Action::Tick),
        6 => Just(Action::Relayed),
        1 => Just(Action::CpuLimit),
        48 => any::<Index>().prop_map(Action::Opened),
        6 => (any::<Index>(), select(vec![403u16, 404, 500, 503]))
            .prop_map(|(i, s)| Action::Failed(i, s)),
        3 => (any::<Index>(), select(vec![1000u16, 1001, 1006, 1011, 4009]))
            .prop_map(|(i, c)| Action::Dropped(i, c)),
    ]
    .boxed()
}

/// A run: app settings and actions whose frames mostly name a few channels of the run.
fn run() -> BoxedStrategy<(App, Vec<Action>)> {
    // Channels that take client events, so runs get as far as sending them up.
    let talkative = "(private-|presence-)[ab]?";
    let pool = vec(
        prop_oneof![1 => talkative.boxed(), 1 => gen::session_channel()],
        1..4,
    );
    (app(), pool)
        .prop_flat_map(|(app, pool)| {
            let channels = prop_oneof![4 => select(pool), 1 => gen::session_channel()].boxed();
            (Just(app), vec(action(channels), 1..50))
        })
        .boxed()
}

/// App settings: the defaults, or limits small enough for short runs to reach them.
fn app() -> BoxedStrategy<App> {
    let limits = prop_oneof![
        2 => Just(Limits::default()),
        1 => (
            (1usize..4, 64usize..13_000, 1u32..30, 1u32..4),
            (1usize..3, 1usize..6, 1usize..64, 1u32..3),
        )
            .prop_map(|((channels, frame, subrequests, rate), (watch, id, info, cpu))| Limits {
                max_channels_per_connection: channels,
                max_client_frame_bytes: frame,
                session_subrequest_budget: subrequests,
                max_client_events_per_second: rate,
                max_watchlist_size: watch,
                max_presence_user_id_length: id,
                max_presence_user_info_bytes: info,
                session_cpu_budget_ms: cpu,
                session_cpu_micros_per_frame: 10,
                max_presence_members: 3,
                ..Limits::default()
            }),
    ];
    (
        limits,
        proptest::bool::weighted(0.8),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(limits, client_messages, counts, user_auth)| App {
            enable_client_messages: client_messages,
            enable_subscription_count: counts,
            enable_user_authentication: user_auth,
            limits,
            ..app_defaults()
        })
        .boxed()
}

/// What the glue would have: the channel sockets the session asked for, by channel:
/// (attempt, whether the room accepted it).
struct Run {
    core: SessionCore,
    app: App,
    now: f64,
    opened: Vec<(String, u64)>,
    sockets: BTreeMap<String, (u64, bool)>,
    /// Each channel's member user id as first opened: a rejoin must carry the same.
    members: BTreeMap<String, Option<String>>,
    user: Option<String>,
    closed: bool,
    longest_input: usize,
    reach: Reach,
}

/// How often a run reached each deep path, to show the generators get past the parsers.
#[derive(Debug, Default)]
struct Reach {
    private_open: u32,
    presence_open: u32,
    auth_refused: u32,
    signed_in: u32,
    user_channel_ack: u32,
    client_event_up: u32,
    rate_limited: u32,
    watchlist_cut: u32,
    unsubscribe_close: u32,
    channel_cap: u32,
    closed_4200: u32,
}

impl Reach {
    fn add(&mut self, other: &Reach) {
        self.private_open += other.private_open;
        self.presence_open += other.presence_open;
        self.auth_refused += other.auth_refused;
        self.signed_in += other.signed_in;
        self.user_channel_ack += other.user_channel_ack;
        self.client_event_up += other.client_event_up;
        self.rate_limited += other.rate_limited;
        self.watchlist_cut += other.watchlist_cut;
        self.unsubscribe_close += other.unsubscribe_close;
        self.channel_cap += other.channel_cap;
        self.closed_4200 += other.closed_4200;
    }

    fn all_reached(&self) -> bool {
        [
            self.private_open,
            self.presence_open,
            self.auth_refused,
            self.signed_in,
            self.user_channel_ack,
            self.client_event_up,
            self.rate_limited,
            self.watchlist_cut,
            self.unsubscribe_close,
            self.channel_cap,
            self.closed_4200,
        ]
        .iter()
        .all(|&n| n > 0)
    }
}

const ERROR_CODES: [u64; 3] = [4009, 4301, 4302];
const CLOSE_CODES: [u16; 3] = [4009, 4200, 4201];
const SUBSCRIPTION_ERRORS: [&str; 4] =
    ["InvalidChannel", "AuthError", "LimitReached", "ServerError"];

impl Run {
    fn new(app: App) -> Run {
        Run {
            core: SessionCore::new(SID.into(), app.clone(), 0.0),
            app,
            now: 0.0,
            opened: Vec::new(),
            sockets: BTreeMap::new(),
            members: BTreeMap::new(),
            user: None,
            closed: false,
            longest_input: 0,
            reach: Reach::default(),
        }
    }

    fn user_channel(&self) -> Option<String> {
        self.user.as_ref().map(|u| format!("#server-to-user-{u}"))
    }

    fn pick(&self, i: &Index) -> Option<(String, u64)> {
        (!self.opened.is_empty()).then(|| i.get(&self.opened).clone())
    }

    fn step(&mut self, action: &Action) -> Result<(), TestCaseError> {
        match action {
            Action::Text(frame, ms) => {
                self.now += f64::from(*ms);
                let cmds = self.core.on_text(frame, self.now);
                self.check(cmds, Some(frame), false)
            }
            Action::Binary(ms) => {
                self.now += f64::from(*ms);
                let cmds = self.core.on_binary(self.now);
                self.check(cmds, None, false)
            }
            Action::Tick(ms) => {
                self.now += f64::from(*ms);
                let cmds = self.core.on_tick(self.now);
                for c in &cmds {
                    let ping_or_close = match c {
                        Command::Send(f) => f.contains("pusher:ping"),
                        Command::CloseClient { .. } => true,
                        _ => false,
                    };
                    prop_assert!(ping_or_close, "tick gave {:?}", c);
                }
                self.check(cmds, None, false)
            }
            Action::Relayed => {
                let cmds = self.core.on_relayed(1);
                self.check(cmds, None, false)
            }
            Action::CpuLimit => {
                let cmds = self.core.on_cpu_limit_signal();
                self.check(cmds, None, false)
            }
            Action::Opened(i) => {
                let Some((channel, attempt)) = self.pick(i) else {
                    return Ok(());
                };
                let expected = self.sockets.get(&channel) == Some(&(attempt, false));
                let kept = self.core.on_channel_opened(&channel, attempt, 1, 0, None);
                prop_assert_eq!(kept.is_some(), expected, "opened {} #{}", channel, attempt);
                if let Some(held) = kept {
                    // Only the client events held while the channel rejoined go up.
                    for cmd in &held {
                        let up = matches!(cmd, Command::SendToChannel { channel: c, .. } if *c == channel);
                        prop_assert!(up, "{:?}", cmd);
                    }
                    self.sockets.insert(channel, (attempt, true));
                }
                Ok(())
            }
            Action::Failed(i, status) => {
                let Some((channel, attempt)) = self.pick(i) else {
                    return Ok(());
                };
                let expected = self.sockets.get(&channel) == Some(&(attempt, false));
                let cmds = self.core.on_channel_failed(
                    &channel,
                    attempt,
                    *status,
                    "room unavailable",
                    0.0,
                );
                prop_assert_eq!(
                    !cmds.is_empty(),
                    expected,
                    "failed {} #{}",
                    channel,
                    attempt
                );
                if expected {
                    self.sockets.remove(&channel);
                }
                self.check(cmds, None, true)
            }
            Action::Dropped(i, code) => {
                let Some((channel, attempt)) = self.pick(i) else {
                    return Ok(());
                };
                let expected = !self.closed && self.sockets.get(&channel) == Some(&(attempt, true));
                let cmds = self.core.on_channel_closed(&channel, attempt, *code, 0.0);
                prop_assert_eq!(
                    !cmds.is_empty(),
                    expected,
                    "dropped {} #{}",
                    channel,
                    attempt
                );
                let rejoined = cmds
                    .iter()
                    .any(|c| matches!(c, Command::OpenChannel(o) if o.join.channel == channel));
                if rejoined {
                    self.sockets.remove(&channel);
                }
                self.check(cmds, None, false)
            }
        }
    }

    /// Checks one batch of commands against the model and applies it.
    fn check(
        &mut self,
        cmds: Vec<Command>,
        frame: Option<&str>,
        room_failed: bool,
    ) -> Result<(), TestCaseError> {
        if self.closed {
            prop_assert!(cmds.is_empty(), "a closed session answered {:?}", cmds);
            return Ok(());
        }
        // At most: a sign-in's success, its watchlist error, its user channel and one socket
        // per directory shard its watchlist touches.
        let most = 3 + self.app.limits.user_directory_shards as usize;
        prop_assert!(cmds.len() <= most, "{} commands", cmds.len());
        self.longest_input = self.longest_input.max(frame.map_or(0, str::len));
        let bound = 20 * self.longest_input + 2048;
        let parsed = frame.and_then(|f| parse_client_message(f).ok());
        let signed_in = frame.and_then(oracle::signed_in_user);
        let signs_in = cmds
            .iter()
            .any(|c| matches!(c, Command::Send(f) if f.contains("\"pusher:signin_success\"")));
        if signs_in && self.user.is_none() {
            self.user = signed_in.clone();
        }
        if signs_in {
            self.reach.signed_in += 1;
        }
        let unsubscribing = match &parsed {
            Some(ClientMessage::Unsubscribe { channel }) => {
                Some((channel.clone(), self.sockets.get(channel).copied()))
            }
            _ => None,
        };
        let mut close_client = false;
        for cmd in &cmds {
            match cmd {
                Command::Send(out) => {
                    prop_assert!(out.len() <= bound, "{} bytes out", out.len());
                    self.check_frame(out, parsed.as_ref(), &signed_in, room_failed)?;
                }
                Command::OpenChannel(o) => {
                    let channel = &o.join.channel;
                    prop_assert!(
                        !self.sockets.contains_key(channel),
                        "{} opened twice",
                        channel
                    );
                    prop_assert!(
                        self.opened.last().is_none_or(|(_, last)| o.attempt > *last),
                        "attempt numbers must grow"
                    );
                    prop_assert_eq!(&o.join.member.socket_id, SID);
                    prop_assert_eq!(o.join.max_members, self.app.limits.max_presence_members);
                    if o.join.rejoin.is_some() {
                        // A rejoin: a channel the session held, with the member it verified.
                        prop_assert!(frame.is_none(), "a rejoin answers no client frame");
                        prop_assert_eq!(self.members.get(channel), Some(&o.join.member.user_id));
                        self.sockets.insert(channel.clone(), (o.attempt, false));
                        self.opened.push((channel.clone(), o.attempt));
                        continue;
                    }
                    prop_assert_eq!(o.delay_ms, 0);
                    self.check_open(channel, &o.join.member.user_id, frame, &signed_in)?;
                    self.members
                        .insert(channel.clone(), o.join.member.user_id.clone());
                    let counted = self.app.enable_subscription_count
                        && !ChannelKind::of(channel).is_presence()
                        && !channel.starts_with('#');
                    prop_assert_eq!(o.join.member.count_subscriptions, counted);
                    self.sockets.insert(channel.clone(), (o.attempt, false));
                    self.opened.push((channel.clone(), o.attempt));
                    let user_channel = self.user_channel();
                    let client_channels = self
                        .sockets
                        .keys()
                        .filter(|c| !is_directory_channel(c) && Some(*c) != user_channel.as_ref())
                        .count();
                    prop_assert!(client_channels <= self.app.limits.max_channels_per_connection);
                    let kind = ChannelKind::of(channel);
                    if kind.is_presence() {
                        self.reach.presence_open += 1;
                    } else if kind.requires_auth() {
                        self.reach.private_open += 1;
                    }
                }
                Command::SendToChannel { channel, frame: up } => {
                    let Some(ClientMessage::ClientEvent { event, .. }) = &parsed else {
                        return Err(TestCaseError::fail(format!(
                            "{up} sent up without a client event"
                        )));
                    };
                    prop_assert!(self.app.enable_client_messages);
                    prop_assert_eq!(self.sockets.get(channel).map(|s| s.1), Some(true));
                    let kind = ChannelKind::of(channel);
                    prop_assert!(kind.requires_auth() && !kind.is_encrypted(), "{}", channel);
                    prop_assert!(up.len() <= bound);
                    prop_assert!(serde_json::from_str::<&RawValue>(up).is_ok(), "{}", up);
                    let sent_event = oracle::member(up, "event");
                    prop_assert_eq!(
                        sent_event.as_ref().and_then(Value::as_str),
                        Some(event.as_str())
                    );
                    self.reach.client_event_up += 1;
                }
                Command::CloseChannel { channel, lost } => {
                    prop_assert!(!lost, "an unsubscribe is a clean close");
                    prop_assert_eq!(self.sockets.get(channel).map(|s| s.1), Some(true));
                    self.sockets.remove(channel);
                }
                Command::WakeRoom { channel } => {
                    return Err(TestCaseError::fail(format!("woke {channel} while open")));
                }
                Command::CloseClient { code, .. } => {
                    prop_assert!(CLOSE_CODES.contains(code), "close code {}", code);
                    if *code == 4200 {
                        self.reach.closed_4200 += 1;
                    }
                    close_client = true;
                }
            }
        }
        if let (Some(f), Some((channel, before))) = (frame, unsubscribing) {
            if !close_client && f.len() <= self.app.limits.max_client_frame_bytes {
                // The session's own sockets (user channel, directory) are not the client's to
                // unsubscribe: ignored, with no answer, and kept.
                let own = is_directory_channel(&channel)
                    || Some(&channel) == self.user_channel().as_ref();
                let removable = !own;
                match before {
                    _ if own => {
                        prop_assert!(cmds.is_empty(), "{:?}", cmds);
                    }
                    // Opening: dropped silently, the late socket is closed on arrival.
                    Some((_, false)) if removable => {
                        prop_assert!(cmds.is_empty(), "{:?}", cmds);
                        self.sockets.remove(&channel);
                    }
                    Some((_, true)) if removable => {
                        self.reach.unsubscribe_close += 1;
                        let closes = matches!(cmds.as_slice(), [Command::CloseChannel { .. }]);
                        prop_assert!(closes, "{:?}", cmds);
                    }
                    _ => {
                        let refused = matches!(cmds.as_slice(), [Command::Send(_)]);
                        prop_assert!(refused, "{:?}", cmds);
                    }
                }
            }
        }
        if close_client {
            // As the glue does: the close is followed by on_client_closed.
            let mut closes: Vec<String> = self
                .core
                .on_client_closed(false)
                .into_iter()
                .map(|c| match c {
                    Command::CloseChannel { channel, .. } => Ok(channel),
                    Command::WakeRoom { channel } => Ok(format!("wake {channel}")),
                    other => Err(TestCaseError::fail(format!("on close: {other:?}"))),
                })
                .collect::<Result<_, _>>()?;
            closes.sort();
            // Rooms being rejoined are woken, not closed: their sockets are being opened.
            let (woken, closes): (Vec<String>, Vec<String>) =
                closes.into_iter().partition(|c| c.starts_with("wake "));
            for wake in woken {
                let channel = &wake["wake ".len()..];
                prop_assert!(!is_directory_channel(channel), "{}", wake);
                prop_assert_eq!(self.sockets.get(channel).map(|s| s.1), Some(false));
            }
            let open: Vec<String> = self
                .sockets
                .iter()
                .filter(|(_, s)| s.1)
                .map(|(c, _)| c.clone())
                .collect();
            prop_assert_eq!(closes, open);
            self.sockets.clear();
            self.closed = true;
            prop_assert!(self.core.is_closed());
        }
        Ok(())
    }

    fn check_frame(
        &mut self,
        out: &str,
        parsed: Option<&ClientMessage>,
        signed_in: &Option<String>,
        room_failed: bool,
    ) -> Result<(), TestCaseError> {
        let v: Value = serde_json::from_str(out)
            .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {out}")))?;
        let data = &v["data"];
        match v["event"].as_str().unwrap_or_default() {
            "pusher:error" => {
                let code_ok = data["code"].is_null()
                    || data["code"]
                        .as_u64()
                        .is_some_and(|c| ERROR_CODES.contains(&c));
                prop_assert!(code_ok, "{}", out);
                prop_assert!(
                    data["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{}",
                    out
                );
                match data["code"].as_u64() {
                    Some(4301) => self.reach.rate_limited += 1,
                    Some(4302) => self.reach.watchlist_cut += 1,
                    _ => {}
                }
            }
            "pusher:subscription_error" => {
                prop_assert!(v["channel"].is_string());
                let kind = data["type"].as_str().unwrap_or_default();
                prop_assert!(SUBSCRIPTION_ERRORS.contains(&kind), "{}", out);
                let status = data["status"].as_u64().unwrap_or_default();
                prop_assert!([400, 401, 403, 429, 4100, 500].contains(&status), "{}", out);
                prop_assert!(status != 500 || room_failed, "{}", out);
                prop_assert!(data["error"].is_string());
                match (kind, status) {
                    ("AuthError", 401) => self.reach.auth_refused += 1,
                    ("LimitReached", 4100) => self.reach.channel_cap += 1,
                    _ => {}
                }
            }
            "pusher:pong" => prop_assert_eq!(parsed, Some(&ClientMessage::Ping)),
            "pusher:ping" => {}
            "pusher_internal:subscription_succeeded" => {
                let channel = v["channel"].as_str().map(String::from);
                prop_assert!(
                    channel.is_some() && channel == self.user_channel(),
                    "{}",
                    out
                );
                let socket = channel.and_then(|c| self.sockets.get(&c).copied());
                prop_assert_eq!(socket.map(|s| s.1), Some(true));
                self.reach.user_channel_ack += 1;
            }
            "pusher:signin_success" => {
                prop_assert!(signed_in.is_some(), "signed in without the right signature");
                if let Some(user) = &self.user {
                    prop_assert_eq!(Some(user), signed_in.as_ref());
                }
            }
            _ => return Err(TestCaseError::fail(format!("undocumented frame {out}"))),
        }
        Ok(())
    }

    /// Whether the session may open a socket to `channel` now.
    fn check_open(
        &self,
        channel: &str,
        user_id: &Option<String>,
        frame: Option<&str>,
        signed_in: &Option<String>,
    ) -> Result<(), TestCaseError> {
        let kind = ChannelKind::of(channel);
        if is_directory_channel(channel) {
            prop_assert!(signed_in.is_some(), "directory without a sign-in");
            // The home shard's socket carries the user; watch sockets on other shards none.
            prop_assert!(user_id.is_none() || user_id == signed_in);
            return Ok(());
        }
        if kind == ChannelKind::ServerToUser {
            let user = signed_in.clone().or(self.user.clone());
            let own = user.as_ref().map(|u| format!("#server-to-user-{u}"));
            prop_assert_eq!(Some(channel), own.as_deref(), "another user's channel");
            prop_assert_eq!(user_id, &user);
            return Ok(());
        }
        let limits = &self.app.limits;
        prop_assert!(validate_channel_name(channel, limits.max_channel_name_length).is_ok());
        let frame = frame.unwrap_or_default();
        let request = oracle::subscribe_request(frame);
        prop_assert_eq!(
            request.as_ref().map(|r| r.0.as_str()),
            Some(channel),
            "{}",
            frame
        );
        if kind.requires_auth() {
            prop_assert!(
                oracle::subscribe_authorised(frame, self.user.is_some()),
                "opened without auth: {}",
                frame
            );
        }
        if kind.is_presence() {
            let id = match request.and_then(|r| r.2) {
                Some(cd) => oracle::presence_user_id(&cd),
                // The sign-in's user, without channel_data.
                None => self.user.clone(),
            };
            prop_assert_eq!(user_id, &id);
        } else {
            prop_assert_eq!(user_id, &None);
        }
        Ok(())
    }
}

fn private_channel() -> BoxedStrategy<String> {
    (
        select(vec![
            "private-",
            "private-cache-",
            "private-encrypted-",
            "private-encrypted-cache-",
            "presence-",
            "presence-cache-",
        ]),
        "[a-zA-Z0-9_=@,.;-]{1,20}",
    )
        .prop_map(|(p, b)| format!("{p}{b}"))
        .boxed()
}

proptest! {
    #![proptest_config(config(4))]

    #[test]
    fn sessions_answer_every_sequence_as_documented(
        (app, actions) in run(),
    ) {
        let mut run = Run::new(app);
        for action in &actions {
            run.step(action)?;
        }
    }
}

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn a_subscribe_opens_only_with_the_right_auth(
        channel in private_channel(),
        user in "[a-z0-9]{1,8}",
        auth in auth(),
        enc in encoding(),
    ) {
        let cd = format!(r#"{{"user_id":{},"user_info":{{"name":"n"}}}}"#, json_string(&user));
        let frame = gen::subscribe_text(SID, &channel, Some(&json_string(&cd)), &auth, enc);
        let mut core = SessionCore::new(SID.into(), app_defaults(), 0.0);
        let cmds = core.on_text(&frame, 0.0);
        let opened = cmds.iter().any(|c| matches!(c, Command::OpenChannel(_)));
        prop_assert_eq!(opened, is_valid(&auth), "{}", frame);
        if !opened {
            let refused = cmds.iter().any(|c| matches!(c,
                Command::Send(f) if f.contains("pusher:subscription_error") && f.contains("\"status\":401")));
            let too_large = frame.len() > Limits::default().max_client_frame_bytes;
            prop_assert!(refused || too_large || matches!(auth, Auth::NotAString(_)), "{:?}", cmds);
        }
    }
}

/// The generators reach every deep path of the session within 200 runs (a fixed
/// seed, so this does not flake): otherwise the fuzzing above would only test the parsers.
#[test]
fn the_generators_reach_the_deep_paths() {
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let runs = run();
    let mut reach = Reach::default();
    for _ in 0..200 {
        let (app, actions) = runs.new_tree(&mut runner).expect("a run").current();
        let mut run = Run::new(app);
        for action in &actions {
            run.step(action).expect("a documented answer");
        }
        reach.add(&run.reach);
    }
    println!("{reach:?}");
    assert!(reach.all_reached(), "{reach:?}");
}

/// The oracle's app with client messages on and default limits.
fn app_defaults() -> App {
    App {
        enable_client_messages: true,
        ..App::new("app-id", KEY, SECRET)
    }
}
