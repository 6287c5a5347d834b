//! The room's internal requests: what every request does first, then one method per path
//! (subscribe, publish and the channel's info have files of their own).

use super::ChannelRoom;
use crate::ledger::reporter::Reporter;
use crate::protocol::json_writer::JsonObject;
use crate::room::contract::{RoomCall, RoomRequest};
use crate::room::webhook_outbox::CHANNEL_SUBJECT;
use worker::{Response, Result};

/// How long a cache channel keeps a published event when the publish does not say.
const DEFAULT_CACHE_TTL_SECS: u32 = 1800;

impl ChannelRoom {
    /// What every request but the storage diagnostic does first: learn the room's identity,
    /// queue the departures a restart left unsent, and have a new instance report to the
    /// ledger.
    pub(super) async fn take_in(&self, call: &RoomCall) {
        self.learn(Some(&call.to.app_id), &call.to.channel);
        if let Some(leaf) = call.to.leaf {
            self.memory.borrow_mut().identity.learn_leaf(Some(leaf));
        }
        if !matches!(call.request, RoomRequest::Subscribe(_)) {
            // A subscribe does this itself, once it knows the join is not refused.
            self.reconcile_hooks().await;
        }
        if let RoomRequest::Subscribe(join) = &call.request {
            if let Some(rejoin) = join.rejoin {
                self.widen_window(rejoin.size);
            }
        }
        // A presence room's absent members (after a reset) leave when the window ends.
        self.arm_for_absent().await;
        if !std::mem::replace(&mut self.memory.borrow_mut().announced_to_ledger, true) {
            // A new instance (after a restart, perhaps without its sockets) tells the ledger
            // its occupancy, so the channel index heals.
            self.schedule_report().await;
        }
    }

    /// The answer to one call, by its request.
    pub(super) async fn answer(&self, call: RoomCall) -> Result<Response> {
        match call.request {
            RoomRequest::Subscribe(join) => self.subscribe(*join).await,
            RoomRequest::Publish {
                frame,
                exclude,
                ttl_secs,
                attrs,
            } => {
                let ttl_secs = ttl_secs.unwrap_or(DEFAULT_CACHE_TTL_SECS);
                let publish = super::publish::Publish {
                    channel: &call.to.channel,
                    exclude: exclude.as_deref(),
                    ttl_secs: f64::from(ttl_secs),
                    attrs,
                };
                self.publish(frame, publish).await
            }
            RoomRequest::Info { attrs } => self.info(attrs).await,
            RoomRequest::Users => self.users(),
            RoomRequest::Terminate => {
                let closed = self.terminate().await;
                Response::ok(JsonObject::new().value("closed", closed).finish())
            }
            RoomRequest::Relay { frame, from_leaf } => self.relay(&frame, from_leaf).await,
            RoomRequest::LeafCount { from_leaf, count } => self.leaf_count(from_leaf, count).await,
            RoomRequest::Console { until_ms } => {
                self.console_lease(until_ms as f64).await;
                Response::ok("{}")
            }
            // `fetch` answers it before `take_in`, which could write; kept for completeness.
            RoomRequest::Storage => self.census_response().await,
            RoomRequest::Identity => self.identity_response(),
        }
    }

    /// A client event from another room of this split channel.
    async fn relay(&self, frame: &str, from_leaf: Option<u32>) -> Result<Response> {
        let delivered = self.broadcast(frame, None);
        self.count(|c| c.messages_delivered += delivered as u64)
            .await;
        if from_leaf.is_some() {
            self.fan_out_relay(frame, from_leaf).await;
        }
        Response::ok("{}")
    }

    /// A split channel's root hears how many subscribers one of its leaves has.
    async fn leaf_count(&self, leaf: u32, count: u64) -> Result<Response> {
        self.leaf_estimates().await;
        if let Some(slot) = self
            .memory
            .borrow_mut()
            .leaf_counts
            .loaded_mut()
            .and_then(|counts| counts.get_mut(leaf as usize))
        {
            *slot = count;
        }
        self.report_occupancy().await;
        if self.total_subscribers() == 0 {
            self.hook_departure(CHANNEL_SUBJECT).await;
        }
        Response::ok("{}")
    }
}
