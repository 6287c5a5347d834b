//! A subscribe: a session's join becomes one hibernatable socket in this room, unless it is
//! refused (a terminated user, a full presence channel) or sent on to a leaf room.

use super::ChannelRoom;
use crate::ledger::console;
use crate::ledger::reporter::Reporter;
use crate::protocol::channel_name::ChannelKind;
use crate::protocol::frames;
use crate::protocol::webhook::WebhookEvent;
use crate::room::contract::{
    Join, Member, EPOCH_HEADER, GO_TO_LEAF_STATUS, LEAF_HEADER, PRESENCE_FULL_STATUS, SIZE_HEADER,
    TERMINATED_STATUS,
};
use crate::room::roster::Roster;
use crate::room::webhook_outbox::{member_subject, CHANNEL_SUBJECT};
use worker::{Response, Result, WebSocket, WebSocketPair};

/// A presence channel's joining member, as the roster sees them.
#[derive(Debug, PartialEq, Eq)]
struct PresenceJoin {
    /// The user has no other socket in the channel (they are a new member).
    is_new: bool,
    user_id: String,
    /// The roster with them, for their `subscription_succeeded`.
    data: String,
}

impl ChannelRoom {
    pub(super) async fn subscribe(&self, join: Join) -> Result<Response> {
        if let Some(rejoin) = join.rejoin {
            return self.rejoin(join, rejoin).await;
        }
        let Some(mut member) = self.joining_member(&join) else {
            return Response::error("terminated by the app", TERMINATED_STATUS);
        };
        let Join {
            channel,
            max_members,
            split_at,
            leaf,
            ..
        } = join;
        let kind = ChannelKind::of(&channel);
        self.reconcile_hooks().await;
        if goes_to_leaf(kind, leaf, split_at, || self.subscriber_count()) {
            return self.send_to_leaf(split_at).await;
        }
        // Load the hibernated sockets before accepting a new one, so it is not counted twice.
        self.with_subscribers(|_| ());
        let presence = if kind.is_presence() {
            let roster = self.with_roster(|roster| presence_join(roster, &member, max_members));
            let Some(presence) = roster else {
                return Response::error(
                    format!("Presence channel {channel} is full ({max_members} members)"),
                    PRESENCE_FULL_STATUS,
                );
            };
            Some(presence)
        } else {
            None
        };
        // The channel index learns of a first subscriber or a new presence user before the
        // subscriber hears subscription_succeeded (sent when this answer arrives) and the
        // others hear member_added: a `GET /channels` after either lists it. Told before the
        // socket is accepted, so nothing about this subscriber goes out before the index has it.
        self.report_occupancy_with(Some(&member)).await;
        if let Some(p) = &presence {
            self.book_arrival(&p.user_id, member.user_info.as_deref());
        }
        member.epoch = self.epoch();
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(&member)?;
        self.hook_arrivals(presence.as_ref()).await;
        let added = presence
            .as_ref()
            .filter(|p| p.is_new)
            .map(|p| frames::member_added(&channel, &p.user_id, member.user_info.as_deref()));
        let data = presence.map_or_else(|| "{}".to_string(), |p| p.data);
        self.greet(&pair.server, &channel, kind, &data).await?;
        let socket_id = member.socket_id.clone();
        let user_id = member.user_id.clone();
        self.enlist(member, &pair.server, &channel).await;
        if let Some(now) = self.console_open().await {
            let user_id = user_id.as_deref();
            let line = console::subscription(now, &channel, &socket_id, user_id, true);
            self.console_line(line).await;
        }
        if let Some(added) = added {
            self.announce_member(&added, &pair.server, &socket_id);
        }
        self.websocket_answer(pair.client)
    }

    /// What every join does first: the room learns who it is from it, and the member record
    /// where it lives (a woken room reads it back from the socket's attachment). `None`: a
    /// user channel's join from a connection signed in before the app terminated the user.
    pub(super) fn joining_member(&self, join: &Join) -> Option<Member> {
        self.learn(Some(&join.app_id), &join.channel);
        if join.leaf.is_some() {
            self.memory.borrow_mut().identity.learn_leaf(join.leaf);
        }
        let terminated_at = self.memory.borrow().terminated_at_ms;
        if signed_in_before(join.member.signed_in_ms, terminated_at) {
            return None;
        }
        let mut member = join.member.clone();
        member.channel = join.channel.clone();
        member.app_id = join.app_id.clone();
        member.leaf = join.leaf;
        Some(member)
    }

