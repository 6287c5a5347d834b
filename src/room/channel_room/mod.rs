//! The channel room Durable Object: holds one hibernatable internal socket per subscribed
//! client connection, keeps presence, the cache channel's last event and subscription
//! counts, and fans each publish out as one pre-serialised frame.
//!
//! Its parts: `routes` (one method per request of the contract's `RoomRequest`),
//! `subscribe` and `departure` (sockets joining and leaving), `publish`, `info`, `cache`,
//! `subscription_count`, `ledger_feed` (counts and occupancy for the app ledger),
//! `console_feed` (lines for an open debug console), `hooks`
//! (webhooks), `split` (big channels), `vacancy` (empty rooms leave no storage) and `state`
//! (what the room keeps in memory).

mod cache;
mod console_feed;
mod departure;
mod hooks;
mod identity;
mod info;
mod instance;
mod ledger_feed;
mod presence;
mod publish;
mod rejoin;
mod routes;
mod split;
mod state;
mod subscribe;
mod subscription_count;
mod vacancy;

use crate::ledger::reporter::Reporter;
use hooks::client_event_hook;
use instance::Instance;
use state::{LoadOnce, Memory};

use super::contract::{Departure, Member, RoomCall, RoomRequest, REJOIN_WINDOW_MS};
use super::frame_send::Frame;
use super::sockets::{self, is_same, member_of};
use crate::glue::clock::now_ms;
use crate::glue::internal_query::{read_request, refusal};
use crate::ledger::console;
use std::cell::RefCell;
use worker::{
    console_error, durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage,
};

/// Storage key of the room's (app id, channel), kept once webhooks are queued so a room
/// woken by its alarm with no sockets left can still deliver them.
const IDENTITY_KEY: &str = "identity";
/// Storage key: a `cache_miss` webhook went out and the cache is still empty.
const MISS_HOOKED_KEY: &str = "miss_hooked";

/// Storage key of a split channel's number of leaves (in its root room).
const LEAVES_KEY: &str = "leaves";

#[durable_object]
pub struct ChannelRoom {
    state: State,
    env: Env,
    memory: RefCell<Memory>,
}

impl DurableObject for ChannelRoom {
    fn new(state: State, env: Env) -> Self {
        ChannelRoom {
            memory: RefCell::new(Memory::named(state.id().name().as_deref())),
            state,
            env,
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let call = match read_request::<RoomCall>(&mut req).await? {
            Ok(call) => call,
            Err(refused) => return refusal(&refused),
        };
        match call.request {
            // Diagnostics, before anything that could write (schema, identity, alarm).
            RoomRequest::Storage => return self.census_response().await,
            RoomRequest::Identity => return self.identity_response(),
            _ => {}
        }
        self.take_in(&call).await;
        let rest_call = call.rest_call;
        let response = self.answer(call).await;
        if rest_call {
            // Here, whatever the answer (a refusal, an error): the REST call was made.
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
            let sender_id = sender.as_ref().map(|m| m.socket_id.as_str());
            self.record(&outgoing, frame.len(), sender_id);
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
                self.learn(Some(&sender.app_id), &sender.channel);
                let from = (sender.socket_id.as_str(), sender.user_id.as_deref());
                if let Some(now) = self.console_open().await {
                    self.console_line(console::event(now, &frame, Some(from), None))
                        .await;
                }
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
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        // Sessions close cleanly with 1000, or say their client was lost; anything else is a
        // session gone silent (see `contract::Departure`).
        self.leave(&ws, Departure::of_close(code)).await;
        // Complete the closing handshake; the socket may already be fully closed.
        let _ = ws.close(Some(1000), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.leave(&ws, Departure::Silent).await;
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        self.memory.borrow_mut().alarm.clear();
        self.sweep_absent().await;
        self.send_count_if_due(now).await;
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
        if !memory.subscribers.is_loaded() {
            let loaded = sockets::load(&self.state);
            if let Some((first, _)) = loaded.first() {
                memory.identity.learn_from_socket(first);
            }
            let adopted = loaded.first().map(|(m, _)| m.epoch);
            memory.instance = Some(Instance::begin(adopted, now_ms()));
            memory.subscribers = LoadOnce::Loaded(loaded);
        }
        f(memory.subscribers.get_or_load(Vec::new))
    }

    fn subscriber_count(&self) -> usize {
        self.with_subscribers(|subs| subs.len())
    }

    /// This instance's epoch (it begins when the sockets are first read).
    fn epoch(&self) -> u64 {
        self.with_subscribers(|_| ());
        self.memory
            .borrow()
            .instance
            .as_ref()
            .map_or(0, |i| i.epoch)
    }

    /// A rejoin said the room had `size` subscribers: this instance waits long enough for them.
    fn widen_window(&self, size: u64) {
        self.with_subscribers(|_| ());
        if let Some(instance) = self.memory.borrow_mut().instance.as_mut() {
            instance.widen(size, now_ms());
        }
    }

    /// When this instance stops waiting for the sessions of the one before.
    fn window_end_ms(&self) -> f64 {
        self.with_subscribers(|_| ());
        let end = self
            .memory
            .borrow()
            .instance
            .as_ref()
            .map(Instance::window_end_ms);
        end.unwrap_or_else(|| now_ms() + REJOIN_WINDOW_MS)
    }

    /// Logs a frame sent to every subscriber but `exclude`, for sessions that rejoin.
    fn record(&self, frame: &Frame, bytes: usize, exclude: Option<&str>) {
        self.with_subscribers(|_| ());
        if let Some(instance) = self.memory.borrow_mut().instance.as_mut() {
            instance.record(frame, bytes, exclude, now_ms());
        }
    }

    /// Sends `frame` to every subscriber but `exclude`; returns how many it reached.
    fn broadcast(&self, text: &str, exclude: Option<&str>) -> usize {
        let frame = Frame::new(text);
        self.record(&frame, text.len(), exclude);
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
    fn learn(&self, app_id: Option<&str>, channel: &str) {
        self.memory.borrow_mut().identity.learn(app_id, channel);
    }

    /// The room's channel, when known.
    fn channel_name(&self) -> Option<String> {
        self.memory.borrow().identity.channel().map(str::to_string)
    }

    /// Sets the alarm for `at_ms` unless it is already set for earlier.
    async fn arm(&self, at_ms: f64) {
        if self.memory.borrow().alarm.covers(at_ms) {
            return;
        }
        self.memory.borrow_mut().alarm.set(at_ms);
        // An i64 is taken as an offset from now, not a timestamp.
        let offset_ms = (at_ms - now_ms()).max(0.0) as i64;
        if let Err(e) = self.state.storage().set_alarm(offset_ms).await {
            console_error!("room: cannot set alarm: {e}");
            let mut memory = self.memory.borrow_mut();
            memory.alarm.clear();
            // Let the next change try again rather than wait for an alarm that is not set.
            memory.feed.scheduled = false;
        }
    }
}
