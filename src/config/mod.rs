//! App configuration: which apps exist, their credentials and their settings.
//!
//! Read from the Worker's environment: either `PUSHER_APPS` (a JSON array of app objects) or,
//! for a single app, `PUSHER_APP_ID` / `PUSHER_APP_KEY` / `PUSHER_APP_SECRET`. Invalid
//! configuration is an error that names the problem but never echoes a secret.

mod webhook;

use webhook::validate_webhook;
pub use webhook::{Webhook, WebhookFilter, WEBHOOK_EVENT_TYPES};

use crate::protocol::json_read::from_text;
use crate::protocol::limits::Limits;
use crate::protocol::origin::{pattern_problem, MAX_ALLOWED_ORIGINS};
use crate::protocol::placement::{placement_problem, Placement, JURISDICTIONS, LOCATION_HINTS};
use crate::protocol::rate_tier::{tier_problem, STANDARD_TIER};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// One app's credentials and settings. Configuration (`PUSHER_APPS`, the operators' API) is
/// read with [`parse_strict`], which refuses unknown settings so typos fail loudly; a stored
/// record is read leniently (unknown fields ignored), so an older version reads a newer one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub id: String,
    pub key: String,
    pub secret: String,
    /// A disabled app's clients are refused with 4003 and its REST calls with 403.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Clients may send `client-` events on private and presence channels.
    #[serde(default)]
    pub enable_client_messages: bool,
    /// Rooms broadcast `pusher_internal:subscription_count` on non-presence channels.
    #[serde(default)]
    pub enable_subscription_count: bool,
    /// Connections must sign in or subscribe to a private or presence channel within
    /// `limits.user_authentication_timeout_secs`, or they are closed with 4009.
    #[serde(default)]
    pub enable_user_authentication: bool,
    /// Where the app's webhooks go, each URL with the event types it wants.
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    /// Origins whose pages may connect (`protocol::origin`); empty: any origin.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Connections without an `Origin` header (server-side clients) are refused too.
    #[serde(default)]
    pub require_origin: bool,
    /// Which of the deployment's rate limits apply (`protocol::rate_tier`).
    #[serde(default = "standard_tier")]
    pub rate_limit_tier: String,
    /// Where the app's objects run and keep their data (`protocol::placement`): fixed when the
    /// app is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    /// Where the app's objects are first created (`protocol::placement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_hint: Option<String>,
    #[serde(default)]
    pub limits: Limits,
    /// Secrets being rotated out: each still verifies REST signatures and channel and user
    /// auth until its expiry, so the app's servers can move to `secret` without a gap.
    /// Webhooks and the dashboard's calls are signed with `secret`, the newest.
    #[serde(default)]
    pub previous_secrets: Vec<PreviousSecret>,
}

/// A secret that stays valid until `expires_at` (Unix seconds) while the app moves off it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSecret {
    pub secret: String,
    pub expires_at: i64,
}

/// Secrets an app may keep in rotation besides its current one.
pub const MAX_PREVIOUS_SECRETS: usize = 2;

impl App {
    /// Runs `check` with the current secret, then with each secret being rotated out that
    /// has not expired at `now_secs`, until one passes; a refusal is the current secret's
    /// (what the caller is told is what the secret it should use found wrong).
    pub fn verify_with_secrets<E>(
        &self,
        now_secs: i64,
        check: impl Fn(&str) -> Result<(), E>,
    ) -> Result<(), E> {
        let refused = match check(&self.secret) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let previous = self.secrets_at(now_secs).skip(1);
        for secret in previous {
            if check(secret).is_ok() {
                return Ok(());
            }
        }
        Err(refused)
    }

    /// The secrets that verify a signature at `now_secs`: the current one first, then those
    /// being rotated out that have not expired.
    pub fn secrets_at(&self, now_secs: i64) -> impl Iterator<Item = &str> {
        std::iter::once(self.secret.as_str()).chain(
            self.previous_secrets
                .iter()
                .filter(move |p| p.expires_at > now_secs)
                .map(|p| p.secret.as_str()),
        )
    }

