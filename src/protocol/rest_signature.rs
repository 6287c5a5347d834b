//! REST request signatures (auth_version 1.0), verified the way Pusher's own servers do:
//! lower-cased, sorted, unescaped query parameters without `auth_signature`; `body_md5` of
//! the raw body; a ±600 s timestamp window; a constant-time HMAC compare.

use super::auth_token::verify_hmac_sha256_hex;
use super::query::QueryParams;
use super::timestamp::iso8601_utc;
use md5::{Digest, Md5};
use std::fmt;

/// Allowed distance between the request's `auth_timestamp` and the server clock.
pub const TIMESTAMP_WINDOW_SECS: u64 = 600;

/// Lower-hex MD5 of a body.
pub fn md5_hex(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

/// `METHOD\npath\nsorted_params`, the string an SDK signs.
pub fn string_to_sign(method: &str, path: &str, params: &QueryParams) -> String {
    let mut pairs: Vec<(String, &str)> = params
        .0
        .iter()
        .filter(|(k, _)| k != "auth_signature")
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    pairs.sort();
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        joined.join("&")
    )
}

#[derive(Debug, PartialEq, Eq)]
pub enum SignatureError {
    MissingKey,
    MissingSignature,
    MissingVersion,
    UnsupportedVersion(String),
    MissingTimestamp,
    InvalidTimestamp(String),
    TimestampExpired {
        given: i64,
        now: i64,
    },
    MissingBodyMd5,
    BodyMd5Mismatch {
        given: String,
        actual: String,
    },
    InvalidSignature {
        string_to_sign: String,
        given: String,
    },
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::MissingKey => write!(f, "Authentication key required (auth_key)"),
            SignatureError::MissingSignature => {
                write!(f, "Authentication signature required (auth_signature)")
            }
            SignatureError::MissingVersion => write!(f, "Version required (auth_version=1.0)"),
            SignatureError::UnsupportedVersion(v) => {
                write!(f, "Version not supported: auth_version={v}, expected 1.0")
            }
            SignatureError::MissingTimestamp => write!(f, "Timestamp required (auth_timestamp)"),
            SignatureError::InvalidTimestamp(v) => {
                write!(f, "Timestamp invalid: auth_timestamp={v} is not a Unix time in seconds")
            }
            SignatureError::TimestampExpired { given, now } => write!(
                f,
                "Timestamp expired: Given timestamp ({}) not within {TIMESTAMP_WINDOW_SECS}s of server time ({})",
                iso8601_utc(*given),
                iso8601_utc(*now)
            ),
            SignatureError::MissingBodyMd5 => {
                write!(f, "body_md5 required: the request has a body")
            }
            SignatureError::BodyMd5Mismatch { given, actual } => write!(
                f,
                "body_md5 does not match the body: you sent {given}, the body's MD5 is {actual}"
            ),
            SignatureError::InvalidSignature {
                string_to_sign,
                given,
            } => write!(
                f,
                "Invalid signature: you should have sent HmacSHA256Hex({string_to_sign:?}, your_secret_key), but you sent {given:?}"
            ),
        }
    }
}

/// A request to verify, as received.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub params: &'a QueryParams,
}

