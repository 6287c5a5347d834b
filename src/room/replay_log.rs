//! What a room sent to all its subscribers while some of them may come back for it, so a
//! session that rejoins gets what it missed (see `contract::rejoin`):
//! - a new instance's first moments (everything, for the sessions of the instance before,
//!   which rejoin within `REJOIN_WINDOW_MS`);
//! - what followed a socket whose session went silent (its socket closed with no word: the
//!   link between the session and the room broke, or the session is gone), from the moment
//!   the room noticed, for as long as its session may rejoin.
//!
//! Every frame sent to all has a sequence number, recorded or not, so a rejoin knows what it
//! missed and what of that the log no longer holds. The log records only while a rejoin may
//! come and then frees itself: a long-lived room keeps nothing. It is capped in bytes; past
//! the cap the oldest entries go, and a rejoin then hears how many it lost. Generic over the
//! frame (a JavaScript string in the room), so it is tested natively.

use std::collections::VecDeque;

/// A room's log holds at most this many bytes of frames (a publish is at most 10 KB by
/// default: ~100 of them, or 5 s of a busy channel at 20 events per second).
pub const REPLAY_LOG_MAX_BYTES: usize = 1 << 20;

/// At most this many silent sockets are remembered at once (the oldest are forgotten: their
/// rejoin then replays nothing and loses what they missed).
pub const MAX_MARKS: usize = 20_000;

struct Entry<F> {
    seq: u64,
    frame: F,
    bytes: usize,
    /// What a rejoin's replay filters by: in a room, the socket a publish left out (the REST
    /// `socket_id` exclusion); in a directory shard, the user a notice is about.
    tag: Option<String>,
}

pub struct ReplayLog<F> {
    entries: VecDeque<Entry<F>>,
    bytes: usize,
    max_bytes: usize,
    /// Recording stops (and the log empties) at this time.
    until_ms: f64,
    /// The sequence number of the next frame sent to all.
    next_seq: u64,
    /// Silent sockets (by socket id) and the first frame each may have missed, oldest first.
    marks: Vec<(String, u64)>,
}

