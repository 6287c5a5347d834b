//! A fixed-window rate limit: at most `max` actions per window, the window restarting at the
//! first action after it ran out. Used for client events per second and subscribes per minute.

#[derive(Debug, Clone)]
pub(super) struct RateWindow {
    length_ms: f64,
    max: u32,
    started_ms: f64,
    count: u32,
}

impl RateWindow {
    pub(super) fn new(length_ms: f64, max: u32, now_ms: f64) -> Self {
        RateWindow {
            length_ms,
            max,
            started_ms: now_ms,
            count: 0,
        }
    }

    /// A new limit, from the next action on (the window's count so far stays).
    pub(super) fn set_max(&mut self, max: u32) {
        self.max = max;
    }

    /// Counts one action (refused ones too); false past `max` in the current window.
    pub(super) fn allow(&mut self, now_ms: f64) -> bool {
        if now_ms - self.started_ms >= self.length_ms {
            self.started_ms = now_ms;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count <= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_per_window_then_refuses_until_the_window_ends() {
        let mut w = RateWindow::new(1000.0, 2, 0.0);
        assert!(w.allow(0.0));
        assert!(w.allow(500.0));
        assert!(!w.allow(999.0));
        assert!(w.allow(1000.0));
        assert!(w.allow(1500.0));
        assert!(!w.allow(1999.0));
    }

    #[test]
    fn the_window_restarts_at_the_first_action_after_it() {
        let mut w = RateWindow::new(60_000.0, 1, 0.0);
        assert!(w.allow(0.0));
        // A new window from 90 s, not from 60 s: the action at 149 s is still in it.
        assert!(w.allow(90_000.0));
        assert!(!w.allow(149_999.0));
        assert!(w.allow(150_000.0));
    }

    #[test]
    fn refused_actions_count_too() {
        let mut w = RateWindow::new(1000.0, 1, 0.0);
        assert!(w.allow(0.0));
        for t in [1.0, 2.0, 3.0] {
            assert!(!w.allow(t));
        }
        assert!(w.allow(1000.0));
    }
}
