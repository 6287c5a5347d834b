//! The app registry's wire contract, pure data. The registry is one Durable Object class with
//! three roles, told apart by the object's name:
//! - the **catalog** (one object): the truth about every app the operators' API manages, the
//!   only writer, on the path of operators' calls only (`/admin`, the dashboard's app list and
//!   Apps section, `/metrics`), never on a client's or an SDK's;
//! - the **indexes** (`by-key:{n}` and `by-id:{n}`, [`INDEX_SHARDS`] of each): copies of the
//!   records, spread by a hash of the key or id, held in memory, that the Worker and the other
//!   objects read on a cache miss. No single object is on every isolate's refresh path, and
//!   an unknown key is answered from memory, never from storage.
//!
//! Every record carries the catalog's revision, so an index never replaces a record with an
//! older one (two admin calls may push out of order).

use crate::protocol::query::QueryParams;
use crate::protocol::wire::{
    number, required, text, InternalRequest, RouteRow, Verb, WireError, WireRequest,
};

/// The Durable Object namespace binding of the registry (see wrangler.toml).
pub const REGISTRY_BINDING: &str = "REGISTRY";
/// The catalog's object name.
pub const CATALOG_NAME: &str = "catalog";
/// Index objects per lookup kind. Fixed: records are placed by it.
pub const INDEX_SHARDS: u32 = 16;
/// Most apps one list call returns.
pub const MAX_LIST_LIMIT: u32 = 1000;

/// What an index object is looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    Key,
    Id,
}

impl IndexKind {
    fn prefix(self) -> &'static str {
        match self {
            IndexKind::Key => "by-key:",
            IndexKind::Id => "by-id:",
        }
    }
}

/// The index object that holds the record of the app whose key or id is `name`.
pub fn index_object(kind: IndexKind, name: &str) -> String {
    format!("{}{}", kind.prefix(), fnv1a(name) % INDEX_SHARDS)
}

/// Which role an object of the registry class has, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryRole {
    Catalog,
    Index(IndexKind),
}

pub fn parse_registry_name(name: &str) -> Option<RegistryRole> {
    if name == CATALOG_NAME {
        return Some(RegistryRole::Catalog);
    }
    [IndexKind::Key, IndexKind::Id]
        .into_iter()
        .find_map(|kind| {
            let shard: u32 = name.strip_prefix(kind.prefix())?.parse().ok()?;
            (shard < INDEX_SHARDS).then_some(RegistryRole::Index(kind))
        })
}

/// FNV-1a, 32 bits: stable across versions and platforms (std's hasher promises neither).
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

pub mod path {
    pub const FIND: &str = "/find";
    pub const STORE: &str = "/store";
    pub const LIST: &str = "/apps";
    pub const READ: &str = "/app";
    pub const CREATE: &str = "/create";
    pub const UPDATE: &str = "/update";
    pub const ROTATE: &str = "/rotate";
    pub const DELETE: &str = "/delete";
}

mod param {
    pub const NAME: &str = "name";
    pub const REV: &str = "rev";
    pub const ID: &str = "id";
    pub const AFTER: &str = "after";
    pub const LIMIT: &str = "limit";
}

