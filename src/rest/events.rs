//! `POST /apps/{id}/events`: one event to up to 100 channels, one room request per channel.

use crate::config::App;
use crate::edge::router::{json_error, json_response};
use crate::protocol::channel_name::{ChannelKind, SERVER_TO_USER_PREFIX};
use crate::protocol::frames;
use crate::protocol::trigger::parse_trigger;
use crate::room::member::{param, path, room_name};
use crate::CHANNELS_BINDING;
use futures_util::future::join_all;
use wasm_bindgen::JsValue;
use worker::{console_error, Env, Method, Request, RequestInit, Response, Result, Stub, Url};

fn room_stub(env: &Env, app_id: &str, channel: &str) -> Result<Stub> {
    env.durable_object(CHANNELS_BINDING)?
        .id_from_name(&room_name(app_id, channel))?
        .get_stub()
}

/// `POST /apps/{id}/users/{user_id}/terminate_connections`: closes every signed-in
/// connection of the user (their sessions close with 4009), through the user's channel room.
pub async fn terminate_user(env: &Env, app: &App, user_id: &str) -> Result<Response> {
    let channel = format!("{SERVER_TO_USER_PREFIX}{user_id}");
    if crate::protocol::channel_name::validate_channel_name(&channel, usize::MAX).is_err() {
        return json_error(400, &format!("Invalid user id {user_id:?}"));
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post);
    let request = Request::new_with_init(&format!("https://room{}", path::TERMINATE), &init)?;
    let response = room_stub(env, &app.id, &channel)?
        .fetch_with_request(request)
        .await?;
    match response.status_code() {
        200..=299 => json_response(200, "{}"),
        status => json_error(
            500,
            &format!("terminate failed: room answered HTTP {status}"),
        ),
    }
}

pub async fn trigger(env: &Env, app: &App, body: &[u8]) -> Result<Response> {
    let trigger = match parse_trigger(body, &app.limits) {
        Ok(t) => t,
        Err(e) => return json_error(e.status, &e.message),
    };
    let publishes = trigger.channels.iter().map(|channel| {
        let frame = frames::channel_event(&trigger.name, channel, &trigger.data);
        publish(env, app, channel, frame, trigger.socket_id.as_deref())
    });
    let failed: Vec<String> = join_all(publishes)
        .await
        .into_iter()
        .zip(&trigger.channels)
        .filter_map(|(result, channel)| match result {
            Ok(()) => None,
            Err(e) => {
                console_error!("publish to {channel} failed: {e}");
                Some(channel.clone())
            }
        })
        .collect();
    if failed.is_empty() {
        json_response(200, "{}")
    } else {
        json_error(
            500,
            &format!("The event could not be delivered to: {}", failed.join(", ")),
        )
    }
}

/// Hands a pre-serialised frame to the channel's room, which sends it to every subscriber.
async fn publish(
    env: &Env,
    app: &App,
    channel: &str,
    frame: String,
    exclude: Option<&str>,
) -> Result<()> {
    let stub = room_stub(env, &app.id, channel)?;
    let ttl = app.limits.cache_ttl_secs.to_string();
    let mut query = vec![(param::CHANNEL, channel)];
    if let Some(socket_id) = exclude {
        query.push((param::EXCLUDE, socket_id));
    }
    if ChannelKind::of(channel).is_cache() {
        query.push((param::TTL, &ttl));
    }
    let url = Url::parse_with_params(&format!("https://room{}", path::PUBLISH), &query)
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(JsValue::from_str(&frame)));
    let response = stub
        .fetch_with_request(Request::new_with_init(url.as_str(), &init)?)
        .await?;
    match response.status_code() {
        200..=299 => Ok(()),
        status => Err(worker::Error::RustError(format!(
            "room answered HTTP {status}"
        ))),
    }
}