    /// The answer to an accepted upgrade: the socket, this instance's epoch and its size.
    pub(super) fn websocket_answer(&self, client: WebSocket) -> Result<Response> {
        let response = Response::from_websocket(client)?;
        let headers = response.headers();
        headers.set(EPOCH_HEADER, &self.epoch().to_string())?;
        headers.set(SIZE_HEADER, &self.subscriber_count().to_string())?;
        Ok(response)
    }

    /// Full: the subscriber goes to a leaf room, which this room fans publishes out to.
    async fn send_to_leaf(&self, split_at: usize) -> Result<Response> {
        let leaf = self.pick_leaf(split_at).await?;
        let response = Response::empty()?.with_status(GO_TO_LEAF_STATUS);
        response.headers().set(LEAF_HEADER, &leaf.to_string())?;
        Ok(response)
    }

    /// The arrival webhooks of a socket accepted but not yet listed: `channel_occupied` for
    /// the channel's first, `member_added` for a presence user's first.
    async fn hook_arrivals(&self, presence: Option<&PresenceJoin>) {
        let was_empty = self.subscriber_count() == 0;
        if was_empty && !self.is_leaf() && self.total_subscribers() == 0 {
            self.hook_arrival(CHANNEL_SUBJECT, WebhookEvent::ChannelOccupied)
                .await;
        }
        if let Some(PresenceJoin {
            is_new: true,
            user_id,
            ..
        }) = presence
        {
            let event = WebhookEvent::MemberAdded {
                user_id: user_id.clone(),
            };
            self.hook_arrival(&member_subject(user_id), event).await;
        }
    }

    /// The subscriber's first frames, queued until the session accepts its end so they are
    /// the first it relays: `subscription_succeeded` (with `data`), then on a cache channel
    /// the last event or `cache_miss`.
    async fn greet(
        &self,
        socket: &WebSocket,
        channel: &str,
        kind: ChannelKind,
        data: &str,
    ) -> Result<()> {
        socket.send_with_str(frames::subscription_succeeded(channel, data))?;
        if kind.is_cache() {
            let frame = match self.cached_event().await {
                Some(event) => event.frame,
                None => {
                    if self.first_miss().await {
                        self.hook(WebhookEvent::CacheMiss).await;
                    }
                    frames::cache_miss(channel)
                }
            };
            socket.send_with_str(frame)?;
        }
        Ok(())
    }

    /// Lists the accepted socket, then counts it.
    async fn enlist(&self, member: Member, socket: &WebSocket, channel: &str) {
        let count_subscriptions = member.count_subscriptions;
        self.with_subscribers(|subs| subs.push((member, socket.clone())));
        if count_subscriptions && !self.is_leaf() {
            self.count_changed(channel).await;
        }
        // Anything that changed while the ledger answered goes with the next batch.
        self.schedule_report().await;
    }

    /// Tells the others of a new presence member (`added`, its member_added frame), unless
    /// the socket already left while the ledger answered (its departure was then reported
    /// to the others).
    fn announce_member(&self, added: &str, socket: &WebSocket, socket_id: &str) {
        let still_here = self.with_subscribers(|subs| subs.iter().any(|(_, ws)| ws == socket));
        if still_here {
            self.broadcast(added, Some(socket_id));
        }
    }
}

/// A user channel's join from a connection that signed in (`signed_in_ms`) no later than the
/// app terminated the user's connections (`terminated_at_ms`): its upgrade was on its way.
fn signed_in_before(signed_in_ms: Option<u64>, terminated_at_ms: Option<f64>) -> bool {
    matches!((signed_in_ms, terminated_at_ms), (Some(signed_in), Some(at)) if signed_in as f64 <= at)
}

