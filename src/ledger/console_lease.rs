//! A room's or shard's console lease in its own storage, so an object woken from hibernation
//! still knows that a console watches (see [`super::console`]). One key, written only when
//! a console opens, closes or the lease grows by half; deleted when it closes.

use worker::{console_error, State};

/// Storage key of the lease (Unix ms until which lines are sent).
const LEASE_KEY: &str = "console_until";

/// The stored lease, or 0.
pub async fn stored_lease(state: &State) -> f64 {
    state
        .storage()
        .get::<f64>(LEASE_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or(0.0)
}

/// Stores the lease when [`super::console::ConsoleWatch::learn`] says to (`None`: nothing to
/// do); 0 deletes it, so an object nobody watches keeps no key.
pub async fn store_lease(state: &State, store: Option<f64>) {
    let Some(until_ms) = store else {
        return;
    };
    let storage = state.storage();
    let result = if until_ms > 0.0 {
        storage.put(LEASE_KEY, until_ms).await
    } else {
        storage.delete(LEASE_KEY).await.map(|_| ())
    };
    if let Err(e) = result {
        console_error!("console lease: {e}");
    }
}
