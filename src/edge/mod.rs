//! The edge Worker: routing, and the session that serves one pusher-js connection.

pub mod metrics;
mod relay;
pub mod router;
mod session;
pub mod session_core;
