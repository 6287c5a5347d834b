//! What the room tells its app's ledger: counts (batched, within a second) and the
//! channel's occupancy for the index of occupied channels (at once when it changes).

use super::ChannelRoom;
use crate::glue::clock::now_ms;
use crate::ledger::report::{Counts, Occupancy};
use crate::ledger::reporter::Reporter;
use crate::protocol::channel_name::ChannelKind;
use crate::room::contract::Member;

impl ChannelRoom {
    /// Adds to the counts for the ledger; they are reported within a second.
    pub(super) async fn count(&self, add: impl FnOnce(&mut Counts)) {
        add(self.memory.borrow_mut().feed.counts());
        self.schedule_report().await;
    }

    /// The channel's entry for the ledger's index of occupied channels (user channels are
    /// not listed, as on Pusher).
    fn occupancy(&self) -> Option<Occupancy> {
        self.occupancy_with(None)
    }

    /// The occupancy as it is, or as it will be once `joining` is in.
    fn occupancy_with(&self, joining: Option<&Member>) -> Option<Occupancy> {
        let channel = self.channel_name()?;
        let kind = ChannelKind::of(&channel);
        // A split channel's entry is its root room's, counting the leaves.
        if kind == ChannelKind::ServerToUser || self.is_leaf() {
            return None;
        }
        // Absent presence members are still members (see `presence_book`).
        let users = kind.is_presence().then(|| {
            self.with_roster(|roster| {
                let joining_is_new = joining
                    .and_then(|m| m.user_id.as_deref())
                    .is_some_and(|id| !roster.contains(id));
                (roster.count() + usize::from(joining_is_new)) as u64
            })
        });
        let absent = self.absent_members();
        Some(Occupancy {
            channel,
            occupied: joining.is_some() || self.total_subscribers() > 0 || absent > 0,
            user_count: users,
        })
    }

    /// Sends an occupancy change (a channel's first subscriber or its vacating, a presence
    /// user count) to the ledger at once, with the counts gathered so far, and returns once
    /// the ledger has it. Counts alone wait for the batch.
    pub(super) async fn report_occupancy(&self) {
        self.report_occupancy_with(None).await;
    }

    pub(super) async fn report_occupancy_with(&self, joining: Option<&Member>) {
        let occupancy = self.occupancy_with(joining);
        let changed = self
            .memory
            .borrow()
            .feed
            .occupancy_changed(occupancy.as_ref());
        if changed {
            self.report_with(occupancy).await;
        }
    }

    /// Sends the gathered counts and any occupancy change to the app's ledger.
    pub(super) async fn report(&self) {
        self.report_with(self.occupancy()).await;
    }

    /// Sends the gathered counts and `occupancy` (if it changed) to the app's ledger.
    async fn report_with(&self, occupancy: Option<Occupancy>) {
        // Reports may overlap (a subscribe's, a departure's, an alarm's); their occupancy
        // carries a sequence number so the ledger keeps the newest, and no report waits for
        // another.
        let Some(app_id) = self.memory.borrow().identity.app_id().map(str::to_string) else {
            return;
        };
        let Some(mut report) = self.memory.borrow_mut().feed.take_report(occupancy, None) else {
            return;
        };
        self.memory.borrow_mut().feed.stamp(&mut report, now_ms());
        self.send(&app_id, report).await;
    }
}
