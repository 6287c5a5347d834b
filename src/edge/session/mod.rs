//! The socket glue of one pusher-js connection: runs `SessionCore` against the client socket
//! and one internal socket per subscribed channel room. Room frames are relayed unparsed.

mod place;

use super::relay::{client_frames, ClientFrame, RelayCounter, RelayStop};
use super::session_core::{Command, OpenChannel, SessionCore, UpgradeSlots};
use crate::apps::lookup::learn;
use crate::apps::record::StoredRecord;
use crate::config::App;
use crate::glue::clock::now_ms;
use crate::ledger::client::{hold_connection, wake_shard, Place};
use crate::protocol::{close_codes, frames};
use crate::room::client::{self as rooms, Joined};
use crate::room::contract::{rejoin_deadline_ms, RoomRefusal, CLIENT_LOST_CLOSE};
use futures_util::StreamExt;
use place::{hold_place, release_place};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::time::Duration;
use wasm_bindgen_futures::spawn_local;
use worker::{Delay, Env, Response, Result, WebSocket, WebSocketPair, WebsocketEvent};

/// An open internal socket: the attempt that opened it, the socket, and its relay's stop.
struct OpenSocket {
    attempt: u64,
    ws: WebSocket,
    relay: RelayStop,
}

struct Session {
    core: SessionCore,
    client: WebSocket,
    app_id: String,
    env: Env,
    /// Open internal sockets by channel.
    channels: HashMap<String, OpenSocket>,
    /// The connection's place in the app's connection ledger, held while the session lives
    /// (`None` until it is taken, for an app without `max_connections`: after the client has
    /// its `connection_established`).
    place: Option<WebSocket>,
    place_shard: u32,
    /// The places the shard held when this one was taken: its sessions spread their return
    /// over that many should it reset.
    place_shard_size: u64,
    /// Upgrades in flight and waiting: Workers let only 6 wait for response headers at once.
    slots: UpgradeSlots<OpenChannel>,
    /// The frames every relay of the session forwarded, counted in JavaScript.
    relayed: RelayCounter,
    /// The registry revision of the app's record the session runs with (0: an environment
    /// app's); the connection shard's records apply only when newer.
    app_rev: u64,
}

impl Session {
    /// Counts the frames relayed since the last look against the CPU budget.
    fn count_relayed(&mut self) -> Vec<Command> {
        let frames = self.relayed.take();
        self.core.on_relayed(frames)
    }

    /// Tells the relays how many frames they may forward before the budget is spent, so a
    /// session that only relays (a silent client on a busy channel) ends on time.
    fn renew_relay_cap(&self) {
        self.relayed.set_cap(self.core.relayed_frames_left());
    }
}

type Shared = Rc<RefCell<Session>>;

/// Answers the upgrade for a client whose app could not be served: one `pusher:error`
/// with `code`, then a close with the same code (pusher-js reads both).
pub fn refuse(code: u16, message: &str) -> Result<Response> {
    let pair = WebSocketPair::new()?;
    pair.server.accept()?;
    pair.server
        .send_with_str(frames::error(Some(code), message, None))?;
    pair.server
        .close(Some(code), Some(frames::close_reason(message)))?;
    Response::from_websocket(pair.client)
}

