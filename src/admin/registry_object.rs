//! The `AppRegistry` Durable Object class: the catalog or an index, by the object's name
//! (`crate::apps::contract`).

use super::app_index::IndexMemory;
use super::catalog::{Catalog, SCHEMA};
use crate::apps::contract::{parse_registry_name, RegistryRequest, RegistryRole};
use crate::glue::internal_query::{read_request, refusal};
use std::cell::{Cell, RefCell};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

// Only the handlers it has (requests and an alarm: no sockets): each unused one would bring workers-rs's default,
// which panics, and its glue into the bundle.
#[durable_object(alarm)]
pub struct AppRegistry {
    state: State,
    env: Env,
    role: Option<RegistryRole>,
    index: RefCell<IndexMemory>,
    schema_ready: Cell<bool>,
}

impl AppRegistry {
    fn catalog(&self) -> Result<Catalog<'_>> {
        let sql = self.state.storage().sql();
        if !self.schema_ready.get() {
            for statement in SCHEMA {
                sql.exec(statement, vec![])?;
            }
            self.schema_ready.set(true);
        }
        Ok(Catalog {
            sql,
            storage: self.state.storage(),
            env: &self.env,
        })
    }
}

impl DurableObject for AppRegistry {
    fn new(state: State, env: Env) -> Self {
        let role = state.id().name().as_deref().and_then(parse_registry_name);
        AppRegistry {
            state,
            env,
            role,
            index: RefCell::new(IndexMemory::default()),
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let request = match read_request::<RegistryRequest>(&mut req).await? {
            Ok(request) => request,
            Err(refused) => return refusal(&refused),
        };
        let sql = self.state.storage().sql();
        match (self.role, request) {
            (Some(RegistryRole::Index(_)), RegistryRequest::Find { name }) => {
                self.index.borrow_mut().find(&sql, &name)
            }
            (Some(RegistryRole::Index(_)), RegistryRequest::Store { name, rev, record }) => {
                self.index.borrow_mut().store(&sql, &name, rev, &record)
            }
            (Some(RegistryRole::Catalog), request) => self.catalog()?.answer(request).await,
            _ => Response::error("not a request for this registry object", 400),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        if self.role == Some(RegistryRole::Catalog) {
            self.catalog()?.push_pending().await?;
        }
        Response::ok("")
    }
}
