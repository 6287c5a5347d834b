//! The operators' token: `DASHBOARD_TOKEN` opens the dashboard and the operators' API, and
//! nothing else does (`METRICS_TOKEN` reads `/metrics` only).

use crate::protocol::auth_token::constant_time_eq;

/// A token shorter than this turns nothing on (it would be guessable).
pub const MIN_TOKEN_LEN: usize = 16;

/// The operators' token; `None` (the dashboard and `/admin` are off) when it is unset or too
/// short.
pub fn operators_token(dashboard: Option<String>) -> Option<String> {
    dashboard.filter(|t| t.len() >= MIN_TOKEN_LEN)
}

/// Whether an `Authorization` header carries `Bearer {token}`, compared in constant time.
pub fn bearer_matches(header: Option<&str>, token: &str) -> bool {
    let Some((scheme, given)) = header.and_then(|h| h.trim().split_once(' ')) else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && constant_time_eq(given.trim(), token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bearer_token_passes() {
        let token = "0123456789abcdef-token";
        assert!(bearer_matches(Some("Bearer 0123456789abcdef-token"), token));
        assert!(bearer_matches(
            Some("bearer  0123456789abcdef-token "),
            token
        ));
        for refused in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer 0123456789abcdef-toke"),
            Some("Basic 0123456789abcdef-token"),
            Some("0123456789abcdef-token"),
        ] {
            assert!(!bearer_matches(refused, token), "{refused:?}");
        }
        assert_eq!(operators_token(Some("short".into())), None);
        assert_eq!(operators_token(Some(token.into())).as_deref(), Some(token));
    }
}
