//! An app's `allowed_origins`: which web pages may open its connections. A pattern is an
//! origin as browsers send it (`https://app.example.com`, `http://localhost:3000`), optionally
//! with a wildcard first label (`https://*.example.com`: any subdomain, not the domain itself),
//! or `*` for any origin. Schemes are required and ports exact (a default port, 443 for https
//! and 80 for http, may be written or left out); hosts are ASCII (punycode for the rest).

/// Most patterns an app may list.
pub const MAX_ALLOWED_ORIGINS: usize = 100;
/// Longest pattern: a scheme, a 253-character host and a port fit.
const MAX_PATTERN_LENGTH: usize = 300;

/// An origin split into what is compared: lower-case scheme and host, and the port, with a
/// scheme's default port left out (so `https://a.com:443` is `https://a.com`).
#[derive(Debug, PartialEq, Eq)]
struct Parts<'a> {
    scheme: String,
    host: String,
    port: Option<&'a str>,
}

/// Why `pattern` cannot be an allowed origin, or `None` when it can.
pub fn pattern_problem(pattern: &str) -> Option<String> {
    if pattern == "*" {
        return None;
    }
    if pattern.len() > MAX_PATTERN_LENGTH {
        return Some(format!(
            "{pattern:?} is longer than {MAX_PATTERN_LENGTH} characters"
        ));
    }
    let problem = match parts(pattern) {
        Err(problem) => problem,
        Ok(parts) => {
            let host = parts.host.strip_prefix("*.").unwrap_or(&parts.host);
            let empty_label = host.starts_with('.') || host.ends_with('.') || host.contains("..");
            if empty_label && !host.starts_with('[') {
                "the host has an empty label (a dot at either end, or two in a row)"
            } else if host.contains('*') {
                "a wildcard may only be the whole first label of the host (https://*.example.com)"
            } else if !host.contains('.') && parts.host.starts_with("*.") {
                "a wildcard needs a domain after it (https://*.example.com)"
            } else {
                return None;
            }
        }
    };
    Some(format!("{pattern:?}: {problem}"))
}

/// Whether a page of `origin` (the `Origin` header) may connect under `patterns`. An empty
/// list allows every origin; `null` (sandboxed frames, files) matches only `*`.
pub fn origin_allowed(patterns: &[String], origin: &str) -> bool {
    if patterns.is_empty() || patterns.iter().any(|p| p == "*") {
        return true;
    }
    let Ok(origin) = parts(origin) else {
        return false;
    };
    if origin.host.contains('*') {
        return false;
    }
    patterns.iter().any(|pattern| match parts(pattern) {
        Ok(pattern) => {
            pattern.scheme == origin.scheme
                && pattern.port == origin.port
                && match pattern.host.strip_prefix("*.") {
                    Some(domain) => origin
                        .host
                        .strip_suffix(domain)
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                    None => pattern.host == origin.host,
                }
        }
        Err(_) => false,
    })
}

/// `scheme://host[:port]`, nothing more (no path, not even `/`; no user; no query).
fn parts(origin: &str) -> Result<Parts<'_>, &'static str> {
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or("an origin needs its scheme (https://...)")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return Err("the scheme must be letters, digits, + - or . (https, http, capacitor)");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !rest.ends_with(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(ipv6) => ipv6.chars().all(|c| c.is_ascii_hexdigit() || c == ':'),
            None => host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._*".contains(c)),
        };
    if !host_ok {
        return Err("the host must be ASCII letters, digits, - and . (punycode for others), with no path, user or query");
    }
    if let Some(port) = port {
        let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        if !digits || port.parse::<u16>().map_or(true, |p| p == 0) || port.starts_with('0') {
            return Err("the port must be a number from 1 to 65535");
        }
    }
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" | "wss" => Some("443"),
        "http" | "ws" => Some("80"),
        _ => None,
    };
    Ok(Parts {
        port: port.filter(|p| Some(*p) != default_port),
        host: host.to_ascii_lowercase(),
        scheme,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(patterns: &[&str], origin: &str) -> bool {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        origin_allowed(&patterns, origin)
    }

    #[test]
    fn exact_origins_match_scheme_host_and_port() {
        let list = ["https://app.example.com", "http://localhost:3000"];
        assert!(allowed(&list, "https://app.example.com"));
        assert!(allowed(&list, "https://APP.example.com"));
        assert!(allowed(&list, "https://app.example.com:443"));
        assert!(allowed(&list, "http://localhost:3000"));
        assert!(!allowed(&list, "http://app.example.com"));
        assert!(!allowed(&list, "https://app.example.com:8443"));
        assert!(!allowed(&list, "http://localhost:3001"));
        assert!(!allowed(&list, "http://localhost"));
        assert!(!allowed(&list, "https://app.example.com.evil.net"));
        assert!(!allowed(&list, "https://evilapp.example.com"));
        assert!(!allowed(&list, "null"));
        assert!(!allowed(&list, ""));
    }

    #[test]
    fn a_wildcard_matches_subdomains_only() {
        let list = ["https://*.example.com"];
        assert!(allowed(&list, "https://a.example.com"));
        assert!(allowed(&list, "https://a.b.example.com"));
        assert!(!allowed(&list, "https://example.com"));
        assert!(!allowed(&list, "https://.example.com"));
        assert!(!allowed(&list, "https://evil-example.com"));
        assert!(!allowed(&list, "https://aexample.com"));
        assert!(!allowed(&list, "https://a.example.com:8443"));
        assert!(!allowed(&list, "http://a.example.com"));
        assert!(!allowed(&list, "https://*.example.com"));
    }

    #[test]
    fn star_and_an_empty_list_allow_everything() {
        assert!(allowed(&[], "https://anything.net"));
        assert!(allowed(&["https://a.com", "*"], "null"));
    }

    #[test]
    fn malformed_patterns_are_named() {
        for bad in [
            "example.com",
            "https://",
            "https://example.com/",
            "https://example.com/app",
            "https://user@example.com",
            "https://example.com?x",
            "https://exämple.com",
            "https://*example.com",
            "https://a.*.example.com",
            "https://*.com.*",
            "https://*.com",
            "https://example.com:0",
            "https://example.com:99999",
            "https://example.com:",
            "https://example.com:+443",
            "https://example.com.",
            "https://*.com.",
            "https://a..example.com",
            "1https://example.com",
            "*.example.com",
        ] {
            let problem = pattern_problem(bad);
            assert!(problem.is_some(), "{bad} was accepted");
            assert!(problem.unwrap().contains(&format!("{bad:?}")));
        }
        for good in [
            "*",
            "https://example.com",
            "https://*.example.com",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "http://[::1]:3000",
            "capacitor://localhost",
            "https://xn--exmple-cua.com",
            "https://my_host.example.com",
        ] {
            assert_eq!(pattern_problem(good), None, "{good}");
        }
        assert!(allowed(&["http://[::1]:3000"], "http://[::1]:3000"));
        assert!(allowed(&["http://[::1]"], "http://[::1]"));
    }
}
