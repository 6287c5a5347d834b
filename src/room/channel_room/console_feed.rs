//! The room as a ledger reporter (see `ledger::reporter`): its feed, how it schedules a report
//! on its one alarm, and what it does when a report failed. What it tells an open debug
//! console (see `ledger::console`) is written only while the room holds a console lease (or,
//! in a new instance, until the ledger's first answer says whether it does), and goes to the
//! ledger with the next report.

use super::ChannelRoom;
use crate::glue::clock::now_ms;
use crate::ledger::report::{Feed, REPORT_INTERVAL_MS, RETRY_INTERVAL_MS};
use crate::ledger::reporter::Reporter;
use std::cell::RefMut;
use worker::{Env, State};

impl Reporter for ChannelRoom {
    fn state(&self) -> &State {
        &self.state
    }

    fn env(&self) -> &Env {
        &self.env
    }

    fn feed(&self) -> RefMut<'_, Feed> {
        RefMut::map(self.memory.borrow_mut(), |memory| &mut memory.feed)
    }

    async fn schedule_report(&self) {
        if std::mem::replace(&mut self.feed().scheduled, true) {
            return;
        }
        self.arm(now_ms() + REPORT_INTERVAL_MS).await;
    }

    async fn retry_report(&self) {
        self.feed().scheduled = true;
        self.arm(now_ms() + RETRY_INTERVAL_MS).await;
    }
}
