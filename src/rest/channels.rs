//! `GET /channels` (from the ledger's index of occupied channels), `GET /channels/{name}`
//! and `GET /channels/{name}/users` (from the channel's room).

use super::{pass_json, stream_json};
use crate::config::App;
use crate::glue::http::RestResult;
use crate::ledger::client::rest_read;
use crate::ledger::contract::LedgerRequest;
use crate::protocol::channel_info::InfoAttrs;
use crate::protocol::channel_name::{validate_channel_name, ChannelKind};
use crate::protocol::query::QueryParams;
use crate::protocol::rest_error::RestError;
use crate::room::client;
use crate::room::contract::{RoomAddress, RoomCall, RoomRequest};
use worker::Env;

/// The occupied channels, optionally under a prefix; `info=user_count` only with a
/// `presence-` prefix (Pusher answers 400 otherwise).
pub async fn list(env: &Env, app: &App, params: &QueryParams) -> RestResult {
    let prefix = params.get("filter_by_prefix").unwrap_or_default();
    let attrs = InfoAttrs::parse(params.get("info").unwrap_or_default(), false)?;
    if attrs.subscription_count {
        return Err(RestError::bad_request(
            "subscription_count is not available when listing channels: ask GET /channels/{name}",
        ));
    }
    if attrs.user_count && !prefix.starts_with("presence-") {
        return Err(RestError::bad_request(
            "info=user_count is only available with filter_by_prefix=presence-",
        ));
    }
    let channels = LedgerRequest::Channels {
        prefix: prefix.to_string(),
        user_count: attrs.user_count,
        limit: None,
        offset: None,
    };
    stream_json("ledger", rest_read(env, &app.id, channels).await?).await
}

fn check_channel(name: &str, app: &App) -> Result<(), RestError> {
    validate_channel_name(name, app.limits.max_channel_name_length)
        .map(|_| ())
        .map_err(|e| RestError::bad_request(format!("Invalid channel name {name:?}: {e}")))
}

/// One channel's `occupied` and the attributes asked for.
pub async fn show(env: &Env, app: &App, channel: &str, params: &QueryParams) -> RestResult {
    check_channel(channel, app)?;
    let attrs = InfoAttrs::parse(params.get("info").unwrap_or_default(), true)?;
    attrs.check_applicable(channel)?;
    let to = RoomAddress::channel(&app.id, channel);
    let response = client::call(env, &RoomCall::rest(to, RoomRequest::Info { attrs })).await?;
    pass_json("room", response).await
}

/// A presence channel's users.
pub async fn users(env: &Env, app: &App, channel: &str) -> RestResult {
    check_channel(channel, app)?;
    if !ChannelKind::of(channel).is_presence() {
        return Err(RestError::bad_request(format!(
            "Users are only available for presence channels, not {channel:?}"
        )));
    }
    let to = RoomAddress::channel(&app.id, channel);
    let response = client::call(env, &RoomCall::rest(to, RoomRequest::Users)).await?;
    pass_json("room", response).await
}
