//! The `protocol` query value of a client's upgrade: which versions this server speaks.

use crate::protocol::close_codes;

/// The close code and reason for a `protocol` query value we cannot serve, if any.
/// A missing value is accepted as 7 (no server refuses it, and Pusher only plans to).
pub fn protocol_problem(protocol: Option<&str>) -> Option<(u16, String)> {
    let raw = protocol?;
    match raw.parse::<u32>() {
        Ok(v) if (close_codes::MIN_PROTOCOL..=close_codes::MAX_PROTOCOL).contains(&v) => None,
        Ok(v) => Some((
            close_codes::UNSUPPORTED_PROTOCOL,
            format!(
                "Unsupported protocol version {v}; this server speaks {} to {}",
                close_codes::MIN_PROTOCOL,
                close_codes::MAX_PROTOCOL
            ),
        )),
        Err(_) => Some((
            close_codes::INVALID_VERSION_FORMAT,
            format!("Invalid protocol version format: {raw:?}"),
        )),
    }
}
