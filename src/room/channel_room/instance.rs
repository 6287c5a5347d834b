//! This instance of the room: its epoch, when it started, and the log of what it sent all its
//! subscribers while a session may rejoin for it (see `contract::rejoin` and `replay_log`).

use crate::room::contract::{new_epoch, rejoin_window_ms, REJOIN_WINDOW_MS};
use crate::room::frame_send::Frame;
use crate::room::replay_log::{ReplayLog, Since, REPLAY_LOG_MAX_BYTES};
use worker::WebSocket;

pub(super) struct Instance {
    pub(super) epoch: u64,
    /// When the instance first read its sockets (its first request or socket event).
    pub(super) started_ms: f64,
    /// How long after its start it waits for the sessions of the instance before: longer for
    /// a big room, whose sessions spread their rejoins longer (their joins say its size).
    pub(super) window_ms: f64,
    log: ReplayLog<Frame>,
}

impl Instance {
    /// The instance's start: with hibernated sockets (`adopted`: their epoch), it is the same
    /// room woken up and keeps their epoch, and its sessions were never away; without, it is
    /// new (a first subscriber, or a reset that closed every socket) and logs what it sends
    /// for the sessions that come back.
    pub(super) fn begin(adopted: Option<u64>, now_ms: f64) -> Instance {
        match adopted.filter(|&epoch| epoch != 0) {
            Some(epoch) => Instance {
                epoch,
                started_ms: now_ms,
                window_ms: REJOIN_WINDOW_MS,
                log: ReplayLog::off(),
            },
            None => Instance {
                epoch: new_epoch(js_sys::Math::random()),
                started_ms: now_ms,
                window_ms: REJOIN_WINDOW_MS,
                log: ReplayLog::recording(now_ms + REJOIN_WINDOW_MS, REPLAY_LOG_MAX_BYTES),
            },
        }
    }

    /// A rejoin said the room had `size` subscribers: wait for its sessions long enough.
    pub(super) fn widen(&mut self, size: u64, now_ms: f64) {
        self.window_ms = self.window_ms.max(rejoin_window_ms(size));
        self.log.extend(self.started_ms + self.window_ms, now_ms);
    }

    /// When the window ends.
    pub(super) fn window_end_ms(&self) -> f64 {
        self.started_ms + self.window_ms
    }

    /// A frame sent to every subscriber but `exclude`.
    pub(super) fn record(&mut self, frame: &Frame, bytes: usize, exclude: Option<&str>, now: f64) {
        // No copy of the frame while no rejoin can come for it (most of a room's life).
        match self.log.is_recording(now) {
            true => self.log.record(frame.clone(), bytes, exclude, now),
            false => self.log.pass(),
        }
    }

    /// The session of socket `socket_id` went silent: what is sent from now on is kept for
    /// its rejoin, as long as the session may still come back.
    pub(super) fn mark_silent(&mut self, socket_id: &str, now: f64) {
        self.log.mark(socket_id, now, REJOIN_WINDOW_MS);
    }

    /// Sends the rejoining socket `socket_id` what it missed `since` the instance's start or
    /// its session went silent; returns how many frames it lost.
    pub(super) fn replay_to(
        &mut self,
        ws: &WebSocket,
        socket_id: &str,
        now: f64,
        since: Since,
    ) -> u64 {
        let replay = self.log.replay_for(socket_id, now, since, |excluded| {
            excluded != Some(socket_id)
        });
        for frame in replay.frames {
            frame.send_to(ws);
        }
        replay.lost
    }
}
