//! The room's internal requests: what every request does first, then one method per path
//! (subscribe, publish and the channel's info have files of their own).

use super::request::{RoomQuery, Route};
use super::ChannelRoom;
use crate::protocol::json_writer::JsonObject;
use crate::room::webhook_outbox::CHANNEL_SUBJECT;
use worker::{Request, Response, Result};

impl ChannelRoom {
    /// What every request but the storage diagnostic does first: learn the room's identity,
    /// queue the departures a restart left unsent, and have a new instance report to the
    /// ledger.
    pub(super) async fn take_in(&self, route: Route, query: &RoomQuery) {
        self.learn(query.app_id.clone(), &query.channel);
        if let Some(leaf) = query.leaf {
            self.memory.borrow_mut().leaf = Some(leaf);
        }
        if route != Route::Subscribe {
            // A subscribe does this itself, once it knows the join is not refused.
            self.reconcile_hooks().await;
        }
        if !std::mem::replace(&mut self.memory.borrow_mut().announced_to_ledger, true) {
            // A new instance (after a restart, perhaps without its sockets) tells the ledger
            // its occupancy, so the channel index heals.
            self.schedule_report().await;
        }
    }

    /// The answer to one request, by its route.
    pub(super) async fn answer(
        &self,
        route: Route,
        mut req: Request,
        query: RoomQuery,
    ) -> Result<Response> {
        match route {
            Route::Subscribe => match query.join {
                Some(join) => self.subscribe(join).await,
                None => Response::error("a valid join parameter is required", 400),
            },
            Route::Publish => {
                let frame = req.text().await?;
                self.publish(frame, &query).await
            }
            Route::Info => self.info(query.attrs).await,
            Route::Users => self.users(),
            Route::Terminate => {
                let closed = self.terminate().await;
                Response::ok(JsonObject::new().value("closed", closed).finish())
            }
            Route::Relay => {
                let frame = req.text().await?;
                self.relay(&frame, query.from_leaf).await
            }
            Route::LeafCount => self.leaf_count(query.from_leaf, query.count).await,
            Route::Console => {
                self.console_lease(query.until.unwrap_or(0) as f64).await;
                Response::ok("{}")
            }
            // `fetch` answers it before `take_in`, which could write; kept for completeness.
            Route::Storage => self.census_response().await,
            Route::NotFound => Response::error("Not found", 404),
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
    async fn leaf_count(&self, leaf: Option<u32>, count: Option<u64>) -> Result<Response> {
        if let (Some(leaf), Some(count)) = (leaf, count) {
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
        }
        Response::ok("{}")
    }
}
