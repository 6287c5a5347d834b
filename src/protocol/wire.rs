//! The shape of the requests the service sends itself (Worker → Durable Object, object →
//! object): a verb, a path, query pairs, an optional text body, and whether it is a WebSocket
//! upgrade. Each object's contract encodes its typed request into a [`WireRequest`] and decodes
//! one back from a route table and the query, so the wire shape is pinned in one place and
//! unit-tested natively.
//!
//! Internal wire rule: changes are additive only, and unknown parameters and fields are
//! ignored in both directions, because an old and a new version run side by side during a
//! deploy. (Operator input stays strict: that is the config's and the API's business.)

use super::query::QueryParams;
use std::str::FromStr;

/// The version every encoded request carries (`v=1`); a decoder reads it with [`version_of`]
/// (absent: 0, a sender from before versions) and may branch on it when a change cannot be
/// additive.
pub const WIRE_VERSION: u32 = 1;
/// The query parameter that carries [`WIRE_VERSION`].
pub const VERSION_PARAM: &str = "v";

/// The HTTP methods the internal requests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
        }
    }

    /// The verb of an HTTP method name (`None` for any other method).
    pub fn parse(method: &str) -> Option<Verb> {
        match method {
            "GET" => Some(Verb::Get),
            "POST" => Some(Verb::Post),
            _ => None,
        }
    }
}

/// One internal request, ready for the glue to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRequest {
    pub verb: Verb,
    pub path: &'static str,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<String>,
    /// Sent with `Upgrade: websocket`: the answer is a socket (101) or a refusal.
    pub upgrade: bool,
}

impl WireRequest {
    pub fn new(verb: Verb, path: &'static str) -> WireRequest {
        WireRequest {
            verb,
            path,
            query: vec![(VERSION_PARAM, WIRE_VERSION.to_string())],
            body: None,
            upgrade: false,
        }
    }

    pub fn param(mut self, name: &'static str, value: impl ToString) -> WireRequest {
        self.query.push((name, value.to_string()));
        self
    }

    /// Adds the parameter when there is a value.
    pub fn param_opt(self, name: &'static str, value: Option<impl ToString>) -> WireRequest {
        match value {
            Some(value) => self.param(name, value),
            None => self,
        }
    }

    /// Adds `name=1` when `on`.
    pub fn flag(self, name: &'static str, on: bool) -> WireRequest {
        if on {
            self.param(name, "1")
        } else {
            self
        }
    }

    pub fn body(mut self, body: impl Into<String>) -> WireRequest {
        self.body = Some(body.into());
        self
    }

    pub fn upgrade(mut self) -> WireRequest {
        self.upgrade = true;
        self
    }

    /// `https://{host}{path}?k=v&...`, every key and value percent-encoded (the host is a
    /// label: a stub's `fetch` goes to its object whatever the URL says).
    pub fn url(&self, host: &str) -> String {
        let pairs: Vec<(&str, &str)> = self.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        internal_url(host, self.path, &pairs)
    }
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
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 15)] as char);
        }
    }
}

/// One row of an object's route table: the verb (`None`: any), the path, the route.
pub type RouteRow<R> = (Option<Verb>, &'static str, R);

/// Why a request matched no route: the answer's status follows from the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// No row has the path (404).
    NotFound,
    /// A row has the path, none with this method (405).
    MethodNotAllowed,
    /// The route matched but a parameter or the body is missing or malformed (400).
    BadRequest(String),
}

impl WireError {
    pub fn status(&self) -> u16 {
        match self {
            WireError::NotFound => 404,
            WireError::MethodNotAllowed => 405,
            WireError::BadRequest(_) => 400,
        }
    }

    pub fn message(&self) -> String {
        match self {
            WireError::NotFound => "Not found".into(),
            WireError::MethodNotAllowed => "Method not allowed".into(),
            WireError::BadRequest(why) => why.clone(),
        }
    }
}

/// The route of a request in `table`: 404 for an unknown path, 405 for a known path with
/// another method.
pub fn route_of<R: Copy>(table: &[RouteRow<R>], method: &str, path: &str) -> Result<R, WireError> {
    let verb = Verb::parse(method);
    let mut path_known = false;
    for &(row_verb, row_path, route) in table {
        if row_path != path {
            continue;
        }
        path_known = true;
        if row_verb.is_none() || row_verb == verb {
            return Ok(route);
        }
    }
    Err(if path_known {
        WireError::MethodNotAllowed
    } else {
        WireError::NotFound
    })
}

/// What an object's request type gives the glue: its route table, which routes carry a
/// body, and the two directions of the wire.
pub trait InternalRequest: Sized {
    type Route: Copy + 'static;
    /// The object's routes; also the source of its 404s and 405s.
    const ROUTES: &'static [RouteRow<Self::Route>];
    /// Whether the route's request carries a text body (read before decoding).
    fn takes_body(route: Self::Route) -> bool;
    fn decode(
        route: Self::Route,
        query: &QueryParams,
        body: Option<String>,
    ) -> Result<Self, WireError>;
    fn encode(&self) -> WireRequest;
}

