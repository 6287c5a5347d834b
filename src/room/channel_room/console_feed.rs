//! What the room tells an open debug console (see `ledger::console`): lines are written only
//! while the room holds a console lease, and go to the ledger with the next report.

use super::ChannelRoom;
use crate::clock::now_ms;
use crate::ledger::console_lease::{store_lease, stored_lease};

impl ChannelRoom {
    /// The time now if a console watches the app, for the line to write (the stored lease is
    /// read once per instance, on the first event worth a line).
    pub(super) async fn console_open(&self) -> Option<f64> {
        if !self.memory.borrow().feed.console.restored {
            let until = stored_lease(&self.state).await;
            self.memory.borrow_mut().feed.console.restore(until);
        }
        let now = now_ms();
        self.memory
            .borrow()
            .feed
            .console
            .is_open(now)
            .then_some(now)
    }

    /// Adds a line for the console (after [`Self::console_open`]); it goes with the next
    /// report. (Not generic over a line builder: each instance would be a copy of this.)
    pub(super) async fn console_line(&self, line: String) {
        self.memory.borrow_mut().feed.console_line(line);
        self.schedule_report().await;
    }

    /// A console lease learnt from the dashboard (`/console`) or the ledger's answer.
    pub(super) async fn console_lease(&self, until_ms: f64) {
        let store = self
            .memory
            .borrow_mut()
            .feed
            .console
            .learn(until_ms, now_ms());
        self.keep_lease(store).await;
    }

    /// Stores a lease when [`crate::ledger::console::ConsoleWatch::learn`] says to.
    pub(super) async fn keep_lease(&self, store: Option<f64>) {
        if let Some(until_ms) = store {
            store_lease(&self.state, until_ms).await;
        }
    }
}
