//! The registry's catalog: the one object that writes apps. It keeps every app the operators'
//! API manages in SQLite (deleted ones as tombstones, so an id or key is never reused), checks
//! each call strictly, pushes each new record to the two index objects that serve lookups, and
//! tells the app's connection shards, whose sessions apply the change at once.
//!
//! A copy to an index or a word to a shard that fails is retried from the alarm until every
//! one has the newest record. A call whose record is not in both indexes yet answers 202.

use super::credentials::random_hex;
use crate::apps::client::store;
use crate::apps::contract::{IndexKind, RegistryRequest};
use crate::apps::record::{app_view, Source, StoredRecord};
use crate::apps::settings::{apply_patch, changed_settings, new_app, object_body};
use crate::config::{App, Apps, PreviousSecret, MAX_PREVIOUS_SECRETS};
use crate::glue::clock::{now_ms, now_secs};
use crate::glue::config_env::load_apps;
use crate::glue::http::{json_response, respond, RestResult};
use crate::glue::internal_error::InternalError;
use crate::glue::sql::{int, number};
use crate::ledger::client::tell_app_changed;
use crate::ledger::shard_plan::ShardPlan;
use crate::protocol::rest_error::RestError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::rc::Rc;
use worker::{console_warn, Env, Response, Result, SqlStorage, Storage};

pub const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS apps (id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE,
        rev INTEGER NOT NULL, record TEXT NOT NULL, live INTEGER NOT NULL,
        pushed_rev INTEGER NOT NULL DEFAULT 0, told_rev INTEGER NOT NULL DEFAULT 0,
        tell_shards INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
];

/// Server-generated ids count up from here, like Pusher's numeric app ids.
const FIRST_ID: u64 = 1_000_000;
/// How long a rotated-out secret stays valid unless the operator says otherwise.
pub const DEFAULT_OVERLAP_SECS: i64 = 24 * 3600;
/// The longest overlap an operator may choose.
const MAX_OVERLAP_SECS: i64 = 30 * 24 * 3600;
/// A failed copy or word is retried after this long.
const RETRY_MS: f64 = 5_000.0;

#[derive(Deserialize)]
struct Row {
    id: String,
    record: String,
    live: f64,
}

/// A record not yet everywhere it should be (from the alarm).
#[derive(Deserialize)]
struct Pending {
    id: String,
    key: String,
    rev: f64,
    record: String,
    pushed_rev: f64,
    told_rev: f64,
    tell_shards: f64,
}

/// The status of a change's answer: `done` when the record is in both indexes, else 202 (the
/// change is saved and in force within seconds, once the alarm has copied it).
fn saved(done: u16, in_indexes: bool) -> u16 {
    if in_indexes {
        done
    } else {
        202
    }
}

impl Row {
    fn app(&self) -> Option<App> {
        StoredRecord::parse(&self.record).and_then(|record| record.app)
    }
}

pub struct Catalog<'a> {
    pub sql: SqlStorage,
    pub storage: Storage,
    pub env: &'a Env,
}

