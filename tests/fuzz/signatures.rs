//! Signatures: channel/user auth tokens and REST request signatures. A right signature
//! verifies; a request changed in any one place no longer does unless what it signs is
//! unchanged; nothing panics on any query, path, method or body.

use crate::config;
use crate::gen::{apply, bytes, edit, weird_string, Edit};
use crate::oracle::{self, KEY, SECRET};
use crate::parsers::percent_encode;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use pusher_edge::protocol::auth_token::{verify_token, TokenError};
use pusher_edge::protocol::query::QueryParams;
use pusher_edge::protocol::rest_signature::{SignatureError, SignedRequest};

/// One change to a good token.
#[derive(Debug, Clone)]
enum TokenEdit {
    None,
    Replace(Index, char),
    Truncate(Index),
    Append(char),
    Any(String),
}

fn token_edit() -> BoxedStrategy<TokenEdit> {
    let ch = prop_oneof![
        select(vec!['0', '1', 'a', 'f', 'A', 'F', 'g', ':', ' ', 'é']),
        any::<char>()
    ];
    prop_oneof![
        2 => Just(TokenEdit::None),
        4 => (any::<Index>(), ch.clone()).prop_map(|(i, c)| TokenEdit::Replace(i, c)),
        1 => any::<Index>().prop_map(TokenEdit::Truncate),
        1 => ch.prop_map(TokenEdit::Append),
        1 => weird_string().prop_map(TokenEdit::Any),
    ]
    .boxed()
}

fn edit_token(good: &str, e: &TokenEdit) -> String {
    let mut chars: Vec<char> = good.chars().collect();
    match e {
        TokenEdit::None => {}
        TokenEdit::Replace(i, c) => {
            let i = i.index(chars.len());
            chars[i] = *c;
        }
        TokenEdit::Truncate(i) => chars.truncate(i.index(chars.len())),
        TokenEdit::Append(c) => chars.push(*c),
        TokenEdit::Any(s) => return s.clone(),
    }
    chars.into_iter().collect()
}

const TS: i64 = 1_353_088_179;

/// A REST request as an SDK sends it, signed, and the means to change one thing in it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    query: String,
    body: Vec<u8>,
}

fn request() -> BoxedStrategy<(Request, i64)> {
    let method = select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "post"]);
    let path = prop_oneof![
        4 => "/apps/[a-z0-9]{1,4}/(events|batch_events|channels|channels/[a-z-]{1,8}|channels/x/users|users/[0-9]{1,2}/terminate_connections)",
        1 => weird_string().prop_map(|s| format!("/apps/1/{s}")),
    ];
    let extra = vec(("[a-z_\\[\\]]{1,8}", weird_string()), 0..4);
    let body = prop_oneof![
        2 => Just(Vec::new()),
        2 => weird_string().prop_map(String::into_bytes),
        1 => bytes(),
    ];
    (method, path, extra, body, -599i64..=599, any::<Index>())
        .prop_map(|(method, path, extra, body, skew, rotate)| {
            let mut params: Vec<(String, String)> = vec![
                ("auth_key".into(), KEY.into()),
                ("auth_timestamp".into(), TS.to_string()),
                ("auth_version".into(), "1.0".into()),
            ];
            if !body.is_empty() {
                params.push(("body_md5".into(), md5_hex(&body)));
            }
            for (k, v) in extra {
                if !k.starts_with("auth_") && k != "body_md5" && params.iter().all(|(p, _)| *p != k)
                {
                    params.push((k, v));
                }
            }
            // Signed the way the SDKs sign: sorted, unescaped; sent escaped, in any order.
            let mut sorted = params.clone();
            sorted.sort();
            let joined: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let message = format!("{}\n{path}\n{}", method.to_uppercase(), joined.join("&"));
            params.push(("auth_signature".into(), oracle::hmac_hex(SECRET, &message)));
            let n = rotate.index(params.len());
            params.rotate_left(n);
            let query: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
                .collect();
            let request = Request {
                method: method.to_string(),
                path,
                query: query.join("&"),
                body,
            };
            (request, TS + skew)
        })
        .boxed()
}

fn md5_hex(body: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(body))
}

fn verify(r: &Request, now: i64) -> Result<(), SignatureError> {
    let params = QueryParams::parse(&r.query);
    let request = SignedRequest {
        method: &r.method,
        path: &r.path,
        params: &params,
    };
    // In the REST API's order: the query (which signs body_md5), then the body.
    request.verify_query(SECRET, now)?;
    request.verify_body(&r.body)
}

/// What a request's signature covers, read independently of `string_to_sign`: the method
/// (any case), path, body, the decoded parameters (keys in any case, any order) and the
/// signature's bytes.
fn signed_content(r: &Request) -> impl PartialEq + std::fmt::Debug {
    let params = QueryParams::parse(&r.query);
    let mut pairs: Vec<(String, String)> = params
        .0
        .iter()
        .filter(|(k, _)| k != "auth_signature")
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    pairs.sort();
    let signature = params.get("auth_signature").map(hex::decode);
    (
        r.method.to_ascii_uppercase(),
        r.path.clone(),
        r.body.clone(),
        pairs,
        signature.map(Result::ok),
    )
}

