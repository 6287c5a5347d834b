//! A cache channel's last event: read from storage once per instance, replaced by each
//! publish, and reported to subscribers and `GET /channels/{name}` until it expires.

use super::state::CachedEvent;
use super::{ChannelRoom, MISS_HOOKED_KEY};
use crate::glue::clock::now_ms;
use worker::Result;

/// Storage key of a cache channel's last event.
const CACHE_KEY: &str = "cache";

impl ChannelRoom {
    /// The last event, unless it has expired.
    pub(super) async fn cached_event(&self) -> Option<CachedEvent> {
        if self.memory.borrow().cache.is_unread() {
            let stored: Option<CachedEvent> =
                self.state.storage().get(CACHE_KEY).await.ok().flatten();
            self.memory.borrow_mut().cache.read(stored);
        }
        self.memory.borrow().cache.live_event(now_ms()).cloned()
    }

    pub(super) async fn store_cache(&self, frame: String, expires_at_ms: f64) -> Result<()> {
        let event = CachedEvent {
            frame,
            expires_at_ms,
        };
        self.state.storage().put(CACHE_KEY, &event).await?;
        if self.memory.borrow().cache.miss_on_record() {
            // The next miss (once this expires) is reported again.
            self.state.storage().delete(MISS_HOOKED_KEY).await?;
        }
        self.memory.borrow_mut().cache.hold(event);
        Ok(())
    }
}
