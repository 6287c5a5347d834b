//! The session's upgrade slots. Workers let one invocation have 6 outgoing connections waiting
//! for their response headers; past that the session queues its channel upgrades itself.
//!
//! One slot is kept for the sign-in's own channels (the user channel and its directory
//! shards): pusher-js subscribes every channel at once when it connects, a channel's first
//! subscriber holds its slot for two round trips (the room tells the ledger before it answers),
//! and the user channel, which carries `terminate_connections` and server-to-user events, must
//! not wait behind them. Counted in tests/critical_paths.test.mjs: behind six first
//! subscribers the user channel answered after 3 round trips without the kept slot, after 1
//! with it. The price: a burst of client subscriptions opens 5 at a time instead of 6.

use std::collections::VecDeque;

pub struct UpgradeSlots<T> {
    /// Waiting upgrades and whether each is the sign-in's: the sign-in's first, each kind in
    /// the order it came.
    queued: VecDeque<(T, bool)>,
    in_flight: usize,
}

impl<T> Default for UpgradeSlots<T> {
    fn default() -> Self {
        Self {
            queued: VecDeque::new(),
            in_flight: 0,
        }
    }
}

impl<T> UpgradeSlots<T> {
    /// Whether an upgrade may start with `max` slots in all: the sign-in's may take every
    /// slot, the client's all but one (when there are two or more).
    fn may_start(&self, signin: bool, max: usize) -> bool {
        let kept = usize::from(!signin && max >= 2);
        self.in_flight + kept < max
    }

    /// `item` (the sign-in's, or a client subscription's) either starts now, taking a slot,
    /// and is returned, or waits its turn.
    pub fn admit(&mut self, item: T, signin: bool, max: usize) -> Option<T> {
        if self.may_start(signin, max) {
            self.in_flight += 1;
            return Some(item);
        }
        let at = match signin {
            true => self.queued.iter().take_while(|(_, s)| *s).count(),
            false => self.queued.len(),
        };
        self.queued.insert(at, (item, signin));
        None
    }

    /// One upgrade finished: the waiting one to start in its slot, if any may. Waiting ones
    /// no longer `wanted` (the client unsubscribed, or left) are dropped on the way.
    pub fn done(&mut self, max: usize, wanted: impl Fn(&T) -> bool) -> Option<T> {
        self.in_flight = self.in_flight.saturating_sub(1);
        while let Some(&(ref item, signin)) = self.queued.front() {
            if !wanted(item) {
                self.queued.pop_front();
                continue;
            }
            if !self.may_start(signin, max) {
                return None;
            }
            self.in_flight += 1;
            return self.queued.pop_front().map(|(item, _)| item);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 6;

    #[test]
    fn client_subscriptions_leave_one_slot_to_the_signin() {
        let mut slots = UpgradeSlots::default();
        let started: Vec<_> = (0..8).filter_map(|i| slots.admit(i, false, MAX)).collect();
        assert_eq!(started, [0, 1, 2, 3, 4]);
        assert_eq!(slots.admit(100, true, MAX), Some(100), "the kept slot");
        assert_eq!(slots.admit(101, true, MAX), None, "every slot taken");
        // The sign-in's waiting one goes first, then the client's in order.
        assert_eq!(slots.done(MAX, |_| true), Some(101));
        assert_eq!(slots.done(MAX, |_| true), None, "the kept slot stays free");
        assert_eq!(slots.done(MAX, |_| true), Some(5));
        assert_eq!(slots.done(MAX, |_| true), Some(6));
        assert_eq!(slots.done(MAX, |_| true), Some(7));
    }

    #[test]
    fn signin_upgrades_wait_in_their_order_ahead_of_the_client() {
        let mut slots = UpgradeSlots::default();
        for i in 0..MAX {
            assert_eq!(slots.admit(i, true, MAX), Some(i));
        }
        assert_eq!(slots.admit(10, false, MAX), None);
        assert_eq!(slots.admit(20, true, MAX), None);
        assert_eq!(slots.admit(21, true, MAX), None);
        assert_eq!(slots.done(MAX, |_| true), Some(20));
        assert_eq!(slots.done(MAX, |_| true), Some(21));
        // Six in flight, then five: the client's waits for the kept slot to be spare.
        assert_eq!(slots.done(MAX, |_| true), None);
        assert_eq!(slots.done(MAX, |_| true), Some(10));
    }

    #[test]
    fn unwanted_waiting_upgrades_are_dropped_and_one_slot_means_no_kept_slot() {
        let mut slots = UpgradeSlots::default();
        assert_eq!(slots.admit(1, false, 1), Some(1), "one slot: nothing kept");
        assert_eq!(slots.admit(2, false, 1), None);
        assert_eq!(slots.admit(3, false, 1), None);
        assert_eq!(slots.done(1, |&i| i != 2), Some(3));
        assert_eq!(slots.done(1, |_| true), None);
        assert_eq!(slots.admit(4, false, 1), Some(4));
    }
}
