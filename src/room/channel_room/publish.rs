//! A publish: refused past the app's monthly quota; otherwise sent to this room's sockets and
//! a split channel's leaves, kept as a cache channel's last event, counted, and answered with
//! the channel's attributes.

use super::ChannelRoom;
use crate::glue::clock::now_ms;
use crate::ledger::console;
use crate::ledger::reporter::Reporter;
use crate::protocol::channel_info::{info_json, InfoAttrs};
use crate::protocol::channel_name::ChannelKind;
use crate::protocol::timestamp::utc_month;
use crate::room::contract::{DELIVERED_HEADER, OVER_QUOTA_STATUS, SUBSCRIBERS_HEADER};
use worker::{Response, Result};

/// What a publish asks besides its frame.
pub(super) struct Publish<'a> {
    pub(super) channel: &'a str,
    /// A socket the publish leaves out.
    pub(super) exclude: Option<&'a str>,
    /// A cache channel keeps the event this long.
    pub(super) ttl_secs: f64,
    /// Channel attributes wanted in the answer.
    pub(super) attrs: InfoAttrs,
}

impl ChannelRoom {
    pub(super) async fn publish(&self, frame: String, query: Publish<'_>) -> Result<Response> {
        if self.is_over_quota() {
            return self.refuse_over_quota().await;
        }
        let exclude = query.exclude;
        let local = self.broadcast(&frame, exclude);
        if self.is_leaf() {
            return self.answer_root(local).await;
        }
        let (leaf_delivered, leaf_subscribers) = self.fan_out_publish(&frame, exclude).await;
        if let Some(now) = self.console_open().await {
            self.console_line(console::event(now, &frame, None, exclude))
                .await;
        }
        if ChannelKind::of(query.channel).is_cache() {
            self.store_cache(frame, now_ms() + query.ttl_secs * 1000.0)
                .await?;
        }
        self.count(|c| {
            c.broadcasts += 1;
            c.messages_delivered += local as u64;
        })
        .await;
        let state = self.channel_state(query.attrs, leaf_subscribers).await;
        let response = Response::ok(info_json(&state, query.attrs, false))?;
        // For tests and diagnostics: how many sockets this publish reached.
        let delivered = local + leaf_delivered;
        response
            .headers()
            .set(DELIVERED_HEADER, &delivered.to_string())?;
        Ok(response)
    }

    fn is_over_quota(&self) -> bool {
        self.memory
            .borrow()
            .feed
            .is_over_quota(&utc_month(now_ms()))
    }

    /// The app is over its monthly broadcast quota: nothing is sent. The ledger is asked
    /// again now and then, in case the quota was raised.
    async fn refuse_over_quota(&self) -> Result<Response> {
        let recheck = self.memory.borrow_mut().feed.recheck_quota(now_ms());
        if recheck {
            self.schedule_report().await;
        }
        Response::error(
            "This app is over its monthly broadcast quota (limits.max_broadcasts_per_month)",
            OVER_QUOTA_STATUS,
        )
    }

    /// A leaf's part of its root room's publish: the deliveries are counted here, the
    /// broadcast in the root, which hears how many sockets it reached and how many this
    /// leaf has.
    async fn answer_root(&self, delivered: usize) -> Result<Response> {
        self.count(|c| c.messages_delivered += delivered as u64)
            .await;
        let response = Response::ok("{}")?;
        response
            .headers()
            .set(DELIVERED_HEADER, &delivered.to_string())?;
        let subscribers = self.subscriber_count().to_string();
        response.headers().set(SUBSCRIBERS_HEADER, &subscribers)?;
        Ok(response)
    }
}
