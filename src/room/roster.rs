//! A presence channel's roster, derived from its live members (so it is right after
//! hibernation and after any session dies: a dead session's sockets are simply gone).

use super::contract::Member;
use crate::protocol::json_writer::{string_array, JsonObject};
use std::collections::BTreeMap;

/// Distinct users of a presence channel, each with the `user_info` of one of their sockets
/// and how many sockets (tabs) they have.
#[derive(Debug, Default, Clone)]
pub struct Roster<'a> {
    users: BTreeMap<&'a str, (Option<&'a str>, usize)>,
}

impl<'a> Roster<'a> {
    pub fn from_members(members: impl IntoIterator<Item = &'a Member>) -> Self {
        let mut roster = Roster::default();
        for member in members {
            roster.add(member);
        }
        roster
    }

    pub fn add(&mut self, member: &'a Member) {
        if let Some(user_id) = member.user_id.as_deref() {
            let entry = self
                .users
                .entry(user_id)
                .or_insert((member.user_info.as_deref(), 0));
            entry.1 += 1;
        }
    }

    /// A member without a live socket (absent, see `presence_book`), unless they have one.
    pub fn add_absent(&mut self, user_id: &'a str, info: Option<&'a str>) {
        self.users.entry(user_id).or_insert((info, 0));
    }

    pub fn contains(&self, user_id: &str) -> bool {
        self.users.contains_key(user_id)
    }

    /// The users' ids, in order.
    pub fn user_ids(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.users.keys().copied()
    }

    /// Distinct users.
    pub fn count(&self) -> usize {
        self.users.len()
    }

    /// The JSON (to be string-encoded) of `subscription_succeeded` on a presence channel:
    /// every id in `ids` has a `hash` entry (`null` without user_info); `count` is users.
    pub fn subscription_data(&self) -> String {
        let ids = string_array(self.users.keys().copied());
        let hash = self
            .users
            .iter()
            .fold(JsonObject::new(), |hash, (id, (info, _))| {
                hash.raw_at(id, info.unwrap_or("null"))
            })
            .finish();
        let presence = JsonObject::new()
            .raw("ids", &ids)
            .raw("hash", &hash)
            .value("count", self.users.len())
            .finish();
        JsonObject::new().raw("presence", &presence).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn member(socket: &str, user: &str, info: Option<&str>) -> Member {
        let mut m = Member::new(socket);
        m.user_id = Some(user.into());
        m.user_info = info.map(str::to_string);
        m
    }

    #[test]
    fn one_entry_per_user_and_every_id_hashed() {
        let members = [
            member("1.1", "7", Some(r#"{"name":"Ada"}"#)),
            member("1.2", "7", Some(r#"{"name":"Ada"}"#)),
            member("2.1", "9", None),
        ];
        let roster = Roster::from_members(&members);
        assert_eq!(roster.count(), 2);
        assert!(roster.contains("7") && roster.contains("9") && !roster.contains("8"));
        let data: Value = serde_json::from_str(&roster.subscription_data()).unwrap();
        assert_eq!(
            data,
            json!({"presence":{"ids":["7","9"],"hash":{"7":{"name":"Ada"},"9":null},"count":2}})
        );
        let empty = Roster::from_members(&[]);
        assert_eq!(
            serde_json::from_str::<Value>(&empty.subscription_data()).unwrap(),
            json!({"presence":{"ids":[],"hash":{},"count":0}})
        );
    }
}