/// Whether a join goes to a leaf room: the channel is of a kind that splits (not presence,
/// cache or user channels), this is its root room, and it holds `split_at` (0: never) or
/// more `subscribers` (counted only when it matters: that loads the sockets).
fn goes_to_leaf(
    kind: ChannelKind,
    leaf: Option<u32>,
    split_at: usize,
    subscribers: impl FnOnce() -> usize,
) -> bool {
    let splittable = !kind.is_presence() && !kind.is_cache() && kind != ChannelKind::ServerToUser;
    leaf.is_none() && split_at > 0 && splittable && subscribers() >= split_at
}

/// A presence join as `roster` (live and absent members) sees it, or `None` when the user is
/// new and the channel already has `max_members` users. An absent member coming back is not
/// new: the others never saw them leave.
fn presence_join<'a>(
    roster: &Roster<'a>,
    joining: &'a Member,
    max_members: usize,
) -> Option<PresenceJoin> {
    let user_id = joining.user_id.clone().unwrap_or_default();
    let is_new = !roster.contains(&user_id);
    if is_new && roster.count() >= max_members {
        return None;
    }
    let data = if is_new {
        let mut with_them = roster.clone();
        with_them.add(joining);
        with_them.subscription_data()
    } else {
        roster.subscription_data()
    };
    Some(PresenceJoin {
        is_new,
        user_id,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(socket_id: &str, user_id: &str) -> Member {
        let mut member = Member::new(socket_id);
        member.user_id = Some(user_id.into());
        member
    }

    #[test]
    fn only_joins_signed_in_before_a_terminate_are_refused() {
        assert!(signed_in_before(Some(1_000), Some(1_000.0)));
        assert!(signed_in_before(Some(999), Some(1_000.0)));
        assert!(!signed_in_before(Some(1_001), Some(1_000.0)));
        assert!(!signed_in_before(None, Some(1_000.0)));
        assert!(!signed_in_before(Some(1_000), None));
    }

    #[test]
    fn a_full_root_of_a_splittable_channel_sends_joins_to_leaves() {
        assert!(goes_to_leaf(ChannelKind::Public, None, 2, || 2));
        assert!(goes_to_leaf(ChannelKind::Private, None, 2, || 3));
        assert!(!goes_to_leaf(ChannelKind::Public, None, 2, || 1));
        assert!(
            !goes_to_leaf(ChannelKind::Public, Some(0), 2, || 5),
            "a leaf"
        );
        for kind in [
            ChannelKind::Presence,
            ChannelKind::Cache,
            ChannelKind::PresenceCache,
            ChannelKind::ServerToUser,
        ] {
            assert!(!goes_to_leaf(kind, None, 2, || 5), "{kind:?}");
        }
        let not_counted = || -> usize { panic!("counted the sockets for nothing") };
        assert!(
            !goes_to_leaf(ChannelKind::Public, None, 0, not_counted),
            "0: never"
        );
    }

    #[test]
    fn presence_joins_are_new_users_or_more_tabs_of_one() {
        let members = [user("1.1", "a"), user("1.2", "b")];
        let joining = user("2.1", "c");
        let roster = Roster::from_members(&members);
        let join = presence_join(&roster, &joining, 3).unwrap();
        assert!(join.is_new);
        assert_eq!(join.user_id, "c");
        assert_eq!(
            join.data,
            Roster::from_members(members.iter().chain([&joining])).subscription_data()
        );

        assert_eq!(presence_join(&roster, &joining, 2), None, "full");
        let another_tab = user("2.2", "a");
        let join = presence_join(&roster, &another_tab, 2).unwrap();
        assert!(!join.is_new, "a known user joins a full channel");
        assert_eq!(
            join.data,
            Roster::from_members(&members).subscription_data()
        );

        let mut with_absent = Roster::from_members(&members);
        with_absent.add_absent("c", Some(r#"{"n":1}"#));
        let join = presence_join(&with_absent, &joining, 3).unwrap();
        assert!(!join.is_new, "an absent member coming back");
        assert!(join.data.contains(r#""c":{"n":1}"#), "{}", join.data);
        assert_eq!(presence_join(&with_absent, &user("3.1", "d"), 3), None);
    }
}
