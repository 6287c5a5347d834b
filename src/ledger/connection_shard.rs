//! A connection shard Durable Object: every client connection of an app holds one
//! hibernatable socket to one of the app's shards for as long as it lives. The shard's count
//! is its live sockets, so it is exact and heals itself when a session dies without saying
//! goodbye (its socket closes). Counts reach the ledger in batches, at most once a second.

use super::console;
use super::contract::{parse_shard_name, ShardCall, ShardRequest, FULL_STATUS, SHARD_SIZE_HEADER};
use super::report::{Feed, ShardCount, REPORT_INTERVAL_MS, RETRY_INTERVAL_MS};
use super::reporter::Reporter;
use crate::apps::record::StoredRecord;
use crate::glue::internal_query::{read_request, refusal};
use serde::{Deserialize, Serialize};
use std::cell::{RefCell, RefMut};
use std::collections::{HashSet, VecDeque};
use worker::{
    console_error, durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

/// How many closed socket ids a shard remembers.
const RECENTLY_CLOSED: usize = 1024;

/// Storage key of the shard's (app id, index).
const HOLDER_KEY: &str = "holder";
/// Storage key of the newest app record the operators' API told the shard.
const APP_RECORD_KEY: &str = "app_record";

/// What each socket's attachment records, so a woken shard knows who it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Holder {
    #[serde(rename = "a")]
    app_id: String,
    #[serde(rename = "i")]
    index: u32,
    #[serde(rename = "s")]
    socket_id: String,
}

#[derive(Default)]
struct Memory {
    feed: Feed,
    /// The most recent sockets seen closing (a close and an error event for the same socket
    /// must count once, and a recount must not count a closing socket still listed).
    closed: HashSet<String>,
    closed_order: VecDeque<String>,
    /// Live sockets, counted from the listed sockets once per instance and kept up to date
    /// (a connect must not read every socket's attachment).
    live: Option<u64>,
    holder: Option<(String, u32)>,
    /// `HOLDER_KEY` was written by this instance.
    holder_saved: bool,
    /// The newest app record told (its revision and text), read from storage once.
    app_record: Option<Option<(u64, String)>>,
}

#[durable_object]
pub struct ConnectionShard {
    state: State,
    env: Env,
    memory: RefCell<Memory>,
}

fn holder_of(ws: &WebSocket) -> Option<Holder> {
    ws.deserialize_attachment::<Holder>().ok().flatten()
}