/// Accepts a client connection for `app` (at registry revision `app_rev`) and starts its
/// session; `place` is its socket to the app's connection ledger, or `None` when the session
/// takes it after answering the client.
pub fn start(
    env: Env,
    socket_id: String,
    place: Option<Place>,
    app: Rc<App>,
    app_rev: u64,
) -> Result<Response> {
    let app_id = app.id.clone();
    let pair = WebSocketPair::new()?;
    let client = pair.server;
    client.accept()?;
    client.send_with_str(frames::connection_established(
        &socket_id,
        app.limits.activity_timeout_secs,
    ))?;
    let mut core = SessionCore::new(socket_id, app, now_ms());
    if place.is_some() {
        // The connection's place in the ledger was this invocation's first subrequest.
        let _ = core.on_subrequest();
    }
    let (place, place_shard, place_shard_size) = match place {
        Some(place) => (Some(place.socket), place.shard, place.size),
        None => (None, 0, 0),
    };
    let session = Rc::new_cyclic(|weak: &Weak<RefCell<Session>>| {
        let weak = weak.clone();
        let relayed = RelayCounter::new(move || {
            if let Some(session) = weak.upgrade() {
                relays_reached_cap(&session);
            }
        });
        RefCell::new(Session {
            core,
            client,
            app_id,
            env,
            channels: HashMap::new(),
            place,
            place_shard,
            place_shard_size,
            slots: UpgradeSlots::default(),
            relayed,
            app_rev,
        })
    });
    session.borrow().renew_relay_cap();
    spawn_local(run(session.clone()));
    spawn_local(hold_place(session.clone()));
    spawn_local(watch_liveness(session));
    Response::from_websocket(pair.client)
}

async fn run(session: Shared) {
    let (client, max_bytes) = {
        let s = session.borrow();
        (s.client.clone(), s.core.limits().max_client_frame_bytes)
    };
    let mut frames = client_frames(&client, max_bytes);
    // A client gone without a close frame (1006: its connection dropped) is lost, not closed.
    let mut lost = true;
    while let Some(frame) = frames.next().await {
        let now = now_ms();
        let cmds = {
            let mut s = session.borrow_mut();
            // The frames relayed meanwhile count first.
            let mut cmds = s.count_relayed();
            cmds.extend(match frame {
                ClientFrame::Text(text) => s.core.on_text(&text, now),
                ClientFrame::TooLarge(bytes) => s.core.on_too_large(bytes, now),
                ClientFrame::Binary => s.core.on_binary(now),
                ClientFrame::Closed(code) => {
                    lost = code == 1006;
                    break;
                }
            });
            if worker::signal::is_near_cpu_limit() {
                cmds.extend(s.core.on_cpu_limit_signal());
            }
            cmds
        };
        execute(&session, cmds);
        session.borrow().renew_relay_cap();
        if session.borrow().core.is_closed() {
            break;
        }
    }
    let cmds = session.borrow_mut().core.on_client_closed(lost);
    execute(&session, cmds);
    release_place(&session);
}

/// The operators changed the app: its registry record, sent by the connection shard. Older
/// records than one already applied (two changes told out of order) are ignored.
fn app_changed(session: &Shared, record: &str) {
    let Some(record) = StoredRecord::parse(record) else {
        return;
    };
    let cmds = {
        let mut s = session.borrow_mut();
        // Revision 0 is an environment app's: the registry's records (of an app with the same
        // id, deleted or shadowed) are not about it, since the environment wins.
        if s.app_rev == 0 || record.rev <= s.app_rev {
            return;
        }
        s.app_rev = record.rev;
        // New connections in this isolate see the change at once too.
        let (key, id) = (s.core.app().key.clone(), s.core.app().id.clone());
        learn(&key, &id, record.app.as_ref(), record.rev);
        s.core.on_app_changed(record.app.as_ref())
    };
    session.borrow().renew_relay_cap();
    execute(session, cmds);
}

/// Pings a silent client and closes one that does not answer (see `SessionCore::on_tick`).
async fn watch_liveness(session: Shared) {
    let tick_ms = {
        let limits = session.borrow().core.limits().clone();
        let shortest = limits.activity_timeout_secs.min(limits.pong_timeout_secs);
        (u64::from(shortest) * 1000 / 3).clamp(250, 10_000)
    };
    loop {
        Delay::from(Duration::from_millis(tick_ms)).await;
        if session.borrow().core.is_closed() {
            return;
        }
        let cmds = session.borrow_mut().core.on_tick(now_ms());
        execute(&session, cmds);
    }
}

