//! The edge: the session that serves one pusher-js connection, and how it is accepted.

pub(crate) mod connect;
mod relay;
mod session;
pub mod session_core;