    /// Where the app's objects live.
    pub fn placement(&self) -> Placement {
        Placement {
            jurisdiction: self.jurisdiction.clone(),
            location_hint: self.location_hint.clone(),
        }
    }

    /// An app as `PUSHER_APPS` reads one that gives only its credentials: enabled, every
    /// switch off, no webhooks, default limits.
    pub fn new(id: &str, key: &str, secret: &str) -> Self {
        App {
            id: id.into(),
            key: key.into(),
            secret: secret.into(),
            enabled: enabled_by_default(),
            enable_client_messages: false,
            enable_subscription_count: false,
            enable_user_authentication: false,
            webhooks: Vec::new(),
            allowed_origins: Vec::new(),
            require_origin: false,
            rate_limit_tier: standard_tier(),
            jurisdiction: None,
            location_hint: None,
            limits: Limits::default(),
            previous_secrets: Vec::new(),
        }
    }
}

fn enabled_by_default() -> bool {
    true
}

fn standard_tier() -> String {
    STANDARD_TIER.to_string()
}

// Hand-written so a secret can never reach a log line through `{:?}`.
impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .field("enabled", &self.enabled)
            .field("enable_client_messages", &self.enable_client_messages)
            .field("enable_subscription_count", &self.enable_subscription_count)
            .field(
                "enable_user_authentication",
                &self.enable_user_authentication,
            )
            .field("webhooks", &self.webhooks)
            .field("limits", &self.limits)
            .field("previous_secrets", &self.previous_secrets.len())
            .finish()
    }
}

/// The configured apps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apps {
    apps: Vec<Rc<App>>,
}

/// The raw configuration values, as read from the environment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RawConfig {
    pub apps_json: Option<String>,
    pub app_id: Option<String>,
    pub app_key: Option<String>,
    pub app_secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Invalid app configuration: {}", self.0)
    }
}

impl Apps {
    pub fn from_raw(raw: &RawConfig) -> Result<Apps, ConfigError> {
        let singles = [&raw.app_id, &raw.app_key, &raw.app_secret];
        let apps = match &raw.apps_json {
            Some(json) => {
                if singles.iter().any(|v| v.is_some()) {
                    return Err(ConfigError(
                        "set either PUSHER_APPS or PUSHER_APP_ID/PUSHER_APP_KEY/PUSHER_APP_SECRET, not both"
                            .into(),
                    ));
                }
                parse_apps_json(json)?
            }
            None => match (&raw.app_id, &raw.app_key, &raw.app_secret) {
                (Some(id), Some(key), Some(secret)) => vec![App::new(id, key, secret)],
                // No environment apps: every app is the registry's (the operators' API).
                (None, None, None) => Vec::new(),
                _ => return Err(ConfigError(
                    "PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET must all be set together"
                        .into(),
                )),
            },
        };
        validate(&apps)?;
        Ok(Apps {
            apps: apps.into_iter().map(Rc::new).collect(),
        })
    }

    pub fn by_key(&self, key: &str) -> Option<&Rc<App>> {
        self.apps.iter().find(|a| a.key == key)
    }

    pub fn by_id(&self, id: &str) -> Option<&Rc<App>> {
        self.apps.iter().find(|a| a.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rc<App>> {
        self.apps.iter()
    }
}

fn parse_apps_json(json: &str) -> Result<Vec<App>, ConfigError> {
    parse_strict(json, &Value::Array(vec![app_shape()])).map_err(|e| {
        let shape = "does not match the expected shape (an array of {\"id\",\"key\",\"secret\"} objects with known settings only)";
        ConfigError(match e {
            StrictError::Syntax { line, column } => {
                format!("PUSHER_APPS is not valid JSON (line {line}, column {column})")
            }
            StrictError::Shape { line, column } => {
                format!("PUSHER_APPS {shape} (line {line}, column {column})")
            }
            StrictError::Unknown(path) => {
                format!("PUSHER_APPS {shape}: unknown setting {path:?}")
            }
        })
    })
}

/// Why a strictly parsed JSON text was refused. No variant holds a value from the text (a
/// secret of the wrong type must never reach an error message): only where, and what kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictError {
    Syntax {
        line: usize,
        column: usize,
    },
    Shape {
        line: usize,
        column: usize,
    },
    /// A field no setting has, by its path (`0.limits.max_conections`).
    Unknown(String),
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictError::Syntax { line, column } => {
                write!(f, "is not valid JSON (line {line}, column {column})")
            }
            StrictError::Shape { line, column } => write!(
                f,
                "has a value of the wrong type or a missing field (line {line}, column {column})"
            ),
            StrictError::Unknown(path) => write!(f, "has an unknown setting {path:?}"),
        }
    }
}

