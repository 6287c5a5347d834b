//! The channel room Durable Object: holds one hibernatable internal socket per subscribed
//! client connection, keeps presence, the cache channel's last event and subscription
//! counts, and fans each publish out as one pre-serialised frame.

mod hooks;
mod split;
mod vacancy;

use hooks::client_event_hook;

use super::contract::{
    param, path, Join, Member, DELIVERED_HEADER, GO_TO_LEAF_STATUS, LEAF_HEADER,
    SUBSCRIBERS_HEADER, TERMINATED_STATUS,
};
use super::count_throttle::{CountAction, CountThrottle};
use super::frame_send::Frame;
use super::roster::Roster;
use super::sockets::{self, is_same, member_of};
use super::webhook_outbox::{member_subject, CHANNEL_SUBJECT};
use crate::internal_query::request_query;
use crate::ledger::client::send_report;
use crate::ledger::report::{Counts, Feed, Occupancy, REPORT_INTERVAL_MS, RETRY_INTERVAL_MS};
use crate::protocol::channel_info::{info_json, users_json, ChannelState, InfoAttrs};
use crate::protocol::channel_name::ChannelKind;
use crate::protocol::close_codes;
use crate::protocol::frames;
use crate::protocol::rest_signature::QueryParams;
use crate::protocol::timestamp::utc_month;
use crate::protocol::webhook::WebhookEvent;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use worker::{
    console_error, durable_object, Date, DurableObject, Env, Method, Request, Response, Result,
    State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

/// Storage key of the room's (app id, channel), kept once webhooks are queued so a room
/// woken by its alarm with no sockets left can still deliver them.
const IDENTITY_KEY: &str = "identity";
/// Storage key: a `cache_miss` webhook went out and the cache is still empty.
const MISS_HOOKED_KEY: &str = "miss_hooked";

/// Storage key of a split channel's number of leaves (in its root room).
const LEAVES_KEY: &str = "leaves";

/// Storage key of a cache channel's last event.
const CACHE_KEY: &str = "cache";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedEvent {
    frame: String,
    expires_at_ms: f64,
}

#[derive(Default)]
struct Memory {
    /// The live subscribers. A cache of the sockets: rebuilt from the hibernated sockets'
    /// attachments on first use after the object wakes.
    subscribers: Option<Vec<(Member, WebSocket)>>,
    channel: Option<String>,
    /// Cache channels: the last event, once read from storage (`Some(None)`: nothing cached).
    cached: Option<Option<CachedEvent>>,
    counts: CountThrottle,
    app_id: Option<String>,
    /// Counts and occupancy on their way to the app ledger.
    feed: Feed,
    /// When the object's one alarm is set for (it serves the count throttle, the ledger
    /// reports and the webhook outbox).
    alarm_at: Option<f64>,
    hooks_schema_ready: bool,
    hooks_reconciled: bool,
    /// This room is leaf `n` of a split channel.
    leaf: Option<u32>,
    /// A split channel's root: its leaves' subscribers, as last heard (loaded on first use).
    leaf_counts: Option<Vec<u64>>,
    announced_to_ledger: bool,
    identity_saved: bool,
    /// Cache channels: whether a `cache_miss` webhook is out for the current empty cache.
    miss_hooked: Option<bool>,
    /// User channels: when the app last terminated the user's connections (Unix ms). A join
    /// from a connection signed in before then (its upgrade was still on its way) is refused.
    /// Kept in memory: such joins arrive within seconds, while the object is still loaded.
    terminated_at_ms: Option<f64>,
}

#[durable_object]
pub struct ChannelRoom {
    state: State,
    env: Env,
    memory: RefCell<Memory>,
}

fn now_ms() -> f64 {
    Date::now().as_millis() as f64
}

impl DurableObject for ChannelRoom {
    fn new(state: State, env: Env) -> Self {
        ChannelRoom {
            state,
            env,
            memory: RefCell::new(Memory::default()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path() == path::STORAGE {
            // Before anything that could write (schema, identity, alarm).
            return self.census_response().await;
        }
        let url = request_query(&req);
        let params = QueryParams::parse(&url);
        let query = |name: &str| params.get(name).map(str::to_string);
        let channel = query(param::CHANNEL).unwrap_or_default();
        self.learn(query(param::APP), &channel);
        if let Some(leaf) = query(param::LEAF).and_then(|l| l.parse::<u32>().ok()) {
            self.memory.borrow_mut().leaf = Some(leaf);
        }
        let rest_call = query(param::REST_CALL).is_some();
        if req.path() != path::SUBSCRIBE {
            self.reconcile_hooks().await;
        }
        if !std::mem::replace(&mut self.memory.borrow_mut().announced_to_ledger, true) {
            // A new instance (after a restart, perhaps without its sockets) tells the ledger
            // its occupancy, so the channel index heals.
            self.schedule_report().await;
        }
        let attrs = InfoAttrs::from_param(&query(param::INFO).unwrap_or_default());
        let response = match (req.method(), req.path().as_str()) {
            (Method::Get, path::SUBSCRIBE) => {
                let Some(join) = query(param::JOIN).and_then(|j| Join::from_query_value(&j)) else {
                    return Response::error("a valid join parameter is required", 400);
                };
                return self.subscribe(join).await;
            }
            (Method::Post, path::PUBLISH) => {
                let frame = req.text().await?;
                let over_quota = self
                    .memory
                    .borrow()
                    .feed
                    .is_over_quota(&utc_month(now_ms()));
                if over_quota {
                    let recheck = self.memory.borrow_mut().feed.recheck_quota(now_ms());
                    if recheck {
                        self.schedule_report().await;
                    }
                    return Response::error(
                        "This app is over its monthly broadcast quota (limits.max_broadcasts_per_month)",
                        403,
                    );
                }
                let exclude = query(param::EXCLUDE);
                let local = self.broadcast(&frame, exclude.as_deref());
                let is_leaf = self.memory.borrow().leaf.is_some();
                if is_leaf {
                    // A root room's fan-out: count the deliveries here, the broadcast there.
                    self.count(|c| c.messages_delivered += local as u64).await;
                    let response = Response::ok("{}")?;
                    response
                        .headers()
                        .set(DELIVERED_HEADER, &local.to_string())?;
                    let subscribers = self.subscriber_count().to_string();
                    response.headers().set(SUBSCRIBERS_HEADER, &subscribers)?;
                    return Ok(response);
                }
                let (leaf_delivered, leaf_subscribers) =
                    self.fan_out_publish(&frame, exclude.as_deref()).await;
                let delivered = local + leaf_delivered;
                if ChannelKind::of(&channel).is_cache() {
                    let ttl_secs: f64 = query(param::TTL)
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(1800.0);
                    self.store_cache(frame, now_ms() + ttl_secs * 1000.0)
                        .await?;
                }
                self.count(|c| {
                    c.broadcasts += 1;
                    c.messages_delivered += local as u64;
                })
                .await;
                let response = Response::ok(info_json(
                    &self.channel_state(attrs, leaf_subscribers).await,
                    attrs,
                    false,
                ))?;
                // For tests and diagnostics: how many sockets this publish reached.
                response
                    .headers()
                    .set(DELIVERED_HEADER, &delivered.to_string())?;
                Ok(response)
            }
            (Method::Get, path::INFO) => {
                let leaf_subscribers = self.fresh_leaf_subscribers().await;
                let state = self.channel_state(attrs, leaf_subscribers).await;
                let response = Response::ok(info_json(&state, attrs, true))?;
                let subscribers = state.subscription_count.to_string();
                response.headers().set(SUBSCRIBERS_HEADER, &subscribers)?;
                Ok(response)
            }
            (Method::Post, path::RELAY) => {
                // A client event from another room of this split channel.
                let frame = req.text().await?;
                let delivered = self.broadcast(&frame, None);
                self.count(|c| c.messages_delivered += delivered as u64)
                    .await;
                let from = query(param::FROM_LEAF).and_then(|l| l.parse::<u32>().ok());
                if from.is_some() {
                    self.fan_out_relay(&frame, from).await;
                }
                Response::ok("{}")
            }
            (Method::Post, path::LEAF_COUNT) => {
                let leaf = query(param::FROM_LEAF).and_then(|l| l.parse::<usize>().ok());
                let count = query(param::COUNT).and_then(|c| c.parse::<u64>().ok());
                if let (Some(leaf), Some(count)) = (leaf, count) {
                    self.leaf_estimates().await;
                    if let Some(slot) = self
                        .memory
                        .borrow_mut()
                        .leaf_counts
                        .as_mut()
                        .and_then(|counts| counts.get_mut(leaf))
                    {
                        *slot = count;
                    }
                    self.report_occupancy().await;
                    if self.total_subscribers() == 0 {
                        self.hook_departure(CHANNEL_SUBJECT).await;
                    }
                }
                Response::ok("{}")
            }
            (Method::Get, path::USERS) => {
                let body = self.with_subscribers(|subs| {
                    users_json(Roster::from_members(subs.iter().map(|(m, _)| m)).user_ids())
                });
                Response::ok(body)
            }
            (Method::Post, path::TERMINATE) => {
                let closed = self.terminate().await;
                Response::ok(format!("{{\"closed\":{closed}}}"))
            }
            _ => return Response::error("Not found", 404),
        };
        if rest_call {
            self.count(|c| c.rest_calls += 1).await;
        }
        response
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        // Sessions send client events up, already checked and serialised: forward to the others.
        if let WebSocketIncomingMessage::String(frame) = message {
            let sender = member_of(&ws);
            let outgoing = Frame::new(&frame);
            let delivered = self.with_subscribers(|subs| {
                let mut delivered = 0;
                for (_, other) in subs.iter().filter(|(m, s)| !is_same(m, s, &ws, &sender)) {
                    delivered += u64::from(outgoing.send_to(other));
                }
                delivered
            });
            self.count(|c| {
                c.client_events += 1;
                c.messages_delivered += delivered;
            })
            .await;
            self.relay_across_split(&frame).await;
            if let Some(sender) = sender {
                self.learn(Some(sender.app_id.clone()), &sender.channel);
                if let Some(event) = client_event_hook(&frame, sender.socket_id) {
                    self.hook(event).await;
                }
            }
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        self.leave(&ws).await;
        // Complete the closing handshake; the socket may already be fully closed.
        let _ = ws.close(Some(1000), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.leave(&ws).await;
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        self.memory.borrow_mut().alarm_at = None;
        // A throttled subscription count may be due.
        let count_due = self.memory.borrow().counts.scheduled_at();
        if let Some(at) = count_due {
            if at <= now {
                let channel = {
                    let mut memory = self.memory.borrow_mut();
                    memory.counts.on_scheduled_send(now);
                    memory.channel.clone()
                };
                if let Some(channel) = channel {
                    let count = self.subscriber_count();
                    self.broadcast(&frames::subscription_count(&channel, count), None);
                    let count = count as u64;
                    self.hook(WebhookEvent::SubscriptionCount { count }).await;
                }
            } else {
                self.arm(at).await;
            }
        }
        let report_due = std::mem::take(&mut self.memory.borrow_mut().feed.scheduled);
        if report_due {
            self.report().await;
        }
        self.deliver_hooks().await;
        self.reclaim_if_vacant().await;
        Response::ok("")
    }
}

impl ChannelRoom {
    fn with_subscribers<T>(&self, f: impl FnOnce(&mut Vec<(Member, WebSocket)>) -> T) -> T {
        let mut memory = self.memory.borrow_mut();
        if memory.subscribers.is_none() {
            let loaded = sockets::load(&self.state);
            if let Some((first, _)) = loaded.first() {
                if memory.channel.is_none() {
                    memory.channel = Some(first.channel.clone());
                }
                if first.leaf.is_some() {
                    memory.leaf = first.leaf;
                }
                if memory.app_id.is_none() && !first.app_id.is_empty() {
                    memory.app_id = Some(first.app_id.clone());
                }
            }
            memory.subscribers = Some(loaded);
        }
        f(memory.subscribers.get_or_insert_with(Vec::new))
    }

    fn subscriber_count(&self) -> usize {
        self.with_subscribers(|subs| subs.len())
    }

    /// Sends `frame` to every subscriber but `exclude`; returns how many it reached.
    fn broadcast(&self, frame: &str, exclude: Option<&str>) -> usize {
        let frame = Frame::new(frame);
        self.with_subscribers(|subs| {
            // A socket that fails to send is closing: it stays listed until its close event,
            // whose `leave` sends the departure frames and webhooks.
            subs.iter()
                .filter(|(member, _)| Some(member.socket_id.as_str()) != exclude)
                .filter(|(_, ws)| frame.send_to(ws))
                .count()
        })
    }

    /// Remembers the app and channel named by a request (a woken room knows them only from
    /// its sockets' records, and an empty room not at all).
    fn learn(&self, app_id: Option<String>, channel: &str) {
        let mut memory = self.memory.borrow_mut();
        if let Some(app_id) = app_id.filter(|a| !a.is_empty()) {
            memory.app_id.get_or_insert(app_id);
        }
        if !channel.is_empty() {
            memory.channel.get_or_insert_with(|| channel.to_string());
        }
    }

    async fn subscribe(&self, join: Join) -> Result<Response> {
        let Join {
            app_id,
            channel,
            mut member,
            max_members,
            split_at,
            leaf,
        } = join;
        member.channel = channel.clone();
        member.app_id = app_id.clone();
        member.leaf = leaf;
        let kind = ChannelKind::of(&channel);
        self.learn(Some(app_id), &channel);
        if leaf.is_some() {
            self.memory.borrow_mut().leaf = leaf;
        }
        let terminated_at = self.memory.borrow().terminated_at_ms;
        if let (Some(at), Some(signed_in)) = (terminated_at, member.signed_in_ms) {
            if signed_in as f64 <= at {
                return Response::error("terminated by the app", TERMINATED_STATUS);
            }
        }
        self.reconcile_hooks().await;
        let splittable =
            !kind.is_presence() && !kind.is_cache() && kind != ChannelKind::ServerToUser;
        if leaf.is_none() && split_at > 0 && splittable && self.subscriber_count() >= split_at {
            // Full: the subscriber goes to a leaf room, which this room fans publishes out to.
            let leaf = self.pick_leaf(split_at).await?;
            let response = Response::empty()?.with_status(GO_TO_LEAF_STATUS);
            response.headers().set(LEAF_HEADER, &leaf.to_string())?;
            return Ok(response);
        }
        // Load the hibernated sockets before accepting a new one, so it is not counted twice.
        self.with_subscribers(|_| ());

        let presence = if kind.is_presence() {
            let user_id = member.user_id.clone().unwrap_or_default();
            let (is_new, full, data) = self.with_subscribers(|subs| {
                let mut roster = Roster::from_members(subs.iter().map(|(m, _)| m));
                let is_new = !roster.contains(&user_id);
                let full = is_new && roster.count() >= max_members;
                roster.add(&member);
                (is_new, full, roster.subscription_data())
            });
            if full {
                return Response::error(
                    format!("Presence channel {channel} is full ({max_members} members)"),
                    403,
                );
            }
            Some((is_new, user_id, data))
        } else {
            None
        };

        // The channel index learns of a first subscriber or a new presence user before the
        // subscriber hears subscription_succeeded (sent when this answer arrives) and the
        // others hear member_added: a `GET /channels` after either lists it. Told before the
        // socket is accepted, so nothing about this subscriber goes out before the index has it.
        self.report_occupancy_with(Some(&member)).await;

        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(&member)?;

        let was_empty = self.subscriber_count() == 0;
        if was_empty && !self.is_leaf() && self.total_subscribers() == 0 {
            self.hook_arrival(CHANNEL_SUBJECT, WebhookEvent::ChannelOccupied)
                .await;
        }
        if let Some((true, user_id, _)) = &presence {
            let event = WebhookEvent::MemberAdded {
                user_id: user_id.clone(),
            };
            self.hook_arrival(&member_subject(user_id), event).await;
        }
        let added = match &presence {
            Some((true, user_id, _)) => Some(frames::member_added(
                &channel,
                user_id,
                member.user_info.as_deref(),
            )),
            _ => None,
        };
        // Queued until the session accepts its end, so this is the first frame it relays.
        let data = presence.map_or_else(|| "{}".to_string(), |(_, _, data)| data);
        pair.server
            .send_with_str(frames::subscription_succeeded(&channel, &data))?;
        if kind.is_cache() {
            let frame = match self.cached_event().await {
                Some(event) => event.frame,
                None => {
                    if self.first_miss().await {
                        self.hook(WebhookEvent::CacheMiss).await;
                    }
                    frames::cache_miss(&channel)
                }
            };
            pair.server.send_with_str(frame)?;
        }
        let count_subscriptions = member.count_subscriptions;
        let socket_id = member.socket_id.clone();
        self.with_subscribers(|subs| subs.push((member, pair.server.clone())));
        if count_subscriptions && !self.is_leaf() {
            self.count_changed(&channel).await;
        }
        // Anything that changed while the ledger answered goes with the next batch.
        self.schedule_report().await;
        if let Some(added) = added {
            // Unless the socket already left while the ledger answered (its departure was
            // then reported to the others).
            let still_here =
                self.with_subscribers(|subs| subs.iter().any(|(_, ws)| ws == &pair.server));
            if still_here {
                self.broadcast(&added, Some(&socket_id));
            }
        }
        Response::from_websocket(pair.client)
    }

    async fn leave(&self, ws: &WebSocket) {
        let left = self.with_subscribers(|subs| sockets::remove(subs, ws));
        if let Some(member) = left {
            self.departed(member).await;
        }
    }

    /// A member's socket is gone from the list: member_removed on the user's last socket,
    /// departure webhooks, counts.
    async fn departed(&self, member: Member) {
        self.learn(Some(member.app_id.clone()), &member.channel);
        let Some(channel) = self.memory.borrow().channel.clone() else {
            return;
        };
        if let Some(user_id) = member.user_id.as_deref() {
            if ChannelKind::of(&channel).is_presence() {
                let still_here = self.with_subscribers(|subs| {
                    subs.iter()
                        .any(|(m, _)| m.user_id.as_deref() == Some(user_id))
                });
                if !still_here {
                    // The channel index first: a smaller user count is already there for
                    // anyone told of the departure.
                    self.report_occupancy().await;
                    self.broadcast(&frames::member_removed(&channel, user_id), None);
                    self.hook_departure(&member_subject(user_id)).await;
                }
            }
        }
        if self.subscriber_count() == 0 {
            let leaf = self.memory.borrow().leaf;
            match leaf {
                Some(leaf) => self.tell_root(leaf, 0).await,
                None if self.total_subscribers() == 0 => self.hook_departure(CHANNEL_SUBJECT).await,
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

    async fn count_changed(&self, channel: &str) {
        let count = self.subscriber_count();
        let action = self.memory.borrow_mut().counts.on_change(count, now_ms());
        match action {
            CountAction::SendNow => {
                self.broadcast(&frames::subscription_count(channel, count), None);
                let count = count as u64;
                self.hook(WebhookEvent::SubscriptionCount { count }).await;
            }
            CountAction::SendAt(at_ms) => self.arm(at_ms).await,
            CountAction::Wait => {}
        }
    }

    /// Sets the alarm for `at_ms` unless it is already set for earlier.
    async fn arm(&self, at_ms: f64) {
        let current = self.memory.borrow().alarm_at;
        if current.is_some_and(|c| c <= at_ms) {
            return;
        }
        self.memory.borrow_mut().alarm_at = Some(at_ms);
        // An i64 is taken as an offset from now, not a timestamp.
        let offset_ms = (at_ms - now_ms()).max(0.0) as i64;
        if let Err(e) = self.state.storage().set_alarm(offset_ms).await {
            console_error!("room: cannot set alarm: {e}");
            let mut memory = self.memory.borrow_mut();
            memory.alarm_at = None;
            // Let the next change try again rather than wait for an alarm that is not set.
            memory.feed.scheduled = false;
        }
    }

    /// Adds to the counts for the ledger; they are reported within a second.
    async fn count(&self, add: impl FnOnce(&mut Counts)) {
        add(self.memory.borrow_mut().feed.counts());
        self.schedule_report().await;
    }

    async fn schedule_report(&self) {
        if std::mem::replace(&mut self.memory.borrow_mut().feed.scheduled, true) {
            return;
        }
        self.arm(now_ms() + REPORT_INTERVAL_MS).await;
    }

    /// The channel's entry for the ledger's index of occupied channels (user channels are
    /// not listed, as on Pusher).
    fn occupancy(&self) -> Option<Occupancy> {
        self.occupancy_with(None)
    }

    /// The occupancy as it is, or as it will be once `joining` is in.
    fn occupancy_with(&self, joining: Option<&Member>) -> Option<Occupancy> {
        let channel = self.memory.borrow().channel.clone()?;
        let kind = ChannelKind::of(&channel);
        // A split channel's entry is its root room's, counting the leaves.
        if kind == ChannelKind::ServerToUser || self.is_leaf() {
            return None;
        }
        let users = self.with_subscribers(|subs| {
            Roster::from_members(subs.iter().map(|(m, _)| m).chain(joining)).count() as u64
        });
        Some(Occupancy {
            channel,
            occupied: joining.is_some() || self.total_subscribers() > 0,
            user_count: kind.is_presence().then_some(users),
        })
    }

    /// Sends an occupancy change (a channel's first subscriber or its vacating, a presence
    /// user count) to the ledger at once, with the counts gathered so far, and returns once
    /// the ledger has it. Counts alone wait for the batch.
    async fn report_occupancy(&self) {
        self.report_occupancy_with(None).await;
    }

    async fn report_occupancy_with(&self, joining: Option<&Member>) {
        let occupancy = self.occupancy_with(joining);
        let changed = self
            .memory
            .borrow()
            .feed
            .occupancy_changed(occupancy.as_ref());
        if changed {
            self.report_with(occupancy).await;
        }
    }

    /// Sends the gathered counts and any occupancy change to the app's ledger.
    async fn report(&self) {
        self.report_with(self.occupancy()).await;
    }

    /// Sends the gathered counts and `occupancy` (if it changed) to the app's ledger.
    async fn report_with(&self, occupancy: Option<Occupancy>) {
        // Reports may overlap (a subscribe's, a departure's, an alarm's); their occupancy
        // carries a sequence number so the ledger keeps the newest, and no report waits for
        // another.
        let Some(app_id) = self.memory.borrow().app_id.clone() else {
            return;
        };
        let Some(mut report) = self.memory.borrow_mut().feed.take_report(occupancy, None) else {
            return;
        };
        self.memory.borrow_mut().feed.stamp(&mut report, now_ms());
        match send_report(&self.env, &app_id, &report).await {
            Ok(answer) => self.memory.borrow_mut().feed.on_answer(answer),
            Err(e) => {
                console_error!("room: ledger report for app {app_id} failed: {e}");
                {
                    let mut memory = self.memory.borrow_mut();
                    memory.feed.on_failed(&report);
                    memory.feed.scheduled = true;
                }
                self.arm(now_ms() + RETRY_INTERVAL_MS).await;
            }
        }
    }

    /// What `GET /channels/{name}` and a trigger's `info` report.
    /// `leaf_subscribers`: a split channel's subscribers in its leaves (the publish fan-out
    /// just learnt them; `/info` asks).
    async fn channel_state(&self, attrs: InfoAttrs, leaf_subscribers: u64) -> ChannelState {
        let (subscription_count, user_count) = self.with_subscribers(|subs| {
            let users = if attrs.user_count {
                Roster::from_members(subs.iter().map(|(m, _)| m)).count()
            } else {
                0
            };
            (subs.len() as u64, users as u64)
        });
        let subscription_count = subscription_count + leaf_subscribers;
        let cache = if attrs.cache {
            self.cached_event().await.map(|event| {
                let data = serde_json::from_str::<serde_json::Value>(&event.frame)
                    .ok()
                    .and_then(|v| v.get("data").and_then(|d| d.as_str()).map(String::from))
                    .unwrap_or_default();
                let ttl = ((event.expires_at_ms - now_ms()) / 1000.0).ceil().max(0.0) as u64;
                (data, ttl)
            })
        } else {
            None
        };
        ChannelState {
            subscription_count,
            user_count,
            cache,
        }
    }

    async fn cached_event(&self) -> Option<CachedEvent> {
        let loaded = self.memory.borrow().cached.clone();
        let cached = match loaded {
            Some(cached) => cached,
            None => {
                let stored: Option<CachedEvent> =
                    self.state.storage().get(CACHE_KEY).await.ok().flatten();
                self.memory.borrow_mut().cached = Some(stored.clone());
                stored
            }
        };
        cached.filter(|event| event.expires_at_ms > now_ms())
    }

    async fn store_cache(&self, frame: String, expires_at_ms: f64) -> Result<()> {
        let event = CachedEvent {
            frame,
            expires_at_ms,
        };
        self.state.storage().put(CACHE_KEY, &event).await?;
        if self.memory.borrow().miss_hooked != Some(false) {
            // The next miss (once this expires) is reported again.
            self.state.storage().delete(MISS_HOOKED_KEY).await?;
            self.memory.borrow_mut().miss_hooked = Some(false);
        }
        self.memory.borrow_mut().cached = Some(Some(event));
        Ok(())
    }

    /// Closes every socket (terminate_connections on a user channel); the sessions close
    /// their clients with the same code.
    async fn terminate(&self) -> usize {
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
            self.departed(member).await;
        }
        count
    }
}
