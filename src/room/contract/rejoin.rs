//! Rejoining a room after its object reset: what a session and a room agree on so the client
//! sees nothing of it.
//!
//! A room instance has an *epoch*, a random number drawn when the instance starts without
//! hibernated sockets (an instance woken from hibernation keeps its sockets' epoch, kept in
//! their attachments). The room's answer to an upgrade carries it in [`EPOCH_HEADER`]. When
//! the session's socket closes under it (anything but a terminate), it upgrades again with a
//! [`Rejoin`] naming the epoch it knew. The room then sends nothing a first join sends (no
//! `subscription_succeeded`, no cached event, no `member_added`, no count) and first replays
//! what the session missed: if its epoch differs (a new instance), what this instance sent to
//! all its subscribers since it started; if it is the same (the socket broke while the room
//! lived on: [`Departure::Silent`]), what it sent since it noticed the socket go silent.
//! Everything happens in one synchronous step, so nothing is sent twice or skipped between the
//! replay and the socket's listing.
//!
//! Versions: a session of the release before sends no `rejoin` (a first join, as before), and
//! a room of the release before ignores it (the client then sees one more
//! `subscription_succeeded`, which pusher-js takes as a no-op) and sends no epoch (the
//! session then knows none, and asks for the whole replay next time).

use serde::{Deserialize, Serialize};

/// Response header of a room's (or directory shard's) accepted upgrade: its epoch.
pub const EPOCH_HEADER: &str = "x-room-epoch";

/// Response header of a room's accepted upgrade: its subscribers, the new one included. The
/// session spreads a rejoin of that room over [`rejoin_spread_ms`] of it.
pub const SIZE_HEADER: &str = "x-room-size";

/// How long after a room instance starts (its first request) it waits for the sessions of
/// the instance before to rejoin: presence members missing by then are removed (with
/// `member_removed` and their webhook), and the departures webhook receivers were promised
/// fall due. Sessions give up rejoining well before ([`REJOIN_DEADLINE_MS`]).
pub const REJOIN_WINDOW_MS: f64 = 10_000.0;

/// How long a session keeps trying to rejoin a room after its socket closed, before it closes
/// its client with 4200 (pusher-js reconnects and subscribes afresh).
pub const REJOIN_DEADLINE_MS: f64 = 8_000.0;

/// A session spreads its rejoins over this long (uniformly), so a reset's thousands of
/// sessions do not reach the new instance in the same millisecond.
pub const REJOIN_JITTER_MS: f64 = 1_000.0;

/// Rejoins per second a room's new instance should get at most (a Durable Object takes about
/// 1,000 requests per second): a room's sessions spread theirs over its size divided by this.
pub const REJOINS_PER_SECOND: f64 = 800.0;

/// The longest spread: a room at the split threshold (16,000 subscribers) takes 20 s.
pub const MAX_REJOIN_SPREAD_MS: f64 = 20_000.0;

/// Over how long the sessions of a room of `size` subscribers spread their rejoins: at least
/// the jitter, longer for a big room (at most [`MAX_REJOIN_SPREAD_MS`]).
pub fn rejoin_spread_ms(size: u64) -> f64 {
    (size as f64 * 1000.0 / REJOINS_PER_SECOND).clamp(REJOIN_JITTER_MS, MAX_REJOIN_SPREAD_MS)
}

/// How long after its socket closed a session of a room of `size` keeps trying to rejoin:
/// its spread, then the tries of [`REJOIN_DEADLINE_MS`] past the jitter.
pub fn rejoin_deadline_ms(size: u64) -> f64 {
    rejoin_spread_ms(size) - REJOIN_JITTER_MS + REJOIN_DEADLINE_MS
}

/// How long a new instance of a room of `size` waits for its sessions (replay log, absent
/// presence members): its sessions' deadline, and 2 s more.
pub fn rejoin_window_ms(size: u64) -> f64 {
    rejoin_deadline_ms(size) - REJOIN_DEADLINE_MS + REJOIN_WINDOW_MS
}

