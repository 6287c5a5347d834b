//! The session's channel sockets, by channel: each one being opened or open, under a
//! numbered attempt so a late answer to an abandoned attempt is told from the current one.

use crate::protocol::channel_name::ChannelKind;
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
    /// The member id on a presence channel, added to client events.
    pub(super) presence_user_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Subscriptions {
    by_channel: BTreeMap<String, Subscription>,
    next_attempt: u64,
}

impl Subscriptions {
    pub(super) fn get(&self, channel: &str) -> Option<&Subscription> {
        self.by_channel.get(channel)
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

    /// Starts opening `channel` (replacing any earlier attempt); returns the new attempt.
    pub(super) fn start(
        &mut self,
        channel: String,
        kind: ChannelKind,
        presence_user_id: Option<String>,
    ) -> u64 {
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        let phase = Phase::Opening(attempt);
        self.by_channel.insert(
            channel,
            Subscription {
                phase,
                kind,
                presence_user_id,
            },
        );
        attempt
    }

    /// The room accepted `attempt`'s socket: true (and now open) if it is still the wanted one.
    pub(super) fn opened(&mut self, channel: &str, attempt: u64) -> bool {
        match self.by_channel.get_mut(channel) {
            Some(sub) if sub.phase == Phase::Opening(attempt) => {
                sub.phase = Phase::Open(attempt);
                true
            }
            _ => false,
        }
    }

    pub(super) fn remove(&mut self, channel: &str) {
        self.by_channel.remove(channel);
    }

    /// Forgets every channel; returns those whose socket is open (and must be closed).
    pub(super) fn take_open(&mut self) -> Vec<String> {
        std::mem::take(&mut self.by_channel)
            .into_iter()
            .filter(|(_, sub)| matches!(sub.phase, Phase::Open(_)))
            .map(|(channel, _)| channel)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_numbered_and_only_the_current_one_opens() {
        let mut subs = Subscriptions::default();
        let first = subs.start("a".into(), ChannelKind::Public, None);
        let second = subs.start("a".into(), ChannelKind::Public, None);
        assert_ne!(first, second);
        assert!(!subs.opened("a", first));
        assert_eq!(subs.phase("a"), Some(Phase::Opening(second)));
        assert!(subs.opened("a", second));
        assert_eq!(subs.phase("a"), Some(Phase::Open(second)));
        assert!(!subs.opened("a", second), "already open");
        assert!(!subs.opened("b", second), "never started");
    }

    #[test]
    fn take_open_forgets_everything_and_names_the_open_sockets() {
        let mut subs = Subscriptions::default();
        let a = subs.start("a".into(), ChannelKind::Public, None);
        subs.start("b".into(), ChannelKind::Public, None);
        subs.opened("a", a);
        assert_eq!(subs.channels().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(subs.take_open(), ["a"]);
        assert!(!subs.contains("a") && !subs.contains("b"));
    }

    #[test]
    fn a_presence_member_id_is_kept_for_client_events() {
        let mut subs = Subscriptions::default();
        subs.start("presence-p".into(), ChannelKind::Presence, Some("7".into()));
        let sub = subs.get("presence-p").unwrap();
        assert_eq!(sub.presence_user_id.as_deref(), Some("7"));
        assert_eq!(sub.kind, ChannelKind::Presence);
        subs.remove("presence-p");
        assert!(subs.get("presence-p").is_none());
    }
}
