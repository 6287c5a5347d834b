//! The ledger's wire contract, pure data: everything the Worker, the rooms and the shards
//! agree on to talk to an app's `AppLedger` or one of its `ConnectionShard`s — the typed
//! requests ([`LedgerCall`], [`ShardCall`]) with their route tables, paths, query parameters,
//! statuses, Durable Object names and bindings. Reaching an object is `ledger::client`'s job.

use super::report::Report;
use crate::protocol::json_read::from_text;
use crate::protocol::query::QueryParams;
use crate::protocol::wire::{
    number, required, text, InternalRequest, RouteRow, Verb, WireError, WireRequest,
};

/// The Durable Object namespace binding of the per-app ledgers (counters, quotas, channel index).
pub const LEDGER_BINDING: &str = "LEDGER";
/// The Durable Object namespace binding of the per-app connection shards.
pub const CONNECTIONS_BINDING: &str = "CONNECTIONS";

/// Query parameters of ledger requests.
pub mod ledger_param {
    pub const APP: &str = "app";
    /// The request serves a REST call: count it.
    pub const REST_CALL: &str = "rest";
    pub const PREFIX: &str = "prefix";
    /// `GET /channels`: include presence user counts.
    pub const USER_COUNT: &str = "user_count";
    /// `GET /channels`: at most this many channels, by name (absent: all).
    pub const LIMIT: &str = "limit";
    /// Channels skipped first, by name (the dashboard tells rooms a page at a time).
    pub const OFFSET: &str = "offset";
    /// The operator session (its login's nonce) a console belongs to.
    pub const SESSION: &str = "session";
}

/// Paths the ledger answers (the host part of internal URLs is ignored).
pub mod ledger_path {
    pub const REPORT: &str = "/report";
    pub const STATS: &str = "/stats";
    pub const CHANNELS: &str = "/channels";
    /// A debug console's WebSocket (an upgrade); the ledger sends it the app's lines.
    pub const CONSOLE: &str = "/console";
    /// An operator logged out: the consoles of that session close.
    pub const CLOSE_CONSOLES: &str = "/close-consoles";
    /// The app's webhook delivery log.
    pub const WEBHOOK_LOG: &str = "/webhook-log";
}

/// Query parameters of connection shard requests.
pub mod shard_param {
    pub const APP: &str = "app";
    pub const INDEX: &str = "index";
    /// Sockets this shard may hold; it answers [`super::FULL_STATUS`] when full.
    pub const CAP: &str = "cap";
    pub const SOCKET_ID: &str = "socket";
    /// A debug console's lease: Unix ms until which the shard sends it lines.
    pub const UNTIL: &str = "until";
}

/// Paths a connection shard answers.
pub mod shard_path {
    /// The upgrade that gives a client connection its place (app, index, cap, socket).
    pub const CONNECT: &str = "/connect";
    /// A session lost its socket to the shard (a new instance): report the true count
    /// (app, index).
    pub const WAKE: &str = "/wake";
    /// A debug console opened for the app (app, index, until).
    pub const CONSOLE: &str = "/console";
    /// The operators changed the app (app, index; body: the registry's record).
    pub const APP_CHANGED: &str = "/app-changed";
}

/// Status of the ledger's answer for an app that does not exist (deleted by the operators).
pub const UNKNOWN_APP_STATUS: u16 = 404;

/// Status of the ledger's refusal of one more console (`console::MAX_CONSOLES` are open).
pub const TOO_MANY_CONSOLES_STATUS: u16 = 429;

/// Status of a connection shard's refusal when it is full.
pub const FULL_STATUS: u16 = 429;

/// Response header of a connection shard's accepted place: the places it holds, so its
/// sessions spread their return over its size should it reset.
pub const SHARD_SIZE_HEADER: &str = "x-shard-size";

/// The Durable Object name of an app's ledger: the app id itself.
pub fn ledger_name(app_id: &str) -> String {
    app_id.to_string()
}

