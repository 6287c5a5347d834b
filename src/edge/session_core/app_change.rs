//! The operators changed the session's app while it is connected (the registry's record, told
//! through the connection shard the session holds a place in).

use super::{Command, SessionCore};
use crate::apps::settings::for_live_connection;
use crate::config::App;
use crate::protocol::close_codes;

impl SessionCore {
    /// `changed: None` is a deleted app. A disabled or deleted app's connection closes with
    /// 4003 (pusher-js does not reconnect); otherwise the live settings and the secrets apply
    /// from the next frame, and what the connection read when it started stays.
    pub fn on_app_changed(&mut self, changed: Option<&App>) -> Vec<Command> {
        if self.closed {
            return Vec::new();
        }
        let Some(changed) = changed.filter(|app| app.enabled && app.id == self.app.id) else {
            return vec![Command::CloseClient {
                code: close_codes::APP_DISABLED,
                reason: "Application disabled".into(),
            }];
        };
        let next = for_live_connection(&self.app, changed);
        self.client_events
            .set_max(next.limits.max_client_events_per_second);
        self.subscribes
            .set_max(next.limits.max_subscribes_per_minute);
        self.app = next.into();
        Vec::new()
    }
}
