//! The per-app ledger: counters, quotas, the connection count and the occupied-channel index.
//!
//! `report`, `stats` and `shard_plan` are pure; `app_ledger` and `connection_shard` are the
//! Durable Objects; `client` is how the rest of the Worker talks to the ledger.

pub mod app_ledger;
pub mod client;
pub mod connection_shard;
pub mod report;
pub mod shard_plan;
pub mod stats;