/// The Durable Object name of one of an app's connection shards.
pub fn shard_name(app_id: &str, index: u32) -> String {
    format!("{app_id}#connections#{index}")
}

/// The inverse of [`shard_name`]: the app and index a connection shard's name gives it.
pub fn parse_shard_name(name: &str) -> Option<(String, u32)> {
    let (app_id, index) = name.split_once("#connections#")?;
    if app_id.is_empty() || index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((app_id.to_string(), index.parse().ok()?))
}

/// One call to an app's ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerCall {
    pub app_id: String,
    /// The call serves a REST call: the ledger counts it.
    pub rest_call: bool,
    pub request: LedgerRequest,
}

/// What an app's ledger is asked.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerRequest {
    /// A room's or shard's batched report; the answer is a `ReportAnswer`.
    Report(Report),
    /// The app's counters (`GET /apps/{id}/stats`'s JSON).
    Stats,
    /// The occupied channels under `prefix`, by name, past the first `offset`, at most
    /// `limit` of them, with presence user counts if asked.
    Channels {
        prefix: String,
        user_count: bool,
        limit: Option<u32>,
        offset: Option<u32>,
    },
    /// A debug console's WebSocket (an upgrade), for the operator session `session`.
    Console { session: Option<String> },
    /// The operator session `session` logged out: its consoles close.
    CloseConsoles { session: String },
    /// The app's webhook delivery log: `{"attempts":[...]}`, newest first.
    WebhookLog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerRoute {
    Report,
    Stats,
    Channels,
    Console,
    CloseConsoles,
    WebhookLog,
}

impl LedgerCall {
    pub fn new(app_id: &str, request: LedgerRequest) -> LedgerCall {
        LedgerCall {
            app_id: app_id.to_string(),
            rest_call: false,
            request,
        }
    }
}

impl InternalRequest for LedgerCall {
    type Route = LedgerRoute;
    const ROUTES: &'static [RouteRow<LedgerRoute>] = &[
        (Some(Verb::Post), ledger_path::REPORT, LedgerRoute::Report),
        (Some(Verb::Get), ledger_path::STATS, LedgerRoute::Stats),
        (
            Some(Verb::Get),
            ledger_path::CHANNELS,
            LedgerRoute::Channels,
        ),
        (Some(Verb::Get), ledger_path::CONSOLE, LedgerRoute::Console),
        (
            Some(Verb::Post),
            ledger_path::CLOSE_CONSOLES,
            LedgerRoute::CloseConsoles,
        ),
        (
            Some(Verb::Get),
            ledger_path::WEBHOOK_LOG,
            LedgerRoute::WebhookLog,
        ),
    ];

    fn takes_body(route: LedgerRoute) -> bool {
        route == LedgerRoute::Report
    }

    fn encode(&self) -> WireRequest {
        let wire = |verb, path| {
            WireRequest::new(verb, path)
                .param(ledger_param::APP, &self.app_id)
                .flag(ledger_param::REST_CALL, self.rest_call)
        };
        match &self.request {
            LedgerRequest::Report(report) => wire(Verb::Post, ledger_path::REPORT)
                .body(serde_json::to_string(report).unwrap_or_default()),
            LedgerRequest::Stats => wire(Verb::Get, ledger_path::STATS),
            LedgerRequest::Channels {
                prefix,
                user_count,
                limit,
                offset,
            } => wire(Verb::Get, ledger_path::CHANNELS)
                .param_opt(ledger_param::PREFIX, Some(prefix).filter(|p| !p.is_empty()))
                .flag(ledger_param::USER_COUNT, *user_count)
                .param_opt(ledger_param::LIMIT, *limit)
                .param_opt(ledger_param::OFFSET, *offset),
            LedgerRequest::Console { session } => wire(Verb::Get, ledger_path::CONSOLE)
                .param_opt(ledger_param::SESSION, session.as_ref())
                .upgrade(),
            LedgerRequest::CloseConsoles { session } => {
                wire(Verb::Post, ledger_path::CLOSE_CONSOLES).param(ledger_param::SESSION, session)
            }
            LedgerRequest::WebhookLog => wire(Verb::Get, ledger_path::WEBHOOK_LOG),
        }
    }

    fn decode(
        route: LedgerRoute,
        query: &QueryParams,
        body: Option<String>,
    ) -> Result<LedgerCall, WireError> {
        let request = match route {
            LedgerRoute::Report => {
                let body = body.unwrap_or_default();
                let report = from_text(&body)
                    .map_err(|e| WireError::BadRequest(format!("malformed report: {e}")))?;
                LedgerRequest::Report(report)
            }
            LedgerRoute::Stats => LedgerRequest::Stats,
            LedgerRoute::Channels => LedgerRequest::Channels {
                prefix: text(query, ledger_param::PREFIX).unwrap_or_default(),
                user_count: query.get(ledger_param::USER_COUNT).is_some(),
                limit: number(query, ledger_param::LIMIT),
                offset: number(query, ledger_param::OFFSET),
            },
            LedgerRoute::Console => LedgerRequest::Console {
                session: text(query, ledger_param::SESSION),
            },
            LedgerRoute::CloseConsoles => LedgerRequest::CloseConsoles {
                session: required(text(query, ledger_param::SESSION), ledger_param::SESSION)?,
            },
            LedgerRoute::WebhookLog => LedgerRequest::WebhookLog,
        };
        Ok(LedgerCall {
            app_id: required(text(query, ledger_param::APP), ledger_param::APP)?,
            rest_call: query.get(ledger_param::REST_CALL).is_some(),
            request,
        })
    }
}

