//! Query strings of requests and of the internal Worker-to-Durable-Object URLs, handled as
//! plain strings: the `url` crate would pull its IDNA tables into the bundle for nothing.

use crate::protocol::rest_signature::QueryParams;
use worker::Request;

/// The raw query string of a request (after `?`, before any `#`).
pub fn request_query(req: &Request) -> String {
    raw_query(&req.inner().url()).to_string()
}

fn raw_query(url: &str) -> &str {
    let without_fragment = url.split('#').next().unwrap_or_default();
    without_fragment
        .split_once('?')
        .map_or("", |(_, query)| query)
}

/// The decoded value of the first `name` parameter of a raw query string.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    QueryParams::parse(query).get(name).map(str::to_string)
}

/// `https://{host}{path}?k=v&...` with every key and value percent-encoded.
pub fn internal_url(host: &str, path: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = format!("https://{host}{path}");
    for (i, (key, value)) in pairs.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        encode_into(&mut url, key);
        url.push('=');
        encode_into(&mut url, value);
    }
    url
}

fn encode_into(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// The host of an absolute URL, for logs (its path or query may carry a token).
pub fn host_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    authority.rsplit('@').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_urls_round_trip() {
        let join = r#"{"channel":"presence-a b","member":{"i":"{\"n\":\"é&=+%\"}"}}"#;
        let url = internal_url("room", "/subscribe", &[("join", join), ("app", "1")]);
        assert!(
            url.starts_with("https://room/subscribe?join=%7B%22channel"),
            "{url}"
        );
        let query = raw_query(&url);
        assert_eq!(query_value(query, "join").as_deref(), Some(join));
        assert_eq!(query_value(query, "app").as_deref(), Some("1"));
        assert_eq!(query_value(query, "nope"), None);
        assert_eq!(
            internal_url("ledger", "/stats", &[]),
            "https://ledger/stats"
        );
    }

    #[test]
    fn raw_queries_and_hosts() {
        assert_eq!(
            raw_query("https://h/app/k?protocol=7&x=1#frag"),
            "protocol=7&x=1"
        );
        assert_eq!(raw_query("https://h/app/k"), "");
        assert_eq!(
            host_of("https://user:pw@hooks.example.com:8443/p?token=s"),
            "hooks.example.com:8443"
        );
        assert_eq!(host_of("http://127.0.0.1:9/x"), "127.0.0.1:9");
    }
}