/// The close code a session gives a room socket when its client went away without a clean
/// close (no close frame: a network drop noticed by the pong timeout or a reset socket): a
/// presence room may then keep the member for the app's grace period. Internal only: it is
/// never sent to a client.
pub const CLIENT_LOST_CLOSE: u16 = 4500;

/// How a room's socket left, read from its close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// Its session closed it (1000: an unsubscribe, its client's clean close), or the app
    /// terminated the user.
    Clean,
    /// Its session said its client was lost ([`CLIENT_LOST_CLOSE`]): a presence room keeps
    /// the member for the app's grace period.
    ClientLost,
    /// It closed with no word from its session (1006, an error): the link between them broke,
    /// or the session is gone. The session may rejoin this same instance: the room holds the
    /// member as for a reset and keeps what it sends meanwhile for the rejoin.
    Silent,
}

impl Departure {
    pub fn of_close(code: usize) -> Departure {
        match code {
            1000 => Departure::Clean,
            c if c == usize::from(CLIENT_LOST_CLOSE) => Departure::ClientLost,
            _ => Departure::Silent,
        }
    }
}

/// A join's rejoin: the room's epoch the session last knew (0: none), and its size then, so
/// the new instance waits long enough for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejoin {
    #[serde(rename = "e", default)]
    pub epoch: u64,
    #[serde(rename = "z", default, skip_serializing_if = "is_zero")]
    pub size: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A number in an upgrade's answer header (0: none, a room of the release before).
pub fn number_from_header(value: Option<&str>) -> u64 {
    value.and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A new epoch from a random number in [0, 1): 53 random bits, never 0.
pub fn new_epoch(random: f64) -> u64 {
    let bits = (random.clamp(0.0, 1.0) * 9_007_199_254_740_992.0) as u64;
    bits.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_never_zero_and_travel_as_decimal() {
        assert_eq!(new_epoch(0.0), 1);
        assert!(new_epoch(0.5) > 1 << 50);
        assert!(new_epoch(0.999_999) < 1 << 53);
        let epoch = new_epoch(0.123);
        let _ = Rejoin { epoch, size: 0 };
        assert_eq!(number_from_header(Some(&epoch.to_string())), epoch);
        assert_eq!(number_from_header(None), 0);
        assert_eq!(number_from_header(Some("x")), 0);
    }

    #[test]
    fn a_big_room_is_rejoined_over_longer_and_waited_for_accordingly() {
        for small in [0, 1, 800] {
            assert_eq!(rejoin_spread_ms(small), REJOIN_JITTER_MS);
            assert_eq!(rejoin_deadline_ms(small), REJOIN_DEADLINE_MS);
            assert_eq!(rejoin_window_ms(small), REJOIN_WINDOW_MS);
        }
        assert_eq!(rejoin_spread_ms(5_000), 6_250.0, "800 a second");
        assert_eq!(rejoin_spread_ms(16_000), MAX_REJOIN_SPREAD_MS);
        assert_eq!(rejoin_spread_ms(1_000_000), MAX_REJOIN_SPREAD_MS);
        for size in [5_000, 16_000] {
            assert!(rejoin_deadline_ms(size) > rejoin_spread_ms(size) + 5_000.0);
            assert!(rejoin_window_ms(size) > rejoin_deadline_ms(size));
        }
    }

    #[test]
    fn only_a_session_s_own_closes_are_words() {
        assert_eq!(Departure::of_close(1000), Departure::Clean);
        assert_eq!(Departure::of_close(4500), Departure::ClientLost);
        for silent in [1001, 1005, 1006, 1011, 4009, 0] {
            assert_eq!(Departure::of_close(silent), Departure::Silent, "{silent}");
        }
    }

    // The window outlasts the sessions' tries, and the jitter leaves time for retries.
    const _: () = assert!(REJOIN_DEADLINE_MS < REJOIN_WINDOW_MS);
    const _: () = assert!(REJOIN_JITTER_MS < REJOIN_DEADLINE_MS / 4.0);
}
