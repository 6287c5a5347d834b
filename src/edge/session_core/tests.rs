//! The session core's behaviour through its entry points, as the glue drives it.

use super::*;
use crate::protocol::auth_token::sign_token;
use crate::room::contract::Rejoin;
use crate::room::directory_shards;
use serde_json::{json, Value};

const KEY: &str = "app-key";
const SECRET: &str = "app-secret";
const SID: &str = "123.456";

/// An app with client messages on and default limits.
fn app() -> App {
    App {
        enable_client_messages: true,
        ..App::new("app-id", KEY, SECRET)
    }
}

#[test]
fn user_authentication_timeout_closes_unauthorized_connections() {
    let strict = || App {
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
            assert!(s
                .on_channel_opened(&o.join.channel, o.attempt, 1, 0, None)
                .is_some());
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
            channel: "my-channel".into(),
            lost: false,
        }]
    );
    // The close we caused is not a lost connection.
    assert!(s
        .on_channel_closed("my-channel", attempt, 1000, 0.0)
        .is_empty());
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
        App {
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
    assert!(s
        .on_channel_opened("c", first.attempt, 1, 0, None)
        .is_none());
    assert!(s
        .on_channel_opened("c", second.attempt, 1, 0, None)
        .is_some());
}

#[test]
fn failed_open_is_reported_and_can_be_retried() {
    let mut s = session();
    let o = opens(&s.on_text(&subscribe_frame("c", None, None), 0.0)).remove(0);
    let out = sent(&s.on_channel_failed("c", o.attempt, 500, "room unavailable", 0.0));
    assert_eq!(out[1]["event"], "pusher:subscription_error");
    assert_eq!(out[1]["data"]["status"], 500);
    open(&mut s, "c");
    // A refusal by the room itself (member limit) is passed on as such.
    let o = opens(&s.on_text(&subscribe_frame("d", None, None), 0.0)).remove(0);
    let out = sent(&s.on_channel_failed("d", o.attempt, 403, "Presence channel is full", 0.0));
    assert_eq!(
        out[1]["data"],
        json!({"type":"LimitReached","error":"Presence channel is full","status":4100})
    );
}