fn execute(session: &Shared, cmds: Vec<Command>) {
    for cmd in cmds {
        match cmd {
            Command::Send(frame) => {
                // A send fails only when the client is already gone; its close event follows.
                let _ = session.borrow().client.send_with_str(frame);
            }
            Command::OpenChannel(open) => {
                let open = *open;
                if open.delay_ms > 0 {
                    spawn_local(open_later(session.clone(), open));
                } else {
                    admit(session, open);
                }
            }
            Command::SendToChannel { channel, frame } => {
                if let Some(open) = session.borrow().channels.get(&channel) {
                    let _ = open.ws.send_with_str(frame);
                }
            }
            Command::CloseChannel { channel, lost } => {
                let removed = session.borrow_mut().channels.remove(&channel);
                if let Some(open) = removed {
                    // Nothing more of this channel reaches the client, even frames the room
                    // sent before it sees the close.
                    open.relay.stop();
                    let _ = match lost {
                        true => open.ws.close(Some(CLIENT_LOST_CLOSE), Some("client lost")),
                        false => open.ws.close(Some(1000), Some("unsubscribed")),
                    };
                }
            }
            Command::WakeRoom { channel } => {
                let (env, app_id) = {
                    let s = session.borrow();
                    (s.env.clone(), s.app_id.clone())
                };
                spawn_local(async move {
                    if let Err(e) = rooms::wake(&env, &app_id, &channel).await {
                        worker::console_warn!("could not wake the room of {channel}: {e}");
                    }
                });
            }
            Command::CloseClient { code, reason } => {
                // Like Pusher: the error as a frame, then the close with the same code.
                let client = session.borrow().client.clone();
                let _ = client.send_with_str(frames::error(Some(code), &reason, None));
                let _ = client.close(Some(code), Some(frames::close_reason(&reason)));
                // A client told to come back (41xx, 42xx) is expected back: its presence
                // members may wait for it (the app's grace period).
                let lost = code >= close_codes::OVER_CAPACITY;
                let more = session.borrow_mut().core.on_client_closed(lost);
                execute(session, more);
                release_place(session);
            }
        }
    }
}

/// Starts an upgrade, or queues it while the slots are taken (see `UpgradeSlots`).
fn admit(session: &Shared, open: OpenChannel) {
    let started = {
        let mut s = session.borrow_mut();
        let max = s.core.limits().max_upgrades_in_flight;
        // The sign-in's channels (`#`): the user channel and the directory shards.
        let signin = open.join.channel.starts_with('#');
        s.slots.admit(open, signin, max)
    };
    if let Some(open) = started {
        spawn_local(open_channel(session.clone(), Box::new(open)));
    }
}

/// A rejoin after its jitter or back-off, if still wanted then.
async fn open_later(session: Shared, open: OpenChannel) {
    Delay::from(Duration::from_millis(u64::from(open.delay_ms))).await;
    let wanted = session
        .borrow()
        .core
        .wants(&open.join.channel, open.attempt);
    if wanted {
        admit(&session, open);
    }
}

/// One upgrade finished: start the next queued one that is still wanted, if any.
fn upgrade_done(session: &Shared) {
    let next = {
        let mut s = session.borrow_mut();
        let s = &mut *s;
        let max = s.core.limits().max_upgrades_in_flight;
        // The client may have unsubscribed (or left) while it waited.
        let core = &s.core;
        s.slots
            .done(max, |open| core.wants(&open.join.channel, open.attempt))
    };
    if let Some(open) = next {
        spawn_local(open_channel(session.clone(), Box::new(open)));
    }
}

