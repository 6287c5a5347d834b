//! The typed requests of the rooms: [`RoomCall`] for a `ChannelRoom` (which room, whether it
//! serves a REST call, and the [`RoomRequest`]) and [`DirectoryRequest`] for a `UserDirectory`
//! shard, each encoded to and decoded from the wire in one place, with the route table that
//! also gives the rooms' 404s and 405s.

use super::{param, path, Join};
use crate::protocol::channel_info::InfoAttrs;
use crate::protocol::query::QueryParams;
use crate::protocol::wire::{
    number, required, text, InternalRequest, RouteRow, Verb, WireError, WireRequest,
};

/// Which channel room a call goes to: the channel's room, or leaf `n` of a split channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomAddress {
    pub app_id: String,
    pub channel: String,
    pub leaf: Option<u32>,
}

impl RoomAddress {
    pub fn channel(app_id: &str, channel: &str) -> RoomAddress {
        RoomAddress {
            app_id: app_id.to_string(),
            channel: channel.to_string(),
            leaf: None,
        }
    }

    pub fn leaf(app_id: &str, channel: &str, leaf: u32) -> RoomAddress {
        RoomAddress {
            leaf: Some(leaf),
            ..RoomAddress::channel(app_id, channel)
        }
    }
}

/// One call to a channel room.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomCall {
    pub to: RoomAddress,
    /// This call serves a REST call: the room counts it in the ledger (a REST call that
    /// touches several rooms marks only one).
    pub rest_call: bool,
    pub request: RoomRequest,
}

/// What a channel room is asked.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomRequest {
    /// The upgrade that makes a session's socket a subscriber (the join names the room).
    Subscribe(Box<Join>),
    /// A REST publish, or a root room's publish passed to a leaf.
    Publish {
        /// The `pusher:event`-shaped frame, serialised once by the sender.
        frame: String,
        /// A socket the publish leaves out (the REST `socket_id` exclusion).
        exclude: Option<String>,
        /// A cache channel's publish: whole seconds to keep the event (absent: the default).
        ttl_secs: Option<u32>,
        /// Channel attributes wanted in the answer.
        attrs: InfoAttrs,
    },
    /// The channel's attributes (`GET /apps/{id}/channels/{name}`); also wakes a room.
    Info { attrs: InfoAttrs },
    /// A presence channel's users (`GET /apps/{id}/channels/{name}/users`).
    Users,
    /// Closes every socket in the room (terminate_connections on a user channel).
    Terminate,
    /// A client event to deliver, from another room of the same split channel (`from_leaf`:
    /// the leaf it came from, when a leaf sends it to its root).
    Relay {
        frame: String,
        from_leaf: Option<u32>,
    },
    /// A leaf tells its root how many subscribers it has.
    LeafCount { from_leaf: u32, count: u64 },
    /// A debug console opened for the app: the room sends it lines until `until_ms` (Unix ms).
    Console { until_ms: u64 },
    /// Diagnostics: what the room holds in storage. Only the worker's own code reaches it.
    Storage,
    /// Diagnostics: who the room believes it is (app, channel, leaf) and whether its name
    /// said so. Only the worker's own code (and the tests, through the namespace) reach it.
    Identity,
}

/// The routes of a channel room, one per [`RoomRequest`] variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomRoute {
    Subscribe,
    Publish,
    Info,
    Users,
    Terminate,
    Relay,
    LeafCount,
    Console,
    Storage,
    Identity,
}

impl RoomCall {
    /// A session's subscribe: the join names the room.
    pub fn subscribe(join: Join) -> RoomCall {
        RoomCall {
            to: RoomAddress {
                app_id: join.app_id.clone(),
                channel: join.channel.clone(),
                leaf: join.leaf,
            },
            rest_call: false,
            request: RoomRequest::Subscribe(Box::new(join)),
        }
    }

    /// A call to `to` that does not serve a REST call.
    pub fn new(to: RoomAddress, request: RoomRequest) -> RoomCall {
        RoomCall {
            to,
            rest_call: false,
            request,
        }
    }

    /// A call that serves a REST call.
    pub fn rest(to: RoomAddress, request: RoomRequest) -> RoomCall {
        RoomCall {
            rest_call: true,
            ..RoomCall::new(to, request)
        }
    }

