//! libFuzzer target: a session fed newline-separated client frames (a line starting with 0x01
//! is a binary frame, 0x02 a clock tick of 100 s), every channel socket it asks for accepted.
//! Also feeds each line to the presence and sign-in data parsers. Nothing may panic; every
//! frame sent is JSON; nothing that needs a signature (which the fuzzer cannot forge) opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pusher_edge::config::App;
use pusher_edge::edge::session_core::{Command, SessionCore};
use pusher_edge::protocol::channel_name::ChannelKind;
use pusher_edge::protocol::limits::Limits;
use pusher_edge::protocol::user_data::{parse_channel_data, parse_user_data};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_channels_per_connection: 4,
        ..Limits::default()
    };
    let app = App {
        enable_client_messages: true,
        enable_subscription_count: true,
        enable_user_authentication: true,
        limits: limits.clone(),
        ..App::new("app", "key", "secret")
    };
    let mut core = SessionCore::new("1.2".into(), app, 0.0);
    let mut now = 0.0;
    for line in data.split(|&b| b == b'\n') {
        now += 10.0;
        let cmds = match line.first() {
            Some(0x01) => core.on_binary(now),
            Some(0x02) => {
                now += 100_000.0;
                core.on_tick(now)
            }
            _ => {
                let text = String::from_utf8_lossy(line);
                let _ = parse_channel_data(&text, &limits);
                let _ = parse_user_data(&text, &limits);
                core.on_text(&text, now)
            }
        };
        for cmd in cmds {
            match cmd {
                Command::Send(frame) => {
                    let v: serde_json::Value = serde_json::from_str(&frame).expect("JSON frame");
                    assert!(v["event"].is_string(), "{frame}");
                }
                Command::OpenChannel(o) => {
                    let channel = &o.join.channel;
                    let kind = ChannelKind::of(channel);
                    assert!(
                        !kind.requires_auth() && kind != ChannelKind::ServerToUser,
                        "opened {channel} without a signature"
                    );
                    assert!(core.on_channel_opened(channel, o.attempt));
                }
                Command::CloseClient { code, .. } => {
                    assert!([4009, 4200, 4201].contains(&code), "close {code}");
                    core.on_client_closed();
                }
                Command::SendToChannel { .. } | Command::CloseChannel { .. } => {}
            }
        }
    }
});
