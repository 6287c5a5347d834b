//! Big channels: past `limits.channel_split_threshold` subscribers, a channel's room sends new
//! subscribers to leaf rooms (`{app}:{channel}#{n}`) and passes publishes and client events to
//! them; counts and occupancy are the root's over all its leaves.

use super::state::LoadOnce;
use super::{ChannelRoom, LEAVES_KEY};
use crate::glue::internal_error::InternalError;
use crate::protocol::channel_info::InfoAttrs;
use crate::room::client as rooms;
use crate::room::contract::{
    RoomAddress, RoomCall, RoomRequest, DELIVERED_HEADER, SUBSCRIBERS_HEADER,
};
use futures_util::future::join_all;
use worker::{console_error, Response, Result};

impl ChannelRoom {
    pub(super) fn is_leaf(&self) -> bool {
        self.memory.borrow().identity.leaf().is_some()
    }

    /// Subscribers here plus, in a split channel's root, those of its leaves as last heard.
    pub(super) fn total_subscribers(&self) -> u64 {
        let leaves: u64 = self
            .memory
            .borrow()
            .leaf_counts
            .loaded()
            .map_or(0, |counts| counts.iter().sum());
        self.subscriber_count() as u64 + leaves
    }

    /// One call to leaf `leaf` (or, with `None`, to the root from a leaf).
    pub(super) async fn split_call(
        &self,
        to_leaf: Option<u32>,
        request: RoomRequest,
    ) -> Result<Response> {
        let identity = self.memory.borrow().identity.app_and_channel();
        let Some((app_id, channel)) = identity else {
            return Err(InternalError::UnknownIdentity.into());
        };
        let to = match to_leaf {
            Some(leaf) => RoomAddress::leaf(&app_id, &channel, leaf),
            None => RoomAddress::channel(&app_id, &channel),
        };
        rooms::call(&self.env, &RoomCall::new(to, request)).await
    }

    /// A split channel's root: how many leaves it has, and their subscribers as last heard
    /// (asked of the leaves once per instance).
    pub(super) async fn leaf_estimates(&self) -> usize {
        if let Some(counts) = self.memory.borrow().leaf_counts.loaded() {
            return counts.len();
        }
        let leaves: u32 = self
            .state
            .storage()
            .get(LEAVES_KEY)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        let counts = self.ask_leaf_counts(leaves).await;
        let len = counts.len();
        self.memory.borrow_mut().leaf_counts.get_or_load(|| counts);
        len
    }

    /// Each leaf's subscribers now (0 for a leaf that does not answer).
    pub(super) async fn ask_leaf_counts(&self, leaves: u32) -> Vec<u64> {
        let asks = (0..leaves).map(|leaf| self.split_call(Some(leaf), info_request()));
        join_all(asks)
            .await
            .into_iter()
            .map(|answer| answer.ok().map_or(0, |r| subscribers_of(&r)))
            .collect()
    }

    /// The leaf a new subscriber goes to: the first with room, or a new one.
    pub(super) async fn pick_leaf(&self, split_at: usize) -> Result<u32> {
        let before = self.leaf_estimates().await;
        let (leaf, created) = {
            let mut memory = self.memory.borrow_mut();
            let counts = memory.leaf_counts.get_or_load(Vec::new);
            match counts.iter().position(|&c| c < split_at as u64) {
                Some(leaf) => {
                    counts[leaf] += 1;
                    (leaf, false)
                }
                None => {
                    counts.push(1);
                    (counts.len() - 1, true)
                }
            }
        };
        if created && leaf >= before {
            self.state
                .storage()
                .put(LEAVES_KEY, (leaf + 1) as u32)
                .await?;
        }
        Ok(leaf as u32)
    }

    /// A split channel's root: the publish goes to every leaf; returns the deliveries there
    /// and the leaves' subscribers.
    pub(super) async fn fan_out_publish(&self, frame: &str, exclude: Option<&str>) -> (usize, u64) {
        let leaves = self.leaf_estimates().await;
        if leaves == 0 {
            return (0, 0);
        }
        let sends = (0..leaves as u32).map(|leaf| {
            let publish = RoomRequest::Publish {
                frame: frame.to_string(),
                exclude: exclude.map(str::to_string),
                ttl_secs: None,
                attrs: InfoAttrs::default(),
            };
            self.split_call(Some(leaf), publish)
        });
        let answers = join_all(sends).await;
        let mut delivered = 0;
        let mut subscribers = 0;
        let mut memory = self.memory.borrow_mut();
        for (leaf, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(response) if response.status_code() == 200 => {
                    delivered += header_number(&response, DELIVERED_HEADER) as usize;
                    let count = subscribers_of(&response);
                    subscribers += count;
                    if let Some(slot) = memory
                        .leaf_counts
                        .loaded_mut()
                        .and_then(|c| c.get_mut(leaf))
                    {
                        *slot = count;
                    }
                }
                _ => console_error!("room: publish to leaf {leaf} failed"),
            }
        }
        (delivered, subscribers)
    }

    /// A split channel's root: its leaves' subscribers now (asked of each).
    pub(super) async fn fresh_leaf_subscribers(&self) -> u64 {
        if self.is_leaf() {
            return 0;
        }
        let leaves = self.leaf_estimates().await as u32;
        let counts = self.ask_leaf_counts(leaves).await;
        let total = counts.iter().sum();
        if !counts.is_empty() {
            self.memory.borrow_mut().leaf_counts = LoadOnce::Loaded(counts);
        }
        total
    }

    /// A client event in a split channel reaches the other rooms too: a leaf sends it to the
    /// root, which delivers it and passes it to the other leaves.
    pub(super) async fn relay_across_split(&self, frame: &str) {
        let leaf = self.memory.borrow().identity.leaf();
        match leaf {
            Some(leaf) => {
                let relay = RoomRequest::Relay {
                    frame: frame.to_string(),
                    from_leaf: Some(leaf),
                };
                let sent = self.split_call(None, relay).await;
                if sent.is_err() {
                    console_error!("room: client event to the root room failed");
                }
            }
            None => self.fan_out_relay(frame, None).await,
        }
    }

    /// The root passes a client event to every leaf but the one it came from.
    pub(super) async fn fan_out_relay(&self, frame: &str, from: Option<u32>) {
        let leaves = self.leaf_estimates().await as u32;
        let sends = (0..leaves).filter(|leaf| Some(*leaf) != from).map(|leaf| {
            let relay = RoomRequest::Relay {
                frame: frame.to_string(),
                from_leaf: None,
            };
            self.split_call(Some(leaf), relay)
        });
        join_all(sends).await;
    }

    /// A leaf that emptied tells its root (which decides the channel's occupancy).
    pub(super) async fn tell_root(&self, leaf: u32, count: u64) {
        let report = RoomRequest::LeafCount {
            from_leaf: leaf,
            count,
        };
        if self.split_call(None, report).await.is_err() {
            console_error!("room: leaf {leaf} could not tell its root room");
        }
    }
}

/// A leaf's attributes (its subscribers come back in a header).
fn info_request() -> RoomRequest {
    RoomRequest::Info {
        attrs: InfoAttrs::default(),
    }
}

pub(super) fn header_number(response: &Response, name: &str) -> u64 {
    response
        .headers()
        .get(name)
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub(super) fn subscribers_of(response: &Response) -> u64 {
    header_number(response, SUBSCRIBERS_HEADER)
}
