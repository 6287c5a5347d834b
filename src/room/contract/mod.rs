//! The rooms' wire contract, pure data: everything the edge session, the REST API and the
//! rooms themselves agree on to talk to a `ChannelRoom` or a `UserDirectory` shard — the
//! `Member` attachment, the `Join`, the typed requests (`request`), paths, query parameters,
//! statuses, headers and Durable Object names. Reaching an object is `room::client`'s job.

mod rejoin;
mod request;

#[cfg(test)]
pub use rejoin::REJOIN_JITTER_MS;
pub use rejoin::{
    new_epoch, number_from_header, rejoin_deadline_ms, rejoin_spread_ms, rejoin_window_ms,
    Departure, Rejoin, CLIENT_LOST_CLOSE, EPOCH_HEADER, REJOIN_WINDOW_MS, SIZE_HEADER,
};
pub use request::{DirectoryRequest, RoomAddress, RoomCall, RoomRequest};

use serde::{Deserialize, Serialize};

/// The Durable Object namespace binding of channel rooms (see wrangler.toml).
pub const CHANNELS_BINDING: &str = "CHANNELS";
/// The Durable Object namespace binding of the per-app user directories (watchlists).
pub const DIRECTORY_BINDING: &str = "DIRECTORY";

/// One subscription of one client connection to one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    #[serde(rename = "s")]
    pub socket_id: String,
    /// The session's attempt number: with the socket id, names this one socket even when
    /// the same connection leaves and rejoins the channel.
    #[serde(rename = "n", default)]
    pub attempt: u64,
    /// Presence channels and user channels: the user this socket belongs to.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Presence channels: the `user_info` JSON text from the signed `channel_data`.
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub user_info: Option<String>,
    /// The app wants `pusher_internal:subscription_count` on this channel.
    #[serde(rename = "c", default, skip_serializing_if = "std::ops::Not::not")]
    pub count_subscriptions: bool,
    /// The channel, set by the room, so a room woken from hibernation knows its name.
    #[serde(rename = "h", default, skip_serializing_if = "String::is_empty")]
    pub channel: String,
    /// The app, set by the room, so a room woken from hibernation knows whose ledger to feed.
    #[serde(rename = "a", default, skip_serializing_if = "String::is_empty")]
    pub app_id: String,
    /// Set when the socket is in a leaf room of a split channel: which leaf.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub leaf: Option<u32>,
    /// Directory sockets: the user ids this connection watches.
    #[serde(rename = "w", default, skip_serializing_if = "Vec::is_empty")]
    pub watchlist: Vec<String>,
    /// User channels: when the connection signed in (Unix ms), so a user channel's room can
    /// refuse a late join from a connection that a terminate already covered.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub signed_in_ms: Option<u64>,
    /// Set by the room: the epoch of the instance that accepted the socket, so an instance
    /// woken from hibernation keeps it (see `rejoin`).
    #[serde(rename = "e", default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
    /// Presence channels: how long the member stays (absent) after their connection drops
    /// without a clean close (`limits.presence_grace_ms`; 0: leaves at once).
    #[serde(rename = "g", default, skip_serializing_if = "is_zero")]
    pub presence_grace_ms: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Member {
    /// Whether `other` is the record of the very same socket.
    pub fn same_socket(&self, other: &Member) -> bool {
        self.socket_id == other.socket_id && self.attempt == other.attempt
    }

    pub fn new(socket_id: impl Into<String>) -> Self {
        Member {
            socket_id: socket_id.into(),
            attempt: 0,
            user_id: None,
            user_info: None,
            count_subscriptions: false,
            channel: String::new(),
            app_id: String::new(),
            leaf: None,
            watchlist: Vec::new(),
            signed_in_ms: None,
            epoch: 0,
            presence_grace_ms: 0,
        }
    }
}

