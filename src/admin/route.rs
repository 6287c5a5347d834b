//! The operators' API's paths and methods, as registry calls.

use crate::apps::contract::{RegistryRequest, MAX_LIST_LIMIT};
use crate::protocol::query::{percent_decode, QueryParams};
use crate::protocol::rest_error::RestError;

/// The prefix of every operators' API path.
pub const PREFIX: &str = "/admin";

/// The registry call for an API request (`path` after [`PREFIX`]; `body`, read only for the
/// methods that take one), or the refusal: 404 for no such path, 405 with `Allow`.
pub fn registry_call(
    method: &str,
    path: &str,
    query: &str,
    body: impl FnOnce() -> String,
) -> Result<RegistryRequest, RestError> {
    let full = format!("{PREFIX}{path}");
    let allow = allowed_methods(&full).ok_or_else(|| RestError::not_found(no_route(&full)))?;
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let id = || {
        parts
            .get(1)
            .map(|id| percent_decode(id))
            .unwrap_or_default()
    };
    Ok(match (method, parts.as_slice()) {
        ("GET", ["apps"]) => {
            let query = QueryParams::parse(query);
            RegistryRequest::List {
                after: query
                    .get("after")
                    .filter(|after| !after.is_empty())
                    .map(str::to_string),
                limit: query
                    .get("limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(MAX_LIST_LIMIT)
                    .clamp(1, MAX_LIST_LIMIT),
            }
        }
        ("POST", ["apps"]) => RegistryRequest::Create { body: body() },
        ("GET", ["apps", _]) => RegistryRequest::Read { id: id() },
        ("PATCH", ["apps", _]) => RegistryRequest::Update {
            id: id(),
            body: body(),
        },
        ("DELETE", ["apps", _]) => RegistryRequest::Delete { id: id() },
        ("POST", ["apps", _, "rotate"]) => RegistryRequest::Rotate {
            id: id(),
            body: body(),
        },
        _ => return Err(RestError::method_not_allowed(method, &full, allow)),
    })
}

fn no_route(path: &str) -> String {
    format!("No route for {path}: the operators' API has /admin/apps, /admin/apps/{{id}} and /admin/apps/{{id}}/rotate")
}

/// The methods an operators' API path takes (for `Allow`), or `None` for none.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix(PREFIX)?.trim_start_matches('/');
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["apps"] => Some("GET, POST"),
        ["apps", id] if !id.is_empty() => Some("GET, PATCH, DELETE"),
        ["apps", id, "rotate"] if !id.is_empty() => Some("POST"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, path: &str) -> Result<RegistryRequest, RestError> {
        registry_call(method, path, "", || "{}".to_string())
    }

    #[test]
    fn paths_and_methods_map_to_registry_calls() {
        assert_eq!(
            call("GET", "/apps"),
            Ok(RegistryRequest::List {
                after: None,
                limit: MAX_LIST_LIMIT
            })
        );
        assert_eq!(
            registry_call("GET", "/apps", "after=5&limit=0", String::new),
            Ok(RegistryRequest::List {
                after: Some("5".into()),
                limit: 1
            })
        );
        assert_eq!(
            call("PATCH", "/apps/my%20app"),
            Ok(RegistryRequest::Update {
                id: "my app".into(),
                body: "{}".into()
            })
        );
        assert_eq!(
            call("POST", "/apps/7/rotate"),
            Ok(RegistryRequest::Rotate {
                id: "7".into(),
                body: "{}".into()
            })
        );
        assert_eq!(
            call("DELETE", "/apps/7"),
            Ok(RegistryRequest::Delete { id: "7".into() })
        );
        let refused = call("PUT", "/apps/7").unwrap_err();
        assert_eq!(
            (refused.status, refused.allow),
            (405, Some("GET, PATCH, DELETE"))
        );
        for missing in ["/", "/apps/", "/apps/7/rotate/x", "/users"] {
            assert_eq!(call("GET", missing).unwrap_err().status, 404, "{missing}");
        }
    }
}