    pub fn route(&self) -> RoomRoute {
        match self.request {
            RoomRequest::Subscribe(_) => RoomRoute::Subscribe,
            RoomRequest::Publish { .. } => RoomRoute::Publish,
            RoomRequest::Info { .. } => RoomRoute::Info,
            RoomRequest::Users => RoomRoute::Users,
            RoomRequest::Terminate => RoomRoute::Terminate,
            RoomRequest::Relay { .. } => RoomRoute::Relay,
            RoomRequest::LeafCount { .. } => RoomRoute::LeafCount,
            RoomRequest::Console { .. } => RoomRoute::Console,
            RoomRequest::Storage => RoomRoute::Storage,
            RoomRequest::Identity => RoomRoute::Identity,
        }
    }
}

fn path_of(route: RoomRoute) -> &'static str {
    ROOM_ROUTES
        .iter()
        .find(|(_, _, r)| *r == route)
        .map_or(path::STORAGE, |(_, p, _)| p)
}

fn verb_of(route: RoomRoute) -> Verb {
    ROOM_ROUTES
        .iter()
        .find(|(_, _, r)| *r == route)
        .and_then(|(v, _, _)| *v)
        .unwrap_or(Verb::Get)
}

const ROOM_ROUTES: &[RouteRow<RoomRoute>] = &[
    (Some(Verb::Get), path::SUBSCRIBE, RoomRoute::Subscribe),
    (Some(Verb::Post), path::PUBLISH, RoomRoute::Publish),
    (Some(Verb::Get), path::INFO, RoomRoute::Info),
    (Some(Verb::Get), path::USERS, RoomRoute::Users),
    (Some(Verb::Post), path::TERMINATE, RoomRoute::Terminate),
    (Some(Verb::Post), path::RELAY, RoomRoute::Relay),
    (Some(Verb::Post), path::LEAF_COUNT, RoomRoute::LeafCount),
    (Some(Verb::Post), path::CONSOLE, RoomRoute::Console),
    (None, path::STORAGE, RoomRoute::Storage),
    (Some(Verb::Get), path::IDENTITY, RoomRoute::Identity),
];

impl InternalRequest for RoomCall {
    type Route = RoomRoute;
    const ROUTES: &'static [RouteRow<RoomRoute>] = ROOM_ROUTES;

    fn takes_body(route: RoomRoute) -> bool {
        matches!(route, RoomRoute::Publish | RoomRoute::Relay)
    }

    fn encode(&self) -> WireRequest {
        let route = self.route();
        let wire = WireRequest::new(verb_of(route), path_of(route));
        let wire = match &self.request {
            // The join carries the room's address itself.
            RoomRequest::Subscribe(join) => {
                return wire.param(param::JOIN, join.to_query_value()).upgrade()
            }
            _ => wire
                .param(param::APP, &self.to.app_id)
                .param(param::CHANNEL, &self.to.channel)
                .param_opt(param::LEAF, self.to.leaf)
                .flag(param::REST_CALL, self.rest_call),
        };
        match &self.request {
            RoomRequest::Publish {
                frame,
                exclude,
                ttl_secs,
                attrs,
            } => wire
                .param_opt(param::EXCLUDE, exclude.as_ref())
                .param_opt(param::TTL, *ttl_secs)
                .param_opt(param::INFO, info_param(*attrs))
                .body(frame.as_str()),
            RoomRequest::Info { attrs } => wire.param_opt(param::INFO, info_param(*attrs)),
            RoomRequest::Relay { frame, from_leaf } => wire
                .param_opt(param::FROM_LEAF, *from_leaf)
                .body(frame.as_str()),
            RoomRequest::LeafCount { from_leaf, count } => wire
                .param(param::FROM_LEAF, from_leaf)
                .param(param::COUNT, count),
            RoomRequest::Console { until_ms } => wire.param(param::UNTIL, until_ms),
            RoomRequest::Subscribe(_)
            | RoomRequest::Users
            | RoomRequest::Terminate
            | RoomRequest::Storage
            | RoomRequest::Identity => wire,
        }
    }

