//! A presence room's members as its storage keeps them, so a new instance (after a reset,
//! which closed every socket) knows who was there.
//!
//! Live membership is still the live sockets (`roster`); the book adds the members who are
//! *absent*: stored as present but without a socket here. They are absent after a reset
//! until their session rejoins, or after an unclean drop for the app's grace period, and they
//! stay in the roster meanwhile (a fresh subscriber sees them, counts include them). One who
//! comes back before their `leaving_ms` returns without a `member_added`; one who does not is
//! removed then, once, with `member_removed`. Pure: the room keeps the rows in SQLite.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A book's row as storage keeps it (one row type for the presence rooms' and the directory
/// shards' tables: each row type read from SQLite costs its own decoder in the bundle).
#[derive(Deserialize)]
pub struct BookRow {
    pub user_id: String,
    pub info: Option<String>,
    pub leaving_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BookEntry {
    /// The member's `user_info` JSON, as their first socket brought it.
    pub info: Option<String>,
    /// Absent: removed at this time unless they come back.
    pub leaving_ms: Option<f64>,
}

/// What an arriving socket's user is to the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Not a member: a `member_added` for the others.
    New,
    /// An absent member came back: nothing for the others, who never saw them leave.
    Returned,
    /// Already present (another tab).
    Present,
}

#[derive(Debug, Default)]
pub struct PresenceBook {
    members: BTreeMap<String, BookEntry>,
}

impl PresenceBook {
    pub fn from_rows(rows: Vec<BookRow>) -> PresenceBook {
        // Inserted, not collected: a collect into a map brings its own sort into the bundle.
        let mut members = BTreeMap::new();
        for BookRow {
            user_id,
            info,
            leaving_ms,
        } in rows
        {
            members.insert(user_id, BookEntry { info, leaving_ms });
        }
        PresenceBook { members }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.members.len()
    }

    pub fn get(&self, user_id: &str) -> Option<&BookEntry> {
        self.members.get(user_id)
    }

    /// Members stored as present with no live socket here (`is_live` says who has one) become
    /// absent until `leaving_ms`: the instance before was reset with their sockets. Returns
    /// their ids, to store.
    pub fn mark_absent(&mut self, is_live: impl Fn(&str) -> bool, leaving_ms: f64) -> Vec<String> {
        let mut marked = Vec::new();
        for (id, entry) in &mut self.members {
            if entry.leaving_ms.is_none() && !is_live(id) {
                entry.leaving_ms = Some(leaving_ms);
                marked.push(id.clone());
            }
        }
        marked
    }

    /// A socket of `user_id` arrived (their first live one, or another tab).
    pub fn arrive(&mut self, user_id: &str, info: Option<&str>) -> Arrival {
        match self.members.get_mut(user_id) {
            Some(entry) if entry.leaving_ms.is_some() => {
                entry.leaving_ms = None;
                Arrival::Returned
            }
            Some(_) => Arrival::Present,
            None => {
                let entry = BookEntry {
                    info: info.map(str::to_string),
                    leaving_ms: None,
                };
                self.members.insert(user_id.to_string(), entry);
                Arrival::New
            }
        }
    }

    /// `user_id`'s last socket left cleanly: no longer a member.
    pub fn remove(&mut self, user_id: &str) -> bool {
        self.members.remove(user_id).is_some()
    }

    /// `user_id`'s last socket was lost: absent until `leaving_ms`.
    pub fn leave_at(&mut self, user_id: &str, leaving_ms: f64) {
        if let Some(entry) = self.members.get_mut(user_id) {
            entry.leaving_ms = Some(leaving_ms);
        }
    }

    /// Absent members whose time is up at `now_ms`, removed from the book; their ids.
    pub fn take_due(&mut self, now_ms: f64) -> Vec<String> {
        let due: Vec<String> = self
            .members
            .iter()
            .filter(|(_, e)| e.leaving_ms.is_some_and(|at| at <= now_ms))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &due {
            self.members.remove(id);
        }
        due
    }

    /// When the next absent member falls due.
    pub fn next_due(&self) -> Option<f64> {
        self.members
            .values()
            .filter_map(|e| e.leaving_ms)
            .min_by(f64::total_cmp)
    }

    /// The absent members, with their `user_info`.
    pub fn absent(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.members
            .iter()
            .filter(|(_, e)| e.leaving_ms.is_some())
            .map(|(id, e)| (id.as_str(), e.info.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_reset_the_missing_are_absent_until_the_window_ends() {
        let row = |id: &str, info: Option<&str>| BookRow {
            user_id: id.to_string(),
            info: info.map(str::to_string),
            leaving_ms: None,
        };
        let mut book = PresenceBook::from_rows(vec![row("a", Some("{}")), row("b", None)]);
        assert_eq!(book.mark_absent(|id| id == "b", 10_000.0), ["a"]);
        assert_eq!(book.absent().collect::<Vec<_>>(), [("a", Some("{}"))]);
        assert_eq!(book.next_due(), Some(10_000.0));
        assert!(book.take_due(9_999.0).is_empty());
        assert_eq!(book.arrive("a", Some("{}")), Arrival::Returned);
        assert_eq!(book.next_due(), None);
        assert!(book.take_due(20_000.0).is_empty(), "came back in time");
        assert_eq!(book.len(), 2);
    }

    #[test]
    fn arrivals_are_new_returned_or_another_tab() {
        let mut book = PresenceBook::default();
        assert_eq!(book.arrive("a", Some(r#"{"n":1}"#)), Arrival::New);
        assert_eq!(book.arrive("a", Some(r#"{"n":2}"#)), Arrival::Present);
        assert_eq!(book.get("a").unwrap().info.as_deref(), Some(r#"{"n":1}"#));
        book.leave_at("a", 5.0);
        assert_eq!(book.arrive("a", None), Arrival::Returned);
        assert!(book.remove("a"));
        assert!(!book.remove("a"));
        assert_eq!(book.len(), 0);
    }

    #[test]
    fn the_absent_who_never_come_back_are_taken_once_in_time_order() {
        let mut book = PresenceBook::default();
        for id in ["a", "b", "c"] {
            book.arrive(id, None);
        }
        book.leave_at("b", 300.0);
        book.leave_at("a", 200.0);
        book.leave_at("nobody", 1.0);
        assert_eq!(book.next_due(), Some(200.0));
        assert_eq!(book.take_due(250.0), ["a"]);
        assert_eq!(book.take_due(300.0), ["b"]);
        assert!(book.take_due(1e9).is_empty());
        assert_eq!(book.len(), 1);
    }
}
