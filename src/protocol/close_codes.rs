//! Pusher close / error codes (protocol 7). pusher-js decides what to do from the range:
//! 4000-4099 stop reconnecting, 4100-4199 back off, 4200-4299 reconnect at once, and 4300+
//! stop reconnecting too, so 43xx are only ever sent as non-fatal `pusher:error` frames.

pub const APP_DOES_NOT_EXIST: u16 = 4001;
pub const APP_DISABLED: u16 = 4003;
pub const OVER_CONNECTION_QUOTA: u16 = 4004;
pub const PATH_NOT_FOUND: u16 = 4005;
pub const INVALID_VERSION_FORMAT: u16 = 4006;
pub const UNSUPPORTED_PROTOCOL: u16 = 4007;
pub const UNAUTHORIZED: u16 = 4009;
pub const OVER_CAPACITY: u16 = 4100;
pub const RECONNECT_IMMEDIATELY: u16 = 4200;
pub const PONG_NOT_RECEIVED: u16 = 4201;
/// A client's message refused without closing (sent as a `pusher:error`): client events
/// when the app has client messaging off or past the per-second rate limit, and subscribes
/// past the per-minute rate limit. Pusher documents 4301 as "client event rejected due to
/// rate limit"; soketi and Reverb use it for disabled client events too.
pub const CLIENT_EVENT_REJECTED: u16 = 4301;
pub const WATCHLIST_LIMIT: u16 = 4302;

/// Oldest protocol version we speak; pusher-js sends 7.
pub const MIN_PROTOCOL: u32 = 4;
/// Newest protocol version we speak.
pub const MAX_PROTOCOL: u32 = 7;
