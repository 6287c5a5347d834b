//! Which apps exist: those of the environment (`PUSHER_APPS`, read-only, and they win) and
//! those the operators' API keeps in the registry's Durable Objects, looked up by key or id
//! through a per-isolate cache. The registry's writer, the catalog, is `crate::admin`'s.

pub mod cache;
pub mod client;
pub mod contract;
pub mod lookup;
pub mod record;
pub mod settings;
