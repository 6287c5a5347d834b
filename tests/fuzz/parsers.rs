//! The protocol core's parsers: client frames, channel names, presence and sign-in data,
//! REST trigger bodies, query strings and the small helpers around them. None may panic;
//! what they accept must be within the limits; what they refuse gets a bounded message.

use crate::config;
use crate::gen::{self, apply, channel_name, edit, json_text, weird_string};
use crate::oracle::{self, SID};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use pusher_edge::edge::session_core::protocol_problem;
use pusher_edge::protocol::channel_info::InfoAttrs;
use pusher_edge::protocol::channel_name::{validate_channel_name, ChannelKind};
use pusher_edge::protocol::client_message::{parse_client_message, ClientMessage, ParseError};
use pusher_edge::protocol::frames;
use pusher_edge::protocol::json_writer::json_string;
use pusher_edge::protocol::limits::Limits;
use pusher_edge::protocol::query::{percent_decode, QueryParams};
use pusher_edge::protocol::rest_error::RestError;
use pusher_edge::protocol::socket_id::is_valid_socket_id;
use pusher_edge::protocol::timestamp::iso8601_utc;
use pusher_edge::protocol::trigger::{parse_batch, parse_trigger, Trigger};
use pusher_edge::protocol::user_data::{parse_channel_data, parse_user_data};
use serde_json::value::RawValue;

const SERVER_TO_USER: &str = "#server-to-user-";

fn is_json(text: &str) -> bool {
    serde_json::from_str::<&RawValue>(text).is_ok()
}

/// Limits at their defaults or small, so short inputs reach the limit checks.
fn limits() -> BoxedStrategy<Limits> {
    prop_oneof![
        Just(Limits::default()),
        (
            1usize..40,
            1usize..8,
            1usize..64,
            1usize..4,
            1usize..12,
            1usize..40
        )
            .prop_map(|(name, id, info, watch, channels, event)| Limits {
                max_channel_name_length: name,
                max_presence_user_id_length: id,
                max_presence_user_info_bytes: info,
                max_watchlist_size: watch,
                max_channels_per_trigger: channels,
                max_batch_size: channels,
                max_event_name_length: event,
                max_event_payload_bytes: info,
                ..Limits::default()
            }),
    ]
    .boxed()
}

