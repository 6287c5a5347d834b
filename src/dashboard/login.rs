//! The dashboard's login: the operator proves they hold the dashboard token once, through a
//! form, and gets a session cookie, so the token never travels in a URL a log would keep.
//!
//! The cookie carries its expiry, a random per-login nonce and an HMAC of both under the token.
//! Changing the token ends every session; a logout revokes its nonce (the operator sessions
//! store remembers it until the cookie would have expired), so that very cookie stops working.

use crate::protocol::auth_token::{constant_time_eq, hmac_sha256_hex, verify_hmac_sha256_hex};

/// The session cookie's name.
pub const COOKIE: &str = "pusher_edge_dashboard";
/// How long a login lasts.
pub const SESSION_SECS: i64 = 12 * 3600;
fn signed_text(expires_secs: i64, nonce: &str) -> String {
    format!("dashboard-session:{expires_secs}:{nonce}")
}

/// A logged-in operator's session, as its cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSession {
    /// Random, one per login: what a logout revokes.
    pub nonce: String,
    pub expires_secs: i64,
}

/// A session cookie's value for a new login with `nonce` (hex), valid until
/// `now + SESSION_SECS`.
pub fn session_value(token: &str, now_secs: i64, nonce: &str) -> String {
    let expires = now_secs + SESSION_SECS;
    format!(
        "{expires}.{nonce}.{}",
        hmac_sha256_hex(token, &signed_text(expires, nonce))
    )
}

/// The session a cookie value holds, if it is live under `token` (constant-time compare;
/// whether its nonce was revoked is the store's to say).
pub fn live_session(token: &str, value: &str, now_secs: i64) -> Option<OperatorSession> {
    let mut parts = value.splitn(3, '.');
    let (Some(expires), Some(nonce), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let expires = expires.parse::<i64>().ok()?;
    let nonce_ok = nonce.len() == 32 && nonce.bytes().all(|b| b.is_ascii_hexdigit());
    let live = nonce_ok
        && expires > now_secs
        && expires <= now_secs + SESSION_SECS
        && verify_hmac_sha256_hex(token, &signed_text(expires, nonce), mac);
    live.then(|| OperatorSession {
        nonce: nonce.to_string(),
        expires_secs: expires,
    })
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

    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_session_lives_twelve_hours_under_its_token_only() {
        let value = session_value(TOKEN, 1_000, NONCE);
        let session = OperatorSession {
            nonce: NONCE.into(),
            expires_secs: 1_000 + SESSION_SECS,
        };
        assert_eq!(live_session(TOKEN, &value, 1_000), Some(session.clone()));
        assert_eq!(
            live_session(TOKEN, &value, 1_000 + SESSION_SECS - 1),
            Some(session)
        );
        assert_eq!(
            live_session(TOKEN, &value, 1_000 + SESSION_SECS),
            None,
            "expired"
        );
        assert_eq!(
            live_session("another-token-long-enough", &value, 1_000),
            None
        );
        let (expires, rest) = value.split_once('.').unwrap();
        let later: i64 = expires.parse::<i64>().unwrap() + 3600;
        assert_eq!(
            live_session(TOKEN, &format!("{later}.{rest}"), 1_000),
            None,
            "the expiry is signed"
        );
        let other_nonce = value.replace(NONCE, "ffffffffffffffffffffffffffffffff");
        assert_eq!(
            live_session(TOKEN, &other_nonce, 1_000),
            None,
            "so is the nonce"
        );
        // A cookie of the version before (no nonce) is no longer a session.
        let mac = hmac_sha256_hex(
            TOKEN,
            &format!("dashboard-session:{}", 1_000 + SESSION_SECS),
        );
        assert_eq!(
            live_session(TOKEN, &format!("{}.{mac}", 1_000 + SESSION_SECS), 1_000),
            None
        );
        for junk in ["", ".", "x.y", "1.", "1.2.3", "99999999999999999999.ab.cd"] {
            assert_eq!(live_session(TOKEN, junk, 1_000), None, "{junk}");
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
