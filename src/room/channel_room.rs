//! The channel room Durable Object: holds one hibernatable internal socket per subscribed
//! client connection, keeps presence, the cache channel's last event and subscription
//! counts, and fans each publish out as one pre-serialised frame.

use super::count_throttle::{CountAction, CountThrottle};
use super::member::{param, path, Join, Member, TERMINATED_CLOSE_CODE};
use super::roster::Roster;
use super::sockets::{self, is_same, member_of};
use crate::protocol::channel_name::ChannelKind;
use crate::protocol::frames;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use worker::{
    durable_object, Date, DurableObject, Env, Method, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

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
}

#[durable_object]
pub struct ChannelRoom {
    state: State,
    memory: RefCell<Memory>,
}

fn now_ms() -> f64 {
    Date::now().as_millis() as f64
}

impl DurableObject for ChannelRoom {
    fn new(state: State, _env: Env) -> Self {
        ChannelRoom {
            state,
            memory: RefCell::new(Memory::default()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let query = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        match (req.method(), req.path().as_str()) {
            (Method::Get, path::SUBSCRIBE) => {
                let Some(join) = query(param::JOIN).and_then(|j| Join::from_query_value(&j)) else {
                    return Response::error("a valid join parameter is required", 400);
                };
                self.subscribe(join).await
            }
            (Method::Post, path::PUBLISH) => {
                let frame = req.text().await?;
                let channel = query(param::CHANNEL).unwrap_or_default();
                let delivered = self.broadcast(&frame, query(param::EXCLUDE).as_deref());
                if ChannelKind::of(&channel).is_cache() {
                    let ttl_secs: f64 = query(param::TTL)
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(1800.0);
                    self.store_cache(frame, now_ms() + ttl_secs * 1000.0)
                        .await?;
                }
                Response::ok(format!("{{\"delivered\":{delivered}}}"))
            }
            (Method::Post, path::TERMINATE) => {
                let closed = self.terminate();
                Response::ok(format!("{{\"closed\":{closed}}}"))
            }
            _ => Response::error("Not found", 404),
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        // Sessions send client events up, already checked and serialised: forward to the others.
        if let WebSocketIncomingMessage::String(frame) = message {
            let sender = member_of(&ws);
            self.with_subscribers(|subs| {
                for (_, other) in subs.iter().filter(|(m, s)| !is_same(m, s, &ws, &sender)) {
                    let _ = other.send_with_str(&frame);
                }
            });
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
        // A throttled subscription count is due.
        let now = now_ms();
        let channel = {
            let mut memory = self.memory.borrow_mut();
            memory.counts.on_scheduled_send(now);
            memory.channel.clone()
        };
        if let Some(channel) = channel {
            let frame = frames::subscription_count(&channel, self.subscriber_count());
            self.broadcast(&frame, None);
        }
        Response::ok("")
    }
}

impl ChannelRoom {
    fn with_subscribers<T>(&self, f: impl FnOnce(&mut Vec<(Member, WebSocket)>) -> T) -> T {
        let mut memory = self.memory.borrow_mut();
        if memory.subscribers.is_none() {
            let loaded = sockets::load(&self.state);
            if memory.channel.is_none() {
                memory.channel = loaded.first().map(|(m, _)| m.channel.clone());
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
        self.with_subscribers(|subs| {
            let mut delivered = 0;
            // Sockets that fail to send are closing: drop them.
            subs.retain(|(member, ws)| {
                if Some(member.socket_id.as_str()) == exclude {
                    return true;
                }
                let ok = ws.send_with_str(frame).is_ok();
                delivered += usize::from(ok);
                ok
            });
            delivered
        })
    }

    async fn subscribe(&self, join: Join) -> Result<Response> {
        let Join {
            channel,
            mut member,
            max_members,
        } = join;
        member.channel = channel.clone();
        let kind = ChannelKind::of(&channel);
        self.memory.borrow_mut().channel = Some(channel.clone());
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

        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(&member)?;

        if let Some((true, user_id, _)) = &presence {
            let added = frames::member_added(&channel, user_id, member.user_info.as_deref());
            self.broadcast(&added, None);
        }
        // Queued until the session accepts its end, so this is the first frame it relays.
        let data = presence.map_or_else(|| "{}".to_string(), |(_, _, data)| data);
        pair.server
            .send_with_str(frames::subscription_succeeded(&channel, &data))?;
        if kind.is_cache() {
            let frame = match self.cached_event().await {
                Some(event) => event.frame,
                None => frames::cache_miss(&channel),
            };
            pair.server.send_with_str(frame)?;
        }
        let count_subscriptions = member.count_subscriptions;
        self.with_subscribers(|subs| subs.push((member, pair.server.clone())));
        if count_subscriptions {
            self.count_changed(&channel).await;
        }
        Response::from_websocket(pair.client)
    }

    async fn leave(&self, ws: &WebSocket) {
        let left = self.with_subscribers(|subs| sockets::remove(subs, ws));
        let Some(member) = left else { return };
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
                    self.broadcast(&frames::member_removed(&channel, user_id), None);
                }
            }
        }
        if member.count_subscriptions {
            self.count_changed(&channel).await;
        }
    }

    async fn count_changed(&self, channel: &str) {
        let count = self.subscriber_count();
        let action = self.memory.borrow_mut().counts.on_change(count, now_ms());
        match action {
            CountAction::SendNow => {
                self.broadcast(&frames::subscription_count(channel, count), None);
            }
            CountAction::SendAt(at_ms) => {
                let _ = self.state.storage().set_alarm(at_ms as i64).await;
            }
            CountAction::Wait => {}
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
        self.memory.borrow_mut().cached = Some(Some(event));
        Ok(())
    }

    /// Closes every socket (terminate_connections on a user channel); the sessions close
    /// their clients with the same code.
    fn terminate(&self) -> usize {
        self.with_subscribers(|subs| {
            let count = subs.len();
            for (_, ws) in subs.drain(..) {
                let _ = ws.close(Some(TERMINATED_CLOSE_CODE), Some("terminated by the app"));
            }
            count
        })
    }
}
