//! The `OperatorSessions` Durable Object: one for the deployment. It keeps, in SQLite, the
//! operator sessions logged out before their cookie expired (so that cookie stops working)
//! and the apps each live session opened a debug console on (so its logout closes them).
//! Every row ends with the session's cookie, and is deleted past it on every write; a session
//! records at most `MAX_CONSOLE_APPS` apps, and logins are rate-limited, so the store stays
//! small.

use super::contract::{SessionsRequest, MAX_CONSOLE_APPS, TOO_MANY_APPS_STATUS};
use crate::glue::clock::now_secs;
use crate::glue::internal_query::{read_request, refusal};
use crate::glue::sql::{number, texts};
use crate::protocol::json_writer::{string_array, JsonObject};
use std::cell::Cell;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, State};

const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS revoked (nonce TEXT PRIMARY KEY, until_s INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS consoles (nonce TEXT NOT NULL, app_id TEXT NOT NULL,
        until_s INTEGER NOT NULL, PRIMARY KEY (nonce, app_id))",
];

// Only the handlers it has (requests only: no sockets, no alarm): each unused one would bring workers-rs's default,
// which panics, and its glue into the bundle.
#[durable_object(fetch)]
pub struct OperatorSessions {
    state: State,
    schema_ready: Cell<bool>,
}

impl DurableObject for OperatorSessions {
    fn new(state: State, _env: Env) -> Self {
        OperatorSessions {
            state,
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let request = match read_request::<SessionsRequest>(&mut req).await? {
            Ok(request) => request,
            Err(refused) => return refusal(&refused),
        };
        let sql = self.sql()?;
        match request {
            SessionsRequest::Check { nonce } => {
                let revoked = number(
                    &sql,
                    "SELECT COUNT(*) AS a FROM revoked WHERE nonce = ? AND until_s > ?",
                    vec![nonce.into(), (now_secs() as f64).into()],
                )? > 0.0;
                Response::ok(JsonObject::new().value("revoked", revoked).finish())
            }
            SessionsRequest::Revoke { nonce, until_secs } => {
                self.prune(&sql)?;
                sql.exec(
                    "INSERT OR REPLACE INTO revoked (nonce, until_s) VALUES (?, ?)",
                    vec![nonce.as_str().into(), (until_secs as f64).into()],
                )?;
                let apps = texts(
                    &sql,
                    "SELECT app_id AS t FROM consoles WHERE nonce = ?",
                    vec![nonce.as_str().into()],
                )?;
                sql.exec("DELETE FROM consoles WHERE nonce = ?", vec![nonce.into()])?;
                let apps = string_array(apps.iter().map(String::as_str));
                Response::ok(JsonObject::new().raw("apps", &apps).finish())
            }
            SessionsRequest::ConsoleOpened {
                nonce,
                app_id,
                until_secs,
            } => {
                self.prune(&sql)?;
                let held = number(
                    &sql,
                    "SELECT COUNT(*) AS a FROM consoles WHERE nonce = ? AND app_id != ?",
                    vec![nonce.as_str().into(), app_id.as_str().into()],
                )?;
                if held >= MAX_CONSOLE_APPS as f64 {
                    return Response::error(
                        format!("A session may watch at most {MAX_CONSOLE_APPS} apps"),
                        TOO_MANY_APPS_STATUS,
                    );
                }
                sql.exec(
                    "INSERT OR REPLACE INTO consoles (nonce, app_id, until_s) VALUES (?, ?, ?)",
                    vec![nonce.into(), app_id.into(), (until_secs as f64).into()],
                )?;
                Response::ok("{}")
            }
        }
    }
}

impl OperatorSessions {
    fn sql(&self) -> Result<SqlStorage> {
        let sql = self.state.storage().sql();
        if !self.schema_ready.get() {
            for statement in SCHEMA {
                sql.exec(statement, None)?;
            }
            self.schema_ready.set(true);
        }
        Ok(sql)
    }

    /// Forgets what ended with its cookie.
    fn prune(&self, sql: &SqlStorage) -> Result<()> {
        let now = now_secs() as f64;
        sql.exec("DELETE FROM revoked WHERE until_s <= ?", vec![now.into()])?;
        sql.exec("DELETE FROM consoles WHERE until_s <= ?", vec![now.into()])?;
        Ok(())
    }
}