impl SignedRequest<'_> {
    /// The `auth_key` the request claims, used to find the app (and its secret).
    pub fn auth_key(&self) -> Result<&str, SignatureError> {
        self.params
            .get("auth_key")
            .filter(|k| !k.is_empty())
            .ok_or(SignatureError::MissingKey)
    }

    /// Verifies what does not need the body: version, timestamp and the HMAC over method,
    /// path and query. The query carries `body_md5`, so a request that passes has a signed
    /// digest of its body, and the body can be read (with its cap) only for such requests.
    pub fn verify_query(&self, secret: &str, now_unix_secs: i64) -> Result<(), SignatureError> {
        let signature = self
            .params
            .get("auth_signature")
            .ok_or(SignatureError::MissingSignature)?;
        match self.params.get("auth_version") {
            None => return Err(SignatureError::MissingVersion),
            Some("1.0") => {}
            Some(other) => return Err(SignatureError::UnsupportedVersion(other.to_string())),
        }
        let timestamp = self
            .params
            .get("auth_timestamp")
            .ok_or(SignatureError::MissingTimestamp)?;
        let given: i64 = timestamp
            .parse()
            .map_err(|_| SignatureError::InvalidTimestamp(timestamp.to_string()))?;
        // `abs_diff`: a subtraction would overflow for an extreme auth_timestamp.
        if now_unix_secs.abs_diff(given) >= TIMESTAMP_WINDOW_SECS {
            return Err(SignatureError::TimestampExpired {
                given,
                now: now_unix_secs,
            });
        }
        let string_to_sign = string_to_sign(self.method, self.path, self.params);
        if verify_hmac_sha256_hex(secret, &string_to_sign, signature) {
            Ok(())
        } else {
            Err(SignatureError::InvalidSignature {
                string_to_sign,
                given: signature.to_string(),
            })
        }
    }

    /// Verifies the body against the signed `body_md5` (required when there is a body).
    pub fn verify_body(&self, body: &[u8]) -> Result<(), SignatureError> {
        match self.params.get("body_md5") {
            Some(given) => {
                let actual = md5_hex(body);
                if !given.eq_ignore_ascii_case(&actual) {
                    return Err(SignatureError::BodyMd5Mismatch {
                        given: given.to_string(),
                        actual,
                    });
                }
            }
            None if !body.is_empty() => return Err(SignatureError::MissingBodyMd5),
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";
    const BODY: &str = r#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
    const TS: i64 = 1_353_088_179;

    /// Computes the signature an SDK would send.
    fn sign(secret: &str, method: &str, path: &str, params: &QueryParams) -> String {
        crate::protocol::auth_token::hmac_sha256_hex(secret, &string_to_sign(method, path, params))
    }

    /// Both checks, in the order the REST API makes them (the body is read in between).
    fn verify(req: &SignedRequest, body: &str, now: i64) -> Result<(), SignatureError> {
        req.verify_query(SECRET, now)?;
        req.verify_body(body.as_bytes())
    }

    fn post_query(signature: &str) -> String {
        format!(
            "auth_key={KEY}&auth_timestamp={TS}&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature={signature}"
        )
    }

    #[test]
    fn spec_post_example() {
        assert_eq!(md5_hex(BODY.as_bytes()), "ec365a775a4cd0599faeb73354201b6f");
        let params = QueryParams::parse(&post_query("x"));
        assert_eq!(
            string_to_sign("POST", "/apps/3/events", &params),
            "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
        );
        let sig = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";
        assert_eq!(sign(SECRET, "POST", "/apps/3/events", &params), sig);
        let params = QueryParams::parse(&post_query(sig));
        let req = SignedRequest {
            method: "POST",
            path: "/apps/3/events",
            params: &params,
        };
        assert_eq!(req.auth_key(), Ok(KEY));
        assert_eq!(verify(&req, BODY, TS + 599), Ok(()));
        assert_eq!(verify(&req, BODY, TS - 599), Ok(()));
    }

    #[test]
    fn spec_get_example_with_unsorted_mixed_case_params() {
        let query = format!(
            "info=user_count&FILTER_BY_PREFIX=presence-&auth_version=1.0&auth_timestamp={TS}&auth_key={KEY}"
        );
        let params = QueryParams::parse(&query);
        assert_eq!(
            string_to_sign("get", "/apps/3/channels", &params),
            format!("GET\n/apps/3/channels\nauth_key={KEY}&auth_timestamp={TS}&auth_version=1.0&filter_by_prefix=presence-&info=user_count")
        );
        assert_eq!(
            sign(SECRET, "GET", "/apps/3/channels", &params),
            "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291"
        );
    }

    #[test]
    fn rejections() {
        let sig = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";
        let check = |query: &str, body: &str, now: i64| {
            let params = QueryParams::parse(query);
            let req = SignedRequest {
                method: "POST",
                path: "/apps/3/events",
                params: &params,
            };
            req.auth_key().and_then(|_| verify(&req, body, now))
        };
        assert_eq!(check("", BODY, TS), Err(SignatureError::MissingKey));
        let expired = check(&post_query(sig), BODY, TS + 600).unwrap_err();
        assert_eq!(
            expired.to_string(),
            "Timestamp expired: Given timestamp (2012-11-16T17:49:39Z) not within 600s of server time (2012-11-16T17:59:39Z)"
        );
        assert!(matches!(
            check(&post_query(sig), BODY, TS - 660),
            Err(SignatureError::TimestampExpired { .. })
        ));
        assert!(matches!(
            check(&post_query(sig), "{}", TS),
            Err(SignatureError::BodyMd5Mismatch { .. })
        ));
        let wrong = check(&post_query(&"0".repeat(64)), BODY, TS).unwrap_err();
        assert!(wrong.to_string().starts_with(
            "Invalid signature: you should have sent HmacSHA256Hex(\"POST\\n/apps/3/events\\nauth_key="
        ), "{wrong}");
        // The signature is checked first (before a body is read); a signed query without
        // body_md5 is then refused for carrying a body.
        let no_md5 = format!("auth_key={KEY}&auth_timestamp={TS}&auth_version=1.0");
        let no_md5_sig = sign(
            SECRET,
            "POST",
            "/apps/3/events",
            &QueryParams::parse(&no_md5),
        );
        assert!(matches!(
            check(&format!("{no_md5}&auth_signature={sig}"), BODY, TS),
            Err(SignatureError::InvalidSignature { .. })
        ));
        assert_eq!(
            check(&format!("{no_md5}&auth_signature={no_md5_sig}"), BODY, TS),
            Err(SignatureError::MissingBodyMd5)
        );
        let v2 = post_query(sig).replace("auth_version=1.0", "auth_version=2.0");
        assert_eq!(
            check(&v2, BODY, TS),
            Err(SignatureError::UnsupportedVersion("2.0".into()))
        );
        let no_sig = format!("auth_key={KEY}&auth_timestamp={TS}&auth_version=1.0");
        assert_eq!(
            check(&no_sig, BODY, TS),
            Err(SignatureError::MissingSignature)
        );
        // Extreme timestamps are refused as expired, without overflowing.
        for extreme in [i64::MIN, i64::MAX] {
            let query = post_query(sig).replace(&TS.to_string(), &extreme.to_string());
            for now in [TS, 0, -1, i64::MIN, i64::MAX] {
                let err = check(&query, BODY, now).unwrap_err();
                if now == extreme {
                    // Same instant: the window passes and the signature is what fails.
                    assert!(matches!(err, SignatureError::InvalidSignature { .. }));
                } else {
                    assert_eq!(
                        err,
                        SignatureError::TimestampExpired {
                            given: extreme,
                            now
                        }
                    );
                    assert!(err.to_string().starts_with("Timestamp expired"));
                }
            }
        }
        let too_big = post_query(sig).replace(&TS.to_string(), "9223372036854775808");
        assert!(matches!(
            check(&too_big, BODY, TS),
            Err(SignatureError::InvalidTimestamp(_))
        ));
        let bad_ts = post_query(sig).replace(&TS.to_string(), "yesterday");
        assert_eq!(
            check(&bad_ts, BODY, TS),
            Err(SignatureError::InvalidTimestamp("yesterday".into()))
        );
    }

    #[test]
    fn extreme_timestamps_are_expired_not_overflowed() {
        // TS + 2^63 wraps to a timestamp whose wrapped distance to TS is i64::MIN, which
        // `abs()` leaves negative: found by the fuzz harness (tests/fuzz).
        for ts in [i64::MIN, i64::MAX, TS.wrapping_add(i64::MIN)] {
            let query = format!("auth_timestamp={ts}&auth_version=1.0&auth_signature=00");
            let params = QueryParams::parse(&query);
            let req = SignedRequest {
                method: "GET",
                path: "/apps/3/channels",
                params: &params,
            };
            assert!(
                matches!(
                    verify(&req, "", TS),
                    Err(SignatureError::TimestampExpired { .. })
                ),
                "{ts}"
            );
        }
    }

    #[test]
    fn percent_decoding_is_lenient() {
        let p = QueryParams::parse("a=x%20y&b=50%&c=%zz&d=p+q&e&channels%5B%5D=x");
        assert_eq!(p.get("a"), Some("x y"));
        assert_eq!(p.get("b"), Some("50%"));
        assert_eq!(p.get("c"), Some("%zz"));
        assert_eq!(p.get("d"), Some("p q"));
        assert_eq!(p.get("e"), Some(""));
        assert_eq!(p.get("channels[]"), Some("x"));
    }
}