impl DurableObject for ConnectionShard {
    fn new(state: State, env: Env) -> Self {
        // The shard's app and index from its name, so it knows them in an alarm with no
        // socket left (the stored `HOLDER_KEY` is still written, and read as a fallback).
        let memory = Memory {
            holder: state.id().name().as_deref().and_then(parse_shard_name),
            ..Memory::default()
        };
        ConnectionShard {
            state,
            env,
            memory: RefCell::new(memory),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let ShardCall {
            app_id,
            index,
            request,
        } = match read_request::<ShardCall>(&mut req).await? {
            Ok(call) => call,
            Err(refused) => return refusal(&refused),
        };
        match request {
            ShardRequest::Connect { cap, socket_id } => {
                self.take_place(app_id, index, cap, socket_id).await
            }
            ShardRequest::Wake => {
                // A session lost its socket here (a new instance): report the true count.
                self.memory.borrow_mut().holder = Some((app_id, index));
                self.schedule_report().await;
                Response::ok("")
            }
            ShardRequest::Console { until_ms } => {
                self.memory.borrow_mut().holder = Some((app_id, index));
                self.console_lease(until_ms as f64).await;
                Response::ok("")
            }
            ShardRequest::AppChanged { record } => {
                self.keep_app_record(&record).await?;
                // Every socket here is a session's place: each applies the record if it is
                // newer than the one it runs with.
                for ws in self.state.get_websockets() {
                    let _ = ws.send_with_str(&record);
                }
                Response::ok("")
            }
        }
    }

    async fn websocket_message(
        &self,
        _ws: WebSocket,
        _msg: WebSocketIncomingMessage,
    ) -> Result<()> {
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        self.gone(&ws).await;
        let _ = ws.close(Some(1000), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.gone(&ws).await;
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        self.memory.borrow_mut().feed.scheduled = false;
        self.report().await;
        Response::ok("")
    }
}

impl ConnectionShard {
    /// A client connection takes its place here, unless the shard holds `cap` already.
    async fn take_place(
        &self,
        app_id: String,
        index: u32,
        cap: u64,
        socket_id: String,
    ) -> Result<Response> {
        if self.live_count() >= cap {
            return Response::error("this connection shard is full", FULL_STATUS);
        }
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(Holder {
            app_id: app_id.clone(),
            index,
            socket_id: socket_id.clone(),
        })?;
        // A session may have looked its app up in a cache older than the last change it
        // would otherwise never hear of: it gets the newest record told here at once.
        if let Some((_, record)) = self.app_record().await {
            let _ = pair.server.send_with_str(&record);
        }
        if !self.memory.borrow().holder_saved {
            // Kept so that a shard woken by its alarm with no sockets left can still report 0
            // (the name says the same; the key stays for one release, for a rollback).
            self.state
                .storage()
                .put(HOLDER_KEY, (app_id.clone(), index))
                .await?;
            self.memory.borrow_mut().holder_saved = true;
        }
        {
            let mut memory = self.memory.borrow_mut();
            memory.holder = Some((app_id, index));
            memory.feed.counts().connections_opened += 1;
            if let Some(live) = memory.live.as_mut() {
                *live += 1;
            }
        }
        self.connection_line(&socket_id, true).await;
        self.schedule_report().await;
        let response = Response::from_websocket(pair.client)?;
        // Its sessions spread their return over its size should it reset.
        let size = self.live_count().to_string();
        response.headers().set(SHARD_SIZE_HEADER, &size)?;
        Ok(response)
    }

    /// The newest app record told to this shard, if any.
    async fn app_record(&self) -> Option<(u64, String)> {
        if self.memory.borrow().app_record.is_none() {
            let stored: Option<(u64, String)> = self
                .state
                .storage()
                .get(APP_RECORD_KEY)
                .await
                .ok()
                .flatten();
            self.memory.borrow_mut().app_record = Some(stored);
        }
        self.memory.borrow().app_record.clone().flatten()
    }

    /// Keeps `record` when it is newer than the one kept.
    async fn keep_app_record(&self, record: &str) -> Result<()> {
        let Some(rev) = StoredRecord::parse(record).map(|r| r.rev) else {
            return Ok(());
        };
        if self.app_record().await.is_some_and(|(kept, _)| kept >= rev) {
            return Ok(());
        }
        let kept = (rev, record.to_string());
        self.state.storage().put(APP_RECORD_KEY, &kept).await?;
        self.memory.borrow_mut().app_record = Some(Some(kept));
        Ok(())
    }

    /// Live sockets: the listed ones, less those seen closing.
    fn live_count(&self) -> u64 {
        if let Some(live) = self.memory.borrow().live {
            return live;
        }
        let ids: HashSet<String> = self
            .state
            .get_websockets()
            .iter()
            .filter_map(holder_of)
            .map(|h| h.socket_id)
            .collect();
        let mut memory = self.memory.borrow_mut();
        memory.closed.retain(|id| ids.contains(id));
        let live = ids.iter().filter(|id| !memory.closed.contains(*id)).count() as u64;
        memory.live = Some(live);
        live
    }

    async fn gone(&self, ws: &WebSocket) {
        if let Some(holder) = holder_of(ws) {
            let first = !self.memory.borrow().closed.contains(&holder.socket_id);
            if first {
                self.connection_line(&holder.socket_id, false).await;
            }
            let mut memory = self.memory.borrow_mut();
            // Counted once, even if the runtime reports both an error and a close.
            if memory.closed.insert(holder.socket_id.clone()) {
                memory.closed_order.push_back(holder.socket_id);
                if memory.closed_order.len() > RECENTLY_CLOSED {
                    if let Some(oldest) = memory.closed_order.pop_front() {
                        memory.closed.remove(&oldest);
                    }
                }
                if let Some(live) = memory.live.as_mut() {
                    *live = live.saturating_sub(1);
                }
            }
            memory.holder = Some((holder.app_id, holder.index));
        }
        self.schedule_report().await;
    }

    async fn schedule_report_in(&self, delay_ms: f64) {
        if std::mem::replace(&mut self.memory.borrow_mut().feed.scheduled, true) {
            return;
        }
        // An i64 is taken as an offset from now.
        if let Err(e) = self.state.storage().set_alarm(delay_ms as i64).await {
            console_error!("connection shard: cannot set alarm: {e}");
            self.memory.borrow_mut().feed.scheduled = false;
        }
    }

    async fn report(&self) {
        let live = self.live_count();
        let remembered = self.memory.borrow().holder.clone();
        let holder = match remembered {
            Some(holder) => Some(holder),
            // Woken by the alarm after an eviction.
            None => self.state.storage().get(HOLDER_KEY).await.ok().flatten(),
        };
        let Some((app_id, index)) = holder else {
            return;
        };
        self.memory.borrow_mut().holder = Some((app_id.clone(), index));
        let shard = ShardCount {
            index,
            connections: live,
        };
        let Some(report) = self.memory.borrow_mut().feed.take_report(None, Some(shard)) else {
            return;
        };
        self.send(&app_id, report).await;
    }

    /// Writes a connection's line if a console watches the app; it goes with the next report.
    async fn connection_line(&self, socket_id: &str, opened: bool) {
        if let Some(now) = self.console_open().await {
            self.console_line(console::connection(now, socket_id, opened))
                .await;
        }
    }
}

impl Reporter for ConnectionShard {
    fn state(&self) -> &State {
        &self.state
    }

    fn env(&self) -> &Env {
        &self.env
    }

    fn feed(&self) -> RefMut<'_, Feed> {
        RefMut::map(self.memory.borrow_mut(), |memory| &mut memory.feed)
    }

    async fn schedule_report(&self) {
        self.schedule_report_in(REPORT_INTERVAL_MS).await;
    }

    async fn retry_report(&self) {
        self.schedule_report_in(RETRY_INTERVAL_MS).await;
    }
}
