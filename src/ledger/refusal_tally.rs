//! Refusals at the Worker's door (rate limits, origins), gathered per isolate so that they
//! reach each app's ledger in batches (`super::door`), never one request per refusal.

use super::report::Counts;

/// A refusal the ledger counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ConnectionRateLimited,
    RestRateLimited,
    OriginRefused,
}

/// Most apps gathered between two batches (refusals for more are not counted).
pub const MAX_APPS: usize = 64;

/// A batch not sent this long after it started is taken for lost (its sender was cancelled):
/// the next refusal starts another.
const BATCH_LOST_MS: f64 = 30_000.0;

#[derive(Debug, Default)]
pub struct RefusalTally {
    /// Counts by app id.
    pending: Vec<(String, Counts)>,
    /// When the batch on its way started (its sender will take what is pending).
    sending_since_ms: Option<f64>,
}

impl RefusalTally {
    /// Counts `refusal` for app `app_id` at `now_ms`; whether the caller should start a batch
    /// (none is on its way).
    pub fn add(&mut self, app_id: &str, refusal: Refusal, now_ms: f64) -> bool {
        let at = match self.pending.iter().position(|(id, _)| id == app_id) {
            Some(at) => at,
            None if self.pending.len() >= MAX_APPS => return false,
            None => {
                self.pending.push((app_id.to_string(), Counts::default()));
                self.pending.len() - 1
            }
        };
        let counts = &mut self.pending[at].1;
        match refusal {
            Refusal::ConnectionRateLimited => counts.connections_rate_limited += 1,
            Refusal::RestRateLimited => counts.rest_rate_limited += 1,
            Refusal::OriginRefused => counts.origins_refused += 1,
        }
        match self.sending_since_ms {
            Some(since) if now_ms - since < BATCH_LOST_MS => false,
            _ => {
                self.sending_since_ms = Some(now_ms);
                true
            }
        }
    }

    /// Everything gathered, for the batch being sent; the next refusal starts another batch.
    pub fn take(&mut self) -> Vec<(String, Counts)> {
        self.sending_since_ms = None;
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_batch_at_a_time_with_every_refusal_in_it() {
        let mut tally = RefusalTally::default();
        assert!(tally.add("7", Refusal::ConnectionRateLimited, 0.0));
        assert!(!tally.add("7", Refusal::ConnectionRateLimited, 0.0));
        assert!(!tally.add("1", Refusal::RestRateLimited, 0.0));
        assert!(!tally.add("7", Refusal::OriginRefused, 0.0));
        let batch = tally.take();
        assert_eq!(batch.len(), 2);
        let (id, seven) = &batch[0];
        assert_eq!(id, "7");
        assert_eq!(
            (seven.connections_rate_limited, seven.origins_refused),
            (2, 1)
        );
        let one = Counts {
            rest_rate_limited: 1,
            ..Counts::default()
        };
        assert_eq!(batch[1], ("1".to_string(), one));
        assert!(tally.add("1", Refusal::RestRateLimited, 0.0));
    }

    #[test]
    fn a_batch_that_never_went_is_taken_for_lost() {
        let mut tally = RefusalTally::default();
        assert!(tally.add("7", Refusal::OriginRefused, 0.0));
        assert!(!tally.add("7", Refusal::OriginRefused, 29_000.0));
        assert!(tally.add("7", Refusal::OriginRefused, 30_000.0));
        assert_eq!(tally.take()[0].1.origins_refused, 3);
    }

    #[test]
    fn apps_are_capped() {
        let mut tally = RefusalTally::default();
        for i in 0..MAX_APPS + 10 {
            tally.add(&i.to_string(), Refusal::ConnectionRateLimited, 0.0);
        }
        tally.add("0", Refusal::ConnectionRateLimited, 0.0);
        let batch = tally.take();
        assert_eq!(batch.len(), MAX_APPS);
        assert_eq!(batch[0].1.connections_rate_limited, 2);
    }
}
