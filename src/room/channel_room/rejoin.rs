//! A session rejoining after its socket closed under it (see `contract::rejoin`): the socket
//! is accepted with nothing a first join sends; a new instance first sends it what it sent
//! everyone before the session got back.

use super::ChannelRoom;
use crate::glue::clock::now_ms;
use crate::ledger::reporter::Reporter;
use crate::protocol::webhook::WebhookEvent;
use crate::room::contract::{Join, Rejoin, TERMINATED_STATUS};
use crate::room::replay_log::Since;
use crate::room::sockets;
use crate::room::webhook_outbox::{member_subject, CHANNEL_SUBJECT};
use worker::{console_warn, Response, Result, WebSocketPair};

impl ChannelRoom {
    pub(super) async fn rejoin(&self, join: Join, rejoin: Rejoin) -> Result<Response> {
        let Some(mut member) = self.joining_member(&join) else {
            return Response::error("terminated by the app", TERMINATED_STATUS);
        };
        // Departures a reset left unsent are queued (due when the window ends) before the
        // returns below cancel theirs.
        self.reconcile_hooks().await;
        let epoch = self.epoch();
        if self.subscriber_count() == 0 && !self.is_leaf() {
            self.hook_arrival(CHANNEL_SUBJECT, WebhookEvent::ChannelOccupied)
                .await;
        }
        if let Some(user_id) = member.user_id.clone().filter(|_| self.is_presence_room()) {
            // Back in the book; the others never saw them leave.
            self.book_arrival(&user_id, member.user_info.as_deref());
            let event = WebhookEvent::MemberAdded {
                user_id: user_id.clone(),
            };
            self.hook_arrival(&member_subject(&user_id), event).await;
        }
        member.epoch = epoch;
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(&member)?;
        // One synchronous step: the old socket if the room has not seen it close yet, what the
        // session missed, then the listing, so nothing sent meanwhile is skipped or sent twice.
        let stale =
            self.with_subscribers(|subs| sockets::remove_socket_of(subs, &member.socket_id));
        if let Some(stale) = stale {
            // Its close, when it comes, finds nothing listed.
            let _ = stale.close(Some(1000), Some("rejoined"));
        }
        let since = match rejoin.epoch == epoch {
            // The same instance: the socket closed while the room lived on, and the room kept
            // what it sent since it noticed.
            true => Since::Mark,
            false => Since::Start,
        };
        let lost = self.replay_to(&pair.server, &member.socket_id, since);
        self.with_subscribers(|subs| subs.push((member, pair.server.clone())));
        if lost > 0 {
            console_warn!("room: a rejoin lost {lost} frames past the replay log's cap");
            self.count(|c| c.replay_lost += lost).await;
        }
        self.schedule_report().await;
        self.websocket_answer(pair.client)
    }

    /// Sends a rejoining socket what this instance sent everyone `since` its start or the
    /// socket's session went silent; returns the frames it lost.
    fn replay_to(&self, ws: &worker::WebSocket, socket_id: &str, since: Since) -> u64 {
        let now = now_ms();
        let mut memory = self.memory.borrow_mut();
        match memory.instance.as_mut() {
            Some(instance) => instance.replay_to(ws, socket_id, now, since),
            None => 0,
        }
    }

    /// The session of socket `socket_id` went silent: what the room sends from now on is kept
    /// for its rejoin.
    pub(super) fn mark_silent(&self, socket_id: &str) {
        self.with_subscribers(|_| ());
        if let Some(instance) = self.memory.borrow_mut().instance.as_mut() {
            instance.mark_silent(socket_id, now_ms());
        }
    }
}
