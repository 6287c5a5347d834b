//! What a channel room keeps in memory between requests, and the small types that say which
//! parts of it this instance has read yet (from the hibernated sockets, storage or the leaves).

use super::identity::Identity;
use super::instance::Instance;
use crate::ledger::report::Feed;
use crate::room::contract::Member;
use crate::room::count_throttle::CountThrottle;
use crate::room::presence_book::PresenceBook;
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

/// A cache channel's memory: its last event, and whether the current miss streak was
/// reported by a `cache_miss` webhook.
#[derive(Debug, Default)]
pub(super) struct CacheMemory {
    slot: CacheSlot,
    miss: MissWebhook,
}

impl CacheMemory {
    /// The slot was not read from storage since the object started.
    pub(super) fn is_unread(&self) -> bool {
        self.slot.is_unread()
    }

    /// The slot as read from storage.
    pub(super) fn read(&mut self, stored: Option<CachedEvent>) {
        self.slot = CacheSlot::read(stored);
    }

    /// The event, unless it has expired by `now_ms`.
    pub(super) fn live_event(&self, now_ms: f64) -> Option<&CachedEvent> {
        self.slot.live_event(now_ms)
    }

    /// Whether a miss may be on record in storage (to delete when the cache fills again).
    pub(super) fn miss_on_record(&self) -> bool {
        self.miss != MissWebhook::NotSent
    }

    /// A publish filled the cache: the next miss starts a new streak.
    pub(super) fn hold(&mut self, event: CachedEvent) {
        self.slot = CacheSlot::Holds(event);
        self.miss = MissWebhook::NotSent;
    }

    pub(super) fn miss(&self) -> MissWebhook {
        self.miss
    }

    /// The `cache_miss` webhook of this streak went out.
    pub(super) fn miss_sent(&mut self) {
        self.miss = MissWebhook::Sent;
    }

    /// The room deleted its storage: nothing cached, no miss on record.
    pub(super) fn forget(&mut self) {
        self.slot = CacheSlot::Empty;
        self.miss = MissWebhook::NotSent;
    }
}

/// The room's one alarm (it serves the count throttle, the ledger reports, the webhook outbox
/// and reclaiming an empty room): when it is set for, as far as this instance knows.
#[derive(Debug, Default)]
pub(super) struct AlarmSlot {
    at_ms: Option<f64>,
}

impl AlarmSlot {
    pub(super) fn is_set(&self) -> bool {
        self.at_ms.is_some()
    }

    /// Whether the alarm is set for `at_ms` or earlier already.
    pub(super) fn covers(&self, at_ms: f64) -> bool {
        self.at_ms.is_some_and(|current| current <= at_ms)
    }

    pub(super) fn set(&mut self, at_ms: f64) {
        self.at_ms = Some(at_ms);
    }

    /// The alarm ran, or could not be set.
    pub(super) fn clear(&mut self) {
        self.at_ms = None;
    }
}

/// The webhook outbox's flags in this instance.
#[derive(Debug, Default)]
pub(super) struct HookFlags {
    /// The outbox's SQLite schema exists (created once per instance, or after a reclaim).
    schema_ready: bool,
    /// Departures a restart left unsent were queued (once per instance).
    reconciled: bool,
}

impl HookFlags {
    /// The flag the outbox sets once its schema exists.
    pub(super) fn schema_ready(&mut self) -> &mut bool {
        &mut self.schema_ready
    }

    /// True the first time only.
    pub(super) fn first_reconcile(&mut self) -> bool {
        !std::mem::replace(&mut self.reconciled, true)
    }

    /// The room deleted its storage, schema included.
    pub(super) fn forget_schema(&mut self) {
        self.schema_ready = false;
    }
}

#[derive(Default)]
pub(super) struct Memory {
    /// Who the room is (app, channel, leaf).
    pub(super) identity: Identity,
    /// The live subscribers. A cache of the sockets: rebuilt from the hibernated sockets'
    /// attachments on first use after the object wakes.
    pub(super) subscribers: LoadOnce<Vec<(Member, WebSocket)>>,
    /// This instance (its epoch and replay log), begun when the subscribers are loaded.
    pub(super) instance: Option<Instance>,
    /// Presence channels: the members as stored, absent ones included (read on first use).
    pub(super) book: LoadOnce<PresenceBook>,
    /// The book's table exists (created with its first row, once per instance).
    pub(super) book_table: bool,
    /// Cache channels: the last event and the miss streak.
    pub(super) cache: CacheMemory,
    pub(super) counts: CountThrottle,
    /// Counts and occupancy on their way to the app ledger.
    pub(super) feed: Feed,
    pub(super) alarm: AlarmSlot,
    pub(super) hooks: HookFlags,
    /// A split channel's root: its leaves' subscribers, as last heard (asked of the leaves on
    /// first use).
    pub(super) leaf_counts: LoadOnce<Vec<u64>>,
    pub(super) announced_to_ledger: bool,
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
    fn the_cache_memory_starts_a_new_miss_streak_when_it_fills() {
        let mut cache = CacheMemory::default();
        assert!(cache.is_unread());
        assert!(cache.miss_on_record(), "unread: a miss may be on record");
        cache.read(None);
        cache.miss_sent();
        assert_eq!(cache.miss(), MissWebhook::Sent);
        cache.hold(event(1_000.0));
        assert!(!cache.miss_on_record());
        assert_eq!(cache.live_event(10.0), Some(&event(1_000.0)));
        cache.forget();
        assert_eq!(cache.live_event(10.0), None);
        assert!(!cache.is_unread() && !cache.miss_on_record());
    }

    #[test]
    fn the_alarm_slot_and_the_hook_flags() {
        let mut alarm = AlarmSlot::default();
        assert!(!alarm.is_set() && !alarm.covers(5.0));
        alarm.set(10.0);
        assert!(alarm.covers(10.0) && alarm.covers(20.0) && !alarm.covers(5.0));
        alarm.clear();
        assert!(!alarm.is_set());
        let mut hooks = HookFlags::default();
        assert!(hooks.first_reconcile());
        assert!(!hooks.first_reconcile());
        *hooks.schema_ready() = true;
        hooks.forget_schema();
        assert!(!*hooks.schema_ready());
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
