//! `POST /events` and `POST /batch_events`: one room request per channel, all at once, and
//! `POST /users/{id}/terminate_connections`.

use crate::config::App;
use crate::glue::clock::now_ms;
use crate::glue::http::{json_response, RestResult};
use crate::glue::internal_error::InternalError;
use crate::glue::subrequest::safe_to_retry;
use crate::ledger::report::QUOTA_RECHECK_MS;
use crate::protocol::channel_name::{validate_channel_name, ChannelKind, SERVER_TO_USER_PREFIX};
use crate::protocol::frames;
use crate::protocol::json_writer::{raw_array, JsonObject};
use crate::protocol::rest_error::RestError;
use crate::protocol::timestamp::utc_month;
use crate::protocol::trigger::{parse_batch, parse_trigger, Trigger};
use crate::room::client;
use crate::room::contract::{RoomAddress, RoomCall, RoomRequest, OVER_QUOTA_STATUS};
use futures_util::future::join_all;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;
use worker::{console_error, Delay, Env};

/// How long a publish the runtime refused before it ran waits before its one retry.
const RETRY_AFTER_MS: u64 = 100;

/// The REST answer once the app's monthly broadcasts reach `limits.max_broadcasts_per_month`.
pub const OVER_QUOTA_MESSAGE: &str =
    "This app is over its monthly broadcast quota (limits.max_broadcasts_per_month); publishing resumes next month (UTC)";

/// `POST /apps/{id}/users/{user_id}/terminate_connections`: closes every signed-in
/// connection of the user (their sessions close with 4009), through the user's channel room.
pub async fn terminate_user(env: &Env, app: &App, user_id: &str) -> RestResult {
    let channel = format!("{SERVER_TO_USER_PREFIX}{user_id}");
    if validate_channel_name(&channel, usize::MAX).is_err() {
        return Err(RestError::bad_request(format!(
            "Invalid user id {user_id:?}"
        )));
    }
    let to = RoomAddress::channel(&app.id, &channel);
    let response = client::call(env, &RoomCall::rest(to, RoomRequest::Terminate)).await?;
    match response.status_code() {
        200..=299 => Ok(json_response(200, "{}")?),
        status => Err(InternalError::status("room", status, "terminate failed").into()),
    }
}

/// One publish: the event on one channel, and the channel's attributes if asked for.
struct Publish<'a> {
    trigger: &'a Trigger,
    channel: &'a str,
}

pub async fn trigger(env: &Env, app: &App, body: &[u8]) -> RestResult {
    let trigger = parse_trigger(body, &app.limits)?;
    let publishes: Vec<Publish> = trigger
        .channels
        .iter()
        .map(|channel| Publish {
            trigger: &trigger,
            channel,
        })
        .collect();
    let infos = publish_all(env, app, &publishes).await?;
    if trigger.info.is_empty() {
        return Ok(json_response(200, "{}")?);
    }
    let channels = trigger
        .channels
        .iter()
        .zip(&infos)
        .fold(JsonObject::new(), |object, (channel, info)| {
            object.raw_at(channel, info)
        })
        .finish();
    let answer = JsonObject::new().raw("channels", &channels).finish();
    Ok(json_response(200, &answer)?)
}

pub async fn batch(env: &Env, app: &App, body: &[u8]) -> RestResult {
    let batch = parse_batch(body, &app.limits)?;
    let publishes: Vec<Publish> = batch
        .iter()
        .map(|trigger| Publish {
            trigger,
            channel: &trigger.channels[0],
        })
        .collect();
    let infos = publish_all(env, app, &publishes).await?;
    if batch.iter().all(|t| t.info.is_empty()) {
        return Ok(json_response(200, "{}")?);
    }
    let answer = JsonObject::new().raw("batch", &raw_array(&infos)).finish();
    Ok(json_response(200, &answer)?)
}

thread_local! {
    /// Apps this isolate has seen refused for their monthly broadcast quota, with the month
    /// and until when: publishes meanwhile are refused here without a room request.
    static OVER_QUOTA: RefCell<HashMap<String, (String, f64)>> = RefCell::new(HashMap::new());
}

fn current_month() -> String {
    utc_month(now_ms())
}

