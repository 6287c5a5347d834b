//! How an app's user directory is split into shards, and which directory sockets a signed-in
//! session opens.
//!
//! One directory object holds at most ~32k sockets, so the directory is split by user id into
//! `limits.user_directory_shards` objects. A user's *home* shard (a stable hash of the id) is
//! where "is this user online" is decided: every session signed in as the user holds one socket
//! there, marked with the user id. A watcher needs to hear about users homed elsewhere, so its
//! session also registers with the home shard of each watched user: one socket per distinct
//! shard its watchlist touches, carrying only the watched ids homed on that shard (the home
//! socket carries the ones homed there). A shard thus knows, from its own sockets alone, both
//! who of its users is online and who watches them, and a user's first arrival or last
//! departure touches only that user's home shard.
//!
//! Why sockets rather than shard-to-shard requests: everything a shard knows is in its live
//! sockets' attachments, so it is exact after hibernation or a restart (nothing stored can go
//! stale), and all news about one watched user reaches a watcher over one socket, in order:
//! first that socket's initial state, then each change. The initial state therefore arrives
//! as one `watchlist_events` frame per shard the watchlist touches (pusher-js emits `online` /
//! `offline` per frame, with the ids of that frame).
//!
//! Cost: a session opens 1 + (distinct other shards its watchlist touches) sockets, at most
//! `shards` (and at most 1 + the watchlist's length); a session without a watchlist opens one.
//! A shard holds the sessions of its users plus the watch sockets of the sessions watching
//! them, so capacity grows with the shard count as long as watchlists touch few shards.

use super::contract::Member;

/// Internal channel names of a session's directory sockets, `#directory-{shard}`. Client
/// channels starting with `#` other than `#server-to-user-` are invalid, so none collide.
const CHANNEL_PREFIX: &str = "#directory-";

/// The home shard of `user_id` among `shards`: FNV-1a (32 bit) of its bytes, so every isolate
/// and every build agrees.
pub fn shard_of(user_id: &str, shards: u32) -> u32 {
    let hash = user_id.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % shards.max(1)
}

/// The session's internal channel name of its socket to directory shard `shard`.
pub fn channel(shard: u32) -> String {
    format!("{CHANNEL_PREFIX}{shard}")
}

/// The shard a directory channel name points at; `None` for every other channel.
pub fn shard_of_channel(name: &str) -> Option<u32> {
    name.strip_prefix(CHANNEL_PREFIX)?.parse().ok()
}

pub fn is_directory_channel(name: &str) -> bool {
    shard_of_channel(name).is_some()
}

/// The directory sockets a session signed in as `me` (its member record, with the user id)
/// opens, as (channel, member record): first the home shard's, marked with the user id and
/// carrying the watched ids homed there; then, per other shard the watchlist touches (in the
/// watchlist's order), one without a user id carrying the watched ids homed there. Repeated
/// ids are kept once.
pub fn joins(me: &Member, watchlist: Vec<String>, shards: u32) -> Vec<(String, Member)> {
    let shards = shards.max(1);
    let home = shard_of(me.user_id.as_deref().unwrap_or_default(), shards);
    let mut home_member = me.clone();
    home_member.watchlist = Vec::new();
    let mut out = vec![(home, home_member)];
    for id in watchlist {
        let shard = shard_of(&id, shards);
        let index = match out.iter().position(|(s, _)| *s == shard) {
            Some(index) => index,
            None => {
                let mut watcher = me.clone();
                watcher.user_id = None;
                watcher.watchlist = Vec::new();
                out.push((shard, watcher));
                out.len() - 1
            }
        };
        let list = &mut out[index].1.watchlist;
        if !list.contains(&id) {
            list.push(id);
        }
    }
    out.into_iter()
        .map(|(shard, member)| (channel(shard), member))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(id: &str) -> Member {
        let mut m = Member::new("1.2");
        m.user_id = Some(id.into());
        m
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn homes_are_stable_and_spread() {
        // Fixed values: a change here re-homes every user of a running deployment, and the
        // integration tests compute the same hash in JavaScript.
        assert_eq!(shard_of("", 1_000_000), 0x811c_9dc5 % 1_000_000);
        assert_eq!(shard_of("a", u32::MAX), 0xe40c_292c);
        assert_eq!(shard_of("foobar", u32::MAX), 0xbf9c_f968);
        assert_eq!(shard_of("anything", 1), 0);
        assert_eq!(shard_of("anything", 0), 0);
        let mut seen = [0u32; 8];
        for i in 0..8000 {
            seen[shard_of(&format!("user-{i}"), 8) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
    }

    #[test]
    fn channel_names_round_trip_and_are_not_client_channels() {
        assert_eq!(channel(3), "#directory-3");
        assert_eq!(shard_of_channel(&channel(3)), Some(3));
        for other in [
            "#directory",
            "#directory-",
            "#directory-x",
            "#server-to-user-1",
            "a",
        ] {
            assert!(!is_directory_channel(other), "{other}");
        }
        assert!(crate::protocol::channel_name::validate_channel_name(&channel(0), 200).is_err());
    }

    #[test]
    fn one_shard_means_one_socket_with_the_whole_watchlist() {
        let joins = joins(&me("u"), ids(&["a", "b", "a"]), 1);
        assert_eq!(joins.len(), 1);
        assert_eq!(joins[0].0, channel(0));
        assert_eq!(joins[0].1.user_id.as_deref(), Some("u"));
        assert_eq!(joins[0].1.watchlist, ids(&["a", "b"]));
    }

    #[test]
    fn watched_ids_go_to_their_home_shards() {
        let shards = 4;
        let watchlist: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
        let joins = joins(&me("u"), watchlist.clone(), shards);
        // Home first, with the user id; the others without, one per shard.
        let home = shard_of("u", shards);
        assert_eq!(joins[0].0, channel(home));
        assert_eq!(joins[0].1.user_id.as_deref(), Some("u"));
        assert_eq!(joins.len(), 4);
        let others: Vec<u32> = joins[1..]
            .iter()
            .map(|(c, _)| shard_of_channel(c).unwrap())
            .collect();
        let mut distinct = others.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() == others.len() && !others.contains(&home));
        let mut carried = Vec::new();
        for (channel, member) in &joins {
            assert_eq!(member.socket_id, "1.2");
            let shard = shard_of_channel(channel).unwrap();
            if shard != home {
                assert_eq!(member.user_id, None);
                assert!(!member.watchlist.is_empty());
            }
            assert!(member
                .watchlist
                .iter()
                .all(|w| shard_of(w, shards) == shard));
            carried.extend(member.watchlist.iter().cloned());
        }
        carried.sort();
        let mut all = watchlist;
        all.sort();
        assert_eq!(carried, all);
        // No watchlist: only the home socket.
        assert_eq!(super::joins(&me("u"), Vec::new(), shards).len(), 1);
    }
}