/// A session's request to join a room: what the room needs to accept the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// Set by the session just before the upgrade.
    #[serde(default)]
    pub app_id: String,
    pub channel: String,
    pub member: Member,
    /// Presence member limit (distinct users).
    pub max_members: usize,
    /// Subscribers past which the channel's room sends new ones to leaf rooms (0: never).
    #[serde(default)]
    pub split_at: usize,
    /// Set by the session when the channel's room sent it to one of its leaves.
    #[serde(default)]
    pub leaf: Option<u32>,
    /// Set when the session rejoins the room it was in after its socket closed under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejoin: Option<Rejoin>,
}

impl Join {
    /// The join travels as one JSON query parameter of the upgrade request.
    pub fn to_query_value(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_query_value(value: &str) -> Option<Join> {
        crate::protocol::json_read::from_text(value).ok()
    }
}

/// Query parameter names of the internal requests.
pub mod param {
    /// The JSON [`super::Join`] of a subscribe upgrade.
    pub const JOIN: &str = "join";
    pub const CHANNEL: &str = "channel";
    /// A publish leaves this socket out (the REST `socket_id` exclusion).
    pub const EXCLUDE: &str = "exclude";
    /// Whole seconds a cache channel keeps a published event.
    pub const TTL: &str = "ttl";
    /// The app whose channel this is (for the ledger).
    pub const APP: &str = "app";
    /// The request serves a REST call: count it in the ledger.
    pub const REST_CALL: &str = "rest";
    /// Channel attributes wanted in the answer (`InfoAttrs::to_param`).
    pub const INFO: &str = "info";
    /// The request is for leaf `n` of a split channel (from its root room).
    pub const LEAF: &str = "leaf";
    /// A client event relayed between a split channel's rooms came from this leaf.
    pub const FROM_LEAF: &str = "from";
    /// Subscribers of the reporting leaf.
    pub const COUNT: &str = "count";
    /// A debug console's lease: Unix ms until which the room sends it lines.
    pub const UNTIL: &str = "until";
}

/// Paths the rooms answer (the host part of internal URLs is ignored).
pub mod path {
    pub const SUBSCRIBE: &str = "/subscribe";
    pub const PUBLISH: &str = "/publish";
    /// Closes every socket in the room (terminate_connections on a user channel).
    pub const TERMINATE: &str = "/terminate";
    /// The channel's attributes (`GET /apps/{id}/channels/{name}`).
    pub const INFO: &str = "/info";
    /// A presence channel's users (`GET /apps/{id}/channels/{name}/users`).
    pub const USERS: &str = "/users";
    /// A client event to deliver, from another room of the same split channel.
    pub const RELAY: &str = "/relay";
    /// A leaf tells its root how many subscribers it has (when it empties).
    pub const LEAF_COUNT: &str = "/leaf-count";
    /// A debug console opened for the app: the room sends it lines until the lease ends.
    pub const CONSOLE: &str = "/console";
    /// Diagnostics: what the room holds in storage (keys, SQLite tables and rows, alarm).
    /// Only the worker's own code can reach a room; nothing public routes here.
    pub const STORAGE: &str = "/storage";
    /// Diagnostics: who the room believes it is. Only the worker's own code reaches it.
    pub const IDENTITY: &str = "/identity";
}

// A room that ends its sockets on the app's request (terminate_connections) closes them with
// `close_codes::UNAUTHORIZED` (4009); the session closes its client with the same code, so
// pusher-js does not reconnect. Any other close means "reconnect" (4200).

/// Status of a user channel's answer to a join from a connection that signed in before the
/// user's connections were terminated: the session closes its client as terminated.
pub const TERMINATED_STATUS: u16 = 410;

/// Status of a presence room's refusal of a join past `max_members`: the session refuses the
/// subscription with `LimitReached`.
pub const PRESENCE_FULL_STATUS: u16 = 403;

/// Status of a room's refusal of a publish once the app is over its monthly broadcast quota:
/// the REST API answers 403 too.
pub const OVER_QUOTA_STATUS: u16 = 403;

/// Response header of a channel room that sends a subscriber to a leaf: the leaf's number.
pub const LEAF_HEADER: &str = "x-leaf";
/// Response header of publishes and info requests: the room's subscribers.
pub const SUBSCRIBERS_HEADER: &str = "x-subscribers";
/// Response header of a publish: how many sockets it reached.
pub const DELIVERED_HEADER: &str = "x-delivered";
/// Status of a room's answer that sends a subscriber to a leaf.
pub const GO_TO_LEAF_STATUS: u16 = 409;

/// A room's (or directory shard's) refusal of a join: its HTTP status (0 when the object
/// could not be reached) and why, in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRefusal {
    pub status: u16,
    pub why: String,
}

