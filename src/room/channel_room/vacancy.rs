//! Empty rooms leave nothing behind: a room with no sockets, no webhook waiting, no live cached
//! event and nothing scheduled deletes its storage (keys, SQLite tables, alarm), so channels
//! that come and go do not pile up Durable Object storage.

use super::hooks::{HooksApp, LOOKUP_RETRY_MS};
use super::state::{CachedEvent, LoadOnce};
use super::ChannelRoom;
use crate::glue::clock::now_ms;
use crate::glue::sql::number;
use crate::protocol::json_writer::JsonObject;
use worker::{console_error, Response, Result};

/// How soon after a room empties its alarm checks whether it can delete its storage (the
/// ledger report's alarm, due then too, is the same one).
pub(super) const CHECK_AFTER_MS: f64 = 1_000.0;

/// What a room holds in storage: key-value entries, SQLite tables of its own (not the
/// runtime's), and whether an alarm is set.
pub(super) struct Census {
    keys: u32,
    tables: u32,
    alarm: bool,
}

impl ChannelRoom {
    /// Deletes the room's storage if nothing in it is needed any more. Runs at the end of the
    /// alarm, which follows every departure (the ledger report) and every webhook.
    pub(super) async fn reclaim_if_vacant(&self) {
        if self.subscriber_count() > 0 || self.absent_members() > 0 {
            return;
        }
        if !self.is_leaf() {
            // A split channel's root keeps its leaves' number while any has subscribers.
            self.leaf_estimates().await;
        }
        if self.total_subscribers() > 0 {
            return;
        }
        let scheduled = {
            let memory = self.memory.borrow();
            memory.alarm.is_set() || memory.feed.scheduled
        };
        if scheduled {
            return;
        }
        if let Some(CachedEvent { expires_at_ms, .. }) = self.cached_event().await {
            // Kept until it expires, then reclaimed.
            self.arm(expires_at_ms).await;
            return;
        }
        match self.hooks_app().await {
            HooksApp::Hooked(_) => {
                let idle = self.outbox().map(|outbox| outbox.is_idle());
                if !matches!(idle, Some(Ok(true))) {
                    return;
                }
            }
            HooksApp::Unknown => {
                // Its outbox may hold webhooks: nothing is reclaimed until the app is known.
                self.arm(now_ms() + LOOKUP_RETRY_MS).await;
                return;
            }
            HooksApp::NoHooks => {}
        }
        match self.census().await {
            Ok(Census {
                keys: 0, tables: 0, ..
            }) => return,
            Ok(_) => {}
            Err(e) => {
                console_error!("room: storage census: {e}");
                return;
            }
        }
        if let Err(e) = self.state.storage().delete_all().await {
            console_error!("room: cannot delete the storage of an empty room: {e}");
            return;
        }
        let mut memory = self.memory.borrow_mut();
        memory.hooks.forget_schema();
        memory.book_table = false;
        memory.book = LoadOnce::NotLoaded;
        memory.identity.set_saved(false);
        memory.cache.forget();
        memory.leaf_counts = LoadOnce::NotLoaded;
        memory.alarm.clear();
        memory.feed.console.storage_cleared();
    }

    /// What the room holds in storage.
    pub(super) async fn census(&self) -> Result<Census> {
        let storage = self.state.storage();
        let keys = storage.list().await?.size();
        let tables = number(
            &storage.sql(),
            "SELECT COUNT(*) AS a FROM sqlite_master WHERE type = 'table'
             AND substr(name, 1, 7) != 'sqlite_' AND substr(name, 1, 4) != '_cf_'",
            vec![],
        )? as u32;
        let alarm = storage.get_alarm().await?.is_some();
        Ok(Census {
            keys,
            tables,
            alarm,
        })
    }

    /// The internal `/storage` diagnostic, `{"keys":0,"tables":0,"alarm":false}`. It writes
    /// nothing (no schema, no alarm), so it observes the room as it is.
    pub(super) async fn census_response(&self) -> Result<Response> {
        let Census {
            keys,
            tables,
            alarm,
        } = self.census().await?;
        Response::ok(
            JsonObject::new()
                .value("keys", keys)
                .value("tables", tables)
                .value("alarm", alarm)
                .finish(),
        )
    }

    /// The internal `/identity` diagnostic: who the room believes it is, and whether its
    /// Durable Object name said so.
    pub(super) fn identity_response(&self) -> Result<Response> {
        let memory = self.memory.borrow();
        Response::ok(
            JsonObject::new()
                .string_if("app_id", memory.identity.app_id())
                .string_if("channel", memory.identity.channel())
                .raw(
                    "leaf",
                    &memory
                        .identity
                        .leaf()
                        .map_or("null".into(), |l| l.to_string()),
                )
                .value("from_name", memory.identity.is_from_name())
                .finish(),
        )
    }
}
