//! `POST /apps/{id}/events`: one event to up to 100 channels, one room request per channel.

use crate::config::App;
use crate::edge::router::{json_error, json_response};
use crate::protocol::frames;
use crate::protocol::trigger::parse_trigger;
use crate::room::member::{param, path, room_name};
use crate::CHANNELS_BINDING;
use futures_util::future::join_all;
use wasm_bindgen::JsValue;
use worker::{console_error, Env, Method, Request, RequestInit, Response, Result, Url};

pub async fn trigger(env: &Env, app: &App, body: &[u8]) -> Result<Response> {
    let trigger = match parse_trigger(body, &app.limits) {
        Ok(t) => t,
        Err(e) => return json_error(e.status, &e.message),
    };
    let publishes = trigger.channels.iter().map(|channel| {
        let frame = frames::channel_event(&trigger.name, channel, &trigger.data);
        publish(env, &app.id, channel, frame, trigger.socket_id.as_deref())
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
    app_id: &str,
    channel: &str,
    frame: String,
    exclude: Option<&str>,
) -> Result<()> {
    let stub = env
        .durable_object(CHANNELS_BINDING)?
        .id_from_name(&room_name(app_id, channel))?
        .get_stub()?;
    let mut query = vec![(param::CHANNEL, channel)];
    if let Some(socket_id) = exclude {
        query.push((param::EXCLUDE, socket_id));
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
