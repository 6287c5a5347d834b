//! The dashboard's JSON and WebSocket endpoints under `/dashboard/api/` (the operator is
//! logged in by then): the apps, an app's ledger counters, its channels through the REST API,
//! a test publish, and the debug console.

use super::login::OperatorSession;
use super::operator_request::signed_pairs;
use super::operator_sessions::client as sessions;
use super::webhooks;
use super::{Answer, AnswerResult};
use crate::admin;
use crate::apps::client::first_page;
use crate::apps::lookup::app_by_id;
use crate::config::App;
use crate::glue::clock::{now_ms, now_secs};
use crate::glue::http::{bounded_body, drain_small_body, json_response};
use crate::glue::internal_query::{host_of, request_query};
use crate::glue::subrequest::request;
use crate::ledger::client;
use crate::ledger::console::LEASE_MS;
use crate::ledger::contract::TOO_MANY_CONSOLES_STATUS;
use crate::ledger::shard_plan::ShardPlan;
use crate::protocol::query::{percent_decode, QueryParams};
use crate::protocol::rest_error::RestError;
use crate::protocol::wire::internal_url;
use crate::room::client as rooms;
use futures_util::future::join_all;
use serde_json::Value;
use worker::{console_error, Env, Method, Request};

/// Rooms one request tells that a console opened: the console's opening tells the first page
/// (by name), and the page asks for the next ones (`console-rooms?from=`) until every occupied
/// room was told, each request within the Paid plan's 10,000 subrequests. A room not told
/// yet misses the lines of events that send no report of their own (a second subscriber)
/// until its next report's answer gives it the lease.
const ROOMS_TOLD: usize = 1000;
/// Rooms told at the same time: the runtime lets 6 subrequests wait for their answer at once.
const TOLD_AT_ONCE: usize = 6;
/// Channels the page lists (its card gives the total).
const LISTED_CHANNELS: u32 = 100;
/// Connection shards told at once.
const SHARDS_TOLD: u32 = 64;
/// The largest test event body the dashboard sends on.
const MAX_PUBLISH_BODY: u64 = 64 * 1024;

pub async fn handle(
    mut req: Request,
    env: &Env,
    endpoint: &str,
    session: &OperatorSession,
) -> AnswerResult {
    let parts: Vec<&str> = endpoint.split('/').collect();
    let method = req.method();
    if parts.as_slice() == ["apps"] {
        if method != Method::Get {
            // Refused unread: a small body is read, so the keep-alive connection survives.
            drain_small_body(&mut req).await;
            return Err(RestError::method_not_allowed(
                method.as_ref(),
                &req.path(),
                "GET",
            ));
        }
        return done(json_response(200, &apps_json(env).await?));
    }
    if let ["admin", route @ ..] = parts.as_slice() {
        // App management: the operators' API itself, with the session for a token.
        let sub_path = format!("/{}", route.join("/"));
        return done(Ok(admin::operate_request(req, env, &sub_path).await?));
    }
    let ["apps", id, route @ ..] = parts.as_slice() else {
        drain_small_body(&mut req).await;
        return Err(RestError::not_found("No such dashboard endpoint"));
    };
    let Some(app) = app_by_id(env, &percent_decode(id)).await? else {
        drain_small_body(&mut req).await;
        return Err(RestError::not_found("No such app"));
    };
    let app = &*app;
    let query = QueryParams::parse(&request_query(&req));
    let rest = |path: &str| operator_call(app, Method::Get, path, &query, None);
    match (&method, route) {
        (Method::Get, ["stats"]) => {
            done(json_response(200, &client::stats_json(env, &app.id).await?))
        }
        (Method::Get, ["console"]) => console(req, env, app, session).await,
        (Method::Post, ["console-rooms"]) => console_rooms(env, app, &query).await,
        (Method::Get, ["channel-list"]) => {
            // The list the page refreshes on its timer: the first `LISTED_CHANNELS` by name,
            // with presence user counts, from the ledger's index (not counted as REST calls).
            let list = client::channel_list(env, &app.id, LISTED_CHANNELS).await?;
            done(json_response(200, &list))
        }
        (Method::Get, ["webhook-log"]) => webhooks::log(env, app).await,
        (Method::Post, ["webhooks", index, "test"]) => webhooks::send_test(env, app, index).await,
        (Method::Get, ["channels"]) => rest("channels"),
        (Method::Get, ["channels", name]) => rest(&format!("channels/{}", percent_decode(name))),
        (Method::Get, ["channels", name, "users"]) => {
            rest(&format!("channels/{}/users", percent_decode(name)))
        }
        (Method::Post, ["events"]) => {
            let body = bounded_body(req, MAX_PUBLISH_BODY).await?;
            operator_call(
                app,
                Method::Post,
                "events",
                &QueryParams::default(),
                Some(&body),
            )
        }
        _ => {
            drain_small_body(&mut req).await;
            Err(RestError::not_found("No such dashboard endpoint"))
        }
    }
}

