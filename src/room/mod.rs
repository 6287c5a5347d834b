//! The rooms: Durable Objects holding internal sockets from edge sessions.
//! `ChannelRoom`: one per (app, channel) — subscribers, presence, cache, fan-out, and the
//! channel's durable webhook outbox.
//! `UserDirectory`: one per app and shard — which users are signed in, for watchlists.
//! `contract`: what the rest of the Worker (and the rooms themselves) and both agree on,
//! pure data; `client`: the one door through which everyone reaches them.

mod channel_room;
pub(crate) mod client;
pub(crate) mod contract;
pub(crate) mod count_throttle;
mod directory_index;
mod directory_online;
pub mod directory_shards;
mod frame_send;
mod presence_book;
mod replay_log;
pub(crate) mod roster;
mod sockets;
mod user_directory;
pub(crate) mod watchlist;
pub(crate) mod webhook_outbox;
