//! The ledger reporter, written once for every object that reports to its app's ledger
//! (channel rooms, connection shards): it sends a [`Feed`]'s report and learns from the answer
//! (the quota, the debug console's lease), keeps the console lease in the object's storage
//! (restored once per instance), and writes console lines. Each object says how it schedules
//! a report (its one alarm serves other work too) and what it does when a report failed.

use super::client::send_report;
use super::console_lease::{store_lease, stored_lease};
use super::report::{Feed, Report};
use crate::glue::clock::now_ms;
use std::cell::RefMut;
use worker::{console_error, Env, State};

pub(crate) trait Reporter {
    fn state(&self) -> &State;
    fn env(&self) -> &Env;
    /// The object's feed (counts, occupancy, console lines on their way to the ledger).
    fn feed(&self) -> RefMut<'_, Feed>;
    /// Has a report sent within a second (once: `feed.scheduled` says one is on its way).
    async fn schedule_report(&self);
    /// A report did not reach the ledger (its counts are back in the feed): try again later.
    async fn retry_report(&self);

    /// Sends `report` to `app_id`'s ledger and learns from the answer; on a failure, keeps
    /// what it carried for the next one.
    async fn send(&self, app_id: &str, report: Report) {
        match send_report(self.env(), app_id, &report).await {
            Ok(answer) => {
                let store = self.feed().on_answer(answer, now_ms());
                self.after_console_word(store).await;
            }
            Err(e) => {
                console_error!("ledger report for app {app_id} failed: {e}");
                self.feed().on_failed(&report);
                self.retry_report().await;
            }
        }
    }

    /// The time now if a console line should be written, for the line (the stored lease is
    /// read once per instance, on the first event worth a line).
    async fn console_open(&self) -> Option<f64> {
        if !self.feed().console.restored {
            let until = stored_lease(self.state()).await;
            self.feed().console.restore(until);
        }
        let now = now_ms();
        self.feed().console.wants_lines(now).then_some(now)
    }

    /// Adds a line for the console (after [`Self::console_open`]); it goes with the next
    /// report. (Not generic over a line builder: each instance would be a copy of this.)
    async fn console_line(&self, line: String) {
        self.feed().console_line(line, now_ms());
        self.schedule_report().await;
    }

    /// A console lease learnt from the dashboard: stored if storage should change, and lines
    /// held until now reported if a console watches.
    async fn console_lease(&self, until_ms: f64) {
        let store = self.feed().learn_console(until_ms, now_ms());
        self.after_console_word(store).await;
    }

    /// After the ledger's or the dashboard's word on the console: the lease stored if storage
    /// should change, and held lines reported if a console watches.
    async fn after_console_word(&self, store: Option<f64>) {
        store_lease(self.state(), store).await;
        if self.feed().has_console_lines() {
            self.schedule_report().await;
        }
    }
}