#[test]
fn a_dropped_room_socket_is_rejoined_quietly_and_terminate_closes_with_4009() {
    let mut s = session();
    let a = open(&mut s, "c");
    let d = open(&mut s, "d");
    let rejoin = opens(&s.on_channel_closed("c", a, 1006, 0.0)).remove(0);
    assert_eq!(
        rejoin.join.rejoin,
        Some(Rejoin { epoch: 1, size: 0 }),
        "the epoch it knew"
    );
    assert!(rejoin.delay_ms < 1_000 && rejoin.attempt > a);
    assert!(s
        .on_channel_opened("c", rejoin.attempt, 2, 0, None)
        .is_some());
    assert!(matches!(
        &s.on_channel_closed("d", d, close_codes::UNAUTHORIZED, 0.0)[..],
        [Command::CloseClient { code: 4009, .. }]
    ));
    let mut closes = s.on_client_closed(false);
    closes.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        closes,
        vec![
            Command::CloseChannel {
                channel: "c".into(),
                lost: false,
            },
            Command::CloseChannel {
                channel: "d".into(),
                lost: false,
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

    let ev = |ch: &str| format!(r#"{{"event":"client-typing","channel":"{ch}","data":{{"x":1}}}}"#);
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
        App {
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
    assert!(s
        .on_channel_opened(&o[1].join.channel, o[1].attempt, 1, 0, None)
        .is_some());
    let unsub = json!({"event":"pusher:unsubscribe","data":{"channel":o[1].join.channel}});
    assert!(s.on_text(&unsub.to_string(), 0.0).is_empty());
    assert!(s.wants(&o[1].join.channel, o[1].attempt) || s.is_session_channel(&o[1].join.channel));

    // pusher-js then subscribes to its user channel: acknowledged once the room is open.
    let own = subscribe_frame("#server-to-user-42", Some(""), None);
    assert!(s.on_text(&own, 0.0).is_empty());
    assert!(s
        .on_channel_opened("#server-to-user-42", o[0].attempt, 1, 0, None)
        .is_some());
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
fn a_signed_in_connection_is_its_own_presence_member() {
    let mut s = session();
    // Not signed in: an auth without channel_data is refused, saying what would do.
    let auth = sign_token(KEY, SECRET, &format!("{SID}:presence-team"));
    let out = sent(&s.on_text(&subscribe_frame("presence-team", Some(&auth), None), 0.0));
    assert!(message(&out[0]).contains("signed in first (pusher:signin)"));
    assert_eq!(out[1]["data"]["status"], 401);
    let ud = r#"{"id":"ada","user_info":{"name":"Ada"},"watchlist":["bob"]}"#;
    s.on_text(&signin_frame(ud, SECRET), 0.0);
    let o = open_ok(&mut s, &subscribe_frame("presence-team", Some(&auth), None));
    assert_eq!(o.join.member.user_id.as_deref(), Some("ada"));
    assert_eq!(
        o.join.member.user_info.as_deref(),
        Some(r#"{"name":"Ada"}"#)
    );
    assert!(o.join.member.watchlist.is_empty(), "never the watchlist");
    // The auth must still sign this channel: socket_id:channel.
    let other = sign_token(KEY, SECRET, &format!("{SID}:presence-other"));
    let out = sent(&s.on_text(&subscribe_frame("presence-team-2", Some(&other), None), 0.0));
    assert!(message(&out[0]).starts_with("Invalid signature"));
    // A second sign-in with other data is refused: the member stays the held sign-in's.
    let eve = r#"{"id":"ada","user_info":{"name":"Eve"}}"#;
    let out = sent(&s.on_text(&signin_frame(eve, SECRET), 0.0));
    assert_eq!(out[0]["data"]["code"], 4009);
    assert!(message(&out[0]).contains("reconnect to sign in with other user data"));
    let again = sent(&s.on_text(&signin_frame(ud, SECRET), 0.0));
    assert_eq!(again[0]["data"]["user_data"], ud);
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
    let mut s = SessionCore::new(SID.into(), App { limits, ..app() }, 0.0);
    open(&mut s, "a");
    open(&mut s, "b");
    assert!(matches!(
        &s.on_text(&subscribe_frame("c", None, None), 0.0)[..],
        [Command::CloseClient { code: 4200, .. }]
    ));
    // 1 ms at 100 µs a frame: the 10th frame ends it.
    let mut s = SessionCore::new(
        SID.into(),
        App {
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
fn the_relays_cap_is_the_frames_left_before_the_cpu_budget_is_spent() {
    // 1 ms at 100 µs a frame: 10 frames, whether handled from the client or relayed.
    let limits = Limits {
        session_cpu_budget_ms: 1,
        session_cpu_micros_per_frame: 100,
        ..Limits::default()
    };
    let mut s = SessionCore::new(SID.into(), App { limits, ..app() }, 0.0);
    assert_eq!(s.relayed_frames_left(), Some(10));
    s.on_text(r#"{"event":"pusher:ping","data":{}}"#, 0.0);
    assert_eq!(s.relayed_frames_left(), Some(9));
    assert!(s.on_relayed(8).is_empty());
    assert_eq!(s.relayed_frames_left(), Some(1));
    // The relays report when they reach the cap: that frame spends the budget.
    assert!(matches!(
        &s.on_relayed(1)[..],
        [Command::CloseClient { code: 4200, .. }]
    ));
    s.on_client_closed(false);
    assert_eq!(
        s.relayed_frames_left(),
        None,
        "a closed session caps nothing"
    );
    // Frames that cost nothing are never capped.
    let free = Limits {
        session_cpu_micros_per_frame: 0,
        ..Limits::default()
    };
    let s = SessionCore::new(
        SID.into(),
        App {
            limits: free,
            ..app()
        },
        0.0,
    );
    assert_eq!(s.relayed_frames_left(), None);
}

#[test]
fn the_own_user_channel_cannot_be_unsubscribed_and_its_loss_ends_the_connection() {
    let mut s = session();
    let cmds = s.on_text(&signin_frame(r#"{"id":"42"}"#, SECRET), 5.0);
    let user = opens(&cmds).remove(0);
    assert_eq!(user.join.member.signed_in_ms, Some(5));
    assert!(s
        .on_channel_opened("#server-to-user-42", user.attempt, 1, 0, None)
        .is_some());
    let unsubscribe = r##"{"event":"pusher:unsubscribe","data":{"channel":"#server-to-user-42"}}"##;
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
        &s.on_channel_failed(&user.join.channel, user.attempt, TERMINATED_STATUS, "", 0.0)[..],
        [Command::CloseClient { code: 4009, .. }]
    ));
    // Any other failure: the client reconnects and signs in again.
    let mut s = session();
    let user = opens(&s.on_text(&signin_frame(r#"{"id":"42"}"#, SECRET), 0.0)).remove(0);
    assert!(matches!(
        &s.on_channel_failed(&user.join.channel, user.attempt, 500, "down", 0.0)[..],
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
    s.on_client_closed(false);
    assert!(!s.wants("c", again.attempt));
}

#[test]
fn subscribes_are_rate_limited_per_minute() {
    let limits = Limits {
        max_subscribes_per_minute: 2,
        ..Limits::default()
    };
    let mut s = SessionCore::new(SID.into(), App { limits, ..app() }, 0.0);
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
    let mut s = SessionCore::new(SID.into(), App { limits, ..app() }, 0.0);
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
    let mut s = SessionCore::new(SID.into(), App { limits, ..app() }, 0.0);
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
    let mut s = SessionCore::new(SID.into(), App { limits, ..app() }, 0.0);
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

#[test]
fn a_rejoin_carries_what_the_session_verified_and_where_it_was() {
    let mut s = session();
    let cd = r#"{"user_id":"u1","user_info":{"n":1}}"#;
    let pauth = sign_token(KEY, SECRET, &format!("{SID}:presence-p:{cd}"));
    let cmds = s.on_text(&subscribe_frame("presence-p", Some(&pauth), Some(cd)), 0.0);
    let first = opens(&cmds).remove(0);
    assert!(s
        .on_channel_opened("presence-p", first.attempt, 77, 0, Some(3))
        .is_some());
    let rejoin = opens(&s.on_channel_closed("presence-p", first.attempt, 1006, 10.0)).remove(0);
    assert_eq!(rejoin.join.rejoin, Some(Rejoin { epoch: 77, size: 0 }));
    assert_eq!(rejoin.join.leaf, Some(3), "the same leaf");
    assert_eq!(rejoin.join.member.user_id.as_deref(), Some("u1"));
    assert_eq!(rejoin.join.member.user_info.as_deref(), Some(r#"{"n":1}"#));
    assert_eq!(rejoin.join.member.attempt, rejoin.attempt);
    assert!(s.wants("presence-p", rejoin.attempt));
    // Nothing reaches the client on the way.
    assert!(sent(
        &s.on_channel_opened("presence-p", rejoin.attempt, 78, 0, Some(3))
            .unwrap()
    )
    .is_empty());
}

#[test]
fn a_rejoin_is_tried_again_until_its_deadline_then_the_client_reconnects() {
    let mut s = session();
    let a = open(&mut s, "c");
    let mut attempt = opens(&s.on_channel_closed("c", a, 1006, 0.0))[0].attempt;
    let mut now = 0.0;
    let mut tries = 1;
    loop {
        now += 1_000.0;
        let cmds = s.on_channel_failed("c", attempt, 0, "reset", now);
        match cmds.as_slice() {
            [Command::OpenChannel(o)] => {
                assert!(o.delay_ms <= 2_000, "backs off, capped");
                attempt = o.attempt;
                tries += 1;
            }
            [Command::CloseClient { code: 4200, .. }] => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(tries, 8, "tried until 8 s had passed");
    // A room's own refusal stands: the client reconnects at once.
    let mut s = session();
    let a = open(&mut s, "c");
    let attempt = opens(&s.on_channel_closed("c", a, 1011, 0.0))[0].attempt;
    assert!(matches!(
        &s.on_channel_failed("c", attempt, 403, "full", 10.0)[..],
        [Command::CloseClient { code: 4200, .. }]
    ));
    // A terminate that came meanwhile closes it as terminated.
    let mut s = session();
    let a = open(&mut s, "c");
    let attempt = opens(&s.on_channel_closed("c", a, 1006, 0.0))[0].attempt;
    assert!(matches!(
        &s.on_channel_failed("c", attempt, TERMINATED_STATUS, "", 10.0)[..],
        [Command::CloseClient { code: 4009, .. }]
    ));
}

#[test]
fn client_events_during_a_rejoin_are_held_then_sent_or_refused_past_the_cap() {
    let mut s = session();
    let auth = sign_token(KEY, SECRET, &format!("{SID}:private-a"));
    let first = open_ok(&mut s, &subscribe_frame("private-a", Some(&auth), None));
    let rejoin = opens(&s.on_channel_closed("private-a", first.attempt, 1006, 0.0)).remove(0);
    let ev = |n: usize| format!(r#"{{"event":"client-n","channel":"private-a","data":{n}}}"#);
    // Spread out: the per-second rate limit is not what is tested here.
    for n in 0..10 {
        assert!(s.on_text(&ev(n), n as f64 * 200.0).is_empty(), "held");
    }
    let refused = sent(&s.on_text(&ev(10), 2_200.0));
    assert_eq!(refused[0]["data"]["code"], 4301);
    assert!(message(&refused[0]).contains("reconnecting"));
    let held = s
        .on_channel_opened("private-a", rejoin.attempt, 2, 0, None)
        .unwrap();
    let frames: Vec<&str> = held
        .iter()
        .map(|c| match c {
            Command::SendToChannel { channel, frame } if channel == "private-a" => frame.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(frames.len(), 10);
    assert!(frames[0].contains(r#""data":0"#) && frames[9].contains(r#""data":9"#));
    // Back to normal.
    assert!(matches!(
        &s.on_text(&ev(11), 5_000.0)[..],
        [Command::SendToChannel { .. }]
    ));
}

#[test]
fn an_unsubscribe_during_a_rejoin_leaves_its_socket_unwanted() {
    let mut s = session();
    let a = open(&mut s, "c");
    let rejoin = opens(&s.on_channel_closed("c", a, 1006, 0.0)).remove(0);
    let unsub = r#"{"event":"pusher:unsubscribe","data":{"channel":"c"}}"#;
    assert!(s.on_text(unsub, 0.0).is_empty());
    assert!(!s.wants("c", rejoin.attempt));
    assert!(s
        .on_channel_opened("c", rejoin.attempt, 2, 0, None)
        .is_none());
    // A client that went without a clean close: its sockets close as lost.
    let mut s = session();
    open(&mut s, "d");
    assert_eq!(
        s.on_client_closed(true),
        vec![Command::CloseChannel {
            channel: "d".into(),
            lost: true
        }]
    );
}
