//! How the Worker, the rooms and the shards talk to an app's ledger and connection shards
//! (through their contract only, never the Durable Objects' code).

use super::contract::{
    ledger_name, shard_name, LedgerCall, LedgerRequest, ShardCall, ShardRequest,
    CONNECTIONS_BINDING, FULL_STATUS, LEDGER_BINDING, SHARD_SIZE_HEADER, UNKNOWN_APP_STATUS,
};
use super::report::{Report, ReportAnswer};
use super::shard_plan::ShardPlan;
use crate::apps::lookup::{app_by_id, placement_of};
use crate::glue::internal_error::InternalError;
use crate::glue::objects::placed_stub;
use crate::glue::subrequest::send;
use crate::protocol::close_codes;
use crate::protocol::json_read::from_text;
use crate::protocol::placement::Placement;
use crate::protocol::wire::InternalRequest;
use futures_util::future::join_all;
use worker::{console_warn, Env, Response, Result, Stub};

/// The stub of an app's ledger.
async fn ledger_stub(env: &Env, app_id: &str) -> Result<Stub> {
    let placement = placement_of(env, app_id).await?;
    placed_stub(env, LEDGER_BINDING, &ledger_name(app_id), &placement)
}

/// The stub of connection shard `index` of an app, placed as `placement` says (looked up when
/// the caller does not know it).
async fn shard_stub(
    env: &Env,
    app_id: &str,
    index: u32,
    placement: Option<&Placement>,
) -> Result<Stub> {
    let name = shard_name(app_id, index);
    match placement {
        Some(placement) => placed_stub(env, CONNECTIONS_BINDING, &name, placement),
        None => {
            let placement = placement_of(env, app_id).await?;
            placed_stub(env, CONNECTIONS_BINDING, &name, &placement)
        }
    }
}

/// Sends one call to the app's ledger; the answer is the ledger's.
async fn call_ledger(env: &Env, call: &LedgerCall) -> Result<Response> {
    send(
        &ledger_stub(env, &call.app_id).await?,
        "ledger",
        &call.encode(),
    )
    .await
}

/// Sends one call to a connection shard; the answer is the shard's.
async fn call_shard(
    env: &Env,
    call: &ShardCall,
    placement: Option<&Placement>,
) -> Result<Response> {
    let stub = shard_stub(env, &call.app_id, call.index, placement).await?;
    send(&stub, "connections", &call.encode()).await
}

/// Sends one batched report; the answer carries the app's quota state.
pub async fn send_report(env: &Env, app_id: &str, report: &Report) -> Result<ReportAnswer> {
    if app_by_id(env, app_id).await?.is_none() {
        // The app was deleted (or never was): where its ledger lives is unknown, its counts
        // have nowhere to go, and trying again cannot help. (A failed lookup is an error, and
        // the report is tried again.)
        return Ok(ReportAnswer::default());
    }
    let call = LedgerCall::new(app_id, LedgerRequest::Report(report.clone()));
    let mut response = call_ledger(env, &call).await?;
    if response.status_code() == UNKNOWN_APP_STATUS {
        // The app was deleted: its counts have nowhere to go, and trying again cannot help.
        return Ok(ReportAnswer::default());
    }
    if response.status_code() != 200 {
        let why = response.text().await.unwrap_or_default();
        return Err(InternalError::status("ledger", response.status_code(), why).into());
    }
    Ok(from_text(&response.text().await?)?)
}

/// A read of the ledger for a REST call (`/stats`, `/channels`), counted as one REST call.
pub async fn rest_read(env: &Env, app_id: &str, request: LedgerRequest) -> Result<Response> {
    let call = LedgerCall {
        rest_call: true,
        ..LedgerCall::new(app_id, request)
    };
    call_ledger(env, &call).await
}

/// The ledger's stats, without counting a REST call (for the metrics endpoint).
pub async fn stats(env: &Env, app_id: &str) -> Result<super::stats::Stats> {
    Ok(from_text(&stats_json(env, app_id).await?)?)
}

