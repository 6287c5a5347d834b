//! The session's channel sockets, by channel: each one being opened or open, under a
//! numbered attempt so a late answer to an abandoned attempt is told from the current one.

use crate::protocol::channel_name::ChannelKind;
use crate::room::contract::Member;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Opening(u64),
    Open(u64),
}

#[derive(Debug, Clone)]
pub(super) struct Subscription {
    pub(super) phase: Phase,
    pub(super) kind: ChannelKind,
    /// The member record the room gets (verified presence data, the watchlist of a
    /// directory socket), kept to rejoin with.
    pub(super) member: Member,
    /// The room as its answer to the upgrade described it.
    pub(super) room: RoomSeen,
    /// Set while the session rejoins the room after its socket closed: since when.
    pub(super) rejoining: Option<Rejoining>,
}

/// What the session knows of the room its socket is in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomSeen {
    /// The instance's epoch (0: not known).
    pub epoch: u64,
    /// Its subscribers, when the session joined (0: not known).
    pub size: u64,
    /// The leaf of a split channel.
    pub leaf: Option<u32>,
}

/// A rejoin in progress.
#[derive(Debug, Clone, Default)]
pub(super) struct Rejoining {
    pub(super) since_ms: f64,
    pub(super) tries: u32,
    /// Client events sent meanwhile, sent up once the socket is back.
    pub(super) held: Vec<String>,
}

