//! `pusher:signin`: the signed-in user, the user channel (`#server-to-user-{id}`) the session
//! joins for them, and the user directory shards for their watchlist.

use super::{coded_error, Command, Member, SessionCore};
use crate::protocol::auth_token::user_string_to_sign;
use crate::protocol::channel_name::{ChannelKind, SERVER_TO_USER_PREFIX};
use crate::protocol::close_codes;
use crate::protocol::frames;
use crate::protocol::user_data::parse_user_data;
use crate::room::directory_shards;

impl SessionCore {
    pub(super) fn signin(&mut self, auth: &str, user_data: &str, now_ms: f64) -> Vec<Command> {
        let string_to_sign = user_string_to_sign(&self.socket_id, user_data);
        if let Err(e) = self.verify_auth(Some(auth), &string_to_sign, now_ms) {
            return vec![coded_error(close_codes::UNAUTHORIZED, &e.to_string())];
        }
        let user = match parse_user_data(user_data, &self.app.limits) {
            Ok(user) => user,
            Err(e) => {
                return vec![coded_error(
                    close_codes::UNAUTHORIZED,
                    &format!("Invalid {e}"),
                )]
            }
        };
        if let Some(current) = &self.user_id {
            // The same sign-in again is answered as before; other data would be answered with
            // data the session does not hold (its member, its user channel, its watchlist).
            if self.signin_data.as_deref() == Some(user_data) {
                return vec![Command::Send(frames::signin_success(user_data))];
            }
            return vec![coded_error(
                close_codes::UNAUTHORIZED,
                &format!(
                    "This connection is already signed in as user {current}: reconnect to sign \
                     in with other user data"
                ),
            )];
        }
        self.user_id = Some(user.id.clone());
        self.signin_data = Some(user_data.to_string());
        self.signed_in_ms = Some(now_ms.max(0.0) as u64);
        self.liveness.authorize();
        let mut cmds = vec![Command::Send(frames::signin_success(user_data))];
        if user.watchlist_truncated {
            cmds.push(coded_error(
                close_codes::WATCHLIST_LIMIT,
                &format!(
                    "Watchlist limit exceeded: the first {} ids were accepted",
                    self.app.limits.max_watchlist_size
                ),
            ));
        }
        let user_channel = format!("{SERVER_TO_USER_PREFIX}{}", user.id);
        cmds.extend(self.open(user_channel, ChannelKind::ServerToUser, self.user_member()));
        let shards = self.app.limits.user_directory_shards;
        for (channel, member) in
            directory_shards::joins(&self.user_member(), user.watchlist, shards)
        {
            let opened = self.open(channel, ChannelKind::ServerToUser, member);
            let ended = opened
                .iter()
                .any(|c| matches!(c, Command::CloseClient { .. }));
            cmds.extend(opened);
            if ended {
                break;
            }
        }
        cmds
    }

    /// The signed-in user's channel, once signed in.
    pub(super) fn user_channel(&self) -> Option<String> {
        self.user_id
            .as_ref()
            .map(|id| format!("{SERVER_TO_USER_PREFIX}{id}"))
    }

    /// The signed-in user as a member of their user channel.
    pub(super) fn user_member(&self) -> Member {
        let mut member = Member::new(self.socket_id.clone());
        member.user_id = self.user_id.clone();
        member.signed_in_ms = self.signed_in_ms;
        member
    }
}
