//! The one door to the registry's objects: the index reads every isolate makes on a cache
//! miss, and the catalog calls of the operators' API.

use super::contract::{
    index_object, IndexKind, RegistryRequest, CATALOG_NAME, MAX_LIST_LIMIT, REGISTRY_BINDING,
};
use super::record::{app_view, Source, StoredRecord};
use crate::config::App;
use crate::glue::config_env::load_apps;
use crate::glue::internal_error::InternalError;
use crate::glue::subrequest::send;
use crate::protocol::json_read::from_text;
use crate::protocol::wire::InternalRequest;
use serde_json::Value;
use worker::{console_error, Env, Response, Result};

async fn call(env: &Env, object: &str, request: &RegistryRequest) -> Result<Response> {
    let stub = env
        .durable_object(REGISTRY_BINDING)?
        .id_from_name(object)?
        .get_stub()?;
    send(&stub, object, &request.encode()).await
}

/// Whether this deployment has the registry (a `wrangler.toml` from before it has none:
/// then only the environment's apps exist).
pub fn has_registry(env: &Env) -> bool {
    env.durable_object(REGISTRY_BINDING).is_ok()
}

/// The app whose key or id is `name`, as its index holds it, with its record's revision
/// (`None`: no such app, or deleted).
pub async fn find(env: &Env, kind: IndexKind, name: &str) -> Result<Option<(App, u64)>> {
    let find = RegistryRequest::Find {
        name: name.to_string(),
    };
    let mut response = call(env, &index_object(kind, name), &find).await?;
    let text = response.text().await?;
    match response.status_code() {
        200 => Ok(StoredRecord::parse(&text).and_then(|record| Some((record.app?, record.rev)))),
        404 => Ok(None),
        status => Err(InternalError::status("app registry", status, text).into()),
    }
}

/// Keeps `record` in the index of `kind` for `name`, unless it holds a newer one.
pub async fn store(env: &Env, kind: IndexKind, name: &str, record: &StoredRecord) -> Result<()> {
    let store = RegistryRequest::Store {
        name: name.to_string(),
        rev: record.rev,
        record: record.to_json(),
    };
    let mut response = call(env, &index_object(kind, name), &store).await?;
    match response.status_code() {
        200 => Ok(()),
        status => Err(InternalError::status("app registry", status, response.text().await?).into()),
    }
}

/// Sends an operators' API call to the catalog; its answer is the API's (status and JSON).
pub async fn catalog(env: &Env, request: &RegistryRequest) -> Result<Response> {
    call(env, CATALOG_NAME, request).await
}

/// The first [`MAX_LIST_LIMIT`] apps (the environment's, then the registry's by id) as the
/// operators' API shows them: no secrets.
/// Without the catalog (none, or it failed), the environment's apps.
pub async fn first_page(env: &Env) -> Result<Vec<Value>> {
    if has_registry(env) {
        match registry_first_page(env).await {
            Ok(apps) => return Ok(apps),
            Err(e) => console_error!("app registry: the catalog's list failed: {e}"),
        }
    }
    let apps = load_apps(env).map_err(|e| InternalError::Config(e.to_string()))?;
    Ok(apps
        .iter()
        .map(|app| app_view(app, Source::Environment, false))
        .collect())
}

async fn registry_first_page(env: &Env) -> Result<Vec<Value>> {
    let list = RegistryRequest::List {
        after: None,
        limit: MAX_LIST_LIMIT,
    };
    let mut response = catalog(env, &list).await?;
    let text = response.text().await?;
    if response.status_code() != 200 {
        return Err(InternalError::status("app registry", response.status_code(), text).into());
    }
    let mut answer: Value = from_text(&text)?;
    match answer["apps"].take() {
        Value::Array(apps) => Ok(apps),
        _ => Ok(Vec::new()),
    }
}
