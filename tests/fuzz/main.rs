//! Fuzzing the pure protocol core and the session core with property tests (proptest).
//!
//! Every property runs on random text and bytes and on near-valid inputs (valid frames with
//! wrong types, huge numbers, deep nesting, unicode, strings at the limits, signatures off
//! by one detail) and checks that nothing panics, that answers stay bounded and documented,
//! and that nothing unsigned gets through.
//!
//! `cargo test` runs a few hundred cases per property (a few seconds). To fuzz longer:
//!
//! ```text
//! FUZZ_CASES=100000 cargo test --test fuzz -- --nocapture
//! ```
//!
//! Each run draws a new seed and prints it; `FUZZ_SEED=<seed>` replays a run (with the same
//! `FUZZ_CASES`). A failure also prints the smallest failing input proptest shrank it to.

mod gen;
mod oracle;
mod parsers;
mod session;
mod signatures;

use proptest::test_runner::{Config, RngSeed};
use std::sync::OnceLock;

/// Cases per property when `FUZZ_CASES` is not set: enough to reach the deep paths on every
/// `cargo test`, few enough to stay within seconds.
const DEFAULT_CASES: u32 = 256;

fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| match std::env::var("FUZZ_SEED") {
        Ok(s) => s.trim().parse().expect("FUZZ_SEED must be a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    })
}

/// The proptest configuration of every property: `FUZZ_CASES` cases (divided by `cost` for
/// properties whose cases are sequences), a seed that is printed, no regression files.
pub fn config(cost: u32) -> Config {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .map(|s| {
            s.trim()
                .parse::<u32>()
                .expect("FUZZ_CASES must be a number")
        })
        .unwrap_or(DEFAULT_CASES);
    let seed = seed();
    // Shown by `cargo test` when the property fails (or always with --nocapture).
    eprintln!("fuzz seed {seed}: replay with FUZZ_SEED={seed} FUZZ_CASES={cases}");
    Config {
        cases: (cases / cost.max(1)).max(1),
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    }
}
