//! What a room instance sent to all its subscribers in its first moments, so sessions that
//! rejoin it after a reset get what they missed (see `contract::rejoin`).
//!
//! Sessions rejoin within `REJOIN_WINDOW_MS` of the new instance's start, so the log records
//! only for that long and then frees itself: a long-lived room keeps nothing. It is capped in
//! bytes; past the cap the oldest entries go, and a rejoin then hears how many it lost.
//! Generic over the frame (a JavaScript string in the room), so it is tested natively.

use std::collections::VecDeque;

/// A room's log holds at most this many bytes of frames (a publish is at most 10 KB by
/// default: ~100 of them, or 5 s of a busy channel at 20 events per second).
pub const REPLAY_LOG_MAX_BYTES: usize = 1 << 20;

struct Entry<F> {
    frame: F,
    bytes: usize,
    /// A publish that left this socket out (the REST `socket_id` exclusion).
    exclude: Option<String>,
}

pub struct ReplayLog<F> {
    entries: VecDeque<Entry<F>>,
    bytes: usize,
    max_bytes: usize,
    /// Recording stops (and the log empties) at this time.
    until_ms: f64,
    /// Entries dropped for the cap: every rejoin lost them.
    dropped: u64,
}

/// What a rejoining socket is sent, and how many frames it lost for the cap or because the
/// log was no longer recording.
pub struct Replay<'a, F> {
    pub frames: Vec<&'a F>,
    pub lost: u64,
}

impl<F> ReplayLog<F> {
    /// A log that records until `until_ms`, at most `max_bytes` at once.
    pub fn recording(until_ms: f64, max_bytes: usize) -> ReplayLog<F> {
        ReplayLog {
            entries: VecDeque::new(),
            bytes: 0,
            max_bytes,
            until_ms,
            dropped: 0,
        }
    }

    /// A log that records nothing (an instance woken from hibernation: its sockets' sessions
    /// were never away).
    pub fn off() -> ReplayLog<F> {
        ReplayLog::recording(f64::NEG_INFINITY, 0)
    }

    pub fn is_recording(&self, now_ms: f64) -> bool {
        now_ms < self.until_ms
    }

    /// Records until `until_ms` at least, if it is still recording at `now_ms` (a log that
    /// stopped has lost what came since, and stays stopped).
    pub fn extend(&mut self, until_ms: f64, now_ms: f64) {
        if self.is_recording(now_ms) {
            self.until_ms = self.until_ms.max(until_ms);
        }
    }

    /// Records a frame sent to all subscribers (but `exclude`) at `now_ms`.
    pub fn record(&mut self, frame: F, bytes: usize, exclude: Option<&str>, now_ms: f64) {
        if !self.is_recording(now_ms) {
            self.stop();
            return;
        }
        self.entries.push_back(Entry {
            frame,
            bytes,
            exclude: exclude.map(str::to_string),
        });
        self.bytes += bytes;
        while self.bytes > self.max_bytes {
            match self.entries.pop_front() {
                Some(oldest) => {
                    self.bytes -= oldest.bytes;
                    self.dropped += 1;
                }
                None => break,
            }
        }
    }

    /// Frees the log once its window is over.
    pub fn stop(&mut self) {
        if !self.entries.is_empty() {
            self.entries = VecDeque::new();
            self.bytes = 0;
        }
    }

    /// What the socket `socket_id` missed, in order: everything recorded but what left it out.
    /// After the window, nothing can be replayed: the rejoin is late, and lost what was sent.
    pub fn replay_for(&mut self, socket_id: &str, now_ms: f64) -> Replay<'_, F> {
        if !self.is_recording(now_ms) {
            self.stop();
        }
        let frames = self
            .entries
            .iter()
            .filter(|e| e.exclude.as_deref() != Some(socket_id))
            .map(|e| &e.frame)
            .collect();
        Replay {
            frames,
            lost: self.dropped,
        }
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(replay: &Replay<'_, String>) -> Vec<String> {
        replay.frames.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn a_rejoin_gets_everything_in_order_but_what_left_it_out() {
        let mut log = ReplayLog::recording(10_000.0, 1_000);
        log.record("a".to_string(), 1, None, 1.0);
        log.record("b".to_string(), 1, Some("1.1"), 2.0);
        log.record("c".to_string(), 1, None, 3.0);
        let replay = log.replay_for("1.1", 4.0);
        assert_eq!(frames(&replay), ["a", "c"]);
        assert_eq!(replay.lost, 0);
        assert_eq!(frames(&log.replay_for("2.2", 4.0)), ["a", "b", "c"]);
    }

    #[test]
    fn past_the_cap_the_oldest_go_and_are_counted() {
        let mut log = ReplayLog::recording(10_000.0, 10);
        for (n, frame) in ["aaaa", "bbbb", "cccc"].iter().enumerate() {
            log.record(frame.to_string(), 4, None, n as f64);
        }
        let replay = log.replay_for("1.1", 5.0);
        assert_eq!(frames(&replay), ["bbbb", "cccc"]);
        assert_eq!(replay.lost, 1);
        assert_eq!(log.bytes(), 8);
        let mut tiny = ReplayLog::recording(10_000.0, 2);
        tiny.record("too big".to_string(), 7, None, 1.0);
        assert_eq!(tiny.replay_for("1.1", 2.0).lost, 1);
        assert_eq!(tiny.bytes(), 0);
    }

    #[test]
    fn after_its_window_the_log_frees_itself_and_records_nothing() {
        let mut log = ReplayLog::recording(100.0, 1_000);
        log.record("a".to_string(), 1, None, 50.0);
        assert!(log.is_recording(99.0));
        log.record("late".to_string(), 4, None, 100.0);
        assert_eq!(log.bytes(), 0);
        assert!(log.replay_for("1.1", 150.0).frames.is_empty());
        let mut off: ReplayLog<String> = ReplayLog::off();
        off.record("a".to_string(), 1, None, 0.0);
        assert!(off.replay_for("1.1", 0.0).frames.is_empty());
        off.extend(1e9, 0.0);
        assert!(!off.is_recording(1.0), "a log that is off stays off");
        let mut big: ReplayLog<String> = ReplayLog::recording(100.0, 1_000);
        big.extend(500.0, 50.0);
        big.extend(200.0, 60.0);
        assert!(
            big.is_recording(499.0) && !big.is_recording(500.0),
            "extended, never shortened"
        );
    }
}
