//! Rejoining a room whose socket closed under the session (its object reset, see
//! `room::contract::rejoin`): the client sees nothing, unless the room cannot be reached
//! again within its deadline (8 s, longer for a big room); then the client is closed with 4200 and pusher-js
//! reconnects and subscribes afresh.

use super::{Command, OpenChannel, Phase, SessionCore};
use crate::protocol::close_codes;
use crate::room::contract::{
    rejoin_deadline_ms, rejoin_spread_ms, Join, Rejoin, TERMINATED_STATUS,
};

/// Client events held per channel while it rejoins; past this, they are refused.
pub(super) const MAX_HELD_EVENTS: usize = 10;

/// A small generator of jitter (xorshift), seeded from the socket id: no two sessions of a
/// reset draw the same delays, and the core stays free of I/O.
#[derive(Debug, Clone)]
pub(super) struct Jitter(u64);

impl Jitter {
    pub(super) fn seeded(socket_id: &str) -> Jitter {
        let seed = socket_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Jitter(seed.max(1))
    }

    /// A number in [0, 1).
    pub(super) fn next(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How long before try `tries` (1: the first): the first spread over `spread_ms` (the jitter,
/// longer for a big room), the next ones backing off (250 ms doubling, at most 2 s), each with
/// some jitter too.
pub(super) fn delay_before(tries: u32, random: f64, spread_ms: f64) -> u32 {
    if tries <= 1 {
        return (random * spread_ms) as u32;
    }
    let backoff = (250u32 << (tries - 2).min(3)).min(2_000);
    backoff / 2 + (random * f64::from(backoff / 2)) as u32
}

/// Whether a refused upgrade may succeed if tried again: the object could not be reached
/// (status 0: it was resetting or overloaded) or failed (5xx). A room's own refusal (a full
/// presence channel, a terminated user) stands.
fn worth_retrying(status: u16) -> bool {
    status == 0 || status >= 500
}

impl SessionCore {
    /// The socket of `channel` closed under the session: rejoin (after the jitter), with the
    /// room's epoch the session knew, so a new instance replays what it missed.
    pub(super) fn rejoin(&mut self, channel: &str, now_ms: f64) -> Vec<Command> {
        if !self.budget.take_subrequest() {
            return self.end_for_budget("subrequest");
        }
        let random = self.jitter.next();
        let limits = &self.app.limits;
        let (max_members, split_at) = (limits.max_presence_members, limits.channel_split_threshold);
        let Some((attempt, sub)) = self.subscriptions.restart(channel, now_ms) else {
            return Vec::new();
        };
        let mut member = sub.member.clone();
        member.attempt = attempt;
        let tries = sub.rejoining.as_ref().map_or(1, |r| r.tries);
        let spread = rejoin_spread_ms(sub.room.size);
        vec![Command::OpenChannel(Box::new(OpenChannel {
            attempt,
            delay_ms: delay_before(tries, random, spread),
            join: Join {
                app_id: String::new(),
                channel: channel.to_string(),
                member,
                max_members,
                split_at,
                leaf: sub.room.leaf,
                rejoin: Some(Rejoin {
                    epoch: sub.room.epoch,
                    size: sub.room.size,
                }),
            },
        }))]
    }

    /// A rejoin's upgrade failed: try again while the deadline allows and the failure may
    /// pass; otherwise the client reconnects (or, terminated meanwhile, is closed as such).
    pub(super) fn rejoin_failed(
        &mut self,
        channel: &str,
        status: u16,
        now_ms: f64,
    ) -> Vec<Command> {
        let sub = self.subscriptions.get(channel);
        let since = sub
            .and_then(|sub| sub.rejoining.as_ref())
            .map_or(now_ms, |r| r.since_ms);
        let deadline = rejoin_deadline_ms(sub.map_or(0, |sub| sub.room.size));
        if worth_retrying(status) && now_ms - since < deadline {
            return self.rejoin(channel, now_ms);
        }
        // Given up: the client's reconnect subscribes afresh.
        self.subscriptions.remove(channel);
        if status == TERMINATED_STATUS {
            return vec![self.terminated()];
        }
        vec![Command::CloseClient {
            code: close_codes::RECONNECT_IMMEDIATELY,
            reason: format!("Lost the connection to channel {channel}; please reconnect"),
        }]
    }

    /// How long to wait before try `tries` to take the connection's place in the ledger
    /// again (its shard, holding `shard_size` places, reset): spread and backed off as a
    /// room's rejoin.
    pub fn place_retry_delay(&mut self, tries: u32, shard_size: u64) -> u32 {
        let random = self.jitter.next();
        delay_before(tries, random, rejoin_spread_ms(shard_size))
    }

    /// Whether `channel` is being rejoined: its client events are held meanwhile.
    pub(super) fn is_rejoining(&self, channel: &str) -> bool {
        self.subscriptions
            .get(channel)
            .is_some_and(|sub| sub.rejoining.is_some() && matches!(sub.phase, Phase::Opening(_)))
    }

    /// Holds a client event until the channel's socket is back; false when too many are held.
    pub(super) fn hold_client_event(&mut self, channel: &str, frame: String) -> bool {
        let Some(rejoining) = self
            .subscriptions
            .get_mut(channel)
            .and_then(|sub| sub.rejoining.as_mut())
        else {
            return false;
        };
        if rejoining.held.len() >= MAX_HELD_EVENTS {
            return false;
        }
        rejoining.held.push(frame);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::contract::REJOIN_JITTER_MS;

    #[test]
    fn jitter_is_uniform_enough_and_differs_per_session() {
        let mut a = Jitter::seeded("123.456");
        let mut b = Jitter::seeded("123.457");
        let draws: Vec<f64> = (0..1_000).map(|_| a.next()).collect();
        assert!(draws.iter().all(|&x| (0.0..1.0).contains(&x)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((0.45..0.55).contains(&mean), "{mean}");
        assert_ne!(a.next(), b.next());
    }

    #[test]
    fn the_first_try_is_spread_and_the_next_back_off() {
        assert_eq!(delay_before(1, 0.0, REJOIN_JITTER_MS), 0);
        assert_eq!(delay_before(1, 0.999, REJOIN_JITTER_MS), 999);
        assert_eq!(
            (delay_before(2, 0.0, 0.0), delay_before(2, 0.999, 0.0)),
            (125, 249)
        );
        assert_eq!(delay_before(3, 0.0, 0.0), 250);
        assert_eq!(delay_before(5, 0.0, 0.0), 1_000);
        assert_eq!(delay_before(40, 0.999, 0.0), 1_999, "capped at 2 s");
        let worst: u32 = (1..=6)
            .map(|t| delay_before(t, 0.999, REJOIN_JITTER_MS))
            .sum();
        assert_eq!(delay_before(1, 0.5, 6_250.0), 3_125, "a big room's spread");
        assert!(
            f64::from(worst) < rejoin_deadline_ms(0),
            "six tries fit the deadline"
        );
    }

    #[test]
    fn only_unreachable_or_failing_rooms_are_tried_again() {
        assert!(worth_retrying(0) && worth_retrying(500) && worth_retrying(503));
        assert!(!worth_retrying(403) && !worth_retrying(410) && !worth_retrying(404));
    }
}