async fn open_channel(session: Shared, open: Box<OpenChannel>) {
    let channel = open.join.channel.clone();
    let attempt = open.attempt;
    // Boxed, with the join moved in: this task lives as long as the channel's socket, and its
    // state machine would otherwise keep room for the join and the upgrade's futures all that
    // time (1,264 bytes a channel before, 96 now; the join is boxed for the same reason: a
    // future keeps room for its arguments).
    let result = Box::pin(upgrade(session.clone(), open)).await;
    upgrade_done(&session);
    let room = match result {
        Ok(room) => room,
        Err(refusal) => {
            let cmds = session.borrow_mut().core.on_channel_failed(
                &channel,
                attempt,
                refusal.status,
                &refusal.why,
                now_ms(),
            );
            execute(&session, cmds);
            return;
        }
    };
    let ws = room.socket;
    let opened = session
        .borrow_mut()
        .core
        .on_channel_opened(&channel, attempt, room.epoch, room.size, room.leaf);
    let Some(held) = opened else {
        // Unwanted by now. A socket must be accepted before its close is sent: closing an
        // unaccepted one sends nothing, and the room would keep a phantom subscriber until
        // the socket is collected.
        let _ = ws.accept();
        let _ = ws.close(Some(1000), Some("unsubscribed"));
        return;
    };
    let (stop, closed) = relay(&session, &ws);
    session.borrow_mut().channels.insert(
        channel.clone(),
        OpenSocket {
            attempt,
            ws: ws.clone(),
            relay: stop,
        },
    );
    // The client events held while the channel rejoined go up now, in order.
    execute(&session, held);
    let code = closed.await.unwrap_or(1006);

    let cmds = {
        let mut s = session.borrow_mut();
        if s.channels.get(&channel).map(|o| o.attempt) == Some(attempt) {
            s.channels.remove(&channel);
        }
        s.core.on_channel_closed(&channel, attempt, code, now_ms())
    };
    execute(&session, cmds);
}

/// The upgrade of `open`'s channel socket, with the session's app.
async fn upgrade(
    session: Shared,
    open: Box<OpenChannel>,
) -> std::result::Result<RoomSocket, RoomRefusal> {
    let (env, app_id) = {
        let s = session.borrow();
        (s.env.clone(), s.app_id.clone())
    };
    connect_room(&session, &env, &app_id, &open).await
}

/// Counts a subrequest the glue makes on its own against the session's budget.
fn count_subrequest(session: &Shared) {
    let cmds = session.borrow_mut().core.on_subrequest();
    execute(session, cmds);
}

/// Forwards every frame the room sends to the client, as is, until the socket ends or the
/// relay is stopped; the receiver gets the close code.
fn relay(session: &Shared, ws: &WebSocket) -> (RelayStop, futures_channel::oneshot::Receiver<u16>) {
    let s = session.borrow();
    super::relay::relay(ws, &s.client, &s.relayed)
}

/// The relays reached the cap the session gave them: their frames spend the CPU budget, and
/// the session ends on this very frame.
fn relays_reached_cap(session: &Shared) {
    let cmds = session.borrow_mut().count_relayed();
    execute(session, cmds);
    session.borrow().renew_relay_cap();
}

/// A room's accepted upgrade: its socket, its instance's epoch, and the leaf of a split
/// channel it is in.
struct RoomSocket {
    socket: WebSocket,
    epoch: u64,
    size: u64,
    leaf: Option<u32>,
}

/// Opens the internal socket; on failure, the room's refusal.
async fn connect_room(
    session: &Shared,
    env: &Env,
    app_id: &str,
    open: &OpenChannel,
) -> std::result::Result<RoomSocket, RoomRefusal> {
    let mut join = open.join.clone();
    join.app_id = app_id.to_string();
    let joined = match rooms::subscribe(env, &join).await? {
        // A big channel's room sends new subscribers to one of its leaves: one more upgrade.
        Joined::GoToLeaf(leaf) => {
            count_subrequest(session);
            join.leaf = Some(leaf);
            rooms::subscribe(env, &join).await?
        }
        joined => joined,
    };
    match joined {
        Joined::Socket {
            socket,
            epoch,
            size,
        } => Ok(RoomSocket {
            socket,
            epoch,
            size,
            leaf: join.leaf,
        }),
        Joined::GoToLeaf(_) => Err(RoomRefusal::new(500, "a leaf room sent the subscriber on")),
    }
}
