//! Rate-limit tiers: an app's `rate_limit_tier` picks which of the deployment's Rate Limiting
//! bindings (wrangler.toml `[[ratelimits]]`) count its connection attempts and REST calls.
//! The numbers live in wrangler.toml, one binding per tier and kind: `CONNECTIONS_STANDARD`,
//! `REST_HIGH`, ...; `unlimited` uses none.

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
        .then(|| format!("{tier:?} is not a tier (one of {})", TIERS.join(", ")))
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
}