/// Where a rejoin's replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// The instance's start: the session knew the instance before.
    Start,
    /// Where the room noticed the socket's session go silent (the same instance).
    Mark,
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
            next_seq: 0,
            marks: Vec::new(),
        }
    }

    /// A log that records nothing until a socket goes silent (an instance woken from
    /// hibernation: its sockets' sessions were never away).
    pub fn off() -> ReplayLog<F> {
        ReplayLog::recording(f64::NEG_INFINITY, REPLAY_LOG_MAX_BYTES)
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

    /// Records a frame sent at `now_ms`, with its tag (see `Entry::tag`).
    pub fn record(&mut self, frame: F, bytes: usize, tag: Option<&str>, now_ms: f64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if !self.is_recording(now_ms) {
            self.stop();
            return;
        }
        self.entries.push_back(Entry {
            seq,
            frame,
            bytes,
            tag: tag.map(str::to_string),
        });
        self.bytes += bytes;
        while self.bytes > self.max_bytes {
            match self.entries.pop_front() {
                Some(oldest) => self.bytes -= oldest.bytes,
                None => break,
            }
        }
    }

    /// A frame sent to all while the log is not recording: counted, not kept.
    pub fn pass(&mut self) {
        self.next_seq += 1;
        self.stop();
    }

    /// The session of socket `socket_id` went silent at `now_ms`: what follows is kept for
    /// `for_ms`, for its rejoin.
    pub fn mark(&mut self, socket_id: &str, now_ms: f64, for_ms: f64) {
        if !self.is_recording(now_ms) {
            self.stop();
        }
        self.until_ms = self.until_ms.max(now_ms + for_ms);
        self.marks.retain(|(id, _)| id != socket_id);
        if self.marks.len() >= MAX_MARKS {
            self.marks.remove(0);
        }
        self.marks.push((socket_id.to_string(), self.next_seq));
    }

    /// Frees the log (its window is over, no rejoin can come for it).
    pub fn stop(&mut self) {
        if !self.entries.is_empty() {
            self.entries = VecDeque::new();
            self.bytes = 0;
        }
        if !self.marks.is_empty() {
            self.marks = Vec::new();
        }
    }

    /// What the socket `socket_id` missed, in order, `since` the instance's start or its mark:
    /// everything recorded from there whose tag it `wants`, and how many frames from there the
    /// log no longer holds (or never held). A socket without a mark missed nothing known (it
    /// came back before the room noticed it was gone).
    pub fn replay_for(
        &mut self,
        socket_id: &str,
        now_ms: f64,
        since: Since,
        wants: impl Fn(Option<&str>) -> bool,
    ) -> Replay<'_, F> {
        if !self.is_recording(now_ms) {
            self.stop();
        }
        let from = match since {
            Since::Start => Some(0),
            Since::Mark => {
                let at = self.marks.iter().position(|(id, _)| id == socket_id);
                at.map(|at| self.marks.remove(at).1)
            }
        };
        let Some(from) = from else {
            return Replay {
                frames: Vec::new(),
                lost: 0,
            };
        };
        let oldest = self.entries.front().map_or(self.next_seq, |e| e.seq);
        let frames = self
            .entries
            .iter()
            .filter(|e| e.seq >= from && wants(e.tag.as_deref()))
            .map(|e| &e.frame)
            .collect();
        Replay {
            frames,
            lost: oldest.saturating_sub(from),
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

    /// A room's filter: everything but what left socket `socket_id` out.
    fn but(socket_id: &str) -> impl Fn(Option<&str>) -> bool + '_ {
        move |excluded| excluded != Some(socket_id)
    }

    fn frames(replay: &Replay<'_, String>) -> Vec<String> {
        replay.frames.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn a_rejoin_gets_everything_in_order_but_what_left_it_out() {
        let mut log = ReplayLog::recording(10_000.0, 1_000);
        log.record("a".to_string(), 1, None, 1.0);
        log.record("b".to_string(), 1, Some("1.1"), 2.0);
        log.record("c".to_string(), 1, None, 3.0);
        let replay = log.replay_for("1.1", 4.0, Since::Start, but("1.1"));
        assert_eq!(frames(&replay), ["a", "c"]);
        assert_eq!(replay.lost, 0);
        assert_eq!(
            frames(&log.replay_for("2.2", 4.0, Since::Start, but("2.2"))),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn past_the_cap_the_oldest_go_and_are_counted() {
        let mut log = ReplayLog::recording(10_000.0, 10);
        for (n, frame) in ["aaaa", "bbbb", "cccc"].iter().enumerate() {
            log.record(frame.to_string(), 4, None, n as f64);
        }
        let replay = log.replay_for("1.1", 5.0, Since::Start, but("1.1"));
        assert_eq!(frames(&replay), ["bbbb", "cccc"]);
        assert_eq!(replay.lost, 1);
        assert_eq!(log.bytes(), 8);
        let mut tiny = ReplayLog::recording(10_000.0, 2);
        tiny.record("too big".to_string(), 7, None, 1.0);
        assert_eq!(
            tiny.replay_for("1.1", 2.0, Since::Start, but("1.1")).lost,
            1
        );
        assert_eq!(tiny.bytes(), 0);
    }

    #[test]
    fn after_its_window_the_log_frees_itself_and_records_nothing() {
        let mut log = ReplayLog::recording(100.0, 1_000);
        log.record("a".to_string(), 1, None, 50.0);
        assert!(log.is_recording(99.0));
        log.record("late".to_string(), 4, None, 100.0);
        assert_eq!(log.bytes(), 0);
        assert!(log
            .replay_for("1.1", 150.0, Since::Start, but("1.1"))
            .frames
            .is_empty());
        let mut off: ReplayLog<String> = ReplayLog::off();
        off.record("a".to_string(), 1, None, 0.0);
        assert!(off
            .replay_for("1.1", 0.0, Since::Start, but("1.1"))
            .frames
            .is_empty());
        off.extend(1e9, 0.0);
        assert!(
            !off.is_recording(1.0),
            "a log that is off stays off when widened"
        );
        let mut big: ReplayLog<String> = ReplayLog::recording(100.0, 1_000);
        big.extend(500.0, 50.0);
        big.extend(200.0, 60.0);
        assert!(
            big.is_recording(499.0) && !big.is_recording(500.0),
            "extended, never shortened"
        );
    }

    #[test]
    fn a_silent_socket_gets_what_followed_its_mark_once() {
        let mut log: ReplayLog<String> = ReplayLog::off();
        log.pass();
        log.pass();
        assert!(!log.is_recording(10.0), "a woken instance keeps nothing");
        log.mark("1.1", 10.0, 100.0);
        log.record("c".to_string(), 1, None, 20.0);
        log.record("d".to_string(), 1, Some("1.1"), 30.0);
        log.mark("2.2", 35.0, 100.0);
        log.record("e".to_string(), 1, None, 40.0);
        let replay = log.replay_for("1.1", 50.0, Since::Mark, but("1.1"));
        assert_eq!(
            frames(&replay),
            ["c", "e"],
            "from its mark, but what left it out"
        );
        assert_eq!(replay.lost, 0);
        assert!(
            log.replay_for("1.1", 51.0, Since::Mark, but("1.1"))
                .frames
                .is_empty(),
            "a mark is used once"
        );
        assert_eq!(
            frames(&log.replay_for("2.2", 52.0, Since::Mark, but("2.2"))),
            ["e"]
        );
        let unmarked = log.replay_for("3.3", 53.0, Since::Mark, but("3.3"));
        assert!(
            unmarked.frames.is_empty() && unmarked.lost == 0,
            "never noticed gone"
        );
    }

    #[test]
    fn a_mark_keeps_the_log_for_its_time_and_counts_what_the_cap_took() {
        let mut log = ReplayLog::recording(0.0, 8);
        log.mark("1.1", 0.0, 100.0);
        for (n, frame) in ["aaaa", "bbbb", "cccc"].iter().enumerate() {
            log.record(frame.to_string(), 4, None, n as f64);
        }
        let replay = log.replay_for("1.1", 5.0, Since::Mark, but("1.1"));
        assert_eq!(frames(&replay), ["bbbb", "cccc"]);
        assert_eq!(replay.lost, 1, "the oldest went for the cap");
        log.mark("2.2", 10.0, 100.0);
        log.record("late".to_string(), 4, None, 110.0);
        assert_eq!(log.bytes(), 0, "past the mark's time the log frees itself");
        let expired = log.replay_for("2.2", 111.0, Since::Mark, but("2.2"));
        assert!(expired.frames.is_empty());
        let mut many: ReplayLog<String> = ReplayLog::off();
        for n in 0..=MAX_MARKS {
            many.mark(&n.to_string(), 0.0, 100.0);
        }
        assert!(
            many.replay_for("0", 1.0, Since::Mark, but("0")).lost == 0,
            "the oldest mark forgotten"
        );
        many.record("x".to_string(), 1, None, 2.0);
        assert_eq!(
            frames(&many.replay_for("1", 3.0, Since::Mark, but("1"))),
            ["x"]
        );
    }

    #[test]
    fn a_late_rejoin_across_instances_counts_everything_it_missed() {
        let mut log = ReplayLog::recording(100.0, 1_000);
        log.record("a".to_string(), 1, None, 50.0);
        log.pass();
        let late = log.replay_for("1.1", 150.0, Since::Start, but("1.1"));
        assert!(late.frames.is_empty());
        assert_eq!(late.lost, 2);
    }
}
