//! Query strings of requests and of the internal Worker-to-Durable-Object URLs, handled as
//! plain strings: the `url` crate would pull its IDNA tables into the bundle for nothing.

use crate::protocol::query::QueryParams;
use crate::protocol::wire::{route_of, InternalRequest, WireError};
use worker::{Request, Response, Result};

/// Reads an internal request as the object's typed request: the route from its table, the
/// body if the route carries one, then the query. `Ok(Err(..))` is the wire's refusal.
pub async fn read_request<R: InternalRequest>(
    req: &mut Request,
) -> Result<std::result::Result<R, WireError>> {
    let route = match route_of(R::ROUTES, req.method().as_ref(), &req.path()) {
        Ok(route) => route,
        Err(e) => return Ok(Err(e)),
    };
    let body = if R::takes_body(route) {
        Some(req.text().await?)
    } else {
        None
    };
    let query = QueryParams::parse(&request_query(req));
    Ok(R::decode(route, &query, body))
}

/// The answer to a request the wire refused (404, 405 or 400, saying why).
pub fn refusal(error: &WireError) -> Result<Response> {
    Response::error(error.message(), error.status())
}

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
    fn query_values_are_decoded() {
        let query = raw_query("https://room/subscribe?join=%7B%22a%22%7D&app=1");
        assert_eq!(query_value(query, "join").as_deref(), Some(r#"{"a"}"#));
        assert_eq!(query_value(query, "app").as_deref(), Some("1"));
        assert_eq!(query_value(query, "nope"), None);
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
