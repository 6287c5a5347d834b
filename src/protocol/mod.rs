//! The Pusher protocol core: pure Rust, no `worker` types, unit-tested natively.
//!
//! Everything that can be decided without the Cloudflare runtime lives here: frame shapes,
//! error codes, channel names, socket ids, auth signatures, REST request signatures and limits.

pub mod auth_token;
pub mod channel_info;
pub mod channel_name;
pub mod client_message;
pub mod close_codes;
pub mod frames;
pub mod json_read;
pub mod json_writer;
pub mod limits;
pub mod origin;
pub mod placement;
pub mod query;
pub mod rate_tier;
pub mod rest_error;
pub mod rest_signature;
pub mod socket_id;
pub mod timestamp;
pub mod trigger;
pub mod user_data;
pub mod webhook;
pub mod wire;
