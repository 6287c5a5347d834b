//! The channel room: one Durable Object per (app, channel) holding its subscribers' sockets.

mod channel_room;
pub mod member;