/// Parses configuration text, refusing any field that `shape` (a JSON value with every field the
/// type has: [`app_shape`]) does not have, where a stored record is parsed leniently with the
/// same types. (A check against the serialized shape, rather than a wrapping deserializer,
/// keeps one copy of each type's parser in the bundle.)
pub fn parse_strict<T: DeserializeOwned>(text: &str, shape: &Value) -> Result<T, StrictError> {
    let value: Value = from_text(text).map_err(located)?;
    if let Some(path) = unknown_field(&value, shape) {
        return Err(StrictError::Unknown(path));
    }
    from_text(text).map_err(located)
}

/// A parse error as a [`StrictError`]: where, and what kind, never the value.
pub fn located(e: serde_json::Error) -> StrictError {
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            StrictError::Syntax {
                line: e.line(),
                column: e.column(),
            }
        }
        _ => StrictError::Shape {
            line: e.line(),
            column: e.column(),
        },
    }
}

/// An app as a JSON value, through its text: `serde_json::to_value` would be a second App
/// writer in the bundle (the text one is there for records anyway).
pub fn app_value(app: &App) -> Value {
    serde_json::to_string(app)
        .ok()
        .and_then(|text| from_text(&text).ok())
        .unwrap_or(Value::Null)
}

/// Every field an app may have, as JSON: an app with one webhook and one previous secret, so
/// the shape of their elements shows too.
pub fn app_shape() -> Value {
    let mut app = App::new("", "", "");
    app.jurisdiction = Some(String::new());
    app.location_hint = Some(String::new());
    app.webhooks.push(Webhook {
        url: String::new(),
        event_types: Vec::new(),
        filter: WebhookFilter {
            channel_name_starts_with: Some(String::new()),
            channel_name_ends_with: Some(String::new()),
        },
        headers: BTreeMap::new(),
    });
    app.previous_secrets.push(PreviousSecret {
        secret: String::new(),
        expires_at: 0,
    });
    let mut shape = app_value(&app);
    // Headers are named by the operator: any name goes (their values are checked as strings).
    shape["webhooks"][0]["headers"] = Value::Null;
    shape
}

/// The path (`0.limits.max_conections`) of the first field of `given` that `shape` does not
/// have; an array's elements are checked against the shape's first element.
pub fn unknown_field(given: &Value, shape: &Value) -> Option<String> {
    let nested = |name: String, inner: Option<String>| match inner {
        Some(rest) => format!("{name}.{rest}"),
        None => name,
    };
    match (given, shape) {
        (Value::Object(fields), Value::Object(known)) => {
            fields
                .iter()
                .find_map(|(name, value)| match known.get(name) {
                    None => Some(name.clone()),
                    Some(known) => {
                        unknown_field(value, known).map(|rest| nested(name.clone(), Some(rest)))
                    }
                })
        }
        (Value::Array(items), Value::Array(known)) => {
            let element = known.first()?;
            items.iter().enumerate().find_map(|(i, item)| {
                unknown_field(item, element).map(|rest| nested(i.to_string(), Some(rest)))
            })
        }
        _ => None,
    }
}

fn validate(apps: &[App]) -> Result<(), ConfigError> {
    for (i, app) in apps.iter().enumerate() {
        let name = format!("app #{i} (id {:?})", app.id);
        validate_app(app).map_err(|e| ConfigError(format!("{name}: {e}")))?;
        if apps[..i].iter().any(|a| a.id == app.id) {
            return Err(ConfigError(format!("{name}: id is used by another app")));
        }
        if apps[..i].iter().any(|a| a.key == app.key) {
            return Err(ConfigError(format!("{name}: key is used by another app")));
        }
    }
    Ok(())
}

