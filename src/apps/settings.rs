//! What the operators' API may change in an app, checked strictly, and when each change
//! takes effect.

use crate::config::{app_shape, app_value, located, unknown_field, validate_app, App};
use crate::protocol::json_read::from_text;
use crate::protocol::rest_error::RestError;
use serde_json::{Map, Value};

/// When a changed setting takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// At once for everything connected: checked per frame, per call or per event.
    Live,
    /// For connections made after the change: the connection read it when it started
    /// (timeouts sent in the handshake, its budgets, its frame limit).
    NewConnections,
    /// It lays out objects (shards, leaves): connections and rooms keep the old layout until
    /// they reconnect or restart.
    Reconnect,
}

impl Applies {
    pub fn as_str(self) -> &'static str {
        match self {
            Applies::Live => "live",
            Applies::NewConnections => "new_connections",
            Applies::Reconnect => "reconnect",
        }
    }
}

/// Settings a connection reads when it starts.
const NEW_CONNECTIONS: [&str; 11] = [
    "enable_user_authentication",
    "allowed_origins",
    "require_origin",
    "limits.user_authentication_timeout_secs",
    "limits.activity_timeout_secs",
    "limits.pong_timeout_secs",
    "limits.max_client_frame_bytes",
    "limits.max_upgrades_in_flight",
    "limits.session_subrequest_budget",
    "limits.session_cpu_budget_ms",
    "limits.session_cpu_micros_per_frame",
];

/// Settings that lay out objects.
const RECONNECT: [&str; 5] = [
    "location_hint",
    "limits.max_connections",
    "limits.connection_shards",
    "limits.user_directory_shards",
    "limits.channel_split_threshold",
];

/// When a change to `setting` (`enabled`, `limits.max_connections`) takes effect.
pub fn applies(setting: &str) -> Applies {
    if NEW_CONNECTIONS.contains(&setting) {
        Applies::NewConnections
    } else if RECONNECT.contains(&setting) {
        Applies::Reconnect
    } else {
        Applies::Live
    }
}

/// Fields the merge patch may not name: credentials change by creation or rotation only.
const FIXED: [&str; 4] = ["id", "key", "secret", "previous_secrets"];

/// The settings that differ between `old` and `new`, each with when it takes effect, in a
/// stable order (limits are named one by one): by name, as `flatten`'s map (a `BTreeMap`:
/// serde_json without `preserve_order`) iterates.
pub fn changed_settings(old: &App, new: &App) -> Vec<(String, Applies)> {
    let (old, new) = (flatten(old), flatten(new));
    // A setting written only when set (`location_hint`) can be in either: both are walked, in
    // name order (a map's; inserted, as a sort would bring its own copy into the bundle).
    let mut names = Map::new();
    for name in new.keys().chain(old.keys()) {
        names.insert(name.clone(), Value::Null);
    }
    names
        .keys()
        .filter(|name| old.get(*name) != new.get(*name) && !FIXED.contains(&name.as_str()))
        .map(|name| (name.clone(), applies(name)))
        .collect()
}

/// Top-level settings by name, and each limit as `limits.{name}`.
fn flatten(app: &App) -> Map<String, Value> {
    let mut flat = Map::new();
    if let Value::Object(map) = app_value(app) {
        for (name, value) in map {
            match (name.as_str(), value) {
                ("limits", Value::Object(limits)) => {
                    for (limit, value) in limits {
                        flat.insert(format!("limits.{limit}"), value);
                    }
                }
                (_, value) => {
                    flat.insert(name, value);
                }
            }
        }
    }
    flat
}

/// The app a live connection runs with after a change: `changed`'s live settings and
/// credentials, and what the connection read when it started (`held`) for the rest.
pub fn for_live_connection(held: &App, changed: &App) -> App {
    let held_flat = flatten(held);
    let mut next = match app_value(changed) {
        Value::Object(map) => map,
        _ => return changed.clone(),
    };
    for setting in NEW_CONNECTIONS.iter().chain(RECONNECT.iter()) {
        let Some(value) = held_flat.get(*setting) else {
            continue;
        };
        match setting.strip_prefix("limits.") {
            Some(limit) => {
                if let Some(Value::Object(limits)) = next.get_mut("limits") {
                    limits.insert(limit.to_string(), value.clone());
                }
            }
            None => {
                next.insert(setting.to_string(), value.clone());
            }
        }
    }
    // Read back from text, as every other App is: `from_value` would be a second App reader
    // in the bundle.
    from_text(&Value::Object(next).to_string()).unwrap_or_else(|_| changed.clone())
}

