//! The user directory Durable Object, one per app and shard (see `directory_shards`): every
//! session signed in as a user homed here holds one hibernatable socket here, so "who is
//! online" is the set of live sockets; sessions watching users homed here hold one socket
//! here too, and get `online`/`offline` events when a user's first socket arrives or last
//! leaves.
//!
//! Resets and broken links stay invisible, as for rooms (`contract::rejoin`): a shard instance
//! has an epoch; its notices are kept while a session may rejoin for them (a new instance's
//! first moments, and after a socket whose session went silent) and replayed to a rejoining
//! watcher, for the users it watches. Who is online is also kept in storage
//! (`directory_online`), so a user whose sockets are gone (a reset, a silent session) stays
//! online for the rejoin window and goes offline at its end, once, unless it came back.

use super::contract::{
    new_epoch, Departure, DirectoryRequest, Member, Rejoin, EPOCH_HEADER, REJOIN_WINDOW_MS,
};
use super::directory_index::DirectoryIndex;
use super::directory_online;
use super::frame_send::Frame;
use super::presence_book::{Arrival, PresenceBook};
use super::replay_log::{ReplayLog, Since, REPLAY_LOG_MAX_BYTES};
use super::sockets;
use super::watchlist;
use crate::glue::clock::now_ms;
use crate::glue::internal_query::{read_request, refusal};
use std::cell::{RefCell, RefMut};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

#[durable_object]
pub struct UserDirectory {
    state: State,
    /// Loaded on an instance's first event (after a wake, from the hibernated sockets'
    /// attachments and storage).
    shard: RefCell<Option<Shard>>,
}

struct Shard {
    index: DirectoryIndex<WebSocket>,
    /// Who is online as storage keeps it, with those held online while their sockets are away.
    online: PresenceBook,
    epoch: u64,
    /// The notices sent while a rejoin may come for them, tagged with the user they are about.
    log: ReplayLog<Frame>,
    /// When the alarm is set for (this instance set it).
    alarm_at: Option<f64>,
}

