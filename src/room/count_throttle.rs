//! When to broadcast `pusher_internal:subscription_count`: at once on small channels, at
//! most every 5 s on channels above 100 subscribers (Pusher's rule).

/// Channels above this many subscribers get throttled counts.
pub const THROTTLE_ABOVE: usize = 100;
/// Minimum interval between counts on a throttled channel.
pub const THROTTLE_INTERVAL_MS: f64 = 5_000.0;

#[derive(Debug, PartialEq)]
pub enum CountAction {
    SendNow,
    /// Send at this time (set an alarm), unless one is already scheduled.
    SendAt(f64),
    /// A send is already scheduled.
    Wait,
}

#[derive(Debug, Default)]
pub struct CountThrottle {
    last_sent_ms: Option<f64>,
    scheduled: bool,
}

impl CountThrottle {
    /// The count changed to `count` at `now_ms`.
    pub fn on_change(&mut self, count: usize, now_ms: f64) -> CountAction {
        let due = self
            .last_sent_ms
            .map_or(now_ms, |t| t + THROTTLE_INTERVAL_MS);
        if count <= THROTTLE_ABOVE || now_ms >= due {
            if self.scheduled {
                return CountAction::Wait;
            }
            self.last_sent_ms = Some(now_ms);
            return CountAction::SendNow;
        }
        if self.scheduled {
            CountAction::Wait
        } else {
            self.scheduled = true;
            CountAction::SendAt(due)
        }
    }

    /// When the scheduled send is due, if one is scheduled.
    pub fn scheduled_at(&self) -> Option<f64> {
        self.scheduled
            .then(|| self.last_sent_ms.unwrap_or(0.0) + THROTTLE_INTERVAL_MS)
    }

    /// The scheduled send happened.
    pub fn on_scheduled_send(&mut self, now_ms: f64) {
        self.scheduled = false;
        self.last_sent_ms = Some(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_channels_send_every_change() {
        let mut t = CountThrottle::default();
        for i in 0..5 {
            assert_eq!(t.on_change(i, i as f64), CountAction::SendNow);
        }
    }

    #[test]
    fn big_channels_send_at_most_every_five_seconds() {
        let mut t = CountThrottle::default();
        assert_eq!(t.on_change(101, 0.0), CountAction::SendNow);
        assert_eq!(t.scheduled_at(), None);
        assert_eq!(t.on_change(102, 1000.0), CountAction::SendAt(5000.0));
        assert_eq!(t.scheduled_at(), Some(5000.0));
        assert_eq!(t.on_change(103, 2000.0), CountAction::Wait);
        t.on_scheduled_send(5000.0);
        assert_eq!(t.on_change(104, 6000.0), CountAction::SendAt(10_000.0));
        t.on_scheduled_send(10_000.0);
        assert_eq!(t.on_change(105, 20_000.0), CountAction::SendNow);
        // Dropping back under the threshold sends at once again (unless a send is pending).
        assert_eq!(t.on_change(100, 20_001.0), CountAction::SendNow);
    }
}
