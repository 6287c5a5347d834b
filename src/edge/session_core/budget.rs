//! A session's share of one Worker invocation: its subrequests and an estimate of its CPU
//! time (a fixed cost per frame handled or relayed). When either is spent the session ends,
//! once, so the client reconnects on a fresh invocation with fresh budgets.

use crate::protocol::limits::{Limits, SESSION_CPU_CEILING_MS};

#[derive(Debug, Clone)]
pub(super) struct Budget {
    subrequest_budget: u32,
    cpu_budget_micros: u64,
    cpu_micros_per_frame: u64,
    subrequests: u32,
    frames: u64,
    /// The session already asked to be closed for a spent budget.
    ending: bool,
}

impl Budget {
    pub(super) fn new(limits: &Limits) -> Self {
        Budget {
            subrequest_budget: limits.session_subrequest_budget,
            cpu_budget_micros: u64::from(limits.session_cpu_budget_ms.min(SESSION_CPU_CEILING_MS))
                * 1000,
            cpu_micros_per_frame: u64::from(limits.session_cpu_micros_per_frame),
            subrequests: 0,
            frames: 0,
            ending: false,
        }
    }

    /// `frames` more frames were handled (from the client) or relayed (to it).
    pub(super) fn count_frames(&mut self, frames: u64) {
        self.frames += frames;
    }

    /// Takes one subrequest; false (and nothing taken) when the budget is spent.
    pub(super) fn take_subrequest(&mut self) -> bool {
        if self.subrequests >= self.subrequest_budget {
            return false;
        }
        self.subrequests += 1;
        true
    }

    fn estimated_cpu_micros(&self) -> u64 {
        self.frames * self.cpu_micros_per_frame
    }

    /// Frames that may still be counted before the CPU estimate reaches the budget (the
    /// last of them reaches it); `None` when frames cost nothing (no CPU budget to spend).
    pub(super) fn frames_until_spent(&self) -> Option<u64> {
        if self.cpu_micros_per_frame == 0 {
            return None;
        }
        let left = self
            .cpu_budget_micros
            .saturating_sub(self.estimated_cpu_micros());
        Some(left.div_ceil(self.cpu_micros_per_frame))
    }

    /// The CPU estimate reached the budget.
    pub(super) fn cpu_spent(&self) -> bool {
        self.estimated_cpu_micros() >= self.cpu_budget_micros
    }

    /// The CPU estimate reached half the budget: enough to believe the runtime's CPU-limit
    /// signal (shared by every session of the isolate) may be this session's.
    pub(super) fn cpu_half_spent(&self) -> bool {
        self.estimated_cpu_micros() * 2 >= self.cpu_budget_micros
    }

    /// True the first time only: a sign-in's several opens may each find the budget spent,
    /// and the session is closed once.
    pub(super) fn start_ending(&mut self) -> bool {
        !std::mem::replace(&mut self.ending, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(subrequests: u32, cpu_ms: u32, micros_per_frame: u32) -> Budget {
        Budget::new(&Limits {
            session_subrequest_budget: subrequests,
            session_cpu_budget_ms: cpu_ms,
            session_cpu_micros_per_frame: micros_per_frame,
            ..Limits::default()
        })
    }

    #[test]
    fn subrequests_are_taken_up_to_the_budget() {
        let mut b = budget(2, 1, 100);
        assert!(b.take_subrequest());
        assert!(b.take_subrequest());
        assert!(!b.take_subrequest());
        assert!(!b.take_subrequest());
    }

    #[test]
    fn the_cpu_estimate_is_frames_times_the_cost_of_one() {
        let mut b = budget(2, 1, 100);
        b.count_frames(4);
        assert!(!b.cpu_half_spent());
        b.count_frames(1);
        assert!(b.cpu_half_spent() && !b.cpu_spent());
        b.count_frames(4);
        assert!(!b.cpu_spent());
        b.count_frames(1);
        assert!(b.cpu_spent());
    }

    #[test]
    fn frames_until_spent_counts_down_to_the_frame_that_spends_it() {
        let mut b = budget(2, 1, 300);
        // 1,000 µs at 300 µs a frame: the 4th frame spends it.
        assert_eq!(b.frames_until_spent(), Some(4));
        b.count_frames(3);
        assert_eq!(b.frames_until_spent(), Some(1));
        assert!(!b.cpu_spent());
        b.count_frames(1);
        assert!(b.cpu_spent());
        assert_eq!(b.frames_until_spent(), Some(0));
        assert_eq!(budget(2, 1, 0).frames_until_spent(), None);
    }

    #[test]
    fn ending_starts_once() {
        let mut b = budget(1, 1, 100);
        assert!(b.start_ending());
        assert!(!b.start_ending());
    }
}
