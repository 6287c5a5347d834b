//! The per-app ledger: counters, quotas, the connection count and the occupied-channel index.
//!
//! `report`, `stats` and `shard_plan` are pure; `app_ledger` and `connection_shard` are the
//! Durable Objects; `contract` is their wire (paths, parameters, names, stubs); `client` is
//! how the rest of the Worker talks to them.

mod app_ledger;
pub mod client;
mod connection_shard;
pub mod console;
pub mod console_lease;
pub mod contract;
pub mod door;
pub mod refusal_tally;
pub mod report;
pub(crate) mod reporter;
pub mod shard_plan;
pub mod stats;
pub mod webhook_log;
mod webhook_log_table;
