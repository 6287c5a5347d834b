//! Where an app's Durable Objects live: its `jurisdiction` (`eu`, `fedramp`, `fedramp-high`:
//! the objects run and store data only there; fixed when the app is created, since the same
//! name in another jurisdiction is another object) and its `location_hint` (where an object is
//! first created; objects already created stay where they are). Every object of the app (its
//! rooms and their leaves, its ledger, its connection and directory shards) keeps its name and
//! takes the app's placement.

/// Cloudflare's Durable Object jurisdictions.
pub const JURISDICTIONS: [&str; 3] = ["eu", "fedramp", "fedramp-high"];
/// Cloudflare's Durable Object location hints.
pub const LOCATION_HINTS: [&str; 9] = [
    "wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me",
];

/// An app's placement of its objects; the default is today's: no jurisdiction, no hint (near
/// the first caller).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Placement {
    pub jurisdiction: Option<String>,
    pub location_hint: Option<String>,
}

/// Why `value` cannot be an app's `setting` (`jurisdiction` or `location_hint`), if it cannot.
pub fn placement_problem(setting: &str, value: &str, allowed: &[&str]) -> Option<String> {
    (!allowed.contains(&value))
        .then(|| format!("{setting} {value:?} is not one of {}", allowed.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cloudflare_s_values() {
        assert_eq!(
            placement_problem("jurisdiction", "eu", &JURISDICTIONS),
            None
        );
        let refused = placement_problem("jurisdiction", "EU", &JURISDICTIONS).unwrap();
        assert_eq!(
            refused,
            r#"jurisdiction "EU" is not one of eu, fedramp, fedramp-high"#
        );
        assert_eq!(
            placement_problem("location_hint", "weur", &LOCATION_HINTS),
            None
        );
        assert!(placement_problem("location_hint", "europe", &LOCATION_HINTS).is_some());
        assert_eq!(Placement::default().jurisdiction, None);
    }
}
