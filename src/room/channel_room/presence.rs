//! A presence room's stored members (see `presence_book`): read once per instance, written as
//! members come and go, and swept when an absent member's time is up.

use super::ChannelRoom;
use crate::glue::clock::now_ms;
use crate::glue::sql::number;
use crate::protocol::channel_name::ChannelKind;
use crate::protocol::frames;
use crate::room::presence_book::{Arrival, BookEntry, BookRow, PresenceBook};
use crate::room::roster::Roster;
use crate::room::webhook_outbox::CHANNEL_SUBJECT;
use std::collections::BTreeSet;
use worker::{console_error, Result};

const TABLE: &str = "presence_members";

impl ChannelRoom {
    pub(super) fn is_presence_room(&self) -> bool {
        self.channel_name()
            .is_some_and(|channel| ChannelKind::of(&channel).is_presence())
    }

    /// The book, read from storage on first use. Members stored as present who have no
    /// socket here are absent until the rejoin window of this instance ends: it started
    /// after a reset closed their sockets.
    pub(super) fn with_book<T>(&self, f: impl FnOnce(&mut PresenceBook) -> T) -> T {
        if !self.memory.borrow().book.is_loaded() {
            let book = self.read_book();
            self.memory.borrow_mut().book = super::LoadOnce::Loaded(book);
        }
        let mut memory = self.memory.borrow_mut();
        f(memory.book.get_or_load(PresenceBook::default))
    }

    fn read_book(&self) -> PresenceBook {
        let rows = self.book_rows().unwrap_or_else(|e| {
            console_error!("room: cannot read the presence members: {e}");
            Vec::new()
        });
        let mut book = PresenceBook::from_rows(rows);
        let live: BTreeSet<String> = self
            .with_subscribers(|subs| subs.iter().filter_map(|(m, _)| m.user_id.clone()).collect());
        let leaving = self.window_end_ms();
        for id in book.mark_absent(|id| live.contains(id), leaving) {
            self.write_member(&id, book.get(&id));
        }
        book
    }

    fn book_rows(&self) -> Result<Vec<BookRow>> {
        let sql = self.state.storage().sql();
        let exists = number(
            &sql,
            "SELECT COUNT(*) AS a FROM sqlite_master WHERE name = ?",
            vec![TABLE.into()],
        )?;
        if exists == 0.0 {
            return Ok(Vec::new());
        }
        self.memory.borrow_mut().book_table = true;
        sql.exec(
            "SELECT user_id, info, leaving_ms FROM presence_members",
            None,
        )?
        .to_array()
    }

    /// Stores `user_id`'s entry, or deletes it (`None`).
    fn write_member(&self, user_id: &str, entry: Option<&BookEntry>) {
        let sql = self.state.storage().sql();
        let written = (|| -> Result<()> {
            if !self.memory.borrow().book_table {
                sql.exec(
                    "CREATE TABLE IF NOT EXISTS presence_members (
                        user_id TEXT PRIMARY KEY, info TEXT, leaving_ms REAL)",
                    None,
                )?;
                self.memory.borrow_mut().book_table = true;
            }
            match entry {
                Some(entry) => sql.exec(
                    "INSERT OR REPLACE INTO presence_members (user_id, info, leaving_ms)
                     VALUES (?, ?, ?)",
                    vec![
                        user_id.into(),
                        entry.info.as_deref().into(),
                        entry.leaving_ms.into(),
                    ],
                )?,
                None => sql.exec(
                    "DELETE FROM presence_members WHERE user_id = ?",
                    vec![user_id.into()],
                )?,
            };
            Ok(())
        })();
        if let Err(e) = written {
            console_error!("room: cannot store a presence member: {e}");
        }
    }

    /// A socket of `user_id` arrived: a new member, an absent one back, or another tab.
    pub(super) fn book_arrival(&self, user_id: &str, info: Option<&str>) -> Arrival {
        let (arrival, entry) = self.with_book(|book| {
            let arrival = book.arrive(user_id, info);
            (arrival, book.get(user_id).cloned())
        });
        if arrival != Arrival::Present {
            self.write_member(user_id, entry.as_ref());
        }
        arrival
    }

    /// `user_id` left for good.
    pub(super) fn book_removal(&self, user_id: &str) {
        if self.with_book(|book| book.remove(user_id)) {
            self.write_member(user_id, None);
        }
    }

    /// `user_id` is absent until `leaving_ms`.
    pub(super) fn book_absence(&self, user_id: &str, leaving_ms: f64) {
        let entry = self.with_book(|book| {
            book.leave_at(user_id, leaving_ms);
            book.get(user_id).cloned()
        });
        self.write_member(user_id, entry.as_ref());
    }

    /// The roster of live and absent members.
    pub(super) fn with_roster<T>(&self, f: impl FnOnce(&Roster) -> T) -> T {
        let absent: Vec<(String, Option<String>)> = if self.is_presence_room() {
            self.with_book(|book| {
                book.absent()
                    .map(|(id, info)| (id.to_string(), info.map(str::to_string)))
                    .collect()
            })
        } else {
            Vec::new()
        };
        self.with_subscribers(|subs| {
            let mut roster = Roster::from_members(subs.iter().map(|(m, _)| m));
            for (id, info) in &absent {
                roster.add_absent(id, info.as_deref());
            }
            f(&roster)
        })
    }

    /// How many absent members the book holds (0 outside presence rooms).
    pub(super) fn absent_members(&self) -> usize {
        if !self.is_presence_room() {
            return 0;
        }
        self.with_book(|book| book.absent().count())
    }

    /// Sets the alarm for the next absent member's time.
    pub(super) async fn arm_for_absent(&self) {
        if !self.is_presence_room() {
            return;
        }
        if let Some(due) = self.with_book(|book| book.next_due()) {
            self.arm(due).await;
        }
    }

    /// Absent members whose time is up leave: `member_removed` for the others (their
    /// webhooks were queued when they became absent), and the channel's vacating if they
    /// were the last.
    pub(super) async fn sweep_absent(&self) {
        if !self.is_presence_room() {
            return;
        }
        let due = self.with_book(|book| book.take_due(now_ms()));
        let channel = self.channel_name();
        let (false, Some(channel)) = (due.is_empty(), channel) else {
            // The alarm may have run for something else (a report): the next absent member's
            // time still needs it.
            self.arm_for_absent().await;
            return;
        };
        for user_id in &due {
            self.write_member(user_id, None);
        }
        self.report_occupancy().await;
        for user_id in &due {
            self.broadcast(&frames::member_removed(&channel, user_id), None);
        }
        if self.subscriber_count() == 0 && self.absent_members() == 0 {
            self.hook_vacancy_if_announced().await;
        }
        self.arm_for_absent().await;
    }

    /// `channel_vacated`, unless receivers were already told (or are about to be).
    async fn hook_vacancy_if_announced(&self) {
        let announced = self
            .outbox_if_hooked()
            .await
            .and_then(|outbox| outbox.is_announced(CHANNEL_SUBJECT).ok())
            .unwrap_or(false);
        if announced {
            self.hook_departure(CHANNEL_SUBJECT).await;
        }
    }
}