    fn decode(
        route: RoomRoute,
        query: &QueryParams,
        body: Option<String>,
    ) -> Result<RoomCall, WireError> {
        let to = RoomAddress {
            app_id: text(query, param::APP).unwrap_or_default(),
            channel: text(query, param::CHANNEL).unwrap_or_default(),
            leaf: number(query, param::LEAF),
        };
        let attrs = InfoAttrs::from_param(query.get(param::INFO).unwrap_or_default());
        let body = || body.clone().unwrap_or_default();
        let request = match route {
            RoomRoute::Subscribe => {
                let join = query.get(param::JOIN).and_then(Join::from_query_value);
                return Ok(RoomCall::subscribe(required(join, param::JOIN)?));
            }
            RoomRoute::Publish => RoomRequest::Publish {
                frame: body(),
                exclude: text(query, param::EXCLUDE),
                ttl_secs: number(query, param::TTL),
                attrs,
            },
            RoomRoute::Info => RoomRequest::Info { attrs },
            RoomRoute::Users => RoomRequest::Users,
            RoomRoute::Terminate => RoomRequest::Terminate,
            RoomRoute::Relay => RoomRequest::Relay {
                frame: body(),
                from_leaf: number(query, param::FROM_LEAF),
            },
            RoomRoute::LeafCount => RoomRequest::LeafCount {
                from_leaf: required(number(query, param::FROM_LEAF), param::FROM_LEAF)?,
                count: required(number(query, param::COUNT), param::COUNT)?,
            },
            RoomRoute::Console => RoomRequest::Console {
                until_ms: required(number(query, param::UNTIL), param::UNTIL)?,
            },
            RoomRoute::Storage => RoomRequest::Storage,
            RoomRoute::Identity => RoomRequest::Identity,
        };
        Ok(RoomCall {
            to,
            rest_call: query.get(param::REST_CALL).is_some(),
            request,
        })
    }
}

fn info_param(attrs: InfoAttrs) -> Option<String> {
    (!attrs.is_empty()).then(|| attrs.to_param())
}

/// What a user directory shard is asked: only the upgrade of a session that signed in (or
/// watches users homed on the shard). Its wire shape is a room subscribe's.
#[derive(Debug, Clone, PartialEq)]
pub enum DirectoryRequest {
    SignIn(Join),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryRoute {
    SignIn,
}

impl InternalRequest for DirectoryRequest {
    type Route = DirectoryRoute;
    const ROUTES: &'static [RouteRow<DirectoryRoute>] =
        &[(Some(Verb::Get), path::SUBSCRIBE, DirectoryRoute::SignIn)];

    fn takes_body(_route: DirectoryRoute) -> bool {
        false
    }

    fn encode(&self) -> WireRequest {
        let DirectoryRequest::SignIn(join) = self;
        WireRequest::new(Verb::Get, path::SUBSCRIBE)
            .param(param::JOIN, join.to_query_value())
            .upgrade()
    }

