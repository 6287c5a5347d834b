//! What one directory shard knows, indexed: its sockets (by socket id and attempt), which
//! sockets each of its users is signed in with, and which sockets watch each user. Built from
//! the sockets' member records (after a wake, from the hibernated sockets' attachments), so a
//! sign-in or sign-out costs its own watchlist and watchers, never a scan of the shard.
//! Generic over the socket so it is tested natively.

use super::contract::Member;
use super::watchlist;
use std::collections::HashMap;

/// A socket's identity within one shard: a session has at most one socket per shard, and
/// the attempt tells a socket from an earlier one of the same session.
fn key_of(member: &Member) -> String {
    format!("{}#{}", member.socket_id, member.attempt)
}

/// A frame and the sockets to send it to.
pub type Notice<S> = (String, Vec<S>);

/// What a new socket brings about.
pub struct Joined<S> {
    /// For the new socket: the current state of the watched users it carries.
    pub initial: Option<String>,
    /// For watchers of the new socket's user, when this is the user's first socket.
    pub notice: Option<Notice<S>>,
    /// Its user was not online here before (whether or not anyone watches it now).
    pub came_online: bool,
}

/// Sockets live in slots; the maps hold slot numbers (few map types keep the bundle small).
pub struct DirectoryIndex<S> {
    slots: Vec<Option<(Member, S)>>,
    free: Vec<usize>,
    by_key: HashMap<String, usize>,
    /// Signed-in users of this shard → their sockets here (never empty).
    online: HashMap<String, Vec<usize>>,
    /// Watched user id → the sockets watching it (never empty).
    watchers: HashMap<String, Vec<usize>>,
}

impl<S: Clone> Default for DirectoryIndex<S> {
    fn default() -> Self {
        DirectoryIndex {
            slots: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            online: HashMap::new(),
            watchers: HashMap::new(),
        }
    }
}

impl<S: Clone> FromIterator<(Member, S)> for DirectoryIndex<S> {
    fn from_iter<I: IntoIterator<Item = (Member, S)>>(sockets: I) -> Self {
        let mut index = DirectoryIndex::default();
        for (member, socket) in sockets {
            index.insert(member, socket);
        }
        index
    }
}

impl<S: Clone> DirectoryIndex<S> {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_online(&self, user_id: &str) -> bool {
        self.online.contains_key(user_id)
    }

    /// A new socket: its initial watchlist state (its own user counts as online, and so do
    /// users `held` online though their sockets are away), and the `online` notice for the
    /// other watchers if its user was not online here before.
    pub fn join(&mut self, member: Member, socket: S, held: impl Fn(&str) -> bool) -> Joined<S> {
        self.remove(&key_of(&member));
        let user = member.user_id.clone();
        let initial = watchlist::initial_state(&member.watchlist, |id| {
            user.as_deref() == Some(id) || self.is_online(id) || held(id)
        });
        let came_online = user
            .as_deref()
            .is_some_and(|id| !self.is_online(id) && !held(id));
        let notice = user
            .as_deref()
            .filter(|_| came_online)
            .and_then(|id| self.notice(id, true));
        self.insert(member, socket);
        Joined {
            initial,
            notice,
            came_online,
        }
    }

    /// The socket of `member` has gone: its user, if that was the user's last socket here
    /// (whether and when the watchers hear `offline` is the shard's to say).
    pub fn leave(&mut self, member: &Member) -> Option<String> {
        let gone = self.remove(&key_of(member))?;
        let user = gone.user_id?;
        (!self.is_online(&user)).then_some(user)
    }

    /// The member record of a listed socket (for one whose attachment could not be read).
    pub fn member_of_socket(&self, socket: &S) -> Option<Member>
    where
        S: PartialEq,
    {
        self.slots
            .iter()
            .flatten()
            .find(|(_, s)| s == socket)
            .map(|(m, _)| m.clone())
    }

    /// The frame telling `user_id`'s watchers it came online (or went offline), and them.
    pub fn notice(&self, user_id: &str, online: bool) -> Option<Notice<S>> {
        let to: Vec<S> = self
            .watchers
            .get(user_id)?
            .iter()
            .filter_map(|&slot| self.slots[slot].as_ref().map(|(_, s)| s.clone()))
            .collect();
        Some((watchlist::change(user_id, online), to))
    }

