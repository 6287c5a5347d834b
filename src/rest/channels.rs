//! `GET /channels` (from the ledger's index of occupied channels), `GET /channels/{name}`
//! and `GET /channels/{name}/users` (from the channel's room).

use super::rooms::{self, RoomCall};
use crate::config::App;
use crate::edge::router::{json_error, json_response};
use crate::ledger::client::rest_read;
use crate::ledger::contract::{ledger_param, ledger_path};
use crate::protocol::channel_info::InfoAttrs;
use crate::protocol::channel_name::{validate_channel_name, ChannelKind};
use crate::protocol::rest_signature::QueryParams;
use crate::room::contract::{param, path};
use worker::{Env, Method, Response, Result};

/// The occupied channels, optionally under a prefix; `info=user_count` only with a
/// `presence-` prefix (Pusher answers 400 otherwise).
pub async fn list(env: &Env, app: &App, params: &QueryParams) -> Result<Response> {
    let prefix = params.get("filter_by_prefix").unwrap_or_default();
    let attrs = match InfoAttrs::parse(params.get("info").unwrap_or_default(), false) {
        Ok(attrs) => attrs,
        Err(e) => return json_error(e.status, &e.message),
    };
    if attrs.subscription_count {
        return json_error(
            400,
            "subscription_count is not available when listing channels: ask GET /channels/{name}",
        );
    }
    if attrs.user_count && !prefix.starts_with("presence-") {
        return json_error(
            400,
            "info=user_count is only available with filter_by_prefix=presence-",
        );
    }
    let mut query = vec![(ledger_param::PREFIX, prefix)];
    if attrs.user_count {
        query.push((ledger_param::USER_COUNT, "1"));
    }
    pass_json(rest_read(env, &app.id, ledger_path::CHANNELS, &query).await?).await
}

fn checked_channel(name: &str, app: &App) -> std::result::Result<(), Result<Response>> {
    match validate_channel_name(name, app.limits.max_channel_name_length) {
        Ok(_) => Ok(()),
        Err(e) => Err(json_error(
            400,
            &format!("Invalid channel name {name:?}: {e}"),
        )),
    }
}

/// One channel's `occupied` and the attributes asked for.
pub async fn show(env: &Env, app: &App, channel: &str, params: &QueryParams) -> Result<Response> {
    if let Err(response) = checked_channel(channel, app) {
        return response;
    }
    let attrs = match InfoAttrs::parse(params.get("info").unwrap_or_default(), true)
        .and_then(|attrs| attrs.check_applicable(channel).map(|()| attrs))
    {
        Ok(attrs) => attrs,
        Err(e) => return json_error(e.status, &e.message),
    };
    let info = attrs.to_param();
    let response = rooms::fetch(
        env,
        &app.id,
        RoomCall {
            channel,
            path: path::INFO,
            method: Method::Get,
            rest_call: true,
            query: &[(param::INFO, info.as_str())],
            body: None,
        },
    )
    .await?;
    pass_json(response).await
}

/// A presence channel's users.
pub async fn users(env: &Env, app: &App, channel: &str) -> Result<Response> {
    if let Err(response) = checked_channel(channel, app) {
        return response;
    }
    if !ChannelKind::of(channel).is_presence() {
        return json_error(
            400,
            &format!("Users are only available for presence channels, not {channel:?}"),
        );
    }
    let response = rooms::fetch(
        env,
        &app.id,
        RoomCall {
            channel,
            path: path::USERS,
            method: Method::Get,
            rest_call: true,
            query: &[],
            body: None,
        },
    )
    .await?;
    pass_json(response).await
}

/// Answers with an internal JSON response as is, or a 500 naming its failure.
async fn pass_json(mut response: Response) -> Result<Response> {
    let status = response.status_code();
    let body = response.text().await.unwrap_or_default();
    if status == 200 {
        json_response(200, &body)
    } else {
        json_error(
            500,
            &format!("internal request failed with HTTP {status}: {body}"),
        )
    }
}
