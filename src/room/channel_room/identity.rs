//! Who a channel room is: its app, its channel and, in a split channel, which leaf. Taken from
//! the room's Durable Object name at construction (see `contract::parse_room_name`). For one
//! release it is also still learnt, when a runtime gives no name, from requests, hibernated
//! sockets' records and storage (the first learnt stays), and saved to storage before the
//! first webhook, so a rollback to the version before stays safe.

use crate::room::contract::{parse_room_name, Member, RoomName};

#[derive(Debug, Default)]
pub(super) struct Identity {
    app_id: Option<String>,
    channel: Option<String>,
    leaf: Option<u32>,
    /// The name said so (not a request, a socket or storage).
    from_name: bool,
    /// Written to storage in this instance (the old `identity` key).
    saved: bool,
}

impl Identity {
    pub(super) fn from_name(name: Option<&str>) -> Identity {
        match name.and_then(parse_room_name) {
            Some(RoomName::Channel(address)) => Identity {
                app_id: Some(address.app_id),
                channel: Some(address.channel),
                leaf: address.leaf,
                from_name: true,
                saved: false,
            },
            _ => Identity::default(),
        }
    }

    pub(super) fn app_id(&self) -> Option<&str> {
        self.app_id.as_deref()
    }

    pub(super) fn channel(&self) -> Option<&str> {
        self.channel.as_deref()
    }

    pub(super) fn leaf(&self) -> Option<u32> {
        self.leaf
    }

    pub(super) fn is_from_name(&self) -> bool {
        self.from_name
    }

    /// The app and the channel, when both are known.
    pub(super) fn app_and_channel(&self) -> Option<(String, String)> {
        Some((self.app_id.clone()?, self.channel.clone()?))
    }

    /// Remembers the app and channel named by a request or storage (the first ones stay).
    pub(super) fn learn(&mut self, app_id: Option<&str>, channel: &str) {
        if let Some(app_id) = app_id.filter(|a| !a.is_empty()) {
            self.app_id.get_or_insert_with(|| app_id.to_string());
        }
        if !channel.is_empty() {
            self.channel.get_or_insert_with(|| channel.to_string());
        }
    }

    /// A request or a join says the room is leaf `n`.
    pub(super) fn learn_leaf(&mut self, leaf: Option<u32>) {
        if leaf.is_some() {
            self.leaf = leaf;
        }
    }

    /// Takes what is missing from a hibernated socket's record (one written by this room).
    pub(super) fn learn_from_socket(&mut self, record: &Member) {
        self.learn(Some(&record.app_id), &record.channel);
        self.learn_leaf(record.leaf);
    }

    pub(super) fn is_saved(&self) -> bool {
        self.saved
    }

    pub(super) fn set_saved(&mut self, saved: bool) {
        self.saved = saved;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::contract::{leaf_room_name, room_name};

    #[test]
    fn the_name_gives_the_identity() {
        let root = Identity::from_name(Some(&room_name("1", "presence-a")));
        assert_eq!(
            (root.app_id(), root.channel(), root.leaf()),
            (Some("1"), Some("presence-a"), None)
        );
        assert!(root.is_from_name());
        assert_eq!(
            root.app_and_channel(),
            Some(("1".into(), "presence-a".into()))
        );
        let leaf = Identity::from_name(Some(&leaf_room_name("1", "big", 4)));
        assert_eq!((leaf.channel(), leaf.leaf()), (Some("big"), Some(4)));
        for none in [None, Some("1#directory#0"), Some("junk")] {
            let unknown = Identity::from_name(none);
            assert!(!unknown.is_from_name());
            assert_eq!(unknown.app_and_channel(), None);
        }
    }

    #[test]
    fn the_first_identity_learnt_stays() {
        let mut identity = Identity::default();
        identity.learn(Some(""), "");
        assert_eq!((identity.app_id(), identity.channel()), (None, None));
        identity.learn(Some("1"), "chat");
        identity.learn(Some("2"), "other");
        assert_eq!(
            (identity.app_id(), identity.channel()),
            (Some("1"), Some("chat"))
        );
        let mut named = Identity::from_name(Some("1:chat"));
        named.learn(Some("2"), "other");
        assert_eq!(named.app_and_channel(), Some(("1".into(), "chat".into())));
    }

    #[test]
    fn a_socket_record_fills_in_what_is_missing() {
        let mut record = Member::new("1.2");
        record.channel = "chat".into();
        record.app_id = "7".into();
        record.leaf = Some(3);
        let mut identity = Identity::default();
        identity.learn_from_socket(&record);
        assert_eq!(
            (identity.app_id(), identity.channel(), identity.leaf()),
            (Some("7"), Some("chat"), Some(3))
        );

        // What the room already knows stays; an old record without an app id adds nothing.
        let mut identity = Identity::default();
        identity.learn(None, "chat");
        identity.learn_leaf(Some(1));
        record.channel = "other".into();
        record.app_id = String::new();
        record.leaf = None;
        identity.learn_from_socket(&record);
        assert_eq!(
            (identity.app_id(), identity.channel(), identity.leaf()),
            (None, Some("chat"), Some(1))
        );
    }
}