    fn insert(&mut self, member: Member, socket: S) {
        let key = key_of(&member);
        self.remove(&key);
        let slot = self.free.pop().unwrap_or(self.slots.len());
        if let Some(user) = &member.user_id {
            self.online.entry(user.clone()).or_default().push(slot);
        }
        for watched in &member.watchlist {
            let watchers = self.watchers.entry(watched.clone()).or_default();
            if !watchers.contains(&slot) {
                watchers.push(slot);
            }
        }
        if slot == self.slots.len() {
            self.slots.push(Some((member, socket)));
        } else {
            self.slots[slot] = Some((member, socket));
        }
        self.by_key.insert(key, slot);
    }

    fn remove(&mut self, key: &str) -> Option<Member> {
        let slot = self.by_key.remove(key)?;
        let (member, _) = self.slots[slot].take()?;
        self.free.push(slot);
        if let Some(user) = &member.user_id {
            unlist(&mut self.online, user, slot);
        }
        for watched in &member.watchlist {
            unlist(&mut self.watchers, watched, slot);
        }
        Some(member)
    }
}

fn unlist(map: &mut HashMap<String, Vec<usize>>, id: &str, slot: usize) {
    if let Some(slots) = map.get_mut(id) {
        slots.retain(|&s| s != slot);
        if slots.is_empty() {
            map.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// A signed-in socket of `user` (socket `sid`) watching `watches`.
    fn m(sid: &str, user: Option<&str>, watches: &[&str]) -> Member {
        let mut m = Member::new(sid);
        m.user_id = user.map(Into::into);
        m.watchlist = watches.iter().map(|s| s.to_string()).collect();
        m
    }

    /// (online ids, offline ids) of a watchlist frame.
    fn events(frame: &str) -> (Vec<String>, Vec<String>) {
        let v: Value = serde_json::from_str(frame).unwrap();
        let mut on = Vec::new();
        let mut off = Vec::new();
        for e in v["data"]["events"].as_array().unwrap() {
            let ids = e["user_ids"].as_array().unwrap().iter();
            let ids = ids.map(|i| i.as_str().unwrap().to_string());
            match e["name"].as_str().unwrap() {
                "online" => on.extend(ids),
                _ => off.extend(ids),
            }
        }
        (on, off)
    }

    fn sorted(mut v: Vec<&'static str>) -> Vec<&'static str> {
        v.sort();
        v
    }

    #[test]
    fn initial_state_then_first_arrival_and_last_departure() {
        let mut ix = DirectoryIndex::<&'static str>::default();
        // Carl is signed in; a watcher of carl and dora arrives.
        assert!(ix
            .join(m("c1", Some("carl"), &[]), "carl-1", |_| false)
            .notice
            .is_none());
        let w = ix.join(m("w1", Some("w"), &["carl", "dora"]), "w-1", |_| false);
        assert_eq!(
            events(&w.initial.unwrap()),
            (vec!["carl".into()], vec!["dora".into()])
        );
        // Dora's first socket tells the watcher; her second tab does not.
        let (frame, to) = ix
            .join(m("d1", Some("dora"), &[]), "dora-1", |_| false)
            .notice
            .unwrap();
        assert_eq!(events(&frame), (vec!["dora".into()], vec![]));
        assert_eq!(to, vec!["w-1"]);
        assert!(ix
            .join(m("d2", Some("dora"), &[]), "dora-2", |_| false)
            .notice
            .is_none());
        // A second tab of the watcher (one with the watch only, as on another shard) hears too.
        let w2 = ix.join(m("w2", None, &["dora"]), "w-2", |_| false);
        assert_eq!(events(&w2.initial.unwrap()), (vec!["dora".into()], vec![]));
        // Dora goes offline only when her last tab leaves, and both watcher tabs hear it.
        assert!(ix.leave(&m("d1", Some("dora"), &[])).is_none());
        assert!(ix.is_online("dora"));
        assert_eq!(
            ix.leave(&m("d2", Some("dora"), &[])).as_deref(),
            Some("dora")
        );
        let (frame, to) = ix.notice("dora", false).unwrap();
        assert_eq!(events(&frame), (vec![], vec!["dora".into()]));
        assert_eq!(sorted(to), vec!["w-1", "w-2"]);
        // Leaving twice changes nothing; a watcher that left hears nothing more.
        assert!(ix.leave(&m("d2", Some("dora"), &[])).is_none());
        assert_eq!(
            ix.leave(&m("w1", Some("w"), &["carl", "dora"])).as_deref(),
            Some("w")
        );
        let (_, to) = ix
            .join(m("d3", Some("dora"), &[]), "dora-3", |_| false)
            .notice
            .unwrap();
        assert_eq!(to, vec!["w-2"]);
        // Found by the socket when the record is unreadable.
        let found = ix.member_of_socket(&"dora-3").unwrap();
        assert_eq!(ix.leave(&found).as_deref(), Some("dora"));
        assert!(!ix.is_online("dora") && ix.is_online("carl") && !ix.is_online("w"));
    }

    #[test]
    fn a_user_watching_itself_and_nobody_watching() {
        let mut ix = DirectoryIndex::<u32>::default();
        let me = ix.join(m("a1", Some("a"), &["a", "b"]), 1, |_| false);
        assert_eq!(
            events(&me.initial.unwrap()),
            (vec!["a".into()], vec!["b".into()])
        );
        // Its own first arrival is not announced to itself (it got the initial state).
        assert!(me.notice.is_none());
        assert_eq!(
            ix.join(m("b1", Some("b"), &[]), 2, |_| false)
                .notice
                .unwrap()
                .1,
            vec![1]
        );
        // Nobody watches x, nor a once it has left: no notice to build, though x came online
        // (a watcher rejoining the shard later must hear it).
        let x = ix.join(m("x1", Some("x"), &[]), 3, |_| false);
        assert!(x.notice.is_none() && x.came_online);
        assert!(!ix.join(m("x2", Some("x"), &[]), 4, |_| false).came_online);
        assert_eq!(
            ix.leave(&m("a1", Some("a"), &["a", "b"])).as_deref(),
            Some("a")
        );
        assert!(
            ix.notice("a", false).is_none(),
            "nobody watches a once it has left"
        );
        assert_eq!(ix.len(), 3);
    }

    #[test]
    fn rebuilt_from_records_and_the_same_socket_twice_counts_once() {
        let records = vec![
            (m("a1", Some("a"), &[]), 1),
            (m("a2", Some("a"), &[]), 2),
            (m("w1", None, &["a"]), 3),
            (m("a1", Some("a"), &[]), 1),
        ];
        let mut ix: DirectoryIndex<u32> = records.into_iter().collect();
        assert_eq!(ix.len(), 3);
        assert!(ix.leave(&m("a1", Some("a"), &[])).is_none());
        assert_eq!(ix.leave(&m("a2", Some("a"), &[])).as_deref(), Some("a"));
        let (frame, to) = ix.notice("a", false).unwrap();
        assert_eq!(events(&frame), (vec![], vec!["a".into()]));
        assert_eq!(to, vec![3]);
        // Another attempt of the same session is another socket.
        let mut again = m("w1", None, &["a"]);
        again.attempt = 1;
        ix.join(again, 4, |_| false);
        assert_eq!(
            ix.join(m("a3", Some("a"), &[]), 5, |_| false)
                .notice
                .unwrap()
                .1
                .len(),
            2
        );
    }

    #[test]
    fn users_held_online_are_online_to_new_watchers_and_come_back_unannounced() {
        let mut ix = DirectoryIndex::<u32>::default();
        let held = |id: &str| id == "hal";
        let w = ix.join(m("w1", None, &["hal", "ivy"]), 1, held);
        assert_eq!(
            events(&w.initial.unwrap()),
            (vec!["hal".into()], vec!["ivy".into()])
        );
        assert!(ix.join(m("h1", Some("hal"), &[]), 2, held).notice.is_none());
        assert!(ix.join(m("i1", Some("ivy"), &[]), 3, held).notice.is_some());
    }
}
