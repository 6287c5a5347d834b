//! What the room tells an open debug console (see `ledger::console`): lines are written only
//! while the room holds a console lease (or, in a new instance, until the ledger's first
//! answer says whether it does), and go to the ledger with the next report.

use super::ChannelRoom;
use crate::clock::now_ms;
use crate::ledger::console_lease::{store_lease, stored_lease};

impl ChannelRoom {
    /// The time now if a line should be written, for the line (the stored lease is read once
    /// per instance, on the first event worth a line).
    pub(super) async fn console_open(&self) -> Option<f64> {
        if !self.memory.borrow().feed.console.restored {
            let until = stored_lease(&self.state).await;
            self.memory.borrow_mut().feed.console.restore(until);
        }
        let now = now_ms();
        let memory = self.memory.borrow();
        memory.feed.console.wants_lines(now).then_some(now)
    }

    /// Adds a line for the console (after [`Self::console_open`]); it goes with the next
    /// report. (Not generic over a line builder: each instance would be a copy of this.)
    pub(super) async fn console_line(&self, line: String) {
        self.memory.borrow_mut().feed.console_line(line, now_ms());
        self.schedule_report().await;
    }

    /// A console lease learnt from the dashboard (`/console`) or the ledger's answer: stored
    /// if storage should change, and lines held until now reported if a console watches.
    pub(super) async fn console_lease(&self, until_ms: f64) {
        let store = self
            .memory
            .borrow_mut()
            .feed
            .learn_console(until_ms, now_ms());
        self.after_console_word(store).await;
    }

    pub(super) async fn after_console_word(&self, store: Option<f64>) {
        store_lease(&self.state, store).await;
        if self.memory.borrow().feed.has_console_lines() {
            self.schedule_report().await;
        }
    }
}