/// Whether an app id has the shape every app's must: what REST paths and object names carry.
pub fn valid_app_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CREDENTIAL_LENGTH
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Whether a key or secret has the shape every app's must.
pub fn valid_credential(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_CREDENTIAL_LENGTH
        && s.chars().all(|c| c.is_ascii_graphic() && c != ':')
}

/// Longest id, key or secret.
pub const MAX_CREDENTIAL_LENGTH: usize = 128;

/// Checks one app's fields (not whether another app has its id or key); the message names
/// the field, never a secret's value.
pub fn validate_app(app: &App) -> Result<(), String> {
    if !valid_app_id(&app.id) {
        return Err(format!(
            "id must be 1-{MAX_CREDENTIAL_LENGTH} characters of A-Z a-z 0-9 - _ ."
        ));
    }
    if !valid_credential(&app.key) {
        return Err(format!(
            "key must be 1-{MAX_CREDENTIAL_LENGTH} characters of printable ASCII without ':' or spaces"
        ));
    }
    if !valid_credential(&app.secret) {
        return Err(format!(
            "secret must be 1-{MAX_CREDENTIAL_LENGTH} characters of printable ASCII without ':' or spaces"
        ));
    }
    if app.previous_secrets.len() > MAX_PREVIOUS_SECRETS {
        return Err(format!("at most {MAX_PREVIOUS_SECRETS} previous_secrets"));
    }
    for (p, previous) in app.previous_secrets.iter().enumerate() {
        if !valid_credential(&previous.secret) || previous.secret == app.secret {
            return Err(format!(
                "previous_secrets[{p}].secret must be printable ASCII without ':' or \
                 spaces, and not the current secret"
            ));
        }
        if previous.expires_at <= 0 {
            return Err(format!(
                "previous_secrets[{p}].expires_at must be a Unix time in seconds"
            ));
        }
    }
    app.limits.validate()?;
    if app.allowed_origins.len() > MAX_ALLOWED_ORIGINS {
        return Err(format!("at most {MAX_ALLOWED_ORIGINS} allowed_origins"));
    }
    if let Some(problem) = app.allowed_origins.iter().find_map(|p| pattern_problem(p)) {
        return Err(format!("allowed_origins: {problem}"));
    }
    if let Some(problem) = tier_problem(&app.rate_limit_tier) {
        return Err(format!("rate_limit_tier: {problem}"));
    }
    let placed = [
        ("jurisdiction", &app.jurisdiction, &JURISDICTIONS[..]),
        ("location_hint", &app.location_hint, &LOCATION_HINTS[..]),
    ];
    for (setting, value, allowed) in placed {
        if let Some(problem) = value
            .as_deref()
            .and_then(|v| placement_problem(setting, v, allowed))
        {
            return Err(problem);
        }
    }
    for (w, hook) in app.webhooks.iter().enumerate() {
        validate_webhook(hook).map_err(|e| format!("webhooks[{w}] {e}"))?;
        same_url_problem(&app.webhooks, w).map_err(|e| format!("webhooks[{w}] {e}"))?;
    }
    Ok(())
}