fn allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-=@,.;".contains(c)
}

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn client_frames_parse_or_get_a_bounded_error(frame in gen::client_frame(SID, channel_name())) {
        match parse_client_message(&frame) {
            Err(e) => {
                let message = e.to_string();
                let prefix_ok = match &e {
                    ParseError::Malformed(_) => message.starts_with("Invalid message format: "),
                    ParseError::InvalidData { .. } => message.starts_with("Invalid data for "),
                };
                prop_assert!(prefix_ok, "{}", message);
                prop_assert!(message.len() <= frame.len() + 100, "{} bytes", message.len());
            }
            Ok(ClientMessage::Subscribe(s)) => {
                let read = oracle::subscribe_request(&frame);
                prop_assert_eq!(read, Some((s.channel, s.auth, s.channel_data)));
            }
            Ok(ClientMessage::ClientEvent { event, data, .. }) => {
                prop_assert!(event.starts_with("client-"));
                if let Some(d) = data {
                    prop_assert!(is_json(&d), "forwarded data is not JSON: {:?}", d);
                }
            }
            Ok(_) => {}
        }
    }

    #[test]
    fn channel_names_are_valid_exactly_when_allowed(
        name in prop_oneof![3 => channel_name(), 1 => weird_string()],
        max in prop_oneof![Just(200usize), 1usize..300],
    ) {
        match validate_channel_name(&name, max) {
            Ok(kind) => {
                prop_assert!(!name.is_empty() && name.chars().count() <= max);
                prop_assert_eq!(kind, ChannelKind::of(&name));
                let rest = match name.strip_prefix(SERVER_TO_USER) {
                    Some(user) => {
                        prop_assert!(!user.is_empty());
                        user
                    }
                    None => name.as_str(),
                };
                prop_assert!(rest.chars().all(allowed_char), "{:?}", name);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn names_of_allowed_characters_are_accepted(
        name in "[A-Za-z0-9_=@,.;-]{1,250}",
        max in 1usize..300,
    ) {
        prop_assert_eq!(validate_channel_name(&name, max).is_ok(), name.chars().count() <= max);
    }

    #[test]
    fn presence_channel_data_within_limits(
        raw in gen::presence_data(),
        e in edit(),
        limits in limits(),
    ) {
        let raw = apply(&raw, &e);
        if let Ok(member) = parse_channel_data(&raw, &limits) {
            prop_assert!(!member.user_id.is_empty());
            prop_assert!(member.user_id.chars().count() <= limits.max_presence_user_id_length);
            let expected = oracle::presence_user_id(&raw);
            prop_assert_eq!(Some(&member.user_id), expected.as_ref());
            if let Some(info) = &member.user_info {
                prop_assert!(info.len() <= limits.max_presence_user_info_bytes);
                prop_assert!(info != "null" && is_json(info), "{:?}", info);
            }
        }
    }

    #[test]
    fn signin_user_data_within_limits(
        raw in gen::user_data(),
        e in edit(),
        limits in limits(),
    ) {
        let raw = apply(&raw, &e);
        if let Ok(user) = parse_user_data(&raw, &limits) {
            let channel = format!("{SERVER_TO_USER}{}", user.id);
            prop_assert!(validate_channel_name(&channel, limits.max_channel_name_length).is_ok());
            prop_assert!(user.watchlist.len() <= limits.max_watchlist_size);
            prop_assert!(user.watchlist.iter().all(|id| !id.is_empty()));
            let given = oracle::member(&raw, "watchlist")
                .and_then(|w| w.as_array().map(Vec::len))
                .unwrap_or(0);
            prop_assert_eq!(user.watchlist_truncated, given > limits.max_watchlist_size);
        }
    }

    #[test]
    fn trigger_bodies_are_checked(body in trigger_body(), limits in limits()) {
        match parse_trigger(&body, &limits) {
            Ok(t) => check_trigger(&t, &limits)?,
            Err(e) => check_refusal(&e, body.len())?,
        }
    }

    #[test]
    fn batch_bodies_are_checked(body in batch_body(), limits in limits()) {
        match parse_batch(&body, &limits) {
            Ok(batch) => {
                prop_assert!(batch.len() <= limits.max_batch_size);
                for t in &batch {
                    check_trigger(t, &limits)?;
                    prop_assert_eq!(t.channels.len(), 1);
                }
            }
            Err(e) => check_refusal(&e, body.len())?,
        }
    }

    #[test]
    fn percent_decoding_is_total_and_bounded(s in prop_oneof![
        weird_string(),
        "(%[0-9a-fA-FgG%]{0,3}|\\+|[a-z&=])*",
    ]) {
        let out = percent_decode(&s);
        prop_assert!(out.len() <= 3 * s.len());
        if !s.contains(['%', '+']) {
            prop_assert_eq!(&out, &s);
        }
        let params = QueryParams::parse(&s);
        prop_assert!(params.0.len() <= s.matches('&').count() + 1);
    }

    #[test]
    fn percent_encoding_round_trips(s in weird_string()) {
        prop_assert_eq!(percent_decode(&percent_encode(&s)), s);
    }

    #[test]
    fn the_json_writer_escapes_as_serde_json_and_frames_parse_back(
        s in prop_oneof![weird_string(), any::<String>()],
        channel in channel_name(),
        user in prop_oneof![Just(None), weird_string().prop_map(Some)],
    ) {
        prop_assert_eq!(json_string(&s), serde_json::to_string(&s).unwrap());
        let event: serde_json::Value =
            serde_json::from_str(&frames::channel_event(&s, &channel, &s)).unwrap();
        prop_assert_eq!(event, serde_json::json!({"event": s, "channel": channel, "data": s}));
        let data = serde_json::to_string(&s).unwrap();
        let client: serde_json::Value = serde_json::from_str(&frames::client_event(
            "client-x", &channel, Some(&data), user.as_deref(),
        )).unwrap();
        let mut expected = serde_json::json!({"event": "client-x", "channel": channel, "data": s});
        if let Some(user) = &user {
            expected["user_id"] = serde_json::json!(user);
        }
        prop_assert_eq!(client, expected);
    }

    #[test]
    fn info_attributes_parse_or_get_400(list in prop_oneof![
        vec(select(vec!["user_count", "subscription_count", "cache", " ", "", "members"]), 0..5)
            .prop_map(|v| v.join(",")),
        weird_string(),
    ], allow_cache in any::<bool>()) {
        match InfoAttrs::parse(&list, allow_cache) {
            Ok(attrs) => prop_assert!(allow_cache || !attrs.cache),
            Err(e) => prop_assert_eq!(e.status, 400),
        }
    }

    #[test]
    fn small_helpers_are_total(s in weird_string(), n in any::<i64>()) {
        match protocol_problem(Some(&s)) {
            Some((code, _)) => prop_assert!(code == 4006 || code == 4007),
            None => prop_assert!(s.parse::<u32>().is_ok_and(|v| (4..=7).contains(&v))),
        }
        let reason = frames::close_reason(&s);
        prop_assert!(reason.len() <= 123 && s.starts_with(reason));
        prop_assert!(iso8601_utc(n).ends_with('Z'));
        let parts: Vec<&str> = s.split('.').collect();
        let digits = parts.len() == 2
            && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        prop_assert_eq!(is_valid_socket_id(&s), digits);
    }
}

/// Every byte but RFC 3986's unreserved ones as `%XX`.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn check_trigger(t: &Trigger, limits: &Limits) -> Result<(), TestCaseError> {
    prop_assert!(!t.name.is_empty() && t.name.chars().count() <= limits.max_event_name_length);
    prop_assert!(t.data.len() <= limits.max_event_payload_bytes);
    prop_assert!(!t.channels.is_empty() && t.channels.len() <= limits.max_channels_per_trigger);
    for (i, c) in t.channels.iter().enumerate() {
        prop_assert!(validate_channel_name(c, limits.max_channel_name_length).is_ok());
        prop_assert!(!t.channels[..i].contains(c), "duplicate {:?}", c);
    }
    if let Some(id) = &t.socket_id {
        prop_assert!(is_valid_socket_id(id));
    }
    Ok(())
}

fn check_refusal(e: &RestError, body_len: usize) -> Result<(), TestCaseError> {
    prop_assert!(e.status == 400 || e.status == 413, "status {}", e.status);
    prop_assert!(!e.message.is_empty());
    prop_assert!(
        e.message.len() <= 10 * body_len + 300,
        "{} bytes",
        e.message.len()
    );
    Ok(())
}

/// A member of a trigger object: a plausible value or anything.
fn member(plausible: BoxedStrategy<String>) -> BoxedStrategy<Option<String>> {
    prop_oneof![
        4 => plausible.prop_map(Some),
        1 => json_text().prop_map(Some),
        1 => Just(None),
    ]
    .boxed()
}

/// One trigger object: `name`, `data`, `channel`/`channels`, `socket_id`, `info`.
fn trigger_object() -> BoxedStrategy<String> {
    let name = "[a-z-]{0,8}|e{195,205}"
        .prop_map(|s| json_string(&s))
        .boxed();
    let data = prop_oneof![
        4 => weird_string(),
        1 => select(vec![10_239usize, 10_240, 10_241]).prop_map(|n| "d".repeat(n)),
    ]
    .prop_map(|s| json_string(&s))
    .boxed();
    let channel = channel_name().prop_map(|c| json_string(&c)).boxed();
    let channels = prop_oneof![
        4 => vec(channel_name(), 0..4),
        1 => (95usize..105).prop_map(|n| (0..n).map(|i| format!("c{i}")).collect()),
    ]
    .prop_map(|list| {
        let items: Vec<String> = list.iter().map(|c| json_string(c)).collect();
        format!("[{}]", items.join(","))
    })
    .boxed();
    let socket_id = "[0-9]{1,3}\\.[0-9]{1,3}|[0-9.a]{0,4}"
        .prop_map(|s| json_string(&s))
        .boxed();
    let info = "(user_count|subscription_count|cache|x|,){0,3}"
        .prop_map(|s| json_string(&s))
        .boxed();
    (
        member(name),
        member(data),
        member(channel),
        member(channels),
        member(socket_id),
        member(info),
    )
        .prop_map(|(name, data, channel, channels, socket_id, info)| {
            let fields: Vec<String> = [
                ("name", name),
                ("data", data),
                ("channel", channel),
                ("channels", channels),
                ("socket_id", socket_id),
                ("info", info),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("\"{k}\":{v}")))
            .collect();
            format!("{{{}}}", fields.join(","))
        })
        .boxed()
}

fn trigger_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        6 => (trigger_object(), edit()).prop_map(|(t, e)| apply(&t, &e).into_bytes()),
        1 => json_text().prop_map(String::into_bytes),
        1 => gen::bytes(),
    ]
    .boxed()
}

fn batch_body() -> BoxedStrategy<Vec<u8>> {
    let items = prop_oneof![
        6 => vec(trigger_object(), 0..4),
        // Around the batch size limit.
        1 => (9usize..12).prop_map(|n| {
            vec![r#"{"name":"e","channel":"c","data":"x"}"#.to_string(); n]
        }),
        1 => vec(json_text(), 0..4),
    ];
    prop_oneof![
        6 => (items, edit()).prop_map(|(items, e)| {
            apply(&format!(r#"{{"batch":[{}]}}"#, items.join(",")), &e).into_bytes()
        }),
        1 => json_text().prop_map(String::into_bytes),
        1 => gen::bytes(),
    ]
    .boxed()
}