/// Applies an operator's JSON merge patch (RFC 7386: a field replaces, `null` resets to the
/// default, `limits` merges limit by limit) to `app`, checked as strictly as `PUSHER_APPS`.
pub fn apply_patch(app: &App, patch: &str) -> Result<App, RestError> {
    let patch = object_body(patch)?;
    // The value the app already has (`null` for none, as `merge` reads it) is no change: a
    // body read back from GET may name it.
    let jurisdiction = app.jurisdiction.clone().map_or(Value::Null, Value::String);
    if patch
        .get("jurisdiction")
        .is_some_and(|given| *given != jurisdiction)
    {
        return Err(RestError::bad_request(
            "jurisdiction is fixed when the app is created: the app's objects in another \
             jurisdiction would be other objects, without its state",
        ));
    }
    if let Some(fixed) = FIXED.iter().find(|f| patch.contains_key(**f)) {
        return Err(RestError::bad_request(format!(
            "{fixed} cannot be changed here: the key and id are fixed, and a secret changes by \
             POST /admin/apps/{{id}}/rotate"
        )));
    }
    let mut merged = app_value(app);
    merge(&mut merged, Value::Object(patch));
    checked_app(&merged)
}

/// An app from an operator's creation body: the settings it gives, and the generated id, key
/// and secret for those it leaves out.
pub fn new_app(body: &str, generated: App) -> Result<App, RestError> {
    let mut given = object_body(body)?;
    if given.contains_key("previous_secrets") {
        return Err(RestError::bad_request(
            "previous_secrets cannot be given: rotate the app's secret instead",
        ));
    }
    for (field, value) in [
        ("id", generated.id),
        ("key", generated.key),
        ("secret", generated.secret),
    ] {
        given.entry(field).or_insert(Value::String(value));
    }
    checked_app(&Value::Object(given))
}

/// A request body that must be a JSON object (an empty body is `{}`).
pub fn object_body(body: &str) -> Result<Map<String, Value>, RestError> {
    if body.trim().is_empty() {
        return Ok(Map::new());
    }
    match from_text::<Value>(body).map_err(located) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(RestError::bad_request("The body must be a JSON object")),
        Err(e) => Err(RestError::bad_request(format!("The body {e}"))),
    }
}

