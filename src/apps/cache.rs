//! One isolate's memory of the registry's answers, by key or by id.
//!
//! - An app found is trusted for [`FRESH_MS`]; after that it is still served, while one
//!   refresh runs, until [`SERVE_STALE_MS`]; past that a lookup waits for the registry. So a
//!   change reaches every isolate's answers within `SERVE_STALE_MS` plus one round trip.
//! - "No such app" is remembered for [`UNKNOWN_MS`] only, and never served stale: a flood of
//!   one bad key costs one registry request per isolate per `UNKNOWN_MS`.
//! - At most [`CAPACITY`] names are remembered; a full cache drops what is past serving, and
//!   then everything (a flood of random keys must not grow an isolate's memory).

use crate::config::App;
use std::collections::HashMap;
use std::rc::Rc;

pub const FRESH_MS: f64 = 2_000.0;
pub const SERVE_STALE_MS: f64 = 10_000.0;
pub const UNKNOWN_MS: f64 = 2_000.0;
pub const CAPACITY: usize = 4_096;
/// A refresh that has not come back after this long may be tried again.
const REFRESH_TIMEOUT_MS: f64 = 5_000.0;

/// An app the registry holds, at the catalog's revision of its record (0: an environment app).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub app: Rc<App>,
    pub rev: u64,
}

struct Entry {
    app: Option<Found>,
    fetched_ms: f64,
    refresh_started_ms: Option<f64>,
}

/// What the cache knows about a name.
#[derive(Debug, Clone, PartialEq)]
pub enum Cached {
    /// Answer with this (`None`: no such app).
    Fresh(Option<Found>),
    /// Answer with this, and refresh it (this caller is the one to).
    Stale(Found),
    /// Ask the registry, then [`AppCache::store`] the answer.
    Missing,
}

#[derive(Default)]
pub struct AppCache {
    entries: HashMap<String, Entry>,
}

impl AppCache {
    pub fn get(&mut self, name: &str, now_ms: f64) -> Cached {
        let Some(entry) = self.entries.get_mut(name) else {
            return Cached::Missing;
        };
        let age = now_ms - entry.fetched_ms;
        match &entry.app {
            None if age < UNKNOWN_MS => Cached::Fresh(None),
            Some(app) if age < FRESH_MS => Cached::Fresh(Some(app.clone())),
            Some(app) if age < SERVE_STALE_MS => {
                let refreshing = entry
                    .refresh_started_ms
                    .is_some_and(|started| now_ms - started < REFRESH_TIMEOUT_MS);
                if refreshing {
                    Cached::Fresh(Some(app.clone()))
                } else {
                    entry.refresh_started_ms = Some(now_ms);
                    Cached::Stale(app.clone())
                }
            }
            _ => Cached::Missing,
        }
    }

    /// The app held for `name`, however old, without asking for a refresh.
    pub fn peek(&self, name: &str) -> Option<Rc<App>> {
        let found = self.entries.get(name)?.app.as_ref()?;
        Some(found.app.clone())
    }

    /// Keeps `app` as the answer for `name` from `now_ms`; an older revision of an app than the
    /// one held (a late copy) only renews the one held.
    pub fn store(&mut self, name: &str, app: Option<Found>, now_ms: f64) {
        let newer_held = match (self.entries.get(name).and_then(|e| e.app.as_ref()), &app) {
            (Some(held), Some(new)) => held.rev > new.rev,
            _ => false,
        };
        let app = if newer_held {
            self.entries.get(name).and_then(|e| e.app.clone())
        } else {
            app
        };
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(name) {
            self.entries
                .retain(|_, e| now_ms - e.fetched_ms < SERVE_STALE_MS && e.app.is_some());
            if self.entries.len() >= CAPACITY {
                self.entries.clear();
            }
        }
        self.entries.insert(
            name.to_string(),
            Entry {
                app,
                fetched_ms: now_ms,
                refresh_started_ms: None,
            },
        );
    }

    /// A refresh failed: the entry may be refreshed again by the next lookup.
    pub fn refresh_failed(&mut self, name: &str) {
        if let Some(entry) = self.entries.get_mut(name) {
            entry.refresh_started_ms = None;
        }
    }

    pub fn forget(&mut self, name: &str) {
        self.entries.remove(name);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Option<Found> {
        Some(Found {
            app: Rc::new(App::new("1", "k", "s")),
            rev: 1,
        })
    }

    #[test]
    fn fresh_then_stale_with_one_refresh_then_missing() {
        let mut cache = AppCache::default();
        assert_eq!(cache.get("k", 0.0), Cached::Missing);
        cache.store("k", app(), 0.0);
        assert_eq!(cache.get("k", 1_999.0), Cached::Fresh(app()));
        assert_eq!(cache.get("k", 2_000.0), Cached::Stale(app().unwrap()));
        assert_eq!(
            cache.get("k", 2_001.0),
            Cached::Fresh(app()),
            "one refresh at a time"
        );
        cache.refresh_failed("k");
        assert_eq!(cache.get("k", 2_002.0), Cached::Stale(app().unwrap()));
        assert_eq!(
            cache.get("k", 7_003.0),
            Cached::Stale(app().unwrap()),
            "a refresh lost for 5 s is tried again"
        );
        assert_eq!(cache.get("k", 10_000.0), Cached::Missing, "never older");
        cache.store("k", app(), 10_000.0);
        assert_eq!(cache.get("k", 10_001.0), Cached::Fresh(app()));
    }

    #[test]
    fn a_late_older_revision_does_not_replace_a_newer_one() {
        let mut cache = AppCache::default();
        let at = |rev| {
            Some(Found {
                app: Rc::new(App::new("1", "k", "s")),
                rev,
            })
        };
        cache.store("k", at(7), 0.0);
        cache.store("k", at(6), 1.0);
        assert_eq!(cache.get("k", 2.0), Cached::Fresh(at(7)));
        cache.store("k", at(8), 3.0);
        assert_eq!(cache.get("k", 4.0), Cached::Fresh(at(8)));
    }

    #[test]
    fn unknown_names_are_remembered_briefly_and_never_served_stale() {
        let mut cache = AppCache::default();
        cache.store("nope", None, 0.0);
        assert_eq!(cache.get("nope", 1_999.0), Cached::Fresh(None));
        assert_eq!(cache.get("nope", 2_000.0), Cached::Missing);
    }

    #[test]
    fn a_flood_of_names_stays_within_capacity() {
        let mut cache = AppCache::default();
        cache.store("real", app(), 0.0);
        for i in 0..(CAPACITY * 3) {
            cache.store(&format!("random-{i}"), None, 1.0);
            assert!(cache.len() <= CAPACITY);
        }
        cache.forget("random-1");
        assert_eq!(cache.get("random-1", 2.0), Cached::Missing);
    }
}