impl RoomRefusal {
    pub fn new(status: u16, why: impl Into<String>) -> RoomRefusal {
        RoomRefusal {
            status,
            why: why.into(),
        }
    }

    /// The object could not be reached at all.
    pub fn unreachable(why: impl ToString) -> RoomRefusal {
        RoomRefusal::new(0, why.to_string())
    }
}

/// The Durable Object name of a channel's room: one per (app, channel).
pub fn room_name(app_id: &str, channel: &str) -> String {
    format!("{app_id}:{channel}")
}

/// The Durable Object name of leaf `n` of a split channel (`#` never appears in channel
/// names after their first character, so these cannot collide with a channel's room).
pub fn leaf_room_name(app_id: &str, channel: &str, leaf: u32) -> String {
    format!("{app_id}:{channel}#{leaf}")
}

/// The Durable Object name of one of an app's user directory shards.
pub fn directory_shard_name(app_id: &str, shard: u32) -> String {
    format!("{app_id}#directory#{shard}")
}

/// What a room's Durable Object name says it is: the inverse of [`room_name`],
/// [`leaf_room_name`] and [`directory_shard_name`]. A room learns its identity from it in its
/// constructor, so it knows who it is before any request, after a hibernation and in an alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomName {
    Channel(RoomAddress),
    DirectoryShard { app_id: String, shard: u32 },
}

pub fn parse_room_name(name: &str) -> Option<RoomName> {
    // App ids never contain ':' or '#'; channel names hold '#' only as their first character.
    if let Some((app_id, rest)) = name.split_once(':') {
        let leaf = rest
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == '#')
            .map(|(at, _)| (&rest[..at], &rest[at + 1..]));
        return match leaf {
            Some((channel, leaf)) => Some(RoomName::Channel(RoomAddress::leaf(
                app_id,
                channel,
                digits(leaf)?,
            ))),
            None => Some(RoomName::Channel(RoomAddress::channel(app_id, rest))),
        }
        .filter(|_| !app_id.is_empty() && !rest.is_empty());
    }
    let (app_id, shard) = name.split_once("#directory#")?;
    (!app_id.is_empty()).then_some(())?;
    Some(RoomName::DirectoryShard {
        app_id: app_id.to_string(),
        shard: digits(shard)?,
    })
}