impl DurableObject for UserDirectory {
    fn new(state: State, _env: Env) -> Self {
        UserDirectory {
            state,
            shard: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match read_request::<DirectoryRequest>(&mut req).await? {
            Ok(DirectoryRequest::SignIn(join)) => {
                let answer = self.sign_in(join.member, join.rejoin);
                self.arm_for_held().await;
                answer
            }
            Err(refused) => refusal(&refused),
        }
    }

    async fn websocket_message(&self, _ws: WebSocket, _m: WebSocketIncomingMessage) -> Result<()> {
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _r: String,
        _w: bool,
    ) -> Result<()> {
        self.sign_out(&ws, Departure::of_close(code));
        self.arm_for_held().await;
        let _ = ws.close(Some(1000), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.sign_out(&ws, Departure::Silent);
        self.arm_for_held().await;
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        let gone: Vec<String> = {
            let mut shard = self.shard();
            shard.alarm_at = None;
            let due = shard.online.take_due(now);
            due.into_iter()
                .filter(|user| !shard.index.is_online(user))
                .collect()
        };
        let sql = self.state.storage().sql();
        for user in gone {
            directory_online::write(&sql, &user, None);
            let to = self.watchers_of(&user);
            self.announce(&user, false, to);
        }
        self.arm_for_held().await;
        Response::ok("")
    }
}

impl UserDirectory {
    /// The shard, loaded on first use (one borrow at a time, never across an await).
    fn shard(&self) -> RefMut<'_, Shard> {
        RefMut::map(self.shard.borrow_mut(), |cell| {
            cell.get_or_insert_with(|| self.load())
        })
    }

    /// The instance's start: woken from hibernation (its sockets keep their epoch), it is the
    /// same shard and its sessions were never away; new (a reset closed every socket), it holds
    /// the users stored online until the rejoin window ends and keeps its notices meanwhile.
    fn load(&self) -> Shard {
        let sockets = sockets::load(&self.state);
        let adopted = sockets.first().map(|(m, _)| m.epoch).filter(|&e| e != 0);
        let index: DirectoryIndex<WebSocket> = sockets.into_iter().collect();
        let sql = self.state.storage().sql();
        let mut online = directory_online::read(&sql);
        let (epoch, log) = match adopted {
            Some(epoch) => (epoch, ReplayLog::off()),
            None => {
                let until = now_ms() + REJOIN_WINDOW_MS;
                for user in online.mark_absent(|id| index.is_online(id), until) {
                    directory_online::write(&sql, &user, online.get(&user));
                }
                let epoch = new_epoch(js_sys::Math::random());
                (epoch, ReplayLog::recording(until, REPLAY_LOG_MAX_BYTES))
            }
        };
        Shard {
            index,
            online,
            epoch,
            log,
            alarm_at: None,
        }
    }

    /// A session's socket; `rejoin`: its session is back after this shard reset or its link
    /// broke, and its watchers already know its user is online, as it knows its watchlist's
    /// state: it gets only the notices it missed.
    fn sign_in(&self, mut member: Member, rejoin: Option<Rejoin>) -> Result<Response> {
        let epoch = self.shard().epoch;
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        member.epoch = epoch;
        pair.server.serialize_attachment(&member)?;
        let user = member.user_id.clone();
        let socket_id = member.socket_id.clone();
        let watchlist = match rejoin {
            Some(_) => member.watchlist.clone(),
            None => Vec::new(),
        };
        let mut shard = self.shard();
        let Shard { index, online, .. } = &mut *shard;
        let held = |id: &str| online.get(id).is_some_and(|e| e.leaving_ms.is_some());
        let joined = index.join(member, pair.server.clone(), held);
        if let Some(user) = &user {
            if online.arrive(user, None) != Arrival::Present {
                directory_online::write(&self.state.storage().sql(), user, online.get(user));
            }
        }
        match rejoin {
            Some(rejoin) => {
                let since = match rejoin.epoch == epoch {
                    true => Since::Mark,
                    false => Since::Start,
                };
                let watched =
                    |about: Option<&str>| about.is_some_and(|u| watchlist.iter().any(|w| w == u));
                let replay = shard.log.replay_for(&socket_id, now_ms(), since, watched);
                for frame in replay.frames {
                    frame.send_to(&pair.server);
                }
            }
            None => {
                drop(shard);
                if let Some(frame) = joined.initial {
                    pair.server.send_with_str(frame)?;
                }
                if let (Some(user), true) = (&user, joined.came_online) {
                    // Its watchers as they were before it joined: not itself, if it watches itself
                    // (it has the initial state).
                    let to = joined.notice.map(|(_, to)| to).unwrap_or_default();
                    self.announce(user, true, to);
                }
            }
        }
        let headers = worker::Headers::new();
        headers.set(EPOCH_HEADER, &epoch.to_string())?;
        Ok(Response::from_websocket(pair.client)?.with_headers(headers))
    }

    /// A socket closed, `how` its close code says: if it was its user's last here, the user
    /// goes offline at once, or, for a session gone silent (which may rejoin), at the end of
    /// the rejoin window unless it came back. A silent watcher's missed notices are kept.
    fn sign_out(&self, ws: &WebSocket, how: Departure) {
        let member = sockets::member_of(ws).or_else(|| self.shard().index.member_of_socket(ws));
        let Some(member) = member else { return };
        let now = now_ms();
        let mut shard = self.shard();
        if how == Departure::Silent {
            shard.log.mark(&member.socket_id, now, REJOIN_WINDOW_MS);
        }
        let Some(user) = shard.index.leave(&member) else {
            return;
        };
        let sql = self.state.storage().sql();
        if how == Departure::Silent {
            shard.online.arrive(&user, None);
            shard.online.leave_at(&user, now + REJOIN_WINDOW_MS);
            directory_online::write(&sql, &user, shard.online.get(&user));
            return;
        }
        shard.online.remove(&user);
        drop(shard);
        directory_online::write(&sql, &user, None);
        let to = self.watchers_of(&user);
        self.announce(&user, false, to);
    }

    /// Tells `user_id`'s watchers it came online (or went offline), and keeps the notice while
    /// a rejoin may come for it, also when no watcher is here now (one may be rejoining).
    fn announce(&self, user_id: &str, online: bool, to: Vec<WebSocket>) {
        let now = now_ms();
        let mut shard = self.shard();
        if !shard.log.is_recording(now) && to.is_empty() {
            shard.log.pass();
            return;
        }
        let text = watchlist::change(user_id, online);
        let frame = Frame::new(&text);
        for ws in &to {
            // A socket closing meanwhile gets its own close event.
            frame.send_to(ws);
        }
        match shard.log.is_recording(now) {
            true => shard.log.record(frame, text.len(), Some(user_id), now),
            false => shard.log.pass(),
        }
    }

    /// The sockets watching `user_id` here.
    fn watchers_of(&self, user_id: &str) -> Vec<WebSocket> {
        let shard = self.shard();
        shard
            .index
            .notice(user_id, false)
            .map(|(_, to)| to)
            .unwrap_or_default()
    }

    /// The alarm for the next held user's time, if any (and not set for it already).
    async fn arm_for_held(&self) {
        let next = {
            let mut shard = self.shard();
            let next = shard
                .online
                .next_due()
                .filter(|&at| shard.alarm_at != Some(at));
            if next.is_some() {
                shard.alarm_at = next;
            }
            next
        };
        let Some(at) = next else { return };
        // An i64 is taken as an offset from now, not a timestamp.
        let offset_ms = (at - now_ms()).max(0.0) as i64;
        if let Err(e) = self.state.storage().set_alarm(offset_ms).await {
            worker::console_error!("directory: cannot set the alarm: {e}");
            self.shard().alarm_at = None;
        }
    }
}
