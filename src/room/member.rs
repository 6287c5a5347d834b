//! The record a channel room keeps per subscribed socket (in the hibernatable socket's
//! attachment) and the internal wire between the edge session and the room.

use serde::{Deserialize, Serialize};

/// One subscription of one client connection to one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub socket_id: String,
}

/// Query parameter names of the session→room subscribe upgrade and REST→room publish.
pub mod param {
    pub const CHANNEL: &str = "channel";
    pub const SOCKET_ID: &str = "socket_id";
    /// A publish leaves this socket out (the REST `socket_id` exclusion).
    pub const EXCLUDE: &str = "exclude";
}

/// Paths the room answers (the host part of internal URLs is ignored).
pub mod path {
    pub const SUBSCRIBE: &str = "/subscribe";
    pub const PUBLISH: &str = "/publish";
}

/// The Durable Object name of a channel's room: one per (app, channel).
pub fn room_name(app_id: &str, channel: &str) -> String {
    format!("{app_id}:{channel}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_per_app() {
        // App ids and channel names never contain ':', so the name is unambiguous.
        assert_eq!(room_name("1", "chat"), "1:chat");
        assert_ne!(room_name("1", "2chat"), room_name("12", "chat"));
        let m = Member {
            socket_id: "1.2".into(),
        };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Member>(&json).unwrap(), m);
    }
}
