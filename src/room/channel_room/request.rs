//! What an internal request asks of a channel room: which of its paths ([`Route`]) and the
//! query parameters ([`RoomQuery`]), read once, before the room does anything.

use crate::protocol::channel_info::InfoAttrs;
use crate::protocol::rest_signature::QueryParams;
use crate::room::contract::{param, path, Join};
use std::str::FromStr;
use worker::Method;

/// How long a cache channel keeps a published event when the publish does not say.
const DEFAULT_CACHE_TTL_SECS: f64 = 1800.0;

/// The room's internal paths, each with its method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// The storage diagnostic (any method).
    Storage,
    Subscribe,
    Publish,
    Info,
    Users,
    Terminate,
    Relay,
    LeafCount,
    Console,
    NotFound,
}

impl Route {
    pub(super) fn of(method: Method, request_path: &str) -> Route {
        match (method, request_path) {
            (_, path::STORAGE) => Route::Storage,
            (Method::Get, path::SUBSCRIBE) => Route::Subscribe,
            (Method::Post, path::PUBLISH) => Route::Publish,
            (Method::Get, path::INFO) => Route::Info,
            (Method::Get, path::USERS) => Route::Users,
            (Method::Post, path::TERMINATE) => Route::Terminate,
            (Method::Post, path::RELAY) => Route::Relay,
            (Method::Post, path::LEAF_COUNT) => Route::LeafCount,
            (Method::Post, path::CONSOLE) => Route::Console,
            _ => Route::NotFound,
        }
    }
}

/// The query parameters of a request to the room (each path reads the ones it needs).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RoomQuery {
    pub(super) app_id: Option<String>,
    /// The channel (empty when not named).
    pub(super) channel: String,
    /// The request is for leaf `n` of a split channel.
    pub(super) leaf: Option<u32>,
    /// The request serves a REST call, to be counted in the ledger.
    pub(super) rest_call: bool,
    /// Channel attributes wanted in the answer.
    pub(super) attrs: InfoAttrs,
    /// A subscribe's join, if valid.
    pub(super) join: Option<Join>,
    /// A publish leaves this socket out.
    pub(super) exclude: Option<String>,
    /// A cache channel's publish: seconds to keep the event.
    pub(super) ttl_secs: f64,
    /// A relayed client event or a leaf's count: which leaf it came from.
    pub(super) from_leaf: Option<u32>,
    /// A leaf's subscribers.
    pub(super) count: Option<u64>,
    /// A debug console's lease (Unix ms).
    pub(super) until: Option<u64>,
}

impl RoomQuery {
    /// Reads a raw query string.
    pub(super) fn parse(query: &str) -> RoomQuery {
        let params = QueryParams::parse(query);
        let text = |name: &str| params.get(name).map(str::to_string);
        RoomQuery {
            app_id: text(param::APP),
            channel: text(param::CHANNEL).unwrap_or_default(),
            leaf: number(&params, param::LEAF),
            rest_call: params.get(param::REST_CALL).is_some(),
            attrs: InfoAttrs::from_param(params.get(param::INFO).unwrap_or_default()),
            join: params.get(param::JOIN).and_then(Join::from_query_value),
            exclude: text(param::EXCLUDE),
            // Whole seconds (the Worker sends `limits.cache_ttl_secs`): reading an integer
            // keeps the float parser, and its tables, out of the bundle.
            ttl_secs: number::<u32>(&params, param::TTL).map_or(DEFAULT_CACHE_TTL_SECS, f64::from),
            from_leaf: number(&params, param::FROM_LEAF),
            count: number(&params, param::COUNT),
            until: number(&params, param::UNTIL),
        }
    }
}

/// A parameter's value as a number, if it is one.
fn number<T: FromStr>(params: &QueryParams, name: &str) -> Option<T> {
    params.get(name).and_then(|value| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::contract::Member;

    fn query_of(pairs: &[(&str, &str)]) -> RoomQuery {
        let url = crate::room::contract::url(path::PUBLISH, pairs);
        RoomQuery::parse(url.split_once('?').map_or("", |(_, q)| q))
    }

    #[test]
    fn routes_need_their_method_but_storage_takes_any() {
        assert_eq!(Route::of(Method::Get, path::SUBSCRIBE), Route::Subscribe);
        assert_eq!(Route::of(Method::Post, path::SUBSCRIBE), Route::NotFound);
        assert_eq!(Route::of(Method::Post, path::PUBLISH), Route::Publish);
        assert_eq!(Route::of(Method::Get, path::PUBLISH), Route::NotFound);
        assert_eq!(Route::of(Method::Get, path::INFO), Route::Info);
        assert_eq!(Route::of(Method::Get, path::USERS), Route::Users);
        assert_eq!(Route::of(Method::Post, path::TERMINATE), Route::Terminate);
        assert_eq!(Route::of(Method::Post, path::RELAY), Route::Relay);
        assert_eq!(Route::of(Method::Post, path::LEAF_COUNT), Route::LeafCount);
        assert_eq!(Route::of(Method::Post, path::CONSOLE), Route::Console);
        assert_eq!(Route::of(Method::Get, path::CONSOLE), Route::NotFound);
        assert_eq!(Route::of(Method::Get, path::STORAGE), Route::Storage);
        assert_eq!(Route::of(Method::Post, path::STORAGE), Route::Storage);
        assert_eq!(Route::of(Method::Get, "/nope"), Route::NotFound);
    }

    #[test]
    fn an_empty_query_has_the_defaults() {
        assert_eq!(
            RoomQuery::parse(""),
            RoomQuery {
                app_id: None,
                channel: String::new(),
                leaf: None,
                rest_call: false,
                attrs: InfoAttrs::default(),
                join: None,
                exclude: None,
                ttl_secs: 1800.0,
                from_leaf: None,
                count: None,
                until: None,
            }
        );
    }

    #[test]
    fn every_parameter_is_read() {
        let join = Join {
            app_id: "1".into(),
            channel: "presence-a b".into(),
            member: Member::new("1.2"),
            max_members: 100,
            split_at: 0,
            leaf: Some(2),
        };
        let join_value = join.to_query_value();
        let query = query_of(&[
            (param::APP, "1"),
            (param::CHANNEL, "presence-a b"),
            (param::LEAF, "2"),
            (param::REST_CALL, "1"),
            (param::INFO, "uc"),
            (param::JOIN, &join_value),
            (param::EXCLUDE, "3.4"),
            (param::TTL, "60"),
            (param::FROM_LEAF, "5"),
            (param::COUNT, "42"),
            (param::UNTIL, "60000"),
        ]);
        assert_eq!(
            query,
            RoomQuery {
                app_id: Some("1".into()),
                channel: "presence-a b".into(),
                leaf: Some(2),
                rest_call: true,
                attrs: InfoAttrs {
                    user_count: true,
                    subscription_count: false,
                    cache: true,
                },
                join: Some(join),
                exclude: Some("3.4".into()),
                ttl_secs: 60.0,
                from_leaf: Some(5),
                count: Some(42),
                until: Some(60_000),
            }
        );
    }

    #[test]
    fn malformed_numbers_and_joins_are_absent() {
        let query = query_of(&[
            (param::LEAF, "-1"),
            (param::JOIN, "{"),
            (param::TTL, "soon"),
            (param::FROM_LEAF, "x"),
            (param::COUNT, "1.5"),
        ]);
        assert_eq!(query.leaf, None);
        assert_eq!(query.join, None);
        assert_eq!(query.ttl_secs, 1800.0);
        assert_eq!(query.from_leaf, None);
        assert_eq!(query.count, None);
    }
}