impl Subscription {
    /// The member id on a presence channel, added to client events.
    pub(super) fn presence_user_id(&self) -> Option<&str> {
        match self.kind.is_presence() {
            true => self.member.user_id.as_deref(),
            false => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Subscriptions {
    /// Boxed: a B-tree node has room for 11 entries however few it holds, and most sessions
    /// hold one to a few channels (11 unboxed subscriptions were ~2 KB of Wasm memory each).
    by_channel: BTreeMap<String, Box<Subscription>>,
    next_attempt: u64,
}

impl Subscriptions {
    pub(super) fn get(&self, channel: &str) -> Option<&Subscription> {
        self.by_channel.get(channel).map(|sub| &**sub)
    }

    pub(super) fn phase(&self, channel: &str) -> Option<Phase> {
        self.get(channel).map(|s| s.phase)
    }

    pub(super) fn contains(&self, channel: &str) -> bool {
        self.by_channel.contains_key(channel)
    }

    pub(super) fn channels(&self) -> impl Iterator<Item = &str> {
        self.by_channel.keys().map(String::as_str)
    }

    pub(super) fn get_mut(&mut self, channel: &str) -> Option<&mut Subscription> {
        self.by_channel.get_mut(channel).map(|sub| &mut **sub)
    }

    fn take_attempt(&mut self) -> u64 {
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        attempt
    }

    /// Starts opening `channel` (replacing any earlier attempt); returns the new attempt.
    pub(super) fn start(&mut self, channel: String, kind: ChannelKind, member: Member) -> u64 {
        let attempt = self.take_attempt();
        let subscription = Subscription {
            phase: Phase::Opening(attempt),
            kind,
            member,
            room: RoomSeen::default(),
            rejoining: None,
        };
        self.by_channel.insert(channel, Box::new(subscription));
        attempt
    }

    /// Starts opening `channel` again under a new attempt (a rejoin, or its next try):
    /// returns it, with the subscription, or `None` if the channel is not subscribed.
    pub(super) fn restart(&mut self, channel: &str, now_ms: f64) -> Option<(u64, &Subscription)> {
        let attempt = self.take_attempt();
        let sub = self.by_channel.get_mut(channel)?;
        sub.phase = Phase::Opening(attempt);
        let rejoining = sub.rejoining.get_or_insert_with(|| Rejoining {
            since_ms: now_ms,
            ..Rejoining::default()
        });
        rejoining.tries += 1;
        Some((attempt, sub))
    }

    /// The room accepted `attempt`'s socket: true (and now open) if it is still the wanted one.
    /// A rejoin is over: the client events held meanwhile are returned, to send up.
    pub(super) fn opened(
        &mut self,
        channel: &str,
        attempt: u64,
        room: RoomSeen,
    ) -> Option<Vec<String>> {
        match self.by_channel.get_mut(channel) {
            Some(sub) if sub.phase == Phase::Opening(attempt) => {
                sub.phase = Phase::Open(attempt);
                // A room of the release before tells no size: the last one known stays.
                let size = if room.size == 0 {
                    sub.room.size
                } else {
                    room.size
                };
                sub.room = RoomSeen { size, ..room };
                Some(sub.rejoining.take().map(|r| r.held).unwrap_or_default())
            }
            _ => None,
        }
    }

    pub(super) fn remove(&mut self, channel: &str) {
        self.by_channel.remove(channel);
    }

    /// Forgets every channel; returns those whose socket is open (and must be closed), and
    /// those being rejoined (whose new room instance may never hear from the session).
    pub(super) fn take_all(&mut self) -> (Vec<String>, Vec<String>) {
        let mut open = Vec::new();
        let mut rejoining = Vec::new();
        for (channel, sub) in std::mem::take(&mut self.by_channel) {
            match sub.phase {
                Phase::Open(_) => open.push(channel),
                Phase::Opening(_) if sub.rejoining.is_some() => rejoining.push(channel),
                Phase::Opening(_) => {}
            }
        }
        (open, rejoining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(epoch: u64, leaf: Option<u32>) -> RoomSeen {
        RoomSeen {
            epoch,
            size: 10,
            leaf,
        }
    }

    #[test]
    fn attempts_are_numbered_and_only_the_current_one_opens() {
        let mut subs = Subscriptions::default();
        let first = subs.start("a".into(), ChannelKind::Public, Member::new("1.1"));
        let second = subs.start("a".into(), ChannelKind::Public, Member::new("1.1"));
        assert_ne!(first, second);
        assert!(subs.opened("a", first, seen(5, None)).is_none());
        assert_eq!(subs.phase("a"), Some(Phase::Opening(second)));
        assert_eq!(subs.opened("a", second, seen(5, Some(2))), Some(Vec::new()));
        assert_eq!(subs.phase("a"), Some(Phase::Open(second)));
        assert_eq!(subs.get("a").unwrap().room, seen(5, Some(2)));
        // A room that tells no size (the release before) leaves the last one known.
        let (third, _) = subs.restart("a", 0.0).unwrap();
        let untold = RoomSeen {
            size: 0,
            ..seen(6, None)
        };
        subs.opened("a", third, untold);
        assert_eq!(subs.get("a").unwrap().room, seen(6, None));
        assert!(
            subs.opened("a", second, seen(5, None)).is_none(),
            "already open"
        );
        assert!(
            subs.opened("b", second, seen(5, None)).is_none(),
            "never started"
        );
    }

    #[test]
    fn take_all_forgets_everything_and_names_the_open_and_rejoining_sockets() {
        let mut subs = Subscriptions::default();
        let a = subs.start("a".into(), ChannelKind::Public, Member::new("1.1"));
        subs.start("b".into(), ChannelKind::Public, Member::new("1.1"));
        subs.opened("a", a, seen(0, None));
        assert_eq!(subs.channels().collect::<Vec<_>>(), ["a", "b"]);
        let c = subs.start("c".into(), ChannelKind::Public, Member::new("1.1"));
        subs.opened("c", c, seen(0, None));
        subs.restart("c", 0.0);
        assert_eq!(
            subs.take_all(),
            (vec!["a".to_string()], vec!["c".to_string()])
        );
        assert!(!subs.contains("a") && !subs.contains("b"));
    }

    #[test]
    fn a_presence_member_id_is_kept_for_client_events() {
        let mut subs = Subscriptions::default();
        let mut member = Member::new("1.1");
        member.user_id = Some("7".into());
        subs.start("presence-p".into(), ChannelKind::Presence, member.clone());
        let sub = subs.get("presence-p").unwrap();
        assert_eq!(sub.presence_user_id(), Some("7"));
        assert_eq!(sub.kind, ChannelKind::Presence);
        subs.start(
            "#server-to-user-7".into(),
            ChannelKind::ServerToUser,
            member,
        );
        assert_eq!(
            subs.get("#server-to-user-7").unwrap().presence_user_id(),
            None
        );
        subs.remove("presence-p");
        assert!(subs.get("presence-p").is_none());
    }

    #[test]
    fn a_rejoin_keeps_its_start_counts_its_tries_and_hands_back_held_events() {
        let mut subs = Subscriptions::default();
        let first = subs.start("a".into(), ChannelKind::Private, Member::new("1.1"));
        subs.opened("a", first, seen(7, None));
        let (second, _) = subs.restart("a", 100.0).unwrap();
        let (third, sub) = subs.restart("a", 200.0).unwrap();
        assert!(second > first && third > second);
        let rejoining = sub.rejoining.as_ref().unwrap();
        assert_eq!((rejoining.since_ms, rejoining.tries), (100.0, 2));
        subs.get_mut("a")
            .unwrap()
            .rejoining
            .as_mut()
            .unwrap()
            .held
            .push("e".into());
        assert!(
            subs.opened("a", second, seen(8, None)).is_none(),
            "an abandoned try"
        );
        assert_eq!(
            subs.opened("a", third, seen(8, None)),
            Some(vec!["e".to_string()])
        );
        assert!(subs.get("a").unwrap().rejoining.is_none());
        assert!(subs.restart("b", 0.0).is_none());
    }
}