/// The wire version of a decoded request: [`WIRE_VERSION`] or older (0: a sender from before
/// versions). A decoder branches on it only when a change cannot be additive.
pub fn version_of(query: &QueryParams) -> u32 {
    number(query, VERSION_PARAM).unwrap_or(0)
}

/// A text parameter (absent: `None`).
pub fn text(query: &QueryParams, name: &str) -> Option<String> {
    query.get(name).map(str::to_string)
}

/// A numeric parameter: absent or malformed is `None` (lenient, as the wire rule asks).
pub fn number<T: FromStr>(query: &QueryParams, name: &str) -> Option<T> {
    query.get(name).and_then(|value| value.parse().ok())
}

/// A parameter the route cannot do without.
pub fn required<T>(value: Option<T>, name: &str) -> Result<T, WireError> {
    value.ok_or_else(|| WireError::BadRequest(format!("a valid {name} parameter is required")))
}

/// The query of an encoded request, as a decoder sees it (for round-trip tests).
pub fn query_of(request: &WireRequest) -> QueryParams {
    let url = request.url("test");
    QueryParams::parse(url.split_once('?').map_or("", |(_, q)| q))
}

/// Encodes `request`, then decodes it through its own route table: what the far side reads.
pub fn round_trip<R: InternalRequest>(request: &R) -> Result<R, WireError> {
    let wire = request.encode();
    let route = route_of(R::ROUTES, wire.verb.as_str(), wire.path)?;
    let body = if R::takes_body(route) {
        wire.body.clone()
    } else {
        None
    };
    R::decode(route, &query_of(&wire), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum R {
        A,
        B,
        Any,
    }
    const TABLE: &[RouteRow<R>] = &[
        (Some(Verb::Get), "/a", R::A),
        (Some(Verb::Post), "/b", R::B),
        (None, "/any", R::Any),
    ];

    #[test]
    fn the_table_gives_404_and_405() {
        assert_eq!(route_of(TABLE, "GET", "/a"), Ok(R::A));
        assert_eq!(
            route_of(TABLE, "POST", "/a"),
            Err(WireError::MethodNotAllowed)
        );
        assert_eq!(route_of(TABLE, "POST", "/b"), Ok(R::B));
        assert_eq!(
            route_of(TABLE, "PUT", "/b"),
            Err(WireError::MethodNotAllowed)
        );
        assert_eq!(route_of(TABLE, "DELETE", "/any"), Ok(R::Any));
        assert_eq!(route_of(TABLE, "GET", "/c"), Err(WireError::NotFound));
        assert_eq!(WireError::NotFound.status(), 404);
        assert_eq!(WireError::MethodNotAllowed.status(), 405);
        assert_eq!(WireError::BadRequest("x".into()).status(), 400);
    }

    #[test]
    fn every_request_carries_the_version_and_urls_round_trip() {
        let join = r#"{"channel":"presence-a b","member":{"i":"{\"n\":\"é&=+%\"}"}}"#;
        let wire = WireRequest::new(Verb::Get, "/subscribe")
            .param("join", join)
            .param_opt("leaf", None::<u32>)
            .param_opt("n", Some(3))
            .flag("rest", false)
            .flag("on", true);
        let url = wire.url("room");
        assert!(
            url.starts_with("https://room/subscribe?v=1&join=%7B%22channel"),
            "{url}"
        );
        let query = query_of(&wire);
        assert_eq!(query.get("join"), Some(join));
        assert_eq!(version_of(&query), WIRE_VERSION);
        assert_eq!(
            version_of(&QueryParams::parse("app=1")),
            0,
            "before versions"
        );
        assert_eq!(number::<u32>(&query, "n"), Some(3));
        assert_eq!(query.get("leaf"), None);
        assert_eq!(query.get("rest"), None);
        assert_eq!(query.get("on"), Some("1"));
        assert_eq!(
            internal_url("ledger", "/stats", &[]),
            "https://ledger/stats"
        );
    }

    #[test]
    fn lenient_numbers_and_required_parameters() {
        let query = QueryParams::parse("a=-1&b=x&c=7");
        assert_eq!(number::<u32>(&query, "a"), None);
        assert_eq!(number::<u32>(&query, "b"), None);
        assert_eq!(number::<u32>(&query, "c"), Some(7));
        assert_eq!(required(number::<u32>(&query, "c"), "c"), Ok(7));
        assert_eq!(
            required(number::<u32>(&query, "b"), "b"),
            Err(WireError::BadRequest(
                "a valid b parameter is required".into()
            ))
        );
    }
}