fn checked_app(value: &Value) -> Result<App, RestError> {
    // Checked as the value it already is; parsed from text by the parser stored records use.
    if let Some(path) = unknown_field(value, &app_shape()) {
        return Err(RestError::bad_request(format!("Unknown setting {path:?}")));
    }
    let app: App = from_text(&value.to_string()).map_err(|_| {
        // A position would point into the merged app, not into the operator's body.
        RestError::bad_request(
            "A setting has a value of the wrong type (booleans for switches, whole numbers for \
             limits, a list of {\"url\", \"event_types\"} for webhooks)",
        )
    })?;
    validate_app(&app).map_err(RestError::bad_request)?;
    Ok(app)
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(fields) = target {
        for (name, value) in patch {
            if value.is_null() {
                fields.remove(&name);
            } else {
                merge(fields.entry(name).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::placement::Placement;

    fn app() -> App {
        App::new("1", "k", "s")
    }

    #[test]
    fn a_patch_merges_limits_and_null_resets() {
        let patched = apply_patch(
            &app(),
            r#"{"enabled":false,"limits":{"max_connections":50,"activity_timeout_secs":60}}"#,
        )
        .unwrap();
        assert!(!patched.enabled);
        assert_eq!(patched.limits.max_connections, Some(50));
        assert_eq!(patched.limits.max_event_payload_bytes, 10 * 1024, "kept");
        let reset = apply_patch(&patched, r#"{"limits":{"max_connections":null}}"#).unwrap();
        assert_eq!(reset.limits.max_connections, None);
        assert_eq!(reset.limits.activity_timeout_secs, 60);
        assert_eq!(
            changed_settings(&app(), &patched),
            vec![
                ("enabled".to_string(), Applies::Live),
                (
                    "limits.activity_timeout_secs".into(),
                    Applies::NewConnections
                ),
                ("limits.max_connections".into(), Applies::Reconnect),
            ]
        );
        assert!(changed_settings(&patched, &patched).is_empty());
    }

    #[test]
    fn a_patch_is_strict() {
        for (patch, why) in [
            (r#"{"enabeld":true}"#, "Unknown setting \"enabeld\""),
            (
                r#"{"limits":{"max_conections":1}}"#,
                "\"limits.max_conections\"",
            ),
            (r#"{"secret":"x"}"#, "rotate"),
            (r#"{"key":"x"}"#, "fixed"),
            (r#"{"enabled":"yes"}"#, "wrong type"),
            (
                r#"{"limits":{"max_channels_per_trigger":0}}"#,
                "max_channels_per_trigger",
            ),
            (r#"{"webhooks":[{"url":"ftp://x"}]}"#, "webhooks[0]"),
            (r#"{"jurisdiction":"eu"}"#, "fixed when the app is created"),
            (
                r#"{"location_hint":"mars"}"#,
                "location_hint \"mars\" is not one of",
            ),
            ("[1]", "JSON object"),
            ("{", "not valid JSON"),
        ] {
            let refused = apply_patch(&app(), patch).unwrap_err();
            assert_eq!(refused.status, 400);
            assert!(
                refused.message.contains(why),
                "{patch}: {}",
                refused.message
            );
        }
    }

    #[test]
    fn a_patch_may_name_the_jurisdiction_the_app_has() {
        let eu = new_app(r#"{"jurisdiction":"eu"}"#, app()).unwrap();
        // The app's own settings sent back, jurisdiction and all: no change.
        let same = apply_patch(
            &eu,
            r#"{"jurisdiction":"eu","enable_client_messages":true}"#,
        )
        .unwrap();
        assert_eq!(same.jurisdiction.as_deref(), Some("eu"));
        assert!(same.enable_client_messages);
        assert_eq!(
            changed_settings(&eu, &same),
            vec![("enable_client_messages".to_string(), Applies::Live)]
        );
        // No jurisdiction is `null`: the same for an app without one, a change for one with.
        assert_eq!(
            apply_patch(&app(), r#"{"jurisdiction":null}"#).unwrap(),
            app()
        );
        for (placed, patch) in [
            (&eu, r#"{"jurisdiction":"fedramp"}"#),
            (&eu, r#"{"jurisdiction":"EU"}"#),
            (&eu, r#"{"jurisdiction":null}"#),
            (&eu, r#"{"jurisdiction":["eu"]}"#),
            (&app(), r#"{"jurisdiction":"eu"}"#),
        ] {
            let refused = apply_patch(placed, patch).unwrap_err();
            assert_eq!(refused.status, 400, "{patch}");
            assert_eq!(
                refused.message,
                "jurisdiction is fixed when the app is created: the app's objects in another \
                 jurisdiction would be other objects, without its state",
                "{patch}"
            );
        }
    }

    #[test]
    fn placement_is_chosen_at_creation_and_hinted_after() {
        let made = new_app(
            r#"{"jurisdiction":"eu","location_hint":"weur"}"#,
            App::new("1000001", "genkey", "gensecret"),
        )
        .unwrap();
        let placement = made.placement();
        assert_eq!(placement.jurisdiction.as_deref(), Some("eu"));
        assert_eq!(placement.location_hint.as_deref(), Some("weur"));
        let moved = apply_patch(&made, r#"{"location_hint":"apac"}"#).unwrap();
        assert_eq!(
            changed_settings(&made, &moved),
            vec![("location_hint".to_string(), Applies::Reconnect)]
        );
        assert_eq!(moved.jurisdiction.as_deref(), Some("eu"), "kept");
        // Removing the hint is a change too (the field is written only when set).
        let unhinted = apply_patch(&moved, r#"{"location_hint":null}"#).unwrap();
        assert_eq!(unhinted.location_hint, None);
        assert_eq!(
            changed_settings(&moved, &unhinted),
            vec![("location_hint".to_string(), Applies::Reconnect)]
        );
        assert!(new_app(r#"{"jurisdiction":"us"}"#, app()).is_err());
        // An app without them is placed as ever, and its record does not name them.
        assert_eq!(app().placement(), Placement::default());
        let record = serde_json::to_string(&app()).unwrap();
        assert!(!record.contains("jurisdiction") && !record.contains("location_hint"));
    }

    #[test]
    fn creation_fills_what_is_not_given() {
        let generated = App::new("1000001", "genkey", "gensecret");
        let made = new_app("", generated.clone()).unwrap();
        assert_eq!(made, generated);
        let given = new_app(
            r#"{"id":"my-app","enable_client_messages":true}"#,
            generated.clone(),
        )
        .unwrap();
        assert_eq!(
            (given.id.as_str(), given.key.as_str()),
            ("my-app", "genkey")
        );
        assert!(given.enable_client_messages);
        for (body, why) in [
            (r#"{"id":"a b"}"#, "id must be"),
            (r#"{"previous_secrets":[]}"#, "rotate"),
            (r#"{"colour":1}"#, "Unknown setting"),
        ] {
            let refused = new_app(body, generated.clone()).unwrap_err();
            assert!(refused.message.contains(why), "{body}: {}", refused.message);
        }
    }

    #[test]
    fn a_live_connection_takes_live_settings_only() {
        let held = app();
        let changed = apply_patch(
            &held,
            r#"{"enable_client_messages":true,"enable_user_authentication":true,
                "limits":{"max_client_events_per_second":2,"activity_timeout_secs":5,
                "max_connections":3}}"#,
        )
        .unwrap();
        let live = for_live_connection(&held, &changed);
        assert!(live.enable_client_messages);
        assert_eq!(live.limits.max_client_events_per_second, 2);
        assert!(!live.enable_user_authentication, "read at connect");
        assert_eq!(
            live.limits.activity_timeout_secs, 120,
            "sent in the handshake"
        );
        assert_eq!(live.limits.max_connections, None, "a layout");
    }
}
