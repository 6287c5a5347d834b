//! libFuzzer target: a REST request as `method\npath\nquery\nbody`. The query string, the
//! signature check, the info attributes and the trigger and batch bodies must never panic and
//! must refuse with 400 or 413.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pusher_edge::protocol::channel_info::InfoAttrs;
use pusher_edge::protocol::limits::Limits;
use pusher_edge::protocol::rest_signature::{percent_decode, QueryParams, SignedRequest};
use pusher_edge::protocol::trigger::{parse_batch, parse_trigger};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (method, path, query) = (next(), next(), next());
    let body = data.splitn(4, |&b| b == b'\n').nth(3).unwrap_or_default();
    let params = QueryParams::parse(&query);
    let request = SignedRequest {
        method: &method,
        path: &percent_decode(&path),
        params: &params,
    };
    let _ = request.auth_key();
    let _ = request
        .verify_query("secret", 1_353_088_179)
        .and_then(|()| request.verify_body(body));
    if let Some(info) = params.get("info") {
        if let Err(e) = InfoAttrs::parse(info, true) {
            assert_eq!(e.status, 400);
        }
    }
    let limits = Limits::default();
    for refused in [
        parse_trigger(body, &limits).err(),
        parse_batch(body, &limits).err(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(
            refused.status == 400 || refused.status == 413,
            "{}",
            refused.status
        );
    }
});
