//! Counters and sequence numbers into SQLite: a `SqlStorageValue::Integer` reaches the runtime
//! as a JavaScript number, exact only up to 2^53 − 1 (workers-rs warns past it and the value
//! is rounded), so every count is capped there rather than at `i64::MAX`.

use worker::SqlStorageValue;

/// The largest integer a JavaScript number holds exactly.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// `n` as a SQLite integer, capped at [`MAX_SAFE_INTEGER`].
pub fn int(n: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(n.min(MAX_SAFE_INTEGER as u64) as i64)
}
