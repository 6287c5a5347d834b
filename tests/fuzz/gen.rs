//! Input generators: random text and bytes, and near-valid Pusher frames, bodies and names
//! (valid JSON with wrong types, huge numbers, deep nesting, unicode, strings at the limits,
//! signatures that are right or off by one detail), plus a last random edit of the result.

use crate::oracle::{channel_data_as_signed, token, SECRET};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use pusher_edge::protocol::json_writer::json_string;

/// Lengths at which the default limits switch (128 id chars, 200 name chars, 1 KiB user
/// info, 10 KiB event data, 12 KiB client frame).
const EDGE_LENGTHS: [usize; 15] = [
    0, 1, 127, 128, 129, 199, 200, 201, 1023, 1024, 1025, 10_239, 10_240, 10_241, 12_289,
];

/// Any text, biased to what parsers trip on: control characters, quotes, backslashes,
/// multi-byte and combining characters, byte-order marks, and strings at the limits.
pub fn weird_string() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        3 => "[a-z0-9_=@,.;#:-]{0,12}",
        1 => "[\\x00-\\x1f\"\\\\/\\x7f]{0,6}",
        1 => (
            select(vec!["é", "日本", "🦀", "\u{202e}", "\u{0}", "\u{feff}", "\u{fffd}", "a\u{301}", "\\u0000"]),
            1..40usize
        )
            .prop_map(|(s, n)| s.repeat(n)),
        1 => (select(EDGE_LENGTHS.to_vec()), select(vec!['a', 'é', '🦀', '"', '\\', '\u{1}']))
            .prop_map(|(n, c)| c.to_string().repeat(n)),
    ]
    .boxed()
}

/// Random bytes, not necessarily UTF-8.
pub fn bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..64),
        // UTF-8 lead bytes without their continuation, overlong forms, surrogates.
        vec(
            select(vec![
                0xc3u8, 0xa9, 0xed, 0xa0, 0x80, 0xff, 0xfe, 0xc0, b'{', b'"', b'}'
            ]),
            0..16
        ),
    ]
    .boxed()
}

pub fn json_number() -> BoxedStrategy<String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        select(vec![
            "1e400",
            "-1e400",
            "1.5e-400",
            "-0",
            "0e0",
            "18446744073709551616",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "1E+2",
            "0.0000000000000000000000000001",
        ])
        .prop_map(String::from),
        // Not JSON numbers at all.
        select(vec!["NaN", "Infinity", "-", "01", "1.", "+1", ".5", "0x10"]).prop_map(String::from),
    ]
    .boxed()
}

const KNOWN_KEYS: [&str; 16] = [
    "event",
    "data",
    "channel",
    "auth",
    "channel_data",
    "user_id",
    "user_info",
    "id",
    "watchlist",
    "name",
    "channels",
    "socket_id",
    "info",
    "batch",
    "user_data",
    "",
];

pub fn json_key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(KNOWN_KEYS.to_vec()).prop_map(json_string),
        1 => weird_string().prop_map(|s| json_string(&s)),
    ]
    .boxed()
}

fn object(fields: Vec<(String, String)>) -> String {
    let body: Vec<String> = fields
        .into_iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    format!("{{{}}}", body.join(","))
}

fn deep(depth: usize, opener: &str) -> String {
    match opener {
        "[" => format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        _ => format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)),
    }
}

/// JSON text, mostly valid: any shape, deep nesting past serde_json's limit, broken
/// escapes and lone surrogates, numbers out of every range.
pub fn json_text() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        select(vec!["null", "true", "false"]).prop_map(String::from),
        json_number(),
        weird_string().prop_map(|s| json_string(&s)),
        select(vec![
            r#""\ud800""#,
            r#""\udc00\ud800""#,
            r#""\x""#,
            "\"unterminated",
            "\"\u{0}\"",
            "",
            "{",
            "]",
        ])
        .prop_map(String::from),
    ];
    let tree = leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            vec((json_key(), inner), 0..6).prop_map(object),
        ]
    });
    prop_oneof![
        12 => tree,
        1 => (1usize..300, select(vec!["[", "{"])).prop_map(|(d, o)| deep(d, o)),
    ]
    .boxed()
}