impl Catalog<'_> {
    /// Answers an operators' API call, as the API answers it (status and JSON).
    pub async fn answer(&self, request: RegistryRequest) -> Result<Response> {
        let result = match request {
            RegistryRequest::List { after, limit } => self.list(after.as_deref(), limit),
            RegistryRequest::Read { id } => self.read(&id),
            RegistryRequest::Create { body } => self.create(&body).await,
            RegistryRequest::Update { id, body } => self.update(&id, &body).await,
            RegistryRequest::Rotate { id, body } => self.rotate(&id, &body).await,
            RegistryRequest::Delete { id } => self.delete(&id).await,
            RegistryRequest::Find { .. } | RegistryRequest::Store { .. } => Err(
                RestError::bad_request("the catalog does not serve lookups: ask an index"),
            ),
        };
        respond(result)
    }

    fn env_apps(&self) -> std::result::Result<Rc<Apps>, RestError> {
        load_apps(self.env).map_err(|e| InternalError::Config(e.to_string()).into())
    }

    fn row(&self, column: &str, value: &str) -> Result<Option<Row>> {
        let query = format!("SELECT id, record, live FROM apps WHERE {column} = ?");
        Ok(self
            .sql
            .exec(&query, vec![value.into()])?
            .to_array::<Row>()?
            .into_iter()
            .next())
    }

    fn list(&self, after: Option<&str>, limit: u32) -> RestResult {
        let mut apps: Vec<Value> = Vec::new();
        if after.is_none() {
            let env_apps = self.env_apps()?;
            apps.extend(
                env_apps
                    .iter()
                    .map(|a| app_view(a, Source::Environment, false)),
            );
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT id, record, live FROM apps WHERE live = 1 AND id > ?
                 ORDER BY id LIMIT ?",
                vec![after.unwrap_or("").into(), int(u64::from(limit))],
            )?
            .to_array()?;
        let next = (rows.len() as u32 == limit)
            .then(|| rows.last().map(|r| r.id.clone()))
            .flatten();
        apps.extend(
            rows.iter()
                .filter_map(Row::app)
                .map(|a| app_view(&a, Source::Registry, false)),
        );
        answer(200, json!({ "apps": apps, "next": next }))
    }

    fn read(&self, id: &str) -> RestResult {
        if let Some(app) = self.env_apps()?.by_id(id) {
            return answer(
                200,
                json!({ "app": app_view(app, Source::Environment, false) }),
            );
        }
        let app = self.live_app(id)?;
        answer(
            200,
            json!({ "app": app_view(&app, Source::Registry, false) }),
        )
    }

    /// A registry app that may change: 403 for an app of the environment, 404 for none.
    fn live_app(&self, id: &str) -> std::result::Result<App, RestError> {
        if self.env_apps()?.by_id(id).is_some() {
            return Err(RestError::new(
                403,
                format!(
                    "App {id} comes from the environment (PUSHER_APPS): it is read-only here; \
                     change it where it is set"
                ),
            ));
        }
        self.row("id", id)?
            .filter(|row| row.live == 1.0)
            .and_then(|row| row.app())
            .ok_or_else(|| RestError::not_found(format!("No app with id {id}")))
    }

    async fn create(&self, body: &str) -> RestResult {
        let env_apps = self.env_apps()?;
        let candidate = self.next_free_id(&env_apps)?;
        let generated = App::new(&candidate.to_string(), &random_hex(10)?, &random_hex(16)?);
        let app = new_app(body, generated)?;
        if env_apps.by_id(&app.id).is_some() || self.row("id", &app.id)?.is_some() {
            return Err(RestError::new(
                409,
                format!(
                    "The id {} is taken (ids of deleted apps are not reused)",
                    app.id
                ),
            ));
        }
        if env_apps.by_key(&app.key).is_some() || self.row("key", &app.key)?.is_some() {
            return Err(RestError::new(
                409,
                "That key is taken (keys of deleted apps are not reused)",
            ));
        }
        if app.id == candidate.to_string() {
            self.set_counter("id", candidate)?;
        }
        let in_indexes = self.write(&app.id, &app.key, Some(&app), None).await?;
        answer(
            saved(201, in_indexes),
            json!({ "app": app_view(&app, Source::Registry, true) }),
        )
    }

    async fn update(&self, id: &str, body: &str) -> RestResult {
        let old = self.live_app(id)?;
        let new = apply_patch(&old, body)?;
        let changes: Vec<Value> = changed_settings(&old, &new)
            .into_iter()
            .map(|(setting, applies)| json!({ "setting": setting, "applies": applies.as_str() }))
            .collect();
        let in_indexes =
            changes.is_empty() || self.write(id, &old.key, Some(&new), Some(&old)).await?;
        answer(
            saved(200, in_indexes),
            json!({ "app": app_view(&new, Source::Registry, false), "changes": changes }),
        )
    }

    async fn rotate(&self, id: &str, body: &str) -> RestResult {
        let old = self.live_app(id)?;
        let overlap = overlap_secs(body)?;
        let now = now_secs();
        let mut new = old.clone();
        new.secret = random_hex(16)?;
        new.previous_secrets.retain(|p| p.expires_at > now);
        let expires_at = (overlap > 0).then_some(now + overlap);
        if let Some(expires_at) = expires_at {
            new.previous_secrets.insert(
                0,
                PreviousSecret {
                    secret: old.secret.clone(),
                    expires_at,
                },
            );
        }
        new.previous_secrets.truncate(MAX_PREVIOUS_SECRETS);
        let in_indexes = self.write(id, &old.key, Some(&new), Some(&old)).await?;
        answer(
            saved(200, in_indexes),
            json!({
                "app": app_view(&new, Source::Registry, true),
                "previous_secret_expires_at": expires_at,
            }),
        )
    }

    async fn delete(&self, id: &str) -> RestResult {
        let old = self.live_app(id)?;
        let in_indexes = self.write(id, &old.key, None, Some(&old)).await?;
        answer(
            saved(200, in_indexes),
            json!({ "id": id, "key": old.key, "deleted": true }),
        )
    }

    /// Saves the app's next record (`None`: deleted), copies it to the indexes and tells the
    /// sessions of the app's connection shards (old and new layout); whether both indexes
    /// hold it (what failed is retried from the alarm).
    async fn write(
        &self,
        id: &str,
        key: &str,
        app: Option<&App>,
        old: Option<&App>,
    ) -> Result<bool> {
        let rev = self.bump("rev")?;
        let record = StoredRecord {
            rev,
            app: app.cloned(),
            // A tombstone remembers where the app's objects are, to tell its shards there.
            jurisdiction: old
                .filter(|_| app.is_none())
                .and_then(|o| o.jurisdiction.clone()),
        };
        // A new app has no sessions to tell. Sessions keep the shard layout they connected
        // with, so every shard any layout of the app used is told (a high-water mark).
        let told_before = number(
            &self.sql,
            "SELECT tell_shards AS a FROM apps WHERE id = ?",
            vec![id.into()],
        )? as u32;
        let shards = [old, app]
            .into_iter()
            .flatten()
            .map(|a| ShardPlan::for_limits(&a.limits).shards)
            .max()
            .filter(|_| old.is_some())
            .map_or(0, |shards| shards.max(told_before));
        self.sql.exec(
            "INSERT INTO apps (id, key, rev, record, live, tell_shards) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET rev = ?3, record = ?4, live = ?5, tell_shards = ?6",
            vec![
                id.into(),
                key.into(),
                int(rev),
                record.to_json().as_str().into(),
                int(u64::from(app.is_some())),
                int(u64::from(shards)),
            ],
        )?;
        let in_indexes = self.push(id, key, &record).await;
        let told = self.tell(id, shards, &record).await;
        if !(in_indexes && told) {
            let _ = self
                .storage
                .set_alarm(now_ms() as i64 + RETRY_MS as i64)
                .await;
        }
        Ok(in_indexes)
    }

    /// Copies the record to both indexes; whether both hold it now.
    async fn push(&self, id: &str, key: &str, record: &StoredRecord) -> bool {
        let by_id = store(self.env, IndexKind::Id, id, record).await;
        let by_key = store(self.env, IndexKind::Key, key, record).await;
        let pushed = match (by_id, by_key) {
            (Ok(()), Ok(())) => self.mark(id, "pushed_rev", record.rev),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        if let Err(e) = &pushed {
            console_warn!("app {id}: record not in its indexes yet, retrying: {e}");
        }
        pushed.is_ok()
    }

    /// Tells the app's connection shards `0..shards`; whether every one heard it.
    async fn tell(&self, id: &str, shards: u32, record: &StoredRecord) -> bool {
        let told = match shards {
            0 => 0,
            _ => {
                let placement = record.placement();
                tell_app_changed(self.env, id, shards, &record.to_json(), &placement).await
            }
        };
        if told < shards {
            console_warn!(
                "app {id}: {told} of {shards} connection shards heard the change; retrying"
            );
            return false;
        }
        self.mark(id, "told_rev", record.rev).is_ok()
    }

    /// Records that `rev` reached the indexes (`pushed_rev`) or the shards (`told_rev`).
    fn mark(&self, id: &str, column: &str, rev: u64) -> Result<()> {
        let update = format!("UPDATE apps SET {column} = ?2 WHERE id = ?1 AND rev = ?2");
        self.sql.exec(&update, vec![id.into(), int(rev)])?;
        Ok(())
    }

    /// Copies and tells every record not yet everywhere (from the alarm).
    pub async fn push_pending(&self) -> Result<()> {
        let rows: Vec<Pending> = self
            .sql
            .exec(
                "SELECT id, key, rev, record, pushed_rev, told_rev, tell_shards FROM apps
                 WHERE pushed_rev < rev OR told_rev < rev",
                vec![],
            )?
            .to_array()?;
        let mut done = true;
        for row in rows {
            let record = StoredRecord::parse(&row.record).unwrap_or(StoredRecord {
                rev: row.rev as u64,
                app: None,
                jurisdiction: None,
            });
            if row.pushed_rev < row.rev {
                done &= self.push(&row.id, &row.key, &record).await;
            }
            if row.told_rev < row.rev {
                done &= self.tell(&row.id, row.tell_shards as u32, &record).await;
            }
        }
        if !done {
            self.storage
                .set_alarm(now_ms() as i64 + RETRY_MS as i64)
                .await?;
        }
        Ok(())
    }

    /// The next server-generated id that no app (of the environment or the registry, live or
    /// deleted) has.
    fn next_free_id(&self, env_apps: &Apps) -> Result<u64> {
        let mut id = self.counter("id")?.max(FIRST_ID) + 1;
        while env_apps.by_id(&id.to_string()).is_some()
            || self.row("id", &id.to_string())?.is_some()
        {
            id += 1;
        }
        Ok(id)
    }

    fn counter(&self, name: &str) -> Result<u64> {
        Ok(number(
            &self.sql,
            "SELECT value AS a FROM counters WHERE name = ?",
            vec![name.into()],
        )? as u64)
    }

    fn set_counter(&self, name: &str, value: u64) -> Result<()> {
        self.sql.exec(
            "INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)",
            vec![name.into(), int(value)],
        )?;
        Ok(())
    }

    /// The counter's next value (from 1), kept.
    fn bump(&self, name: &str) -> Result<u64> {
        let next = self.counter(name)? + 1;
        self.set_counter(name, next)?;
        Ok(next)
    }
}

/// The rotation body's overlap: `previous_secret_expires_in_secs` (default 24 h, 0 for none).
fn overlap_secs(body: &str) -> std::result::Result<i64, RestError> {
    const FIELD: &str = "previous_secret_expires_in_secs";
    let mut given = object_body(body)?;
    let overlap = match given.remove(FIELD) {
        None => DEFAULT_OVERLAP_SECS,
        Some(value) => value
            .as_i64()
            .filter(|s| (0..=MAX_OVERLAP_SECS).contains(s))
            .ok_or_else(|| {
                RestError::bad_request(format!(
                    "{FIELD} must be a whole number of seconds from 0 to {MAX_OVERLAP_SECS}"
                ))
            })?,
    };
    if let Some(unknown) = given.keys().next() {
        return Err(RestError::bad_request(format!(
            "Unknown field {unknown:?}: a rotation takes only {FIELD}"
        )));
    }
    Ok(overlap)
}

fn answer(status: u16, body: Value) -> RestResult {
    Ok(json_response(status, &body.to_string())?)
}