/// Publishes everything at once; answers each channel's attributes JSON in order, or the
/// first refusal (403 over quota) or failure.
async fn publish_all(
    env: &Env,
    app: &App,
    publishes: &[Publish<'_>],
) -> Result<Vec<String>, RestError> {
    let month = current_month();
    let now = now_ms();
    let known_over = OVER_QUOTA.with(|over| {
        over.borrow()
            .get(&app.id)
            .is_some_and(|(m, until)| *m == month && now < *until)
    });
    if known_over {
        return Err(RestError::new(403, OVER_QUOTA_MESSAGE));
    }
    let results = publish_in_order(env, app, publishes).await;
    let mut infos = Vec::with_capacity(results.len());
    let mut failed = Vec::new();
    for (result, p) in results.into_iter().zip(publishes) {
        match result {
            Ok(info) => infos.push(info),
            Err(refusal) if refusal.status == 403 => {
                // Remembered briefly: the quota may be raised, and rooms ask the ledger again.
                let until = now + QUOTA_RECHECK_MS;
                OVER_QUOTA.with(|over| over.borrow_mut().insert(app.id.clone(), (month, until)));
                return Err(refusal);
            }
            Err(e) => {
                console_error!("publish to {} failed: {}", p.channel, e.message);
                failed.push(p.channel);
            }
        }
    }
    if failed.is_empty() {
        Ok(infos)
    } else {
        Err(RestError::internal(format!(
            "The event could not be delivered to: {}",
            failed.join(", ")
        )))
    }
}

/// Publishes channel by channel, all channels at once, but a channel's own events (a batch
/// may hold several) one after another in the batch's order: requests to a Durable Object
/// through different stubs may arrive in any order. Answers in the order given.
async fn publish_in_order(
    env: &Env,
    app: &App,
    publishes: &[Publish<'_>],
) -> Vec<Result<String, RestError>> {
    let channels: Vec<&str> = publishes.iter().map(|p| p.channel).collect();
    let lanes = join_all(lanes(&channels).into_iter().map(|indices| async move {
        let mut done = Vec::with_capacity(indices.len());
        for i in indices {
            done.push((i, publish(env, app, &publishes[i], i == 0).await));
        }
        done
    }))
    .await;
    // Back in the publishes' order: each result to its index's slot (no sort in the bundle).
    let mut slots: Vec<Option<_>> = (0..publishes.len()).map(|_| None).collect();
    for (i, result) in lanes.into_iter().flatten() {
        if let Some(slot) = slots.get_mut(i) {
            *slot = Some(result);
        }
    }
    slots.into_iter().flatten().collect()
}

/// The positions of each channel's events, channel by channel in order of first appearance.
fn lanes(channels: &[&str]) -> Vec<Vec<usize>> {
    let mut lanes: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, channel) in channels.iter().enumerate() {
        match lanes.iter_mut().find(|(c, _)| c == channel) {
            Some((_, lane)) => lane.push(i),
            None => lanes.push((channel, vec![i])),
        }
    }
    lanes.into_iter().map(|(_, lane)| lane).collect()
}

/// Hands a pre-serialised frame to the channel's room, which sends it to every subscriber.
/// Answers the channel's attributes JSON; 403 when the app is over its quota, 500 when the
/// room could not be reached or failed.
async fn publish(
    env: &Env,
    app: &App,
    p: &Publish<'_>,
    rest_call: bool,
) -> Result<String, RestError> {
    let channel = p.channel;
    let frame = frames::channel_event(&p.trigger.name, channel, &p.trigger.data);
    let publish = RoomRequest::Publish {
        frame,
        exclude: p.trigger.socket_id.clone(),
        ttl_secs: ChannelKind::of(channel)
            .is_cache()
            .then_some(app.limits.cache_ttl_secs),
        attrs: p.trigger.info.applicable_to(channel),
    };
    let call = RoomCall {
        rest_call,
        ..RoomCall::new(RoomAddress::channel(&app.id, channel), publish)
    };
    // The frame leaves Wasm memory before the room is asked (see `PreparedRequest`).
    let (room, request) = client::prepare(env, call).await?;
    let mut response = match request.send(&room).await {
        // Refused before it ran (an overloaded or restarting object): once more, a moment later.
        Err(e) if safe_to_retry(&e) => {
            Delay::from(Duration::from_millis(RETRY_AFTER_MS)).await;
            request.send(&room).await?
        }
        answer => answer?,
    };
    let status = response.status_code();
    let body = response.text().await.unwrap_or_default();
    match status {
        200 => Ok(body),
        OVER_QUOTA_STATUS => Err(RestError::new(403, OVER_QUOTA_MESSAGE)),
        _ => Err(InternalError::status("room", status, body).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::lanes;

    #[test]
    fn a_channels_events_share_one_lane_in_order() {
        assert_eq!(
            lanes(&["a", "b", "a", "c", "a", "b"]),
            vec![vec![0, 2, 4], vec![1, 5], vec![3]]
        );
        assert_eq!(lanes(&["x", "y"]), vec![vec![0], vec![1]]);
        assert!(lanes(&[]).is_empty());
    }
}