/// One change to a signed request.
#[derive(Debug, Clone)]
enum Change {
    Query(Edit),
    Method(&'static str),
    Path(Edit),
    Body(Edit),
    Late(i64),
}

fn change() -> BoxedStrategy<Change> {
    prop_oneof![
        4 => edit().prop_map(Change::Query),
        1 => select(vec!["GET", "POST", "PUT", "get", "POST "]).prop_map(Change::Method),
        1 => edit().prop_map(Change::Path),
        1 => edit().prop_map(Change::Body),
        1 => prop_oneof![600i64..100_000, -100_000i64..=-600].prop_map(Change::Late),
    ]
    .boxed()
}

/// Queries the signature check has to read to the end: the auth parameters mostly
/// present, timestamps at every extreme, other versions and checksums, any extra members.
fn hostile_query() -> BoxedStrategy<String> {
    let timestamp = prop_oneof![
        select(vec![
            "-9223372036854775808",
            "9223372036854775807",
            "-9223372036854775809",
            "+1353088179",
            "1353088179",
            "1353088779",
            "1e9",
            "",
            " 1",
        ])
        .prop_map(String::from),
        any::<i64>().prop_map(|n| n.to_string()),
    ];
    let version = prop_oneof![
        4 => Just("1.0".to_string()),
        1 => select(vec!["2.0", "1", "", "1.0 "]).prop_map(String::from),
    ];
    let md5 = select(vec![
        "ec365a775a4cd0599faeb73354201b6f",
        "EC365A775A4CD0599FAEB73354201B6F",
        "d41d8cd98f00b204e9800998ecf8427e",
        "",
    ])
    .prop_map(String::from);
    let signature = prop_oneof![weird_string(), "[0-9a-f]{64}"];
    let member = |name: &'static str, value: BoxedStrategy<String>| prop_oneof![4 => value.prop_map(move |v| Some(format!("{name}={v}"))), 1 => Just(None)];
    let extra = vec(
        (
            select(vec!["AUTH_KEY", "info", "", "auth_signature"]),
            weird_string(),
        )
            .prop_map(|(k, v)| format!("{k}={v}")),
        0..3,
    );
    prop_oneof![
        4 => (
            member("auth_key", Just(KEY.to_string()).boxed()),
            member("auth_signature", signature.boxed()),
            member("auth_version", version.boxed()),
            member("auth_timestamp", timestamp.boxed()),
            member("body_md5", md5.boxed()),
            extra,
            any::<Index>(),
        )
            .prop_map(|(key, sig, version, ts, md5, extra, rotate)| {
                let mut parts: Vec<String> =
                    [key, sig, version, ts, md5].into_iter().flatten().chain(extra).collect();
                let n = rotate.index(parts.len() + 1) % parts.len().max(1);
                parts.rotate_left(n);
                parts.join("&")
            }),
        1 => weird_string(),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn tokens_verify_exactly_when_signed(
        message in weird_string(),
        e in token_edit(),
    ) {
        let good = oracle::token(SECRET, &message);
        let given = edit_token(&good, &e);
        let result = verify_token(KEY, SECRET, Some(&given), &message);
        prop_assert_eq!(result.is_ok(), oracle::token_ok(Some(&given), &message), "{:?}", given);
        if let Err(err) = result {
            prop_assert!(err.to_string().len() <= message.len() + given.len() + 200);
        }
        prop_assert_eq!(verify_token(KEY, SECRET, None, &message), Err(TokenError::Missing));
        prop_assert_eq!(verify_token(KEY, SECRET, Some(""), &message), Err(TokenError::Missing));
    }

    #[test]
    fn signed_requests_verify_and_any_change_that_matters_fails(
        (request, now) in request(),
        change in change(),
    ) {
        prop_assert_eq!(verify(&request, now), Ok(()), "{:?}", request);
        let mut changed = request.clone();
        let mut at = now;
        match &change {
            Change::Query(e) => changed.query = apply(&request.query, e),
            Change::Method(m) => changed.method = m.to_string(),
            Change::Path(e) => changed.path = apply(&request.path, e),
            Change::Body(e) => {
                let text = String::from_utf8_lossy(&request.body).into_owned();
                if text.as_bytes() == request.body.as_slice() {
                    changed.body = apply(&text, e).into_bytes();
                } else {
                    changed.body.push(b'x');
                }
            }
            Change::Late(by) => at = TS + by,
        }
        match verify(&changed, at) {
            Ok(()) => prop_assert_eq!(signed_content(&changed), signed_content(&request)),
            Err(e) => {
                if let Change::Late(_) = change {
                    let expired = matches!(e, SignatureError::TimestampExpired { .. });
                    prop_assert!(expired, "{}", e);
                }
            }
        }
    }

    #[test]
    fn any_request_is_checked_without_panicking(
        query in hostile_query(),
        method in weird_string(),
        path in weird_string(),
        body in bytes(),
        now in prop_oneof![Just(TS), 0i64..4_000_000_000],
    ) {
        let params = QueryParams::parse(&query);
        let request = SignedRequest { method: &method, path: &path, params: &params };
        let _ = request.auth_key();
        if let Err(e) = request.verify_query(SECRET, now).and_then(|()| request.verify_body(&body)) {
            let input = query.len() + method.len() + path.len();
            prop_assert!(e.to_string().len() <= 12 * input + 600);
        }
    }
}