/// One call to connection shard `index` of an app.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardCall {
    pub app_id: String,
    pub index: u32,
    pub request: ShardRequest,
}

/// What a connection shard is asked.
#[derive(Debug, Clone, PartialEq)]
pub enum ShardRequest {
    /// The upgrade that gives a client connection its place; the shard holds at most `cap`.
    Connect { cap: u64, socket_id: String },
    /// A session lost its socket to the shard (a new instance): report the true count.
    Wake,
    /// A debug console opened for the app: the shard sends it lines until `until_ms`.
    Console { until_ms: u64 },
    /// The operators changed the app: the shard sends `record` (the registry's stored
    /// record, as is) to every session holding a place, which applies it at once.
    AppChanged { record: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardRoute {
    Connect,
    Wake,
    Console,
    AppChanged,
}

impl InternalRequest for ShardCall {
    type Route = ShardRoute;
    const ROUTES: &'static [RouteRow<ShardRoute>] = &[
        (Some(Verb::Get), shard_path::CONNECT, ShardRoute::Connect),
        (Some(Verb::Get), shard_path::WAKE, ShardRoute::Wake),
        (Some(Verb::Get), shard_path::CONSOLE, ShardRoute::Console),
        (
            Some(Verb::Post),
            shard_path::APP_CHANGED,
            ShardRoute::AppChanged,
        ),
    ];

    fn takes_body(route: ShardRoute) -> bool {
        route == ShardRoute::AppChanged
    }

    fn encode(&self) -> WireRequest {
        let wire = |path| {
            let verb = match path {
                shard_path::APP_CHANGED => Verb::Post,
                _ => Verb::Get,
            };
            WireRequest::new(verb, path)
                .param(shard_param::APP, &self.app_id)
                .param(shard_param::INDEX, self.index)
        };
        match &self.request {
            ShardRequest::Connect { cap, socket_id } => wire(shard_path::CONNECT)
                .param(shard_param::CAP, cap)
                .param(shard_param::SOCKET_ID, socket_id)
                .upgrade(),
            ShardRequest::Wake => wire(shard_path::WAKE),
            ShardRequest::Console { until_ms } => {
                wire(shard_path::CONSOLE).param(shard_param::UNTIL, until_ms)
            }
            ShardRequest::AppChanged { record } => {
                wire(shard_path::APP_CHANGED).body(record.as_str())
            }
        }
    }

    fn decode(
        route: ShardRoute,
        query: &QueryParams,
        body: Option<String>,
    ) -> Result<ShardCall, WireError> {
        let request = match route {
            ShardRoute::Connect => ShardRequest::Connect {
                cap: required(number(query, shard_param::CAP), shard_param::CAP)?,
                socket_id: required(text(query, shard_param::SOCKET_ID), shard_param::SOCKET_ID)?,
            },
            ShardRoute::Wake => ShardRequest::Wake,
            ShardRoute::Console => ShardRequest::Console {
                until_ms: required(number(query, shard_param::UNTIL), shard_param::UNTIL)?,
            },
            ShardRoute::AppChanged => ShardRequest::AppChanged {
                record: body.unwrap_or_default(),
            },
        };
        Ok(ShardCall {
            app_id: required(text(query, shard_param::APP), shard_param::APP)?,
            index: required(number(query, shard_param::INDEX), shard_param::INDEX)?,
            request,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{round_trip, route_of};

    #[test]
    fn object_names_are_per_app_and_apart() {
        // Fixed values: a change here moves every app's ledger and shards to new objects.
        assert_eq!(ledger_name("1"), "1");
        assert_eq!(shard_name("1", 3), "1#connections#3");
        // App ids never contain '#', so a shard's name is never another app's ledger's.
        assert_ne!(shard_name("1", 0), ledger_name("1"));
        for (app, index) in [("1", 0), ("app-7", 63), ("x", u32::MAX)] {
            assert_eq!(
                parse_shard_name(&shard_name(app, index)),
                Some((app.into(), index))
            );
        }
        for junk in [
            "",
            "1",
            "1#connections#",
            "#connections#1",
            "1#connections#x",
            "1#connections#-1",
        ] {
            assert_eq!(parse_shard_name(junk), None, "{junk:?}");
        }
    }

    fn every_ledger_call() -> Vec<LedgerCall> {
        let report = Report {
            console: vec!["{}".into()],
            occupancy_seq: 3,
            ..Report::default()
        };
        vec![
            LedgerCall::new("1", LedgerRequest::Report(report)),
            LedgerCall::new("1", LedgerRequest::Stats),
            LedgerCall {
                rest_call: true,
                ..LedgerCall::new("1", LedgerRequest::Stats)
            },
            LedgerCall {
                rest_call: true,
                ..LedgerCall::new(
                    "app 1",
                    LedgerRequest::Channels {
                        prefix: "presence-".into(),
                        user_count: true,
                        limit: Some(100),
                        offset: Some(1000),
                    },
                )
            },
            LedgerCall::new(
                "1",
                LedgerRequest::Channels {
                    prefix: String::new(),
                    user_count: false,
                    limit: None,
                    offset: None,
                },
            ),
            LedgerCall::new("1", LedgerRequest::Console { session: None }),
            LedgerCall::new(
                "1",
                LedgerRequest::Console {
                    session: Some("ab12".into()),
                },
            ),
            LedgerCall::new(
                "1",
                LedgerRequest::CloseConsoles {
                    session: "ab12".into(),
                },
            ),
            LedgerCall::new("1", LedgerRequest::WebhookLog),
        ]
    }

    fn every_shard_call() -> Vec<ShardCall> {
        let call = |request| ShardCall {
            app_id: "1".into(),
            index: 3,
            request,
        };
        vec![
            call(ShardRequest::Connect {
                cap: 1000,
                socket_id: "12.34".into(),
            }),
            call(ShardRequest::Wake),
            call(ShardRequest::Console { until_ms: 60_000 }),
            call(ShardRequest::AppChanged {
                record: r#"{"rev":3,"app":null}"#.into(),
            }),
        ]
    }

    #[test]
    fn every_ledger_and_shard_request_round_trips() {
        for call in every_ledger_call() {
            assert_eq!(round_trip(&call).as_ref(), Ok(&call), "{call:?}");
        }
        for call in every_shard_call() {
            assert_eq!(round_trip(&call).as_ref(), Ok(&call), "{call:?}");
        }
    }

    #[test]
    fn the_wire_shape_is_pinned() {
        // Old and new versions run side by side during a deploy: these may only grow.
        let urls: Vec<String> = every_ledger_call()
            .iter()
            .map(|c| c.encode().url("ledger"))
            .chain(
                every_shard_call()
                    .iter()
                    .map(|c| c.encode().url("connections")),
            )
            .collect();
        assert_eq!(
            urls,
            [
                "https://ledger/report?v=1&app=1",
                "https://ledger/stats?v=1&app=1",
                "https://ledger/stats?v=1&app=1&rest=1",
                "https://ledger/channels?v=1&app=app%201&rest=1&prefix=presence-&user_count=1&limit=100&offset=1000",
                "https://ledger/channels?v=1&app=1",
                "https://ledger/console?v=1&app=1",
                "https://ledger/console?v=1&app=1&session=ab12",
                "https://ledger/close-consoles?v=1&app=1&session=ab12",
            "https://ledger/webhook-log?v=1&app=1",
                "https://connections/connect?v=1&app=1&index=3&cap=1000&socket=12.34",
                "https://connections/wake?v=1&app=1&index=3",
                "https://connections/console?v=1&app=1&index=3&until=60000",
                "https://connections/app-changed?v=1&app=1&index=3",
            ]
        );
        let report = every_ledger_call()[0].encode();
        assert_eq!((report.verb, report.upgrade), (Verb::Post, false));
        assert_eq!(
            report.body.as_deref(),
            Some(
                r#"{"counts":{"broadcasts":0,"messages_delivered":0,"client_events":0,"rest_calls":0,"connections_opened":0,"webhooks_failed":0,"webhooks_dropped":0,"replay_lost":0,"connections_rate_limited":0,"rest_rate_limited":0,"origins_refused":0},"occupancy_seq":3,"console":["{}"]}"#
            )
        );
        assert!(every_ledger_call()[5].encode().upgrade);
        assert!(every_shard_call()[0].encode().upgrade);
    }

    #[test]
    fn refusals_come_from_the_tables_and_the_parameters() {
        let shard = |path: &str| route_of(ShardCall::ROUTES, "GET", path);
        // A shard no longer takes an unknown path for a connect.
        assert_eq!(shard("/nope"), Err(WireError::NotFound));
        assert_eq!(
            route_of(LedgerCall::ROUTES, "GET", ledger_path::REPORT),
            Err(WireError::MethodNotAllowed)
        );
        let decode = |q: &str| ShardCall::decode(ShardRoute::Connect, &QueryParams::parse(q), None);
        assert_eq!(decode("app=1&index=0&cap=5").unwrap_err().status(), 400);
        assert!(decode("app=1&index=0&cap=5&socket=1.2&future=1").is_ok());
        let report = LedgerCall::decode(
            LedgerRoute::Report,
            &QueryParams::parse("app=1"),
            Some("{".into()),
        );
        assert_eq!(report.unwrap_err().status(), 400);
        // A newer sender's unknown report fields are ignored.
        let newer = LedgerCall::decode(
            LedgerRoute::Report,
            &QueryParams::parse("app=1&v=2"),
            Some(r#"{"occupancy_seq":4,"future":{"x":1}}"#.into()),
        );
        assert!(matches!(
            newer,
            Ok(LedgerCall {
                request: LedgerRequest::Report(Report {
                    occupancy_seq: 4,
                    ..
                }),
                ..
            })
        ));
    }
}
