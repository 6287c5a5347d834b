//! Auth tokens for private/presence subscriptions and user sign-in:
//! `app_key:HMAC-SHA256-hex(app_secret, string_to_sign)`, compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, message: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key size");
    mac.update(message.as_bytes());
    mac
}

/// Lower-case hex HMAC-SHA256 of `message` with `secret`.
pub fn hmac_sha256_hex(secret: &str, message: &str) -> String {
    hex::encode(mac(secret, message).finalize().into_bytes())
}

/// Whether `signature_hex` is the HMAC of `message`, compared in constant time.
pub fn verify_hmac_sha256_hex(secret: &str, message: &str, signature_hex: &str) -> bool {
    match hex::decode(signature_hex) {
        Ok(bytes) => mac(secret, message).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// Whether two secrets are equal, in time that does not depend on where they differ: both
/// are MACed with the same key and the MACs compared in constant time.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let expected = mac("compare", b).finalize().into_bytes();
    mac("compare", a).verify_slice(&expected).is_ok()
}

/// `socket_id:channel` for private channels, `socket_id:channel:channel_data` for presence.
pub fn channel_string_to_sign(
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
) -> String {
    match channel_data {
        Some(data) => format!("{socket_id}:{channel}:{data}"),
        None => format!("{socket_id}:{channel}"),
    }
}

/// `socket_id::user::user_data` for `pusher:signin`.
pub fn user_string_to_sign(socket_id: &str, user_data: &str) -> String {
    format!("{socket_id}::user::{user_data}")
}

/// The token an app server would hand its client: `key:signature`.
#[cfg(test)]
pub fn sign_token(app_key: &str, app_secret: &str, string_to_sign: &str) -> String {
    format!("{app_key}:{}", hmac_sha256_hex(app_secret, string_to_sign))
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Missing,
    /// The part before `:` is not this app's key.
    InvalidKey(String),
    /// The signature does not match; carries what should have been signed.
    InvalidSignature {
        string_to_sign: String,
        given: String,
    },
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Missing => write!(f, "Missing auth signature"),
            TokenError::InvalidKey(key) => {
                write!(f, "Invalid key in subscription auth data: '{key}'")
            }
            TokenError::InvalidSignature {
                string_to_sign,
                given,
            } => write!(
                f,
                "Invalid signature: Expected HMAC SHA256 hex digest of {string_to_sign}, but got {given}"
            ),
        }
    }
}

/// Verifies a `key:signature` token against `string_to_sign`.
pub fn verify_token(
    app_key: &str,
    app_secret: &str,
    token: Option<&str>,
    string_to_sign: &str,
) -> Result<(), TokenError> {
    let token = token.filter(|t| !t.is_empty()).ok_or(TokenError::Missing)?;
    let (key, signature) = token.split_once(':').unwrap_or((token, ""));
    if key != app_key {
        return Err(TokenError::InvalidKey(key.to_string()));
    }
    if verify_hmac_sha256_hex(app_secret, string_to_sign, signature) {
        Ok(())
    } else {
        Err(TokenError::InvalidSignature {
            string_to_sign: string_to_sign.to_string(),
            given: signature.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_equality() {
        assert!(constant_time_eq("token", "token"));
        assert!(!constant_time_eq("token", "tokem"));
        assert!(!constant_time_eq("token", "token2"));
        assert!(!constant_time_eq("", "token"));
    }

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn spec_vectors() {
        let private = channel_string_to_sign("1234.1234", "private-foobar", None);
        assert_eq!(private, "1234.1234:private-foobar");
        assert_eq!(
            hmac_sha256_hex(SECRET, &private),
            "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        let user = user_string_to_sign("1234.1234", r#"{"id":"12345"}"#);
        assert_eq!(
            hmac_sha256_hex(SECRET, &user),
            "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
        );
        let presence = channel_string_to_sign(
            "1234.1234",
            "presence-foobar",
            Some(r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#),
        );
        assert_eq!(
            hmac_sha256_hex(SECRET, &presence),
            "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
        );
    }

    #[test]
    fn verify_accepts_good_and_explains_bad_tokens() {
        let sts = "1234.1234:private-foobar";
        let good = sign_token(KEY, SECRET, sts);
        assert_eq!(verify_token(KEY, SECRET, Some(&good), sts), Ok(()));

        assert_eq!(
            verify_token(KEY, SECRET, None, sts),
            Err(TokenError::Missing)
        );
        assert_eq!(
            verify_token(KEY, SECRET, Some(""), sts),
            Err(TokenError::Missing)
        );
        assert_eq!(
            verify_token(KEY, SECRET, Some("otherkey:abc"), sts),
            Err(TokenError::InvalidKey("otherkey".into()))
        );
        let bad = format!("{KEY}:{}", "0".repeat(64));
        let err = verify_token(KEY, SECRET, Some(&bad), sts).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Invalid signature: Expected HMAC SHA256 hex digest of {sts}, but got {}",
                "0".repeat(64)
            )
        );
        // Not hex, wrong length, upper case of a right one with a flipped char: all refused.
        for sig in ["zz", "58df", &good[KEY.len() + 1..].replace('5', "6")] {
            assert!(verify_token(KEY, SECRET, Some(&format!("{KEY}:{sig}")), sts).is_err());
        }
        // A token for another channel does not verify.
        assert!(verify_token(KEY, SECRET, Some(&good), "1234.1234:private-other").is_err());
    }
}