fn done(response: worker::Result<worker::Response>) -> AnswerResult {
    Ok(Answer::Done(response?))
}

/// The apps as an operator may see them: as the operators' API lists them (never a secret),
/// with webhook URLs by host only (their path or query may carry a token).
async fn apps_json(env: &Env) -> Result<String, RestError> {
    let mut apps = first_page(env).await?;
    for app in &mut apps {
        if let Some(Value::Array(hooks)) = app.get_mut("webhooks") {
            for hook in hooks {
                let host = hook["url"].as_str().map(|url| host_of(url).to_string());
                if let (Some(host), Value::Object(fields)) = (host, hook) {
                    fields.remove("url");
                    fields.insert("host".into(), Value::String(host));
                }
            }
        }
    }
    Ok(serde_json::json!({ "apps": apps }).to_string())
}

/// A REST call signed with the app's secret in the Worker, for the REST API to answer.
fn operator_call(
    app: &App,
    method: Method,
    endpoint: &str,
    query: &QueryParams,
    body: Option<&str>,
) -> AnswerResult {
    let path = format!("/apps/{}/{endpoint}", app.id);
    let pairs = signed_pairs(app, method.as_ref(), &path, &query.0, body, now_secs());
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let url = internal_url("dashboard", &path, &refs);
    let headers = worker::Headers::new();
    if body.is_some() {
        headers.set("Content-Type", "application/json")?;
    }
    Ok(Answer::Rest(request(&url, method, Some(&headers), body)?))
}

/// The debug console: a WebSocket to the app's ledger, which sends it the lines its rooms
/// and shards report. Once the ledger holds it, the app's occupied rooms and its connection
/// shards are told, so they start now rather than at their next report. (Before the answer:
/// `ctx.wait_until` would do it after, but its wrapper costs the bundle more than a short
/// wait costs the operator.)
async fn console(req: Request, env: &Env, app: &App, session: &OperatorSession) -> AnswerResult {
    let upgrade = req.headers().get("Upgrade")?.unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(RestError::new(
            426,
            "The console is a WebSocket: send Upgrade: websocket",
        ));
    }
    // Recorded first, so the session's logout finds and closes it.
    sessions::console_opened(env, &session.nonce, &app.id, session.expires_secs).await?;
    let response = client::open_console(env, &app.id, &session.nonce).await?;
    if response.status_code() == TOO_MANY_CONSOLES_STATUS {
        return Err(RestError::new(
            429,
            "Too many consoles are open for this app (8): close one",
        ));
    }
    if response.status_code() != 101 {
        return Err(RestError::internal(format!(
            "the ledger refused the console (HTTP {})",
            response.status_code()
        )));
    }
    tell_objects(env, app).await;
    Ok(Answer::Done(response))
}

/// Gives the app's first page of occupied rooms and its connection shards the console's
/// lease. Best effort: an object not told learns from its next ledger answer.
async fn tell_objects(env: &Env, app: &App) {
    let until = (now_ms() + LEASE_MS) as u64;
    tell_rooms(env, app, 0, until).await;
    let shards = ShardPlan::for_limits(&app.limits).shards.min(SHARDS_TOLD);
    for index in 0..shards {
        if let Err(e) = client::tell_shard_console(env, &app.id, index, until).await {
            console_error!("dashboard: shard {index} not told of the console: {e}");
        }
    }
}

/// Tells the occupied rooms `from..from + ROOMS_TOLD` (by name) that a console watches until
/// `until`, a few at a time; the offset of the next page, if there may be one.
async fn tell_rooms(env: &Env, app: &App, from: usize, until: u64) -> Option<usize> {
    let channels = client::occupied_channels(env, &app.id, from, ROOMS_TOLD)
        .await
        .unwrap_or_else(|e| {
            console_error!(
                "dashboard: channel index of app {} unavailable: {e}",
                app.id
            );
            Vec::new()
        });
    for batch in channels.chunks(TOLD_AT_ONCE) {
        let tells = batch
            .iter()
            .map(|channel| rooms::tell_console(env, &app.id, channel, until));
        for (channel, told) in batch.iter().zip(join_all(tells).await) {
            if let Err(e) = told {
                console_error!("dashboard: room of {channel} not told of the console: {e}");
            }
        }
    }
    (channels.len() == ROOMS_TOLD).then_some(from + ROOMS_TOLD)
}

/// `POST console-rooms?from=N`: the page's console, open, asks for the rooms past the first
/// page to be told (`{"next": offset}` until `null`).
async fn console_rooms(env: &Env, app: &App, query: &QueryParams) -> AnswerResult {
    let from = query
        .get("from")
        .and_then(|f| f.parse::<usize>().ok())
        .unwrap_or(0);
    let until = (now_ms() + LEASE_MS) as u64;
    let next = tell_rooms(env, app, from, until).await;
    let body = serde_json::json!({ "next": next }).to_string();
    done(json_response(200, &body))
}
