//! An app as the registry stores it, and as the operators' API shows it.
//!
//! A stored record is read leniently: fields this version does not know are ignored, so an
//! old isolate (a rollback, or the old version during a deploy) reads what a newer one wrote.

use crate::config::{app_value, App};
use crate::protocol::json_read::from_text;
use crate::protocol::placement::Placement;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One app's record at a revision of the catalog; `app: None` is an app deleted at `rev` (kept
/// so an older copy pushed late cannot bring it back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    pub rev: u64,
    #[serde(default)]
    pub app: Option<App>,
    /// A deleted app's jurisdiction: its objects (the shards told of the deletion) are there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
}

impl StoredRecord {
    /// Where the objects of the record's app live (a deleted app's: where they lived).
    pub fn placement(&self) -> Placement {
        match &self.app {
            Some(app) => app.placement(),
            None => Placement {
                jurisdiction: self.jurisdiction.clone(),
                location_hint: None,
            },
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored record, ignoring unknown fields; `None` when it is not one at all.
    pub fn parse(text: &str) -> Option<StoredRecord> {
        from_text(text).ok()
    }
}

/// Where an app comes from: the environment (`PUSHER_APPS`, read-only in the API) or the
/// registry (managed through the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Environment,
    Registry,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Environment => "environment",
            Source::Registry => "registry",
        }
    }
}

/// How the operators' API shows an app: every setting, where it comes from, the expiry of each
/// secret being rotated out but never that secret, and the current secret only when
/// `with_secret` (at creation and rotation, the one time it is shown).
pub fn app_view(app: &App, source: Source, with_secret: bool) -> Value {
    let mut view = match app_value(app) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if !with_secret {
        view.remove("secret");
    }
    let expiries: Vec<Value> = app
        .previous_secrets
        .iter()
        .map(|p| serde_json::json!({ "expires_at": p.expires_at }))
        .collect();
    view.insert("previous_secrets".into(), Value::Array(expiries));
    // Webhook headers are write-only: their names, never their values.
    if let Some(Value::Array(hooks)) = view.get_mut("webhooks") {
        for hook in hooks.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(Value::Object(headers)) = hook.remove("headers") {
                let names = headers.keys().map(|name| Value::String(name.clone()));
                hook.insert("header_names".into(), Value::Array(names.collect()));
            }
        }
    }
    view.insert("source".into(), Value::String(source.as_str().into()));
    Value::Object(view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PreviousSecret;

    #[test]
    fn records_round_trip_and_read_newer_fields() {
        let record = StoredRecord {
            rev: 3,
            app: Some(App::new("1", "k", "s")),
            jurisdiction: None,
        };
        assert_eq!(StoredRecord::parse(&record.to_json()), Some(record));
        let newer = r#"{"rev":4,"app":{"id":"1","key":"k","secret":"s","colour":"red",
            "limits":{"max_rooms":1}},"origin":"api"}"#;
        let read = StoredRecord::parse(newer).unwrap();
        assert_eq!(read.app, Some(App::new("1", "k", "s")));
        assert_eq!(
            StoredRecord::parse(r#"{"rev":5}"#).unwrap().app,
            None,
            "a deletion"
        );
        assert_eq!(StoredRecord::parse("nope"), None);
        let deleted = StoredRecord {
            rev: 2,
            app: None,
            jurisdiction: Some("eu".into()),
        };
        assert_eq!(deleted.placement().jurisdiction.as_deref(), Some("eu"));
        assert_eq!(StoredRecord::parse(&deleted.to_json()), Some(deleted));
    }

    #[test]
    fn the_view_shows_a_secret_only_when_asked() {
        let mut app = App::new("1", "k", "current-secret");
        app.previous_secrets.push(PreviousSecret {
            secret: "old-secret".into(),
            expires_at: 99,
        });
        let view = app_view(&app, Source::Registry, false);
        let text = view.to_string();
        assert!(!text.contains("current-secret") && !text.contains("old-secret"));
        assert_eq!(view["previous_secrets"][0]["expires_at"], 99);
        assert_eq!(view["source"], "registry");
        assert_eq!(view["limits"]["max_connections"], Value::Null);
        let shown = app_view(&app, Source::Environment, true);
        assert_eq!(shown["secret"], "current-secret");
        assert!(!shown.to_string().contains("old-secret"));
    }

    #[test]
    fn the_view_names_webhook_headers_without_their_values() {
        let json = r#"{"id":"1","key":"k","secret":"s","webhooks":[{"url":"https://x",
            "headers":{"X-Api-Key":"gateway-key"}},{"url":"https://y"}]}"#;
        let app: App = serde_json::from_str(json).unwrap();
        let view = app_view(&app, Source::Registry, true);
        assert!(!view.to_string().contains("gateway-key"));
        assert_eq!(
            view["webhooks"][0]["header_names"],
            serde_json::json!(["X-Api-Key"])
        );
        assert_eq!(view["webhooks"][1].get("header_names"), None);
    }
}
