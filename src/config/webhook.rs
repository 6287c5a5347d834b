//! An app's webhook receivers: where events go, which of them, for which channels, with which
//! request headers; checked strictly when configured.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One webhook receiver.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    /// Pusher event names (`channel_occupied`, `member_added`, ...). Empty: every type.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Only channels whose names match (soketi's and sockudo's names for it).
    #[serde(default, skip_serializing_if = "WebhookFilter::is_empty")]
    pub filter: WebhookFilter,
    /// Request headers for a receiver behind a gateway (`X-Api-Key`): write-only, the
    /// operators' API shows their names only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// A webhook's channel filter: both given parts must match.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_name_starts_with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_name_ends_with: Option<String>,
}

impl WebhookFilter {
    fn is_empty(&self) -> bool {
        self.channel_name_starts_with.is_none() && self.channel_name_ends_with.is_none()
    }
}

impl Webhook {
    /// Whether this receiver wants event `name` of `channel`.
    pub fn wants(&self, name: &str, channel: &str) -> bool {
        let filter = &self.filter;
        (self.event_types.is_empty() || self.event_types.iter().any(|t| t == name))
            && filter
                .channel_name_starts_with
                .as_ref()
                .is_none_or(|prefix| channel.starts_with(prefix.as_str()))
            && filter
                .channel_name_ends_with
                .as_ref()
                .is_none_or(|suffix| channel.ends_with(suffix.as_str()))
    }
}

// Hand-written so a header's value (a gateway's key) never reaches a log line through `{:?}`.
impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("filter", &self.filter)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Most headers a webhook may carry, and their sizes.
pub const MAX_WEBHOOK_HEADERS: usize = 10;
const MAX_HEADER_NAME: usize = 64;
const MAX_HEADER_VALUE: usize = 1024;

/// Headers a webhook may not set: the request's own, Pusher's signature, and hop-by-hop ones.
const RESERVED_HEADERS: [&str; 10] = [
    "content-type",
    "content-length",
    "host",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// The webhook event types Pusher sends.
pub const WEBHOOK_EVENT_TYPES: [&str; 7] = [
    "channel_occupied",
    "channel_vacated",
    "member_added",
    "member_removed",
    "client_event",
    "cache_miss",
    "subscription_count",
];

pub(super) fn validate_webhook(hook: &Webhook) -> Result<(), String> {
    let url = hook.url.as_str();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("url must start with https:// or http://")?;
    if rest.is_empty() || rest.starts_with('/') || url.chars().any(char::is_whitespace) {
        return Err("url must name a host and contain no spaces".into());
    }
    if let Some(unknown) = hook
        .event_types
        .iter()
        .find(|t| !WEBHOOK_EVENT_TYPES.contains(&t.as_str()))
    {
        return Err(format!(
            "event_types has an unknown type {unknown:?} (known: {})",
            WEBHOOK_EVENT_TYPES.join(", ")
        ));
    }
    if hook.headers.len() > MAX_WEBHOOK_HEADERS {
        return Err(format!("headers: at most {MAX_WEBHOOK_HEADERS}"));
    }
    for (i, (name, value)) in hook.headers.iter().enumerate() {
        header_problem(name, value).map_err(|e| format!("headers {name:?}: {e}"))?;
        if hook
            .headers
            .keys()
            .take(i)
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            return Err(format!(
                "headers {name:?}: named twice (header names ignore case)"
            ));
        }
    }
    Ok(())
}

/// Why a webhook may not send header `name` with `value` (never quoting the value).
fn header_problem(name: &str, value: &str) -> Result<(), &'static str> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || name.len() > MAX_HEADER_NAME || !name.chars().all(token) {
        return Err("a header name is 1-64 letters, digits and - (an HTTP token)");
    }
    let lower = name.to_ascii_lowercase();
    // Proxy-* are hop-by-hop (Proxy-Authorization, Proxy-Connection...): a proxy's, never an end's.
    let reserved_prefix = ["x-pusher-", "proxy-"].iter().any(|p| lower.starts_with(p));
    if RESERVED_HEADERS.contains(&lower.as_str()) || reserved_prefix {
        return Err("is set by the service (Content-Type, Content-Length, Host, X-Pusher-*) or hop-by-hop (Connection, Proxy-*, ...), and cannot be given");
    }
    let visible = |c: char| c == ' ' || c == '\t' || c.is_ascii_graphic();
    if value.len() > MAX_HEADER_VALUE || !value.chars().all(visible) {
        return Err("the value must be at most 1024 characters of printable ASCII");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(name: &str) -> Webhook {
        Webhook {
            url: "https://hooks.example/pusher".into(),
            event_types: Vec::new(),
            filter: WebhookFilter::default(),
            headers: BTreeMap::from([(name.to_string(), "v".to_string())]),
        }
    }

    /// `name` as written, in lower case, in upper case and in alternating case (`CoNtEnT-TyPe`).
    fn spellings(name: &str) -> [String; 4] {
        let flipped = name
            .chars()
            .enumerate()
            .map(|(i, c)| match i % 2 {
                0 => c.to_ascii_uppercase(),
                _ => c.to_ascii_lowercase(),
            })
            .collect();
        [
            name.to_string(),
            name.to_ascii_lowercase(),
            name.to_ascii_uppercase(),
            flipped,
        ]
    }

    #[test]
    fn reserved_and_hop_by_hop_headers_are_refused_in_any_case() {
        let refused = [
            "Content-Type",
            "Content-Length",
            "Host",
            "X-Pusher-Key",
            "X-Pusher-Signature",
            "X-Pusher-Anything",
            "Connection",
            "Keep-Alive",
            "Transfer-Encoding",
            "Upgrade",
            "TE",
            "Trailer",
            "Trailers",
            "Proxy-Authenticate",
            "Proxy-Authorization",
            "Proxy-Connection",
        ];
        for name in refused.iter().copied().flat_map(spellings) {
            let Err(error) = validate_webhook(&with_header(&name)) else {
                panic!("{name} should be refused");
            };
            assert!(
                error.starts_with(&format!("headers {name:?}: is set by the service")),
                "{name}: {error}"
            );
            assert!(
                !error.contains("\"v\""),
                "the value is never quoted: {error}"
            );
        }
        // Every name of the list is among those tried.
        for reserved in RESERVED_HEADERS {
            assert!(
                refused.iter().any(|n| n.eq_ignore_ascii_case(reserved)),
                "{reserved} untested"
            );
        }
    }

    #[test]
    fn ordinary_headers_are_accepted() {
        for name in [
            "X-Api-Key",
            "Authorization",
            "x-custom-token",
            "Content-Language",
            "Hostname",
            "Tes",
            "Upgrades",
            "Proxyish",
        ] {
            assert_eq!(validate_webhook(&with_header(name)), Ok(()), "{name}");
        }
    }
}