/// Channel names near the valid ones: every prefix and lookalikes, a small alphabet so that
/// subscribes, unsubscribes and client events of one run meet on the same channels, and
/// names around the length limit.
pub fn channel_name() -> BoxedStrategy<String> {
    let prefix = select(vec![
        "",
        "private-",
        "presence-",
        "private-encrypted-",
        "private-cache-",
        "presence-cache-",
        "private-encrypted-cache-",
        "cache-",
        "#server-to-user-",
        "#",
        "#directory",
        "private",
        "Private-",
    ]);
    let body = prop_oneof![
        8 => "[ab1]{0,2}",
        2 => "[A-Za-z0-9_=@,.;-]{1,20}",
        1 => select(vec![175usize, 176, 177, 183, 184, 185, 191, 192, 193, 199, 200, 201, 250])
            .prop_map(|n| "x".repeat(n)),
        1 => weird_string(),
    ];
    (prefix, body).prop_map(|(p, b)| format!("{p}{b}")).boxed()
}

/// Channel names for a session run: mostly private and presence ones, few enough that a
/// run's subscribes, room answers, client events and unsubscribes meet on the same channels.
pub fn session_channel() -> BoxedStrategy<String> {
    let common = (
        select(vec![
            "",
            "private-",
            "private-",
            "presence-",
            "presence-",
            "private-encrypted-",
            "private-cache-",
            "presence-cache-",
            "cache-",
        ]),
        "[ab]?",
    );
    prop_oneof![
        8 => common.prop_map(|(p, b)| format!("{p}{b}")),
        3 => "#server-to-user-[1a]",
        3 => channel_name(),
    ]
    .boxed()
}

/// A user id, as a JSON value: mostly short strings that repeat across a run.
fn user_id_json() -> BoxedStrategy<String> {
    prop_oneof![
        6 => "[1a]".prop_map(|s| json_string(&s)),
        2 => "[12ab]{1,2}".prop_map(|s| json_string(&s)),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => json_number(),
        1 => select(vec![
            "\"\"".to_string(),
            "null".into(),
            "true".into(),
            "[]".into(),
            "{}".into(),
            json_string(&"u".repeat(128)),
            json_string(&"u".repeat(129)),
            json_string(&"é".repeat(128)),
        ]),
        1 => weird_string().prop_map(|s| json_string(&s)),
    ]
    .boxed()
}

/// A `user_info`: mostly a small object, else any JSON or one around the size limit.
fn user_info() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z]{0,6}".prop_map(|n| format!(r#"{{"name":{}}}"#, json_string(&n))),
        2 => json_text(),
        1 => select(vec![1000usize, 1010, 1100]).prop_map(|n| json_string(&"i".repeat(n))),
    ]
    .boxed()
}