    fn decode(
        _route: DirectoryRoute,
        query: &QueryParams,
        _body: Option<String>,
    ) -> Result<DirectoryRequest, WireError> {
        let join = query.get(param::JOIN).and_then(Join::from_query_value);
        Ok(DirectoryRequest::SignIn(required(join, param::JOIN)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{query_of, round_trip, route_of};
    use crate::room::contract::Member;

    fn join() -> Join {
        Join {
            app_id: "1".into(),
            channel: "presence-a b".into(),
            member: Member::new("1.2"),
            max_members: 100,
            split_at: 50,
            leaf: Some(2),
            rejoin: None,
        }
    }

    fn every_call() -> Vec<RoomCall> {
        let to = RoomAddress::leaf("1", "cache-a b", 3);
        let attrs = InfoAttrs {
            user_count: true,
            subscription_count: false,
            cache: true,
        };
        vec![
            RoomCall::subscribe(join()),
            RoomCall::rest(
                to.clone(),
                RoomRequest::Publish {
                    frame: r#"{"event":"e","data":"é&"}"#.into(),
                    exclude: Some("3.4".into()),
                    ttl_secs: Some(60),
                    attrs,
                },
            ),
            RoomCall::new(
                to.clone(),
                RoomRequest::Publish {
                    frame: "{}".into(),
                    exclude: None,
                    ttl_secs: None,
                    attrs: InfoAttrs::default(),
                },
            ),
            RoomCall::rest(to.clone(), RoomRequest::Info { attrs }),
            RoomCall::new(
                RoomAddress::channel("1", "a"),
                RoomRequest::Info {
                    attrs: InfoAttrs::default(),
                },
            ),
            RoomCall::rest(to.clone(), RoomRequest::Users),
            RoomCall::rest(to.clone(), RoomRequest::Terminate),
            RoomCall::new(
                to.clone(),
                RoomRequest::Relay {
                    frame: "{}".into(),
                    from_leaf: Some(5),
                },
            ),
            RoomCall::new(
                to.clone(),
                RoomRequest::Relay {
                    frame: "{}".into(),
                    from_leaf: None,
                },
            ),
            RoomCall::new(
                to.clone(),
                RoomRequest::LeafCount {
                    from_leaf: 5,
                    count: 42,
                },
            ),
            RoomCall::new(to.clone(), RoomRequest::Console { until_ms: 60_000 }),
            RoomCall::new(to.clone(), RoomRequest::Storage),
            RoomCall::new(to, RoomRequest::Identity),
        ]
    }

    #[test]
    fn every_room_request_round_trips() {
        for call in every_call() {
            assert_eq!(round_trip(&call).as_ref(), Ok(&call), "{call:?}");
        }
        let sign_in = DirectoryRequest::SignIn(join());
        assert_eq!(round_trip(&sign_in), Ok(sign_in.clone()));
        // A directory shard's sign-in and a room's subscribe are one wire shape.
        assert_eq!(sign_in.encode(), RoomCall::subscribe(join()).encode());
    }

    #[test]
    fn the_wire_shape_is_pinned() {
        // Old and new versions run side by side during a deploy: these may only grow.
        let publish = &every_call()[1];
        let wire = publish.encode();
        assert_eq!(
            (wire.verb, wire.path, wire.upgrade),
            (Verb::Post, "/publish", false)
        );
        assert_eq!(
            wire.url("room"),
            "https://room/publish?v=1&app=1&channel=cache-a%20b&leaf=3&rest=1&exclude=3.4&ttl=60&info=uc"
        );
        assert_eq!(wire.body.as_deref(), Some(r#"{"event":"e","data":"é&"}"#));
        let subscribe = RoomCall::subscribe(join()).encode();
        assert!(subscribe.upgrade);
        assert!(subscribe
            .url("room")
            .starts_with("https://room/subscribe?v=1&join=%7B"));
        let count = every_call()[9].encode();
        assert_eq!(
            count.url("room"),
            "https://room/leaf-count?v=1&app=1&channel=cache-a%20b&leaf=3&from=5&count=42"
        );
    }

    #[test]
    fn unknown_parameters_are_ignored_and_old_senders_are_read() {
        // A sender from before versions (no `v`) and a newer one with a parameter we don't know.
        let query = QueryParams::parse("app=1&channel=c&rest=1&info=s&future=x");
        let call = RoomCall::decode(RoomRoute::Info, &query, None).unwrap();
        assert_eq!(
            call,
            RoomCall::rest(
                RoomAddress::channel("1", "c"),
                RoomRequest::Info {
                    attrs: InfoAttrs {
                        subscription_count: true,
                        ..InfoAttrs::default()
                    }
                }
            )
        );
    }

    #[test]
    fn missing_or_malformed_parameters_are_refused_or_absent() {
        let bad = |route, q: &str| RoomCall::decode(route, &QueryParams::parse(q), None);
        assert_eq!(
            bad(RoomRoute::Subscribe, "join=%7B").unwrap_err().status(),
            400
        );
        assert_eq!(
            bad(RoomRoute::LeafCount, "from=1&count=1.5")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            bad(RoomRoute::Console, "until=soon").unwrap_err().status(),
            400
        );
        let lenient = bad(RoomRoute::Publish, "leaf=-1&ttl=soon").unwrap();
        assert_eq!(lenient.to.leaf, None);
        assert!(matches!(
            lenient.request,
            RoomRequest::Publish { ttl_secs: None, .. }
        ));
        let wire = RoomCall::new(RoomAddress::channel("1", "a"), RoomRequest::Users).encode();
        assert_eq!(query_of(&wire).get(param::REST_CALL), None);
    }

    #[test]
    fn the_route_table_gives_405_and_404() {
        let routes = RoomCall::ROUTES;
        assert_eq!(
            route_of(routes, "GET", path::SUBSCRIBE),
            Ok(RoomRoute::Subscribe)
        );
        assert_eq!(
            route_of(routes, "POST", path::SUBSCRIBE),
            Err(WireError::MethodNotAllowed)
        );
        assert_eq!(
            route_of(routes, "GET", path::PUBLISH),
            Err(WireError::MethodNotAllowed)
        );
        assert_eq!(
            route_of(routes, "GET", path::CONSOLE),
            Err(WireError::MethodNotAllowed)
        );
        assert_eq!(
            route_of(routes, "POST", path::STORAGE),
            Ok(RoomRoute::Storage)
        );
        assert_eq!(route_of(routes, "GET", "/nope"), Err(WireError::NotFound));
        let directory = DirectoryRequest::ROUTES;
        assert_eq!(
            route_of(directory, "GET", path::PUBLISH),
            Err(WireError::NotFound)
        );
    }
}
