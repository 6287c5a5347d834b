//! What the room tells about its channel: `/info` (`GET /channels/{name}`), `/users` (a
//! presence channel's users) and the attributes a publish answers with.

use super::state::CachedEvent;
use super::ChannelRoom;
use crate::glue::clock::now_ms;
use crate::protocol::channel_info::{info_json, users_json, ChannelState, InfoAttrs};
use crate::room::contract::SUBSCRIBERS_HEADER;
use worker::{Response, Result};

impl ChannelRoom {
    /// `/info`: the channel's attributes, with a split channel's leaves asked for theirs now.
    pub(super) async fn info(&self, attrs: InfoAttrs) -> Result<Response> {
        let leaf_subscribers = self.fresh_leaf_subscribers().await;
        let state = self.channel_state(attrs, leaf_subscribers).await;
        let response = Response::ok(info_json(&state, attrs, true))?;
        let subscribers = state.subscription_count.to_string();
        response.headers().set(SUBSCRIBERS_HEADER, &subscribers)?;
        Ok(response)
    }

    /// `/users`: a presence channel's user ids.
    pub(super) fn users(&self) -> Result<Response> {
        let body = self.with_roster(|roster| users_json(roster.user_ids()));
        Response::ok(body)
    }

    /// What `GET /channels/{name}` and a trigger's `info` report.
    /// `leaf_subscribers`: a split channel's subscribers in its leaves (the publish fan-out
    /// just learnt them; `/info` asks).
    pub(super) async fn channel_state(
        &self,
        attrs: InfoAttrs,
        leaf_subscribers: u64,
    ) -> ChannelState {
        let subscription_count = self.subscriber_count() as u64;
        let user_count = match attrs.user_count {
            true => self.with_roster(|roster| roster.count()) as u64,
            false => 0,
        };
        let cache = if attrs.cache {
            let cached = self.cached_event().await;
            cached.map(|event| cache_attribute(&event, now_ms()))
        } else {
            None
        };
        ChannelState {
            subscription_count: subscription_count + leaf_subscribers,
            user_count,
            cache,
        }
    }
}

/// A cache channel's `cache` attribute: the cached event's `data` and the seconds it has
/// left (rounded up) at `now_ms`.
fn cache_attribute(event: &CachedEvent, now_ms: f64) -> (String, u64) {
    let data = crate::protocol::json_read::from_text::<serde_json::Value>(&event.frame)
        .ok()
        .and_then(|v| v.get("data").and_then(|d| d.as_str()).map(String::from))
        .unwrap_or_default();
    let ttl = ((event.expires_at_ms - now_ms) / 1000.0).ceil().max(0.0) as u64;
    (data, ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_attribute_is_the_data_and_whole_seconds_left() {
        let event = CachedEvent {
            frame: r#"{"event":"e","channel":"cache-a","data":"{\"x\":1}"}"#.into(),
            expires_at_ms: 10_500.0,
        };
        assert_eq!(cache_attribute(&event, 0.0), (r#"{"x":1}"#.into(), 11));
        assert_eq!(cache_attribute(&event, 10_000.0), (r#"{"x":1}"#.into(), 1));
        assert_eq!(cache_attribute(&event, 20_000.0).1, 0, "never negative");
        let odd = CachedEvent {
            frame: "not json".into(),
            expires_at_ms: 0.0,
        };
        assert_eq!(cache_attribute(&odd, 0.0), (String::new(), 0));
    }
}