/// Webhooks to one URL share its queue (and its headers), so two of them may not both want an
/// event (it would go twice): they must name event types, none in common, and the same headers.
fn same_url_problem(hooks: &[Webhook], w: usize) -> Result<(), String> {
    let hook = &hooks[w];
    let Some(earlier) = hooks[..w].iter().position(|h| h.url == hook.url) else {
        return Ok(());
    };
    let other = &hooks[earlier];
    let overlap = hook.event_types.is_empty()
        || other.event_types.is_empty()
        || hook
            .event_types
            .iter()
            .any(|t| other.event_types.contains(t));
    if overlap || hook.headers != other.headers {
        return Err(format!(
            "has the url of webhooks[{earlier}]: give them event_types with none in common and the same headers, or make them one"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_json(json: &str) -> RawConfig {
        RawConfig {
            apps_json: Some(json.into()),
            ..RawConfig::default()
        }
    }

    #[test]
    fn previous_secrets_verify_until_they_expire_and_are_checked() {
        let apps = Apps::from_raw(&raw_json(
            r#"[{"id":"1","key":"k","secret":"new","previous_secrets":[{"secret":"retired-1","expires_at":1000}]}]"#,
        ))
        .unwrap();
        let app = apps.by_id("1").unwrap();
        assert_eq!(
            app.secrets_at(999).collect::<Vec<_>>(),
            ["new", "retired-1"]
        );
        assert_eq!(
            app.secrets_at(1000).collect::<Vec<_>>(),
            ["new"],
            "expired at its second"
        );
        let check = |secret: &str| match secret {
            "retired-1" => Ok(()),
            other => Err(other.to_string()),
        };
        assert_eq!(app.verify_with_secrets(999, check), Ok(()));
        assert_eq!(
            app.verify_with_secrets(1000, check),
            Err("new".to_string()),
            "the current secret's refusal"
        );
        assert!(
            !format!("{app:?}").contains("retired-1"),
            "never in a log line"
        );
        for (bad, why) in [
            (
                r#"[{"secret":"new","expires_at":5}]"#,
                "not the current secret",
            ),
            (r#"[{"secret":"a b","expires_at":5}]"#, "printable ASCII"),
            (r#"[{"secret":"retired-1","expires_at":0}]"#, "Unix time"),
            (
                r#"[{"secret":"a","expires_at":5},{"secret":"b","expires_at":5},{"secret":"c","expires_at":5}]"#,
                "at most 2",
            ),
            (
                r#"[{"secret":"retired-1","expires_at":5,"note":"x"}]"#,
                "known settings only",
            ),
        ] {
            let json =
                format!(r#"[{{"id":"1","key":"k","secret":"new","previous_secrets":{bad}}}]"#);
            let error = Apps::from_raw(&raw_json(&json)).unwrap_err().to_string();
            assert!(error.contains(why), "{error}");
            assert!(!error.contains("retired-1"), "no secret echoed: {error}");
        }
    }

    #[test]
    fn no_environment_apps_is_a_configuration() {
        for raw in [RawConfig::default(), raw_json("[]")] {
            assert_eq!(Apps::from_raw(&raw).unwrap().iter().count(), 0);
        }
    }

    #[test]
    fn strict_parsing_names_the_unknown_setting() {
        let error = Apps::from_raw(&raw_json(
            r#"[{"id":"1","key":"k","secret":"s","limits":{"max_conections":5}}]"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("unknown setting \"0.limits.max_conections\""),
            "{error}"
        );
        let lenient: App = serde_json::from_str(
            r#"{"id":"1","key":"k","secret":"s","future":1,"limits":{"future":2}}"#,
        )
        .unwrap();
        assert_eq!(
            lenient,
            App::new("1", "k", "s"),
            "a stored record is read leniently"
        );
        assert_eq!(
            parse_strict::<App>(r#"{"id":"1","key":"k","secret":"s"} x"#, &app_shape()),
            Err(StrictError::Syntax {
                line: 1,
                column: 35
            })
        );
    }

    #[test]
    fn single_app_from_env_vars() {
        let raw = RawConfig {
            app_id: Some("1".into()),
            app_key: Some("k".into()),
            app_secret: Some("s".into()),
            ..RawConfig::default()
        };
        let apps = Apps::from_raw(&raw).unwrap();
        assert_eq!(apps.iter().count(), 1);
        assert_eq!(apps.by_key("k").unwrap().id, "1");
        assert_eq!(apps.by_id("1").unwrap().secret, "s");
        assert!(apps.by_key("s").is_none());
    }

    #[test]
    fn app_new_is_an_app_configured_by_its_credentials_alone() {
        let apps = Apps::from_raw(&raw_json(r#"[{"id":"1","key":"k","secret":"s"}]"#)).unwrap();
        assert_eq!(
            apps.by_id("1").map(|a| &**a),
            Some(&App::new("1", "k", "s"))
        );
    }

    #[test]
    fn several_apps_from_json_with_limits() {
        let apps = Apps::from_raw(&raw_json(
            r#"[{"id":"1","key":"k1","secret":"s1"},
                {"id":"2","key":"k2","secret":"s2","limits":{"max_event_payload_bytes":20480}}]"#,
        ))
        .unwrap();
        assert_eq!(apps.iter().count(), 2);
        assert_eq!(
            apps.by_key("k2").unwrap().limits.max_event_payload_bytes,
            20480
        );
        assert_eq!(apps.by_key("k1").unwrap().limits, Limits::default());
    }

    #[test]
    fn bad_configuration_is_loud_and_never_echoes_secrets() {
        let cases = [
            (
                RawConfig {
                    app_id: Some("1".into()),
                    ..RawConfig::default()
                },
                "must all be set together",
            ),
            (raw_json("not json"), "is not valid JSON"),
            (raw_json(r#"[{"id":"1","key":"k"}]"#), "expected shape"),
            (
                raw_json(r#"[{"id":"1","key":"k","secret":12345678}]"#),
                "expected shape",
            ),
            (
                raw_json(r#"[{"id":"1","key":"k","secret":"s","sekret":"x"}]"#),
                "expected shape",
            ),
            (
                raw_json(r#"[{"id":"","key":"k","secret":"s"}]"#),
                "id must be",
            ),
            (
                raw_json(r#"[{"id":"1","key":"a:b","secret":"s"}]"#),
                "key must be",
            ),
            (
                raw_json(r#"[{"id":"1","key":"k","secret":"has space"}]"#),
                "secret must be",
            ),
            (
                raw_json(
                    r#"[{"id":"1","key":"k","secret":"s"},{"id":"1","key":"k2","secret":"s"}]"#,
                ),
                "id is used",
            ),
            (
                raw_json(
                    r#"[{"id":"1","key":"k","secret":"s"},{"id":"2","key":"k","secret":"s"}]"#,
                ),
                "key is used",
            ),
            (
                raw_json(
                    r#"[{"id":"1","key":"k","secret":"s","limits":{"max_channels_per_trigger":0}}]"#,
                ),
                "max_channels_per_trigger",
            ),
        ];
        for (raw, needle) in cases {
            let err = Apps::from_raw(&raw).unwrap_err().to_string();
            assert!(err.contains(needle), "{raw:?}: {err}");
            assert!(
                !err.contains("12345678") && !err.contains("has space"),
                "{err}"
            );
        }
        let mut both = raw_json(r#"[{"id":"1","key":"k","secret":"s"}]"#);
        both.app_id = Some("2".into());
        assert!(Apps::from_raw(&both).unwrap_err().0.contains("not both"));
    }

    #[test]
    fn settings_default_and_parse() {
        let apps = Apps::from_raw(&raw_json(
            r#"[{"id":"1","key":"k","secret":"s"},
                {"id":"2","key":"k2","secret":"s","enabled":false,"enable_user_authentication":true,
                 "webhooks":[{"url":"https://example.com/hook","event_types":["member_added"]}],
                 "limits":{"max_connections":100,"max_broadcasts_per_month":5000}}]"#,
        ))
        .unwrap();
        let one = apps.by_id("1").unwrap();
        assert!(one.enabled && !one.enable_user_authentication && one.webhooks.is_empty());
        assert_eq!(one.limits.max_connections, None);
        let two = apps.by_id("2").unwrap();
        assert!(!two.enabled && two.enable_user_authentication);
        assert_eq!(two.webhooks[0].event_types, vec!["member_added"]);
        assert_eq!(two.limits.max_connections, Some(100));
        assert_eq!(two.limits.max_broadcasts_per_month, Some(5000));
    }

    #[test]
    fn bad_webhooks_are_named() {
        let cases = [
            (r#"[{"url":"ftp://x"}]"#, "webhooks[0] url must start"),
            (r#"[{"url":"https://"}]"#, "must name a host"),
            (
                r#"[{"url":"https://x","event_types":["channel_ocupied"]}]"#,
                "unknown type \"channel_ocupied\"",
            ),
            (r#"[{"uri":"https://x"}]"#, "expected shape"),
            (
                r#"[{"url":"https://x","headers":{"X-Pusher-Key":"k"}}]"#,
                "headers \"X-Pusher-Key\": is set by the service",
            ),
            (
                r#"[{"url":"https://x","headers":{"content-type":"text/plain"}}]"#,
                "headers \"content-type\": is set by the service",
            ),
            (
                r#"[{"url":"https://x","headers":{"Transfer-Encoding":"chunked"}}]"#,
                "hop-by-hop",
            ),
            (
                r#"[{"url":"https://x"},{"url":"https://x","event_types":["member_added"]}]"#,
                "webhooks[1] has the url of webhooks[0]",
            ),
            (
                r#"[{"url":"https://x","event_types":["member_added","member_removed"]},
                    {"url":"https://x","event_types":["member_removed"]}]"#,
                "webhooks[1] has the url of webhooks[0]",
            ),
            (
                r#"[{"url":"https://x","event_types":["member_added"]},
                    {"url":"https://x","event_types":["member_removed"],"headers":{"X-K":"v"}}]"#,
                "give them event_types with none in common and the same headers",
            ),
            (
                r#"[{"url":"https://x","headers":{"X Key":"v"}}]"#,
                "an HTTP token",
            ),
            (
                r#"[{"url":"https://x","headers":{"X-Key":"a\nb"}}]"#,
                "printable ASCII",
            ),
            (
                r#"[{"url":"https://x","headers":{"X-Key":1}}]"#,
                "expected shape",
            ),
            (
                r#"[{"url":"https://x","filter":{"channel_name_contains":"a"}}]"#,
                "unknown setting",
            ),
            (
                r#"[{"url":"https://x","headers":{"X-Key":"a","x-key":"b"}}]"#,
                "named twice",
            ),
        ];
        for (hooks, needle) in cases {
            let json = format!(r#"[{{"id":"1","key":"k","secret":"s","webhooks":{hooks}}}]"#);
            let err = Apps::from_raw(&raw_json(&json)).unwrap_err().to_string();
            assert!(err.contains(needle), "{hooks}: {err}");
        }
    }

    #[test]
    fn webhook_filters_and_headers() {
        let json = r#"[{"id":"1","key":"k","secret":"s","webhooks":[{"url":"https://x",
            "event_types":["channel_occupied"],
            "filter":{"channel_name_starts_with":"presence-","channel_name_ends_with":"-room"},
            "headers":{"X-Api-Key":"gateway-key","Authorization":"Bearer t"}}]}]"#;
        let apps = Apps::from_raw(&raw_json(json)).unwrap();
        let hook = &apps.by_id("1").unwrap().webhooks[0];
        assert!(hook.wants("channel_occupied", "presence-a-room"));
        assert!(!hook.wants("channel_occupied", "presence-a"));
        assert!(!hook.wants("channel_occupied", "private-a-room"));
        assert!(!hook.wants("channel_vacated", "presence-a-room"));
        assert_eq!(hook.headers["X-Api-Key"], "gateway-key");
        assert!(!format!("{hook:?}").contains("gateway-key"));
        let open = Webhook {
            url: "https://y".into(),
            event_types: Vec::new(),
            filter: WebhookFilter::default(),
            headers: BTreeMap::new(),
        };
        assert!(open.wants("member_added", "anything"));
        // An app without them reads and writes as before.
        let plain = serde_json::to_string(&open).unwrap();
        assert_eq!(plain, r#"{"url":"https://y","event_types":[]}"#);
    }

    #[test]
    fn one_url_may_take_event_types_apart_as_pusher_s_dashboard_sets_them() {
        let json = r#"[{"id":"1","key":"k","secret":"s","webhooks":[
            {"url":"https://x","event_types":["channel_occupied","channel_vacated"]},
            {"url":"https://x","event_types":["member_added"]}]}]"#;
        assert!(Apps::from_raw(&raw_json(json)).is_ok());
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let apps =
            Apps::from_raw(&raw_json(r#"[{"id":"1","key":"k","secret":"topsecret"}]"#)).unwrap();
        let shown = format!("{apps:?}");
        assert!(!shown.contains("topsecret") && shown.contains("<redacted>"));
    }
}
