//! Watchlist events: what to tell watchers.

use crate::protocol::frames;

/// The first frame a new watcher gets: the current state of everyone on its watchlist.
pub fn initial_state(watchlist: &[String], is_online: impl Fn(&str) -> bool) -> Option<String> {
    if watchlist.is_empty() {
        return None;
    }
    let (online, offline): (Vec<&str>, Vec<&str>) = watchlist
        .iter()
        .map(String::as_str)
        .partition(|id| is_online(id));
    Some(frames::watchlist_events(&online, &offline))
}

/// The frame watchers of `user_id` get when it comes online or goes offline.
pub fn change(user_id: &str, online: bool) -> String {
    if online {
        frames::watchlist_events(&[user_id], &[])
    } else {
        frames::watchlist_events(&[], &[user_id])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn initial_state_splits_online_and_offline() {
        let list = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let frame = initial_state(&list, |id| id == "b").unwrap();
        let v: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            v["data"]["events"],
            json!([{"name":"online","user_ids":["b"]},{"name":"offline","user_ids":["a","c"]}])
        );
        assert_eq!(initial_state(&[], |_| true), None);
        let v: Value = serde_json::from_str(&change("a", false)).unwrap();
        assert_eq!(
            v["data"]["events"],
            json!([{"name":"offline","user_ids":["a"]}])
        );
    }
}