/// The ledger's stats as the ledger writes them (`GET /apps/{id}/stats`'s JSON), without
/// counting a REST call.
pub async fn stats_json(env: &Env, app_id: &str) -> Result<String> {
    let mut response = call_ledger(env, &LedgerCall::new(app_id, LedgerRequest::Stats)).await?;
    response.text().await
}

/// A connection's place in its app's connection ledger: the socket to hold, and which shard.
pub struct Place {
    pub socket: worker::WebSocket,
    pub shard: u32,
    /// The places the shard holds, this one included (0: not told).
    pub size: u64,
}

/// Wakes a connection shard whose socket a session lost (the shard restarted), so that the
/// new instance reports its true count to the ledger even if no connection comes back to it.
pub async fn wake_shard(env: &Env, app_id: &str, shard: u32) -> Result<()> {
    let call = ShardCall {
        app_id: app_id.to_string(),
        index: shard,
        request: ShardRequest::Wake,
    };
    call_shard(env, &call, None).await.map(|_| ())
}

/// Tells the sessions holding places in shards `0..shards` of the app that it changed
/// (`record`: the registry's stored record); returns how many shards heard it (one that did
/// not is logged, and its sessions keep the old settings until they reconnect).
pub async fn tell_app_changed(
    env: &Env,
    app_id: &str,
    shards: u32,
    record: &str,
    placement: &Placement,
) -> u32 {
    let calls = (0..shards).map(|index| ShardCall {
        app_id: app_id.to_string(),
        index,
        request: ShardRequest::AppChanged {
            record: record.to_string(),
        },
    });
    let sent = calls.map(|call| async move {
        match call_shard(env, &call, Some(placement)).await {
            Ok(response) if response.status_code() == 200 => true,
            Ok(response) => {
                console_warn!(
                    "app change not heard by shard {}: HTTP {}",
                    call.index,
                    response.status_code()
                );
                false
            }
            Err(e) => {
                console_warn!("app change not heard by shard {}: {e}", call.index);
                false
            }
        }
    });
    join_all(sent)
        .await
        .into_iter()
        .filter(|told| *told)
        .count() as u32
}

/// Why a connection could not take a place in the app's connection shards.
pub struct ConnectionRefused {
    pub code: u16,
    pub message: String,
}

/// Takes a place for a new client connection in one of the app's connection shards: the
/// returned socket is the connection's place, held until the session ends. When every
/// shard is full the app is over its connection quota (4004), or, without a quota, the
/// deployment is at capacity (4100, so pusher-js retries later).
pub async fn hold_connection(
    env: &Env,
    app: &crate::config::App,
    socket_id: &str,
) -> std::result::Result<Place, ConnectionRefused> {
    let plan = ShardPlan::for_limits(&app.limits);
    // The socket id's random digits pick the first shard to try.
    let random = socket_id
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0u32, |acc, d| {
            acc.wrapping_mul(10).wrapping_add(u32::from(d - b'0'))
        });
    let unreachable = |e: worker::Error| ConnectionRefused {
        code: close_codes::OVER_CAPACITY,
        message: format!("Connection ledger unavailable, try again later ({e})"),
    };
    for index in plan.order(random) {
        let connect = ShardCall {
            app_id: app.id.clone(),
            index,
            request: ShardRequest::Connect {
                cap: plan.cap(index),
                socket_id: socket_id.to_string(),
            },
        };
        let response = call_shard(env, &connect, Some(&app.placement()))
            .await
            .map_err(unreachable)?;
        match response.status_code() {
            101 => {
                let size = response.headers().get(SHARD_SIZE_HEADER).ok().flatten();
                let size = size.and_then(|s| s.parse().ok()).unwrap_or(0);
                return response
                    .websocket()
                    .map(|socket| Place {
                        socket,
                        shard: index,
                        size,
                    })
                    .ok_or_else(|| ConnectionRefused {
                        code: close_codes::OVER_CAPACITY,
                        message: "Connection ledger sent no socket, try again later".into(),
                    });
            }
            FULL_STATUS => continue,
            status => {
                return Err(unreachable(
                    InternalError::status("connection shard", status, "").into(),
                ))
            }
        }
    }
    Err(if plan.is_quota() {
        ConnectionRefused {
            code: close_codes::OVER_CONNECTION_QUOTA,
            message: format!(
                "Application is over connection quota ({} connections)",
                app.limits.max_connections.unwrap_or_default()
            ),
        }
    } else {
        ConnectionRefused {
            code: close_codes::OVER_CAPACITY,
            message: "Over capacity: every connection shard of this app is full, try again later"
                .into(),
        }
    })
}

