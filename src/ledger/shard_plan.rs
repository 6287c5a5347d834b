//! How an app's connections spread over its connection-ledger shards.
//!
//! Every client connection holds one hibernatable socket to one shard, so a shard's count is
//! exactly its live sockets and heals itself when a session dies. One Durable Object holds at
//! most 32,768 sockets, so an app past that needs several shards. With `max_connections`, the
//! shards' caps add up to exactly that limit: a connection is refused only when every shard
//! is full, which is when the app has exactly `max_connections` connections.

use crate::protocol::limits::Limits;

/// Sockets one shard takes at most (below the platform's 32,768 per object).
pub const SHARD_CAPACITY: u64 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardPlan {
    pub shards: u32,
    /// The app's connection limit, if any.
    max_connections: Option<u64>,
}

impl ShardPlan {
    pub fn for_limits(limits: &Limits) -> ShardPlan {
        let shards = match limits.max_connections {
            Some(max) => max.div_ceil(SHARD_CAPACITY).clamp(1, 1024) as u32,
            None => limits.connection_shards.max(1),
        };
        ShardPlan {
            shards,
            max_connections: limits.max_connections,
        }
    }

    /// Connections shard `index` may hold.
    pub fn cap(&self, index: u32) -> u64 {
        match self.max_connections {
            Some(max) => {
                let shards = u64::from(self.shards);
                max / shards + u64::from(u64::from(index) < max % shards)
            }
            None => SHARD_CAPACITY,
        }
    }

    /// The order to try shards in, starting from a random pick.
    pub fn order(&self, random: u32) -> impl Iterator<Item = u32> {
        let shards = self.shards;
        let start = random % shards;
        (0..shards).map(move |i| (start + i) % shards)
    }

    /// Whether all shards being full means the app's quota (4004) rather than the
    /// deployment's capacity (4100).
    pub fn is_quota(&self) -> bool {
        self.max_connections.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(max: Option<u64>) -> ShardPlan {
        ShardPlan::for_limits(&Limits {
            max_connections: max,
            ..Limits::default()
        })
    }

    #[test]
    fn caps_add_up_to_the_limit() {
        for max in [1, 3, 100, 29_999, 30_000, 30_001, 95_000, 1_000_000] {
            let p = plan(Some(max));
            let sum: u64 = (0..p.shards).map(|i| p.cap(i)).sum();
            assert_eq!(sum, max, "max {max}");
            assert!((0..p.shards).all(|i| p.cap(i) <= SHARD_CAPACITY));
        }
        assert_eq!(plan(Some(100)).shards, 1);
        assert_eq!(plan(Some(95_000)).shards, 4);
    }

    #[test]
    fn unlimited_apps_use_the_configured_shards() {
        let p = plan(None);
        assert_eq!(p.shards, 8);
        assert_eq!(p.cap(3), SHARD_CAPACITY);
        assert!(!p.is_quota());
    }

    #[test]
    fn order_visits_every_shard_once() {
        let p = plan(None);
        let mut seen: Vec<u32> = p.order(13).collect();
        assert_eq!(seen[0], 5);
        seen.sort();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
    }
}
