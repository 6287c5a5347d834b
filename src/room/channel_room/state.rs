//! What a channel room keeps in memory between requests, and the small types that say which
//! parts of it this instance has read yet (from the hibernated sockets, storage or the leaves).

use super::identity::Identity;
use crate::ledger::report::Feed;
use crate::room::contract::Member;
use crate::room::count_throttle::CountThrottle;
use serde::{Deserialize, Serialize};
use worker::WebSocket;

/// A cache channel's last event, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct CachedEvent {
    pub(super) frame: String,
    pub(super) expires_at_ms: f64,
}

/// Something an instance reads once, on first use after the object starts, and then keeps
/// up to date in memory: the hibernated sockets, a split channel's leaf counts.
#[derive(Debug, Default)]
pub(super) enum LoadOnce<T> {
    #[default]
    NotLoaded,
    Loaded(T),
}

impl<T> LoadOnce<T> {
    pub(super) fn is_loaded(&self) -> bool {
        matches!(self, LoadOnce::Loaded(_))
    }

    pub(super) fn loaded(&self) -> Option<&T> {
        match self {
            LoadOnce::Loaded(value) => Some(value),
            LoadOnce::NotLoaded => None,
        }
    }

    pub(super) fn loaded_mut(&mut self) -> Option<&mut T> {
        match self {
            LoadOnce::Loaded(value) => Some(value),
            LoadOnce::NotLoaded => None,
        }
    }

    /// The value, loaded with `load` first if it is not yet.
    pub(super) fn get_or_load(&mut self, load: impl FnOnce() -> T) -> &mut T {
        if let LoadOnce::NotLoaded = self {
            *self = LoadOnce::Loaded(load());
        }
        match self {
            LoadOnce::Loaded(value) => value,
            LoadOnce::NotLoaded => unreachable!("loaded just above"),
        }
    }
}

/// A cache channel's last event, as this instance knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum CacheSlot {
    /// Not read from storage since the object started.
    #[default]
    Unread,
    /// Nothing is stored.
    Empty,
    Holds(CachedEvent),
}

impl CacheSlot {
    /// The slot as read from storage.
    pub(super) fn read(stored: Option<CachedEvent>) -> CacheSlot {
        stored.map_or(CacheSlot::Empty, CacheSlot::Holds)
    }

    pub(super) fn is_unread(&self) -> bool {
        *self == CacheSlot::Unread
    }

    /// The event, unless it has expired by `now_ms`.
    pub(super) fn live_event(&self, now_ms: f64) -> Option<&CachedEvent> {
        match self {
            CacheSlot::Holds(event) if event.expires_at_ms > now_ms => Some(event),
            _ => None,
        }
    }
}

/// Cache channels: whether a `cache_miss` webhook went out for the current empty cache (one
/// per miss streak). Stored as a flag (absent: not sent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum MissWebhook {
    /// Not read from storage since the object started.
    #[default]
    Unread,
    NotSent,
    Sent,
}

#[derive(Default)]
pub(super) struct Memory {
    /// Who the room is (app, channel, leaf).
    pub(super) identity: Identity,
    /// The live subscribers. A cache of the sockets: rebuilt from the hibernated sockets'
    /// attachments on first use after the object wakes.
    pub(super) subscribers: LoadOnce<Vec<(Member, WebSocket)>>,
    /// Cache channels: the last event.
    pub(super) cached: CacheSlot,
    pub(super) counts: CountThrottle,
    /// Counts and occupancy on their way to the app ledger.
    pub(super) feed: Feed,
    /// When the object's one alarm is set for (it serves the count throttle, the ledger
    /// reports and the webhook outbox).
    pub(super) alarm_at: Option<f64>,
    pub(super) hooks_schema_ready: bool,
    pub(super) hooks_reconciled: bool,
    /// A split channel's root: its leaves' subscribers, as last heard (asked of the leaves on
    /// first use).
    pub(super) leaf_counts: LoadOnce<Vec<u64>>,
    pub(super) announced_to_ledger: bool,
    pub(super) miss_webhook: MissWebhook,
    /// User channels: when the app last terminated the user's connections (Unix ms). A join
    /// from a connection signed in before then (its upgrade was still on its way) is refused.
    /// Kept in memory: such joins arrive within seconds, while the object is still loaded.
    pub(super) terminated_at_ms: Option<f64>,
}

impl Memory {
    /// A room's memory at construction: who it is, from its Durable Object name.
    pub(super) fn named(name: Option<&str>) -> Memory {
        Memory {
            identity: Identity::from_name(name),
            ..Memory::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(expires_at_ms: f64) -> CachedEvent {
        CachedEvent {
            frame: "{}".into(),
            expires_at_ms,
        }
    }

    #[test]
    fn load_once_loads_on_first_use_only() {
        let mut counts: LoadOnce<Vec<u64>> = LoadOnce::default();
        assert!(!counts.is_loaded());
        assert_eq!(counts.loaded(), None);
        assert_eq!(counts.loaded_mut(), None);
        counts.get_or_load(|| vec![3]).push(4);
        assert!(counts.is_loaded());
        assert_eq!(counts.get_or_load(|| unreachable!()), &vec![3, 4]);
        counts.loaded_mut().unwrap()[0] = 5;
        assert_eq!(counts.loaded(), Some(&vec![5, 4]));
    }

    #[test]
    fn cache_slot_knows_unread_empty_and_expired() {
        assert!(CacheSlot::default().is_unread());
        assert_eq!(CacheSlot::Unread.live_event(0.0), None);
        assert_eq!(CacheSlot::read(None), CacheSlot::Empty);
        assert!(!CacheSlot::Empty.is_unread());
        assert_eq!(CacheSlot::Empty.live_event(0.0), None);
        let slot = CacheSlot::read(Some(event(1_000.0)));
        assert_eq!(slot, CacheSlot::Holds(event(1_000.0)));
        assert_eq!(slot.live_event(999.0), Some(&event(1_000.0)));
        assert_eq!(slot.live_event(1_000.0), None, "expired at its deadline");
    }
}