/// Opens a debug console's WebSocket at the app's ledger (the answer is the upgrade).
pub async fn open_console(env: &Env, app_id: &str, session: &str) -> Result<Response> {
    let console = LedgerRequest::Console {
        session: Some(session.to_string()),
    };
    call_ledger(env, &LedgerCall::new(app_id, console)).await
}

/// Closes the app's consoles of an operator session that logged out.
pub async fn close_consoles(env: &Env, app_id: &str, session: &str) -> Result<()> {
    let close = LedgerRequest::CloseConsoles {
        session: session.to_string(),
    };
    call_ledger(env, &LedgerCall::new(app_id, close))
        .await
        .map(|_| ())
}

/// The app's occupied channels as the ledger lists them (`{"channels":{name:{user_count}}}`,
/// at most `limit`, by name, presence user counts included), without counting a REST call.
/// The app's webhook delivery log (`{"attempts":[...]}`, newest first).
pub async fn webhook_log(env: &Env, app_id: &str) -> Result<String> {
    let mut response =
        call_ledger(env, &LedgerCall::new(app_id, LedgerRequest::WebhookLog)).await?;
    let body = response.text().await?;
    match response.status_code() {
        200 => Ok(body),
        status => Err(InternalError::status("ledger", status, body).into()),
    }
}

pub async fn channel_list(env: &Env, app_id: &str, limit: u32) -> Result<String> {
    let channels = LedgerRequest::Channels {
        prefix: String::new(),
        user_count: true,
        limit: Some(limit),
        offset: None,
    };
    call_ledger(env, &LedgerCall::new(app_id, channels))
        .await?
        .text()
        .await
}

/// The app's occupied channels (at most `limit`, by name), without counting a REST call.
pub async fn occupied_channels(
    env: &Env,
    app_id: &str,
    offset: usize,
    limit: usize,
) -> Result<Vec<String>> {
    let channels = LedgerRequest::Channels {
        prefix: String::new(),
        user_count: false,
        limit: Some(u32::try_from(limit).unwrap_or(u32::MAX)),
        offset: Some(u32::try_from(offset).unwrap_or(u32::MAX)).filter(|o| *o > 0),
    };
    let mut response = call_ledger(env, &LedgerCall::new(app_id, channels)).await?;
    // `{"channels":{name:{},...}}`, read as a `Value` (the bundle has its parser already).
    let listing: serde_json::Value = from_text(&response.text().await?)?;
    let names = listing
        .get("channels")
        .and_then(|c| c.as_object())
        .map(|channels| channels.keys().take(limit).cloned().collect())
        .unwrap_or_default();
    Ok(names)
}

/// Tells a connection shard that a console watches the app until `until_ms`.
pub async fn tell_shard_console(env: &Env, app_id: &str, shard: u32, until_ms: u64) -> Result<()> {
    let call = ShardCall {
        app_id: app_id.to_string(),
        index: shard,
        request: ShardRequest::Console { until_ms },
    };
    call_shard(env, &call, None).await.map(|_| ())
}