/// What a registry object is asked. Index objects take `Find` and `Store`; the catalog takes
/// the rest, whose bodies are the operator's JSON, checked strictly by the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryRequest {
    /// The stored record of the app whose key or id is `name` (200 with it, or 404).
    Find {
        name: String,
    },
    /// Keeps `record` (a stored record's JSON) for `name` unless the index has a newer one.
    Store {
        name: String,
        rev: u64,
        record: String,
    },
    /// Apps with an id after `after`, in id order, at most `limit`.
    List {
        after: Option<String>,
        limit: u32,
    },
    Read {
        id: String,
    },
    Create {
        body: String,
    },
    /// A JSON merge patch (RFC 7386) of the app's settings.
    Update {
        id: String,
        body: String,
    },
    /// A new secret; the body may set when the previous one expires.
    Rotate {
        id: String,
        body: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryRoute {
    Find,
    Store,
    List,
    Read,
    Create,
    Update,
    Rotate,
    Delete,
}

impl InternalRequest for RegistryRequest {
    type Route = RegistryRoute;
    const ROUTES: &'static [RouteRow<RegistryRoute>] = &[
        (Some(Verb::Get), path::FIND, RegistryRoute::Find),
        (Some(Verb::Post), path::STORE, RegistryRoute::Store),
        (Some(Verb::Get), path::LIST, RegistryRoute::List),
        (Some(Verb::Get), path::READ, RegistryRoute::Read),
        (Some(Verb::Post), path::CREATE, RegistryRoute::Create),
        (Some(Verb::Post), path::UPDATE, RegistryRoute::Update),
        (Some(Verb::Post), path::ROTATE, RegistryRoute::Rotate),
        (Some(Verb::Post), path::DELETE, RegistryRoute::Delete),
    ];

    fn takes_body(route: RegistryRoute) -> bool {
        matches!(
            route,
            RegistryRoute::Store
                | RegistryRoute::Create
                | RegistryRoute::Update
                | RegistryRoute::Rotate
        )
    }

    fn encode(&self) -> WireRequest {
        let wire = WireRequest::new;
        match self {
            RegistryRequest::Find { name } => wire(Verb::Get, path::FIND).param(param::NAME, name),
            RegistryRequest::Store { name, rev, record } => wire(Verb::Post, path::STORE)
                .param(param::NAME, name)
                .param(param::REV, rev)
                .body(record.as_str()),
            RegistryRequest::List { after, limit } => wire(Verb::Get, path::LIST)
                .param_opt(param::AFTER, after.as_deref())
                .param(param::LIMIT, limit),
            RegistryRequest::Read { id } => wire(Verb::Get, path::READ).param(param::ID, id),
            RegistryRequest::Create { body } => wire(Verb::Post, path::CREATE).body(body.as_str()),
            RegistryRequest::Update { id, body } => wire(Verb::Post, path::UPDATE)
                .param(param::ID, id)
                .body(body.as_str()),
            RegistryRequest::Rotate { id, body } => wire(Verb::Post, path::ROTATE)
                .param(param::ID, id)
                .body(body.as_str()),
            RegistryRequest::Delete { id } => wire(Verb::Post, path::DELETE).param(param::ID, id),
        }
    }

    fn decode(
        route: RegistryRoute,
        query: &QueryParams,
        body: Option<String>,
    ) -> Result<RegistryRequest, WireError> {
        let id = || required(text(query, param::ID), param::ID);
        let body = body.unwrap_or_default();
        Ok(match route {
            RegistryRoute::Find => RegistryRequest::Find {
                name: required(text(query, param::NAME), param::NAME)?,
            },
            RegistryRoute::Store => RegistryRequest::Store {
                name: required(text(query, param::NAME), param::NAME)?,
                rev: required(number(query, param::REV), param::REV)?,
                record: body,
            },
            RegistryRoute::List => RegistryRequest::List {
                after: text(query, param::AFTER),
                limit: number(query, param::LIMIT)
                    .unwrap_or(MAX_LIST_LIMIT)
                    .min(MAX_LIST_LIMIT),
            },
            RegistryRoute::Read => RegistryRequest::Read { id: id()? },
            RegistryRoute::Create => RegistryRequest::Create { body },
            RegistryRoute::Update => RegistryRequest::Update { id: id()?, body },
            RegistryRoute::Rotate => RegistryRequest::Rotate { id: id()?, body },
            RegistryRoute::Delete => RegistryRequest::Delete { id: id()? },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::round_trip;

    #[test]
    fn every_request_round_trips() {
        let all = [
            RegistryRequest::Find { name: "k 1".into() },
            RegistryRequest::Store {
                name: "k".into(),
                rev: 7,
                record: r#"{"rev":7}"#.into(),
            },
            RegistryRequest::List {
                after: Some("100".into()),
                limit: 5,
            },
            RegistryRequest::List {
                after: None,
                limit: MAX_LIST_LIMIT,
            },
            RegistryRequest::Read { id: "1".into() },
            RegistryRequest::Create { body: "{}".into() },
            RegistryRequest::Update {
                id: "1".into(),
                body: r#"{"enabled":false}"#.into(),
            },
            RegistryRequest::Rotate {
                id: "1".into(),
                body: String::new(),
            },
            RegistryRequest::Delete { id: "1".into() },
        ];
        for request in &all {
            assert_eq!(round_trip(request).as_ref(), Ok(request));
        }
        assert_eq!(
            all[0].encode().url(CATALOG_NAME),
            "https://catalog/find?v=1&name=k%201"
        );
    }

    #[test]
    fn index_objects_are_stable_and_their_names_parse() {
        // Pinned: records already stored are found where these say.
        assert_eq!(index_object(IndexKind::Key, "app-key"), "by-key:10");
        assert_eq!(index_object(IndexKind::Id, "1000001"), "by-id:15");
        let spread: std::collections::HashSet<String> = (0..200)
            .map(|i| index_object(IndexKind::Id, &i.to_string()))
            .collect();
        assert_eq!(spread.len(), INDEX_SHARDS as usize, "every shard used");
        assert_eq!(parse_registry_name("catalog"), Some(RegistryRole::Catalog));
        assert_eq!(
            parse_registry_name("by-id:15"),
            Some(RegistryRole::Index(IndexKind::Id))
        );
        for junk in ["by-id:16", "by-key:", "by-key:x", "catalog2", ""] {
            assert_eq!(parse_registry_name(junk), None, "{junk}");
        }
    }
}
