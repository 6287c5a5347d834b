//! The REST API's channel attributes (`info=user_count,subscription_count,cache`): which apply
//! to which channel, and the JSON a channel answers with.

use super::channel_name::ChannelKind;
use super::json_writer::{raw_array, JsonObject};
use super::rest_error::RestError;

/// Requested attributes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InfoAttrs {
    pub user_count: bool,
    pub subscription_count: bool,
    pub cache: bool,
}

impl InfoAttrs {
    /// Parses a comma list. `allow_cache`: `cache` is an attribute of `GET /channels/{name}`
    /// only, not of triggers.
    pub fn parse(list: &str, allow_cache: bool) -> Result<InfoAttrs, RestError> {
        let mut attrs = InfoAttrs::default();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "user_count" => attrs.user_count = true,
                "subscription_count" => attrs.subscription_count = true,
                "cache" if allow_cache => attrs.cache = true,
                other => {
                    let known = if allow_cache {
                        "user_count, subscription_count or cache"
                    } else {
                        "user_count or subscription_count"
                    };
                    return Err(RestError::bad_request(format!(
                        "Unknown info attribute {other:?}: expected {known}"
                    )));
                }
            }
        }
        Ok(attrs)
    }

    pub fn is_empty(&self) -> bool {
        *self == InfoAttrs::default()
    }

    /// The attributes that apply to `channel`'s kind (triggers answer with those and leave
    /// the others out).
    pub fn applicable_to(&self, channel: &str) -> InfoAttrs {
        let kind = ChannelKind::of(channel);
        InfoAttrs {
            user_count: self.user_count && kind.is_presence(),
            subscription_count: self.subscription_count,
            cache: self.cache && kind.is_cache(),
        }
    }

    /// `GET /channels/{name}` refuses attributes that do not apply, as Pusher documents:
    /// `user_count` is for presence channels, `subscription_count` for the others (a presence
    /// channel counts users), `cache` for cache channels.
    pub fn check_applicable(&self, channel: &str) -> Result<(), RestError> {
        let fits = self.applicable_to(channel);
        if self.subscription_count && ChannelKind::of(channel).is_presence() {
            return Err(RestError::bad_request(format!(
                "subscription_count is not available for presence channels ({channel:?}): ask for user_count"
            )));
        }
        if self.user_count && !fits.user_count {
            return Err(RestError::bad_request(format!(
                "user_count is only available for presence channels, not {channel:?}"
            )));
        }
        if self.cache && !fits.cache {
            return Err(RestError::bad_request(format!(
                "cache is only available for cache channels, not {channel:?}"
            )));
        }
        Ok(())
    }

    /// The compact form rooms receive in a query parameter (`u`, `s`, `c` letters).
    pub fn to_param(self) -> String {
        let mut out = String::new();
        for (on, letter) in [
            (self.user_count, 'u'),
            (self.subscription_count, 's'),
            (self.cache, 'c'),
        ] {
            if on {
                out.push(letter);
            }
        }
        out
    }

    pub fn from_param(param: &str) -> InfoAttrs {
        InfoAttrs {
            user_count: param.contains('u'),
            subscription_count: param.contains('s'),
            cache: param.contains('c'),
        }
    }
}

/// What a room knows about itself when asked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChannelState {
    pub subscription_count: u64,
    /// Presence channels: distinct users.
    pub user_count: u64,
    /// Cache channels: the cached event's `data` and its remaining seconds.
    pub cache: Option<(String, u64)>,
}

/// `{"occupied":true,"user_count":2,...}` (with `occupied` for `GET /channels/{name}`) or
/// just the attributes (per channel, in a trigger's `{"channels":{...}}` answer).
pub fn info_json(state: &ChannelState, attrs: InfoAttrs, with_occupied: bool) -> String {
    let mut object = JsonObject::new();
    if with_occupied {
        object = object.value("occupied", state.subscription_count > 0);
    }
    if attrs.user_count {
        object = object.value("user_count", state.user_count);
    }
    if attrs.subscription_count {
        object = object.value("subscription_count", state.subscription_count);
    }
    if attrs.cache {
        // Nothing cached (or expired): `"cache":null`, as Pusher documents.
        let cache = state.cache.as_ref().map(|(data, ttl)| {
            JsonObject::new()
                .string("data", data)
                .value("ttl", ttl)
                .finish()
        });
        object = object.raw("cache", cache.as_deref().unwrap_or("null"));
    }
    object.finish()
}

/// `{"users":[{"id":"1"},{"id":"2"}]}`.
pub fn users_json<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let users = raw_array(
        ids.into_iter()
            .map(|id| JsonObject::new().string("id", id).finish()),
    );
    JsonObject::new().raw("users", &users).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_attributes() {
        let all = InfoAttrs::parse("user_count, subscription_count,cache", true).unwrap();
        assert!(all.user_count && all.subscription_count && all.cache);
        assert!(InfoAttrs::parse("", false).unwrap().is_empty());
        let err = InfoAttrs::parse("cache", false).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("\"cache\""));
        assert!(InfoAttrs::parse("members", true).is_err());

        let user_count = InfoAttrs::parse("user_count", true).unwrap();
        assert!(user_count.check_applicable("presence-a").is_ok());
        assert!(user_count
            .check_applicable("private-a")
            .unwrap_err()
            .message
            .contains("presence"));
        let subscriptions = InfoAttrs::parse("subscription_count", true).unwrap();
        assert!(subscriptions.check_applicable("presence-a").is_err());
        assert!(subscriptions.check_applicable("private-a").is_ok());
        let cache = InfoAttrs::parse("cache", true).unwrap();
        assert!(cache.check_applicable("private-cache-a").is_ok());
        assert!(cache.check_applicable("a").is_err());
        assert_eq!(
            all.applicable_to("chat"),
            InfoAttrs {
                subscription_count: true,
                ..InfoAttrs::default()
            }
        );
    }

    #[test]
    fn param_round_trip() {
        for attrs in [
            InfoAttrs::default(),
            InfoAttrs::parse("user_count,cache", true).unwrap(),
            InfoAttrs::parse("subscription_count", true).unwrap(),
        ] {
            assert_eq!(InfoAttrs::from_param(&attrs.to_param()), attrs);
        }
    }

    #[test]
    fn json_shapes() {
        let state = ChannelState {
            subscription_count: 3,
            user_count: 2,
            cache: Some(("{\"a\":1}".into(), 60)),
        };
        let all = InfoAttrs {
            user_count: true,
            subscription_count: true,
            cache: true,
        };
        assert_eq!(
            info_json(&state, all, true),
            r#"{"occupied":true,"user_count":2,"subscription_count":3,"cache":{"data":"{\"a\":1}","ttl":60}}"#
        );
        assert_eq!(
            info_json(&ChannelState::default(), InfoAttrs::default(), true),
            r#"{"occupied":false}"#
        );
        assert_eq!(info_json(&state, InfoAttrs::default(), false), "{}");
        let cache_only = InfoAttrs {
            cache: true,
            ..InfoAttrs::default()
        };
        assert_eq!(
            info_json(&ChannelState::default(), cache_only, true),
            r#"{"occupied":false,"cache":null}"#
        );
        assert_eq!(
            users_json(["1", "a\"b"]),
            r#"{"users":[{"id":"1"},{"id":"a\"b"}]}"#
        );
    }
}
