//! The ledger's wire contract: everything the Worker, the rooms and the shards agree on to
//! talk to an app's `AppLedger` or one of its `ConnectionShard`s — paths, query parameters,
//! statuses, Durable Object names, bindings, and the stubs that reach one object.

use crate::internal_query::internal_url;
use worker::{Env, Result, Stub};

/// The Durable Object namespace binding of the per-app ledgers (counters, quotas, channel index).
pub const LEDGER_BINDING: &str = "LEDGER";
/// The Durable Object namespace binding of the per-app connection shards.
pub const CONNECTIONS_BINDING: &str = "CONNECTIONS";

/// Query parameters of ledger requests.
pub mod ledger_param {
    pub const APP: &str = "app";
    /// The request serves a REST call: count it.
    pub const REST_CALL: &str = "rest";
    pub const PREFIX: &str = "prefix";
    /// `GET /channels`: include presence user counts.
    pub const USER_COUNT: &str = "user_count";
}

/// Paths the ledger answers (the host part of internal URLs is ignored).
pub mod ledger_path {
    pub const REPORT: &str = "/report";
    pub const STATS: &str = "/stats";
    pub const CHANNELS: &str = "/channels";
    /// A debug console's WebSocket (an upgrade); the ledger sends it the app's lines.
    pub const CONSOLE: &str = "/console";
}

/// Query parameters of connection shard requests.
pub mod shard_param {
    pub const APP: &str = "app";
    pub const INDEX: &str = "index";
    /// Sockets this shard may hold; it answers [`super::FULL_STATUS`] when full.
    pub const CAP: &str = "cap";
    pub const SOCKET_ID: &str = "socket";
    /// A debug console's lease: Unix ms until which the shard sends it lines.
    pub const UNTIL: &str = "until";
}

/// Paths a connection shard answers.
pub mod shard_path {
    /// The upgrade that gives a client connection its place (app, index, cap, socket).
    pub const CONNECT: &str = "/connect";
    /// A session lost its socket to the shard (a new instance): report the true count
    /// (app, index).
    pub const WAKE: &str = "/wake";
    /// A debug console opened for the app (app, index, until).
    pub const CONSOLE: &str = "/console";
}

/// Status of the ledger's refusal of one more console (`console::MAX_CONSOLES` are open).
pub const TOO_MANY_CONSOLES_STATUS: u16 = 429;

/// Status of a connection shard's refusal when it is full.
pub const FULL_STATUS: u16 = 429;

/// The Durable Object name of an app's ledger: the app id itself.
pub fn ledger_name(app_id: &str) -> String {
    app_id.to_string()
}

/// The Durable Object name of one of an app's connection shards.
pub fn shard_name(app_id: &str, index: u32) -> String {
    format!("{app_id}#connections#{index}")
}

/// The URL of a request to an app's ledger (the host is a label: a stub's `fetch` goes to
/// its object whatever the URL says).
pub fn ledger_url(path: &str, pairs: &[(&str, &str)]) -> String {
    internal_url("ledger", path, pairs)
}

/// The URL of a request to a connection shard.
pub fn shard_url(path: &str, pairs: &[(&str, &str)]) -> String {
    internal_url("connections", path, pairs)
}

/// The stub of an app's ledger.
pub fn app_ledger(env: &Env, app_id: &str) -> Result<Stub> {
    env.durable_object(LEDGER_BINDING)?
        .id_from_name(&ledger_name(app_id))?
        .get_stub()
}

/// The stub of connection shard `index` of an app.
pub fn connection_shard(env: &Env, app_id: &str, index: u32) -> Result<Stub> {
    env.durable_object(CONNECTIONS_BINDING)?
        .id_from_name(&shard_name(app_id, index))?
        .get_stub()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_per_app_and_apart() {
        // Fixed values: a change here moves every app's ledger and shards to new objects.
        assert_eq!(ledger_name("1"), "1");
        assert_eq!(shard_name("1", 3), "1#connections#3");
        // App ids never contain '#', so a shard's name is never another app's ledger's.
        assert_ne!(shard_name("1", 0), ledger_name("1"));
    }
}
