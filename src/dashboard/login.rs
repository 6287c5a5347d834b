//! The dashboard's login: the operator proves they hold the dashboard token once, through a
//! form, and gets a session cookie, so the token never travels in a URL a log would keep.
//!
//! The cookie is stateless: its expiry and an HMAC of it under the token. Changing the token
//! ends every session; nothing is stored.

use crate::protocol::auth_token::{constant_time_eq, hmac_sha256_hex, verify_hmac_sha256_hex};

/// The session cookie's name.
pub const COOKIE: &str = "pusher_edge_dashboard";
/// How long a login lasts.
pub const SESSION_SECS: i64 = 12 * 3600;
/// A token shorter than this does not turn the dashboard on (it would be guessable).
pub const MIN_TOKEN_LEN: usize = 16;

/// The token that opens the dashboard: `DASHBOARD_TOKEN`, else `METRICS_TOKEN`; `None`
/// (the dashboard is off) when neither is set or the one set is too short.
pub fn dashboard_token(dashboard: Option<String>, metrics: Option<String>) -> Option<String> {
    dashboard
        .filter(|t| !t.is_empty())
        .or(metrics.filter(|t| !t.is_empty()))
        .filter(|t| t.len() >= MIN_TOKEN_LEN)
}

fn signed_text(expires_secs: i64) -> String {
    format!("dashboard-session:{expires_secs}")
}

/// A session cookie's value, valid until `now + SESSION_SECS`.
pub fn session_value(token: &str, now_secs: i64) -> String {
    let expires = now_secs + SESSION_SECS;
    format!(
        "{expires}.{}",
        hmac_sha256_hex(token, &signed_text(expires))
    )
}

/// Whether a cookie value is a live session under `token` (constant-time compare).
pub fn is_live_session(token: &str, value: &str, now_secs: i64) -> bool {
    let Some((expires, mac)) = value.split_once('.') else {
        return false;
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return false;
    };
    expires > now_secs
        && expires <= now_secs + SESSION_SECS
        && verify_hmac_sha256_hex(token, &signed_text(expires), mac)
}

/// The `Set-Cookie` header of a new session (`Secure` when served over https).
pub fn set_cookie(value: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={value}; Path=/dashboard; Max-Age={SESSION_SECS}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` header that ends the session.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/dashboard; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The session cookie's value in a `Cookie` header.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Whether the login form's `token` field is the token (constant-time compare).
pub fn form_has_token(form: &str, token: &str) -> bool {
    let given = crate::protocol::query::QueryParams::parse(form)
        .get("token")
        .unwrap_or_default()
        .to_string();
    constant_time_eq(&given, token)
}

/// Whether a browser request comes from the dashboard's own pages: no `Origin` (not a
/// browser's cross-site request), or the origin the request was sent to (`host`, over https
/// when `secure`). Browsers send `Origin` with every POST and WebSocket handshake, so
/// another site cannot act with the operator's cookie (which `SameSite=Strict` already
/// withholds).
pub fn same_origin(origin: Option<&str>, host: &str, secure: bool) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let scheme = if secure { "https://" } else { "http://" };
    origin
        .strip_prefix(scheme)
        .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "a-dashboard-token-long-enough";

    #[test]
    fn the_dashboard_token_falls_back_to_the_metrics_token_and_must_be_long() {
        let long = || Some(TOKEN.to_string());
        assert_eq!(dashboard_token(long(), None).as_deref(), Some(TOKEN));
        assert_eq!(dashboard_token(None, long()).as_deref(), Some(TOKEN));
        assert_eq!(
            dashboard_token(Some(String::new()), long()).as_deref(),
            Some(TOKEN)
        );
        assert_eq!(dashboard_token(None, None), None);
        assert_eq!(dashboard_token(Some("short".into()), None), None);
    }

    #[test]
    fn a_session_lives_twelve_hours_under_its_token_only() {
        let value = session_value(TOKEN, 1_000);
        assert!(is_live_session(TOKEN, &value, 1_000));
        assert!(is_live_session(TOKEN, &value, 1_000 + SESSION_SECS - 1));
        assert!(
            !is_live_session(TOKEN, &value, 1_000 + SESSION_SECS),
            "expired"
        );
        assert!(!is_live_session("another-token-long-enough", &value, 1_000));
        let (expires, mac) = value.split_once('.').unwrap();
        let later: i64 = expires.parse::<i64>().unwrap() + 3600;
        assert!(
            !is_live_session(TOKEN, &format!("{later}.{mac}"), 1_000),
            "the expiry is signed"
        );
        for junk in ["", ".", "x.y", "1.", "99999999999999999999.ab"] {
            assert!(!is_live_session(TOKEN, junk, 1_000), "{junk}");
        }
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site() {
        let header = set_cookie("v", true);
        assert!(header.starts_with("pusher_edge_dashboard=v;"));
        for part in ["HttpOnly", "SameSite=Strict", "Path=/dashboard", "Secure"] {
            assert!(header.contains(part), "{header}");
        }
        assert!(!set_cookie("v", false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        assert_eq!(
            cookie_value("a=1; pusher_edge_dashboard=v.2; b=3"),
            Some("v.2")
        );
        assert_eq!(cookie_value("a=1"), None);
    }

    #[test]
    fn the_form_token_is_read_decoded() {
        assert!(form_has_token(&format!("token={TOKEN}"), TOKEN));
        assert!(form_has_token("token=a%20b+c&x=1", "a b c"));
        assert!(!form_has_token("token=wrong", TOKEN));
        assert!(!form_has_token("", TOKEN));
    }

    #[test]
    fn only_the_same_origin_may_act() {
        let host = "push.example.com";
        assert!(same_origin(None, host, true));
        assert!(same_origin(Some("https://push.example.com"), host, true));
        assert!(!same_origin(Some("https://evil.example"), host, true));
        assert!(!same_origin(Some("http://push.example.com"), host, true));
        assert!(!same_origin(
            Some("https://push.example.com.evil.example"),
            host,
            true
        ));
        assert!(same_origin(
            Some("http://127.0.0.1:8787"),
            "127.0.0.1:8787",
            false
        ));
    }
}
