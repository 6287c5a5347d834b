//! Sockets leaving: a closed or failed socket, or every socket when the app terminates a
//! user's connections. Each departure tells the others, the webhooks and the counts.

use super::{vacancy, ChannelRoom};
use crate::glue::clock::now_ms;
use crate::ledger::console;
use crate::ledger::reporter::Reporter;
use crate::protocol::channel_name::ChannelKind;
use crate::protocol::close_codes;
use crate::protocol::frames;
use crate::room::contract::{Departure, Member, REJOIN_WINDOW_MS};
use crate::room::sockets;
use crate::room::webhook_outbox::{member_subject, CHANNEL_SUBJECT};
use worker::WebSocket;

impl ChannelRoom {
    /// A socket closed, `how` its close code says. A silent session's member is held (as
    /// after a reset) and what the room sends from now on is kept for its rejoin.
    pub(super) async fn leave(&self, ws: &WebSocket, how: Departure) {
        let left = self.with_subscribers(|subs| sockets::remove(subs, ws));
        if let Some(member) = left {
            if how == Departure::Silent {
                self.mark_silent(&member.socket_id);
            }
            self.departed(member, how).await;
        }
    }

    /// A member's socket is gone from the list: member_removed on the user's last socket
    /// (or, when its client was lost, after the app's grace period; when its session went
    /// silent, after the rejoin window at least), departure webhooks, counts.
    async fn departed(&self, member: Member, how: Departure) {
        self.learn(Some(&member.app_id), &member.channel);
        let Some(channel) = self.channel_name() else {
            return;
        };
        let user_id = member.user_id.as_deref();
        if let Some(now) = self.console_open().await {
            let line = console::subscription(now, &channel, &member.socket_id, user_id, false);
            self.console_line(line).await;
        }
        if let Some(user_id) = member.user_id.as_deref() {
            if ChannelKind::of(&channel).is_presence() {
                let grace_ms = match how {
                    Departure::Clean => 0.0,
                    Departure::ClientLost => member.presence_grace_ms as f64,
                    Departure::Silent => (member.presence_grace_ms as f64).max(REJOIN_WINDOW_MS),
                };
                self.presence_departure(&channel, user_id, grace_ms).await;
            }
        }
        if self.subscriber_count() == 0 && self.absent_members() == 0 {
            let leaf = self.memory.borrow().identity.leaf();
            match leaf {
                Some(leaf) => self.tell_root(leaf, 0).await,
                None if self.total_subscribers() == 0 => {
                    let wait_ms = match how {
                        Departure::Silent => REJOIN_WINDOW_MS,
                        _ => 0.0,
                    };
                    self.hook_departure_after(CHANNEL_SUBJECT, wait_ms).await
                }
                None => {}
            }
            // The alarm then sees whether the empty room can delete its storage.
            self.arm(now_ms() + vacancy::CHECK_AFTER_MS).await;
        }
        if member.count_subscriptions && !self.is_leaf() {
            self.count_changed(&channel).await;
        }
        // A vacated channel leaves the index (a no-op if the presence step above told it).
        self.report_occupancy().await;
    }

    /// A presence user's socket left: if it was their last, they leave the channel, at once
    /// or, with a grace period, when it ends unless they come back first (the webhook then
    /// waits for the longer of the grace and its usual delay).
    async fn presence_departure(&self, channel: &str, user_id: &str, grace_ms: f64) {
        let still_here = self.with_subscribers(|subs| {
            subs.iter()
                .any(|(m, _)| m.user_id.as_deref() == Some(user_id))
        });
        if still_here {
            return;
        }
        if grace_ms > 0.0 {
            let leaving = now_ms() + grace_ms;
            self.book_absence(user_id, leaving);
            self.arm(leaving).await;
            self.hook_departure_after(&member_subject(user_id), grace_ms)
                .await;
            return;
        }
        self.book_removal(user_id);
        // The channel index first: a smaller user count is already there for anyone told of
        // the departure.
        self.report_occupancy().await;
        self.broadcast(&frames::member_removed(channel, user_id), None);
        self.hook_departure(&member_subject(user_id)).await;
    }

    /// Closes every socket (terminate_connections on a user channel); the sessions close
    /// their clients with the same code.
    pub(super) async fn terminate(&self) -> usize {
        self.memory.borrow_mut().terminated_at_ms = Some(now_ms());
        let closed: Vec<Member> = self.with_subscribers(|subs| {
            subs.drain(..)
                .map(|(member, ws)| {
                    let _ = ws.close(
                        Some(close_codes::UNAUTHORIZED),
                        Some("terminated by the app"),
                    );
                    member
                })
                .collect()
        });
        let count = closed.len();
        for member in closed {
            self.departed(member, Departure::Clean).await;
        }
        count
    }
}
