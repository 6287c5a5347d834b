//! Rate-limit tiers: an app's `rate_limit_tier` picks which of the deployment's Rate Limiting
//! bindings (wrangler.toml `[[ratelimits]]`) count its connection attempts and REST calls.
//! The numbers live in wrangler.toml, one binding per tier and kind: `CONNECTIONS_STANDARD`,
//! `REST_HIGH`, ...; `unlimited` uses none.

use std::fmt::Write;

pub const STANDARD_TIER: &str = "standard";
pub const UNLIMITED_TIER: &str = "unlimited";
/// The tiers an app may pick (each but `unlimited` has its two bindings in wrangler.toml).
pub const TIERS: [&str; 3] = [STANDARD_TIER, "high", UNLIMITED_TIER];

/// What a binding counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// WebSocket upgrades, per client address and app key.
    Connections,
    /// REST calls, per app.
    Rest,
}

/// The binding counting `kind` for `tier`, or `None` when the tier is not limited. An unknown
/// tier (a record of a later version) counts as the standard one.
pub fn binding(kind: Limited, tier: &str) -> Option<&'static str> {
    let tier = if TIERS.contains(&tier) {
        tier
    } else {
        STANDARD_TIER
    };
    Some(match (kind, tier) {
        (_, UNLIMITED_TIER) => return None,
        (Limited::Connections, "high") => "CONNECTIONS_HIGH",
        (Limited::Connections, _) => "CONNECTIONS_STANDARD",
        (Limited::Rest, "high") => "REST_HIGH",
        (Limited::Rest, _) => "REST_STANDARD",
    })
}

/// Why `tier` cannot be an app's tier, or `None` when it can.
pub fn tier_problem(tier: &str) -> Option<String> {
    (!TIERS.contains(&tier))
        .then(|| format!("{tier:?} is not a tier (one of standard, high, unlimited)"))
}

/// What a client address counts as: an IPv4 address itself, an IPv6 address its /64 (one
/// host commonly holds a whole /64, and could otherwise take a fresh count per address).
pub fn address_key(address: &str) -> String {
    if !address.contains(':') {
        return address.to_string();
    }
    let groups = |part: &str| -> Vec<u16> {
        part.split(':')
            .filter(|g| !g.is_empty())
            .map(|g| u16::from_str_radix(g, 16).unwrap_or(0))
            .collect()
    };
    let (head, tail) = match address.split_once("::") {
        Some((head, tail)) => (groups(head), groups(tail)),
        None => (groups(address), Vec::new()),
    };
    let zeros = 8usize.saturating_sub(head.len() + tail.len());
    let mut key = String::new();
    let groups = head
        .iter()
        .chain(std::iter::repeat_n(&0, zeros))
        .chain(&tail);
    for (i, group) in groups.take(4).enumerate() {
        if i > 0 {
            key.push(':');
        }
        let _ = write!(key, "{group:x}");
    }
    key.push_str("::/64");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tier_names_its_bindings() {
        assert_eq!(
            binding(Limited::Connections, "standard"),
            Some("CONNECTIONS_STANDARD")
        );
        assert_eq!(binding(Limited::Rest, "high"), Some("REST_HIGH"));
        assert_eq!(binding(Limited::Rest, "unlimited"), None);
        assert_eq!(
            binding(Limited::Connections, "gold"),
            Some("CONNECTIONS_STANDARD")
        );
        assert_eq!(tier_problem("high"), None);
        assert!(tier_problem("gold")
            .unwrap()
            .contains("standard, high, unlimited"));
    }

    #[test]
    fn an_ipv6_address_counts_as_its_64() {
        assert_eq!(address_key("203.0.113.9"), "203.0.113.9");
        let one = address_key("2001:db8:85a3:12:8a2e:370:7334:1");
        assert_eq!(one, "2001:db8:85a3:12::/64");
        assert_eq!(address_key("2001:0DB8:85a3:0012::abcd"), one);
        assert_eq!(address_key("2001:db8::1"), "2001:db8:0:0::/64");
        assert_eq!(address_key("::1"), "0:0:0:0::/64");
        assert_eq!(address_key("1::2:3:4:5:6:7"), "1:0:2:3::/64");
        assert_eq!(address_key("::ffff:192.0.2.1"), "0:0:0:0::/64");
    }
}