/// A number written by `format!("{n}")`: ASCII digits only.
fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_per_app() {
        // App ids and channel names never contain ':', so the name is unambiguous.
        assert_eq!(room_name("1", "chat"), "1:chat");
        assert_ne!(room_name("1", "2chat"), room_name("12", "chat"));
        assert_eq!(leaf_room_name("1", "chat", 2), "1:chat#2");
        assert_eq!(directory_shard_name("app", 2), "app#directory#2");
    }

    #[test]
    fn names_parse_back_to_what_built_them() {
        for (app, channel) in [
            ("1", "chat"),
            ("app-1", "presence-room.a_b=c@d,e;f"),
            ("1", "#server-to-user-42"),
            ("1", "private-encrypted-x"),
        ] {
            assert_eq!(
                parse_room_name(&room_name(app, channel)),
                Some(RoomName::Channel(RoomAddress::channel(app, channel)))
            );
            for leaf in [0, 7, u32::MAX] {
                assert_eq!(
                    parse_room_name(&leaf_room_name(app, channel, leaf)),
                    Some(RoomName::Channel(RoomAddress::leaf(app, channel, leaf)))
                );
            }
            assert_eq!(
                parse_room_name(&directory_shard_name(app, 3)),
                Some(RoomName::DirectoryShard {
                    app_id: app.into(),
                    shard: 3
                })
            );
        }
        for junk in [
            "",
            ":",
            "1:",
            ":chat",
            "1:chat#",
            "1:chat#x",
            "1:chat#-1",
            "1",
            "#directory#1",
            "1#directory#",
            "1#directory#+1",
        ] {
            assert_eq!(parse_room_name(junk), None, "{junk:?}");
        }
    }

    /// A rolling update runs sessions and rooms of two releases side by side: each must read
    /// the other's join.
    #[test]
    fn joins_of_the_release_before_and_after_read_both_ways() {
        // A session of the release before: no rejoin, members without epoch or grace.
        let before = r#"{"app_id":"1","channel":"presence-a","member":{"s":"1.2","n":3,"u":"7"},
            "max_members":100,"split_at":0,"leaf":null}"#;
        let join = Join::from_query_value(before).unwrap();
        assert_eq!(join.rejoin, None, "a first join");
        assert_eq!((join.member.epoch, join.member.presence_grace_ms), (0, 0));
        // A room of the release before reads this release's rejoin as a first join: the
        // shape it knew, with the new fields ignored.
        #[derive(Deserialize)]
        struct MemberBefore {
            s: String,
            n: u64,
            u: Option<String>,
        }
        #[derive(Deserialize)]
        struct JoinBefore {
            channel: String,
            member: MemberBefore,
            max_members: usize,
        }
        let mut member = Member::new("1.2");
        member.user_id = Some("7".into());
        member.epoch = 9;
        member.presence_grace_ms = 5_000;
        let now = Join {
            app_id: "1".into(),
            channel: "presence-a".into(),
            member,
            max_members: 100,
            split_at: 0,
            leaf: None,
            rejoin: Some(Rejoin { epoch: 9, size: 2 }),
        };
        let read: JoinBefore = serde_json::from_str(&now.to_query_value()).unwrap();
        assert_eq!(
            (read.channel.as_str(), read.max_members),
            ("presence-a", 100)
        );
        assert_eq!((read.member.s.as_str(), read.member.n), ("1.2", 0));
        assert_eq!(read.member.u.as_deref(), Some("7"));
        // ... and answers with no epoch: the session then knows none (and asks for it all).
        assert_eq!(number_from_header(None), 0);
    }

    #[test]
    fn attachments_are_compact_and_round_trip() {
        let plain = Member::new("1.2");
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"s":"1.2","n":0}"#
        );
        let full = Member {
            socket_id: "1.2".into(),
            attempt: 3,
            user_id: Some("7".into()),
            user_info: Some(r#"{"name":"Ada"}"#.into()),
            count_subscriptions: true,
            channel: "presence-a".into(),
            app_id: "1".into(),
            leaf: Some(2),
            watchlist: vec!["8".into()],
            signed_in_ms: Some(1_700_000_000_000),
            epoch: 42,
            presence_grace_ms: 30_000,
        };
        let json = serde_json::to_string(&full).unwrap();
        assert_eq!(serde_json::from_str::<Member>(&json).unwrap(), full);
        let join = Join {
            app_id: "1".into(),
            channel: "presence-a".into(),
            member: full,
            max_members: 100,
            split_at: 50,
            leaf: None,
            rejoin: Some(Rejoin { epoch: 7, size: 3 }),
        };
        assert_eq!(Join::from_query_value(&join.to_query_value()), Some(join));
        assert_eq!(Join::from_query_value("nope"), None);
    }
}
