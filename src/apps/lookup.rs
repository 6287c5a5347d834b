//! Finds an app by key or id, for the Worker and every object alike: the environment's apps
//! first (they win), then the registry through this isolate's cache (`super::cache`). A name
//! that no app could have is answered at once, without a request.

use super::cache::{AppCache, Cached, Found};
use super::client::{find, has_registry};
use super::contract::IndexKind;
use crate::config::{valid_app_id, valid_credential, App};
use crate::glue::clock::now_ms;
use crate::glue::config_env::load_apps;
use crate::glue::internal_error::InternalError;
use crate::protocol::placement::Placement;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen_futures::spawn_local;
use worker::{console_warn, Env, Result};

thread_local! {
    static BY_KEY: RefCell<AppCache> = RefCell::new(AppCache::default());
    static BY_ID: RefCell<AppCache> = RefCell::new(AppCache::default());
}

fn with_cache<T>(kind: IndexKind, f: impl FnOnce(&mut AppCache) -> T) -> T {
    let cache = match kind {
        IndexKind::Key => &BY_KEY,
        IndexKind::Id => &BY_ID,
    };
    cache.with(|cache| f(&mut cache.borrow_mut()))
}

/// The app a REST call is signed for.
pub async fn app_by_key(env: &Env, key: &str) -> Result<Option<Rc<App>>> {
    Ok(lookup(env, IndexKind::Key, key)
        .await?
        .map(|found| found.app))
}

/// The app a client connects to, with its record's revision (a session applies only newer
/// records than the one it started with).
pub async fn found_by_key(env: &Env, key: &str) -> Result<Option<Found>> {
    lookup(env, IndexKind::Key, key).await
}

/// The app of a REST path, a room or a ledger.
pub async fn app_by_id(env: &Env, id: &str) -> Result<Option<Rc<App>>> {
    Ok(lookup(env, IndexKind::Id, id).await?.map(|found| found.app))
}

/// Where the objects of app `id` live, found like any lookup (the environment, then this
/// isolate's cache). An app not found is an error, not the default placement: taken for one
/// without a jurisdiction, a new app's objects could be created outside its own (a deleted
/// app's shards are told with the placement its tombstone keeps).
pub async fn placement_of(env: &Env, id: &str) -> Result<Placement> {
    match app_by_id(env, id).await? {
        Some(app) => Ok(app.placement()),
        None => Err(worker::Error::RustError(format!(
            "app {id} not found: where its objects live is unknown"
        ))),
    }
}

/// The app this isolate already knows by `name` (the environment's, or the registry's held
/// in its cache), without any request: for checks that must run before a lookup could.
pub fn known(env: &Env, kind: IndexKind, name: &str) -> Option<Rc<App>> {
    match from_env(env, kind, name).ok()? {
        Some(app) => Some(app),
        None => with_cache(kind, |cache| cache.peek(name)),
    }
}

/// The environment's app by `name`, if it has one.
fn from_env(env: &Env, kind: IndexKind, name: &str) -> Result<Option<Rc<App>>> {
    let apps = load_apps(env).map_err(|e| InternalError::Config(e.to_string()))?;
    Ok(match kind {
        IndexKind::Key => apps.by_key(name),
        IndexKind::Id => apps.by_id(name),
    }
    .cloned())
}

async fn lookup(env: &Env, kind: IndexKind, name: &str) -> Result<Option<Found>> {
    if let Some(app) = from_env(env, kind, name)? {
        return Ok(Some(Found { app, rev: 0 }));
    }
    let could_exist = match kind {
        IndexKind::Key => valid_credential(name),
        IndexKind::Id => valid_app_id(name),
    };
    if !could_exist || !has_registry(env) {
        return Ok(None);
    }
    match with_cache(kind, |cache| cache.get(name, now_ms())) {
        Cached::Fresh(app) => Ok(app),
        Cached::Stale(app) => {
            spawn_local(refresh(env.clone(), kind, name.to_string()));
            Ok(Some(app))
        }
        Cached::Missing => fetch(env, kind, name).await,
    }
}

async fn fetch(env: &Env, kind: IndexKind, name: &str) -> Result<Option<Found>> {
    let found = find(env, kind, name).await?.map(|(app, rev)| Found {
        app: Rc::new(app),
        rev,
    });
    remember(kind, name, found.clone());
    Ok(found)
}

async fn refresh(env: Env, kind: IndexKind, name: String) {
    if let Err(e) = fetch(&env, kind, &name).await {
        console_warn!("app registry: could not refresh an app: {e}");
        with_cache(kind, |cache| cache.refresh_failed(&name));
    }
}

fn remember(kind: IndexKind, name: &str, app: Option<Found>) {
    // What one lookup learned serves the other kind too.
    if let Some(found) = &app {
        let other = match kind {
            IndexKind::Key => (IndexKind::Id, found.app.id.clone()),
            IndexKind::Id => (IndexKind::Key, found.app.key.clone()),
        };
        with_cache(other.0, |cache| {
            cache.store(&other.1, app.clone(), now_ms())
        });
    }
    with_cache(kind, |cache| cache.store(name, app, now_ms()));
}

/// A change this isolate learned first-hand (the app's record pushed to a live session): its
/// answers use it at once. `app: None` is a deletion.
pub fn learn(key: &str, id: &str, app: Option<&App>, rev: u64) {
    let app = app.map(|a| Found {
        app: Rc::new(a.clone()),
        rev,
    });
    with_cache(IndexKind::Key, |cache| {
        cache.store(key, app.clone(), now_ms())
    });
    with_cache(IndexKind::Id, |cache| cache.store(id, app, now_ms()));
}

/// Drops this isolate's copies of an app (its key or id, either may be unknown): the next
/// lookup asks the registry.
pub fn forget(key: Option<&str>, id: Option<&str>) {
    if let Some(key) = key {
        with_cache(IndexKind::Key, |cache| cache.forget(key));
    }
    if let Some(id) = id {
        with_cache(IndexKind::Id, |cache| cache.forget(id));
    }
}
