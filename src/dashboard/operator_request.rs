//! The REST calls the dashboard makes for the operator: signed with the app's secret, in the
//! Worker, exactly as an SDK signs them, and answered by the REST API itself. So the
//! dashboard shows what the app's secret shows through the API, and nothing more.

use crate::config::App;
use crate::protocol::auth_token::hmac_sha256_hex;
use crate::protocol::query::QueryParams;
use crate::protocol::rest_signature::{md5_hex, string_to_sign};

/// The query pairs of a signed call: `pairs`, then `auth_key`, `auth_timestamp`,
/// `auth_version`, `body_md5` (with a body) and `auth_signature`.
pub fn signed_pairs(
    app: &App,
    method: &str,
    path: &str,
    pairs: &[(String, String)],
    body: Option<&str>,
    now_secs: i64,
) -> Vec<(String, String)> {
    let mut signed: Vec<(String, String)> = pairs.to_vec();
    signed.push(("auth_key".into(), app.key.clone()));
    signed.push(("auth_timestamp".into(), now_secs.to_string()));
    signed.push(("auth_version".into(), "1.0".into()));
    if let Some(body) = body {
        signed.push(("body_md5".into(), md5_hex(body.as_bytes())));
    }
    let text = string_to_sign(method, path, &QueryParams(signed.clone()));
    signed.push(("auth_signature".into(), hmac_sha256_hex(&app.secret, &text)));
    signed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::rest_signature::SignedRequest;
    use crate::protocol::wire::internal_url;

    #[test]
    fn the_rest_api_accepts_what_the_dashboard_signs() {
        let app = App::new("1", "key", "secret");
        let pairs = vec![("info".to_string(), "subscription_count".to_string())];
        let body = r#"{"name":"e","channels":["a"],"data":"x"}"#;
        let signed = signed_pairs(&app, "POST", "/apps/1/events", &pairs, Some(body), 1_000);
        let refs: Vec<(&str, &str)> = signed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let url = internal_url("dashboard", "/apps/1/events", &refs);
        let params = QueryParams::parse(url.split_once('?').unwrap().1);
        let request = SignedRequest {
            method: "POST",
            path: "/apps/1/events",
            params: &params,
        };
        assert_eq!(request.auth_key(), Ok("key"));
        assert_eq!(request.verify_query("secret", 1_000), Ok(()));
        assert_eq!(request.verify_body(body.as_bytes()), Ok(()));
        assert!(request.verify_query("other", 1_000).is_err());
        assert!(request.verify_body(b"tampered").is_err());
    }
}
