//! The rooms: Durable Objects holding internal sockets from edge sessions.
//! `ChannelRoom`: one per (app, channel) — subscribers, presence, cache, fan-out, and the
//! channel's durable webhook outbox.
//! `UserDirectory`: one per app and shard — which users are signed in, for watchlists.

mod channel_room;
pub mod count_throttle;
mod directory_index;
pub mod directory_shards;
mod frame_send;
pub mod member;
pub mod roster;
mod sockets;
mod user_directory;
pub mod watchlist;
mod webhook_outbox;