/// The text of a presence `channel_data`: mostly `{user_id, user_info}` of any types.
pub fn presence_data() -> BoxedStrategy<String> {
    prop_oneof![
        6 => (user_id_json(), proptest::option::of(user_info())).prop_map(|(id, info)| match info {
            Some(info) => format!(r#"{{"user_id":{id},"user_info":{info}}}"#),
            None => format!(r#"{{"user_id":{id}}}"#),
        }),
        1 => json_text(),
        1 => weird_string(),
    ]
    .boxed()
}

/// The text of a sign-in `user_data`: mostly `{id, watchlist}` of any types.
pub fn user_data() -> BoxedStrategy<String> {
    let watchlist = prop_oneof![
        3 => vec(user_id_json(), 0..5).prop_map(|ids| format!("[{}]", ids.join(","))),
        1 => (95usize..110).prop_map(|n| {
            let ids: Vec<String> = (0..n).map(|i| format!("\"w{i}\"")).collect();
            format!("[{}]", ids.join(","))
        }),
        1 => json_text(),
    ];
    prop_oneof![
        6 => (user_id_json(), proptest::option::of(watchlist), proptest::option::of(user_info()))
            .prop_map(|(id, wl, info)| {
                let mut fields = vec![format!(r#""id":{id}"#)];
                if let Some(wl) = wl {
                    fields.push(format!(r#""watchlist":{wl}"#));
                }
                if let Some(info) = info {
                    fields.push(format!(r#""user_info":{info}"#));
                }
                format!("{{{}}}", fields.join(","))
            }),
        1 => json_text(),
        1 => weird_string(),
    ]
    .boxed()
}

/// How the `auth` of a generated subscribe or sign-in is made.
#[derive(Debug, Clone)]
pub enum Auth {
    /// The right token.
    Valid,
    /// The right token with one signature character replaced by another hex digit.
    FlipHex(Index, u8),
    /// Signed with a secret that differs in one character.
    OtherSecret,
    /// Signed for another socket id (a token copied from another connection).
    OtherSocket,
    /// Signed over a different string to sign (another channel or other data).
    OtherMessage,
    /// Another app's key in front of the right signature.
    OtherKey,
    /// The right token cut short.
    Truncated(Index),
    /// Any string.
    Random(String),
    /// Not a string (any JSON), or no `auth` at all.
    NotAString(String),
    Missing,
}

pub fn auth() -> BoxedStrategy<Auth> {
    prop_oneof![
        10 => Just(Auth::Valid),
        2 => (any::<Index>(), 0u8..16).prop_map(|(i, h)| Auth::FlipHex(i, h)),
        1 => Just(Auth::OtherSecret),
        1 => Just(Auth::OtherSocket),
        1 => Just(Auth::OtherMessage),
        1 => Just(Auth::OtherKey),
        1 => any::<Index>().prop_map(Auth::Truncated),
        1 => weird_string().prop_map(Auth::Random),
        1 => json_text().prop_map(Auth::NotAString),
        1 => Just(Auth::Missing),
    ]
    .boxed()
}

/// The `"auth":...` member (or nothing) for `string_to_sign` on socket `sid`.
pub fn auth_member(mode: &Auth, sid: &str, string_to_sign: &str) -> Option<String> {
    let suffix = string_to_sign.split_once(':').map_or("", |(_, rest)| rest);
    let text = match mode {
        Auth::Valid => token(SECRET, string_to_sign),
        Auth::FlipHex(at, h) => {
            let good = token(SECRET, string_to_sign);
            let (key, sig) = good.split_once(':').expect("key:sig");
            let mut sig: Vec<u8> = sig.bytes().collect();
            let i = at.index(sig.len());
            let mut digit = b"0123456789abcdef"[usize::from(*h)];
            if digit == sig[i] {
                digit = if digit == b'0' { b'1' } else { b'0' };
            }
            sig[i] = digit;
            format!("{key}:{}", String::from_utf8(sig).expect("hex"))
        }
        Auth::OtherSecret => token(&format!("{SECRET}!"), string_to_sign),
        Auth::OtherSocket => token(SECRET, &format!("{sid}9:{suffix}")),
        Auth::OtherMessage => token(SECRET, &format!("{string_to_sign}x")),
        Auth::OtherKey => {
            let good = token(SECRET, string_to_sign);
            format!("other-key:{}", good.split_once(':').expect("key:sig").1)
        }
        Auth::Truncated(at) => {
            let good = token(SECRET, string_to_sign);
            good[..at.index(good.len())].to_string()
        }
        Auth::Random(s) => s.clone(),
        Auth::NotAString(json) => return Some(format!(r#""auth":{json}"#)),
        Auth::Missing => return None,
    };
    Some(format!(r#""auth":{}"#, json_string(&text)))
}

/// Whether `mode` gives the right token whatever the message.
pub fn is_valid(mode: &Auth) -> bool {
    matches!(mode, Auth::Valid)
}

/// A `data` object sent as an object (pusher-js) or double-encoded (some SDKs), or broken.
#[derive(Debug, Clone, Copy)]
pub enum Encoding {
    Object,
    String,
}

pub fn encoding() -> BoxedStrategy<Encoding> {
    prop_oneof![3 => Just(Encoding::Object), 1 => Just(Encoding::String)].boxed()
}

fn envelope(event: &str, data_object: &str, encoding: Encoding) -> String {
    let data = match encoding {
        Encoding::Object => data_object.to_string(),
        Encoding::String => json_string(data_object),
    };
    format!(r#"{{"event":{},"data":{data}}}"#, json_string(event))
}

/// A `pusher:subscribe` frame for socket `sid`: `channel_data` is the JSON of that member
/// (or none), signed as the server would see it.
pub fn subscribe_text(
    sid: &str,
    channel: &str,
    cd_member: Option<&str>,
    auth: &Auth,
    enc: Encoding,
) -> String {
    let signed_cd = cd_member.and_then(channel_data_as_signed);
    let string_to_sign = match &signed_cd {
        // Presence auth signs the channel_data; a private channel's auth may too (the server
        // verifies whatever channel_data the client sent).
        Some(cd) => format!("{sid}:{channel}:{cd}"),
        _ => format!("{sid}:{channel}"),
    };
    let mut fields = vec![format!(r#""channel":{}"#, json_string(channel))];
    fields.extend(auth_member(auth, sid, &string_to_sign));
    if let Some(cd) = cd_member {
        fields.push(format!(r#""channel_data":{cd}"#));
    }
    envelope(
        "pusher:subscribe",
        &format!("{{{}}}", fields.join(",")),
        enc,
    )
}

/// `pusher:subscribe` with a near-valid channel, auth and channel_data for socket `sid`.
pub fn subscribe_frame(
    sid: &'static str,
    channels: BoxedStrategy<String>,
) -> BoxedStrategy<String> {
    let channel_data = prop_oneof![
        4 => presence_data().prop_map(|cd| Some(json_string(&cd))),
        // An object where a string is expected, or another type.
        1 => json_text().prop_map(Some),
        1 => Just(None),
    ];
    (channels, channel_data, auth(), encoding())
        .prop_map(move |(channel, cd, auth, enc)| {
            subscribe_text(sid, &channel, cd.as_deref(), &auth, enc)
        })
        .boxed()
}

/// `pusher:signin` with near-valid user_data and auth for socket `sid`.
pub fn signin_frame(sid: &'static str) -> BoxedStrategy<String> {
    (
        user_data(),
        auth(),
        encoding(),
        proptest::bool::weighted(0.8),
    )
        .prop_map(move |(user_data, auth, enc, user_data_is_string)| {
            let string_to_sign = format!("{sid}::user::{user_data}");
            let mut fields: Vec<String> = auth_member(&auth, sid, &string_to_sign)
                .into_iter()
                .collect();
            let ud = if user_data_is_string {
                json_string(&user_data)
            } else {
                user_data
            };
            fields.push(format!(r#""user_data":{ud}"#));
            envelope("pusher:signin", &format!("{{{}}}", fields.join(",")), enc)
        })
        .boxed()
}

/// A `client-` event on a near-valid channel with any data.
pub fn client_event_frame(channels: BoxedStrategy<String>) -> BoxedStrategy<String> {
    let event = prop_oneof![
        4 => "client-[a-z]{0,3}",
        1 => select(vec![190usize, 193, 194, 195, 200, 250]).prop_map(|n| format!("client-{}", "e".repeat(n))),
        1 => weird_string().prop_map(|s| format!("client-{s}")),
    ];
    let channel = prop_oneof![
        6 => channels.prop_map(|c| Some(json_string(&c))),
        1 => json_text().prop_map(Some),
        1 => Just(None),
    ];
    let data = prop_oneof![
        3 => "[a-z]{0,6}".prop_map(|s| Some(format!(r#"{{"text":{}}}"#, json_string(&s)))),
        3 => json_text().prop_map(Some),
        1 => select(vec![10_200usize, 10_240, 10_241, 12_000])
            .prop_map(|n| Some(json_string(&"d".repeat(n)))),
        1 => Just(None),
    ];
    (event, channel, data)
        .prop_map(|(event, channel, data)| {
            let mut fields = vec![format!(r#""event":{}"#, json_string(&event))];
            fields.extend(channel.map(|c| format!(r#""channel":{c}"#)));
            fields.extend(data.map(|d| format!(r#""data":{d}"#)));
            format!("{{{}}}", fields.join(","))
        })
        .boxed()
}

/// `pusher:unsubscribe`, mostly of a channel a run may have subscribed to.
pub fn unsubscribe_frame(channels: BoxedStrategy<String>) -> BoxedStrategy<String> {
    (channels, encoding())
        .prop_map(|(channel, enc)| {
            envelope(
                "pusher:unsubscribe",
                &format!(r#"{{"channel":{}}}"#, json_string(&channel)),
                enc,
            )
        })
        .boxed()
}

/// An object with an `event` of any kind and any other members.
pub fn any_envelope() -> BoxedStrategy<String> {
    let event = prop_oneof![
        4 => select(vec![
            "pusher:ping",
            "pusher:pong",
            "pusher:subscribe",
            "pusher:unsubscribe",
            "pusher:signin",
            "pusher:error",
            "pusher_internal:subscription_succeeded",
            "client-",
            "",
        ])
        .prop_map(json_string),
        1 => weird_string().prop_map(|s| json_string(&s)),
        1 => json_text(),
    ];
    (event, vec((json_key(), json_text()), 0..4))
        .prop_map(|(event, mut fields)| {
            fields.insert(0, (json_string("event"), event));
            object(fields)
        })
        .boxed()
}

/// One random edit: the last step that turns near-valid input into just-invalid input.
#[derive(Debug, Clone)]
pub enum Edit {
    None,
    Truncate(Index),
    Replace(Index, char),
    Insert(Index, char),
    Delete(Index),
}

pub fn edit() -> BoxedStrategy<Edit> {
    let ch = prop_oneof![
        select(vec![
            '"', '\\', '{', '}', '[', ']', ':', ',', '0', 'a', ' ', '\u{0}', 'é'
        ]),
        any::<char>(),
    ];
    prop_oneof![
        12 => Just(Edit::None),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), ch.clone()).prop_map(|(i, c)| Edit::Replace(i, c)),
        1 => (any::<Index>(), ch).prop_map(|(i, c)| Edit::Insert(i, c)),
        1 => any::<Index>().prop_map(Edit::Delete),
    ]
    .boxed()
}

pub fn apply(text: &str, edit: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: &Index| i.index(chars.len() + 1);
    let mut out = chars.clone();
    match edit {
        Edit::None => {}
        Edit::Truncate(i) => out.truncate(at(i)),
        Edit::Replace(i, c) if !chars.is_empty() => out[i.index(chars.len())] = *c,
        Edit::Insert(i, c) => out.insert(at(i), *c),
        Edit::Delete(i) if !chars.is_empty() => {
            out.remove(i.index(chars.len()));
        }
        Edit::Replace(..) | Edit::Delete(_) => {}
    }
    out.into_iter().collect()
}

/// A client text frame of any kind, near-valid most of the time, naming `channels`.
pub fn client_frame(sid: &'static str, channels: BoxedStrategy<String>) -> BoxedStrategy<String> {
    let frame = prop_oneof![
        1 => any::<String>(),
        1 => bytes().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => json_text(),
        2 => any_envelope(),
        1 => select(vec![
            r#"{"event":"pusher:ping","data":{}}"#,
            r#"{"event":"pusher:pong","data":{}}"#,
        ])
        .prop_map(String::from),
        8 => subscribe_frame(sid, channels.clone()),
        2 => unsubscribe_frame(channels.clone()),
        2 => signin_frame(sid),
        5 => client_event_frame(channels),
    ];
    (frame, edit()).prop_map(|(f, e)| apply(&f, &e)).boxed()
}
