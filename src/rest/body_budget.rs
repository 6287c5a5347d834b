//! The isolate's budget of REST request bodies held in Wasm memory at once.
//!
//! A signed REST body is read into Wasm memory (its MD5 is checked there, then it is parsed),
//! and Wasm memory never shrinks once grown: without a bound, N publishes of the largest body
//! (`limits.max_request_body_bytes`, 256 KB) in flight in one isolate would grow it for good by
//! N times the body and its parsed copy, and an isolate past 128 MB is killed with every
//! connection in it. So a body is read only once the bodies already in flight leave room for
//! it within [`BODY_BUDGET_BYTES`]; until then it waits (a caller sees a slower answer, never a
//! refusal). One body is always let in, whatever its size, so nothing waits forever.

use futures_channel::oneshot;
use std::cell::RefCell;
use std::collections::VecDeque;

/// Bytes of REST bodies an isolate reads at once: with their parsed copies, the REST calls'
/// share of the isolate's Wasm memory stays under about twice this.
pub const BODY_BUDGET_BYTES: usize = 8 * 1024 * 1024;

/// The bytes in flight and the bodies waiting for room.
#[derive(Default)]
struct Budget {
    in_use: usize,
    waiting: VecDeque<oneshot::Sender<()>>,
}

impl Budget {
    /// Takes `bytes` if they fit (or nothing is in flight).
    fn try_take(&mut self, bytes: usize, cap: usize) -> bool {
        let fits = self.in_use == 0 || self.in_use + bytes <= cap;
        if fits {
            self.in_use += bytes;
        }
        fits
    }

    /// Gives `bytes` back; the bodies waiting are woken to try again, in order.
    fn give_back(&mut self, bytes: usize) -> VecDeque<oneshot::Sender<()>> {
        self.in_use = self.in_use.saturating_sub(bytes);
        std::mem::take(&mut self.waiting)
    }
}

thread_local! {
    static BUDGET: RefCell<Budget> = RefCell::new(Budget::default());
}

/// Room for one body in the budget, given back when dropped (the call answered, or abandoned).
pub struct BodyPermit {
    bytes: usize,
}

impl Drop for BodyPermit {
    fn drop(&mut self) {
        let woken = BUDGET.with(|budget| budget.borrow_mut().give_back(self.bytes));
        for waiter in woken {
            let _ = waiter.send(());
        }
    }
}

/// Waits until a body of `bytes` fits in the isolate's budget.
pub async fn reserve(bytes: usize) -> BodyPermit {
    loop {
        let wait = BUDGET.with(|budget| {
            let mut budget = budget.borrow_mut();
            if budget.try_take(bytes, BODY_BUDGET_BYTES) {
                return None;
            }
            let (wake, woken) = oneshot::channel();
            budget.waiting.push_back(wake);
            Some(woken)
        });
        match wait {
            None => return BodyPermit { bytes },
            Some(woken) => {
                let _ = woken.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_fit_until_the_cap_and_one_always_fits() {
        let mut budget = Budget::default();
        assert!(budget.try_take(100, 1_000), "the first, even alone");
        assert!(budget.try_take(900, 1_000));
        assert!(!budget.try_take(1, 1_000), "full");
        assert!(budget.give_back(900).is_empty());
        assert!(budget.try_take(900, 1_000));
        budget.give_back(100);
        budget.give_back(900);
        assert!(
            budget.try_take(5_000, 1_000),
            "nothing in flight: a body past the cap too"
        );
        assert!(!budget.try_take(1, 1_000));
    }

    #[test]
    fn giving_back_wakes_every_waiting_body_in_order() {
        let mut budget = Budget::default();
        assert!(budget.try_take(1_000, 1_000));
        let (first, mut first_woken) = oneshot::channel();
        let (second, mut second_woken) = oneshot::channel();
        budget.waiting.extend([first, second]);
        for waiter in budget.give_back(1_000) {
            waiter.send(()).unwrap();
        }
        assert_eq!(first_woken.try_recv(), Ok(Some(())));
        assert_eq!(second_woken.try_recv(), Ok(Some(())));
        assert_eq!(budget.in_use, 0);
        assert!(budget.waiting.is_empty());
    }

    #[test]
    fn a_permit_gives_its_bytes_back_when_dropped() {
        BUDGET.with(|b| b.borrow_mut().in_use = 0);
        let permit = BodyPermit { bytes: 0 };
        BUDGET.with(|b| b.borrow_mut().in_use = 300);
        drop(BodyPermit { bytes: 200 });
        assert_eq!(BUDGET.with(|b| b.borrow().in_use), 100);
        drop(permit);
        assert_eq!(BUDGET.with(|b| b.borrow().in_use), 100);
    }
}
