//! The signed JSON documents a client presents: presence `channel_data` and sign-in `user_data`.

use super::channel_name::{validate_channel_name, SERVER_TO_USER_PREFIX};
use super::json_read::from_text;
use super::limits::Limits;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// A presence member as declared by the app's server in `channel_data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceMember {
    pub user_id: String,
    /// `user_info` as JSON text, if given and not null.
    pub user_info: Option<String>,
}

#[derive(Deserialize)]
struct ChannelData<'a> {
    user_id: Option<Value>,
    #[serde(borrow)]
    user_info: Option<&'a RawValue>,
}

/// serde also reads a struct from a JSON array (fields by position): `["42",null]` would
/// pass for `{"user_id":"42"}`. The data must be an object.
fn is_object_text(raw: &str) -> bool {
    raw.trim_start().starts_with('{')
}

/// Parses presence `channel_data`: `user_id` a string or number (stringified for identity),
/// at most `max_presence_user_id_length` characters; `user_info` at most
/// `max_presence_user_info_bytes` of JSON.
pub fn parse_channel_data(raw: &str, limits: &Limits) -> Result<PresenceMember, String> {
    let not_object = || "channel_data must be a JSON object".to_string();
    if !is_object_text(raw) {
        return Err(not_object());
    }
    let data: ChannelData = from_text(raw).map_err(|_| not_object())?;
    let user_id = match data.user_id {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err("channel_data.user_id must be a non-empty string or a number".into()),
    };
    let max_id = limits.max_presence_user_id_length;
    if user_id.chars().count() > max_id {
        return Err(format!(
            "channel_data.user_id is longer than {max_id} characters"
        ));
    }
    let user_info = member_info(data.user_info, "channel_data", limits)?;
    Ok(PresenceMember { user_id, user_info })
}

/// `user_info` as JSON text (none when absent or null), at most `max_presence_user_info_bytes`;
/// `document` names it in the refusal.
fn member_info(
    raw: Option<&RawValue>,
    document: &str,
    limits: &Limits,
) -> Result<Option<String>, String> {
    let Some(info) = raw.map(RawValue::get).filter(|text| *text != "null") else {
        return Ok(None);
    };
    let max_info = limits.max_presence_user_info_bytes;
    if info.len() > max_info {
        return Err(format!(
            "{document}.user_info is {} bytes, the maximum is {max_info} bytes",
            info.len()
        ));
    }
    Ok(Some(info.to_string()))
}

/// The presence member a signed-in connection is on a presence channel whose auth carries no
/// `channel_data` (Pusher's "presence for authenticated users"): the sign-in's `id`, and its
/// `user_info` only (never its watchlist), within the presence limits. `raw` is the
/// `user_data` the connection signed in with, already checked by [`parse_user_data`].
pub fn signed_in_member(raw: &str, limits: &Limits) -> Result<PresenceMember, String> {
    let (user, user_info) = read_user_data(raw, limits)?;
    let max_id = limits.max_presence_user_id_length;
    if user.id.chars().count() > max_id {
        return Err(format!(
            "user_data.id is longer than {max_id} characters, the longest a presence member's id may be"
        ));
    }
    Ok(PresenceMember {
        user_id: user.id,
        user_info: member_info(user_info, "user_data", limits)?,
    })
}

/// A user as declared in sign-in `user_data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigninUser {
    pub id: String,
    /// The first `max_watchlist_size` watched user ids.
    pub watchlist: Vec<String>,
    /// The watchlist was longer than allowed and was cut.
    pub watchlist_truncated: bool,
}

#[derive(Deserialize)]
struct UserData<'a> {
    id: Option<Value>,
    watchlist: Option<Value>,
    #[serde(borrow)]
    user_info: Option<&'a RawValue>,
}

/// Parses sign-in `user_data`: `id` a non-empty string usable in `#server-to-user-{id}`,
/// and an optional `watchlist` of user id strings.
pub fn parse_user_data(raw: &str, limits: &Limits) -> Result<SigninUser, String> {
    read_user_data(raw, limits).map(|(user, _)| user)
}

/// [`parse_user_data`], and the `user_info` as given (for [`signed_in_member`]).
fn read_user_data<'a>(
    raw: &'a str,
    limits: &Limits,
) -> Result<(SigninUser, Option<&'a RawValue>), String> {
    let not_object = || "user_data must be a JSON object".to_string();
    if !is_object_text(raw) {
        return Err(not_object());
    }
    let data: UserData = from_text(raw).map_err(|_| not_object())?;
    let user_info = data.user_info;
    let id = match data.id {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => return Err("user_data.id must be a non-empty string".into()),
    };
    if id == "." || id == ".." {
        // `/users/../terminate_connections` is `/terminate_connections` once a URL parser has
        // read it: such a user could never be terminated.
        return Err("user_data.id cannot be \".\" or \"..\": a URL path drops it".into());
    }
    validate_channel_name(
        &format!("{SERVER_TO_USER_PREFIX}{id}"),
        limits.max_channel_name_length,
    )
    .map_err(|e| format!("user_data.id cannot name a user channel: {e}"))?;
    let mut watchlist = match data.watchlist {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) if !s.is_empty() => Ok(s),
                _ => Err("user_data.watchlist must be an array of user id strings".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err("user_data.watchlist must be an array of user id strings".into()),
    };
    let watchlist_truncated = watchlist.len() > limits.max_watchlist_size;
    watchlist.truncate(limits.max_watchlist_size);
    Ok((
        SigninUser {
            id,
            watchlist,
            watchlist_truncated,
        },
        user_info,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_data_ids_and_info() {
        let l = Limits::default();
        let m = parse_channel_data(r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#, &l)
            .unwrap();
        assert_eq!(m.user_id, "10");
        assert_eq!(m.user_info.as_deref(), Some(r#"{"name":"Mr. Channels"}"#));
        let m = parse_channel_data(r#"{"user_id":"abc"}"#, &l).unwrap();
        assert_eq!((m.user_id.as_str(), m.user_info), ("abc", None));
        let m = parse_channel_data(r#"{"user_id":"abc","user_info":null}"#, &l).unwrap();
        assert_eq!(m.user_info, None);
    }

    #[test]
    fn channel_data_refusals() {
        let l = Limits::default();
        for bad in [
            "",
            "[]",
            "{}",
            // Found by the fuzz harness: serde reads structs from arrays too.
            r#"["42",null]"#,
            r#" [42]"#,
            r#"{"user_id":""}"#,
            r#"{"user_id":true}"#,
            r#"{"user_id":null}"#,
        ] {
            assert!(parse_channel_data(bad, &l).is_err(), "{bad}");
        }
        let long_id = format!(r#"{{"user_id":"{}"}}"#, "a".repeat(129));
        assert!(parse_channel_data(&long_id, &l)
            .unwrap_err()
            .contains("128"));
        let ok_id = format!(r#"{{"user_id":"{}"}}"#, "a".repeat(128));
        assert!(parse_channel_data(&ok_id, &l).is_ok());
        let big_info = format!(r#"{{"user_id":"a","user_info":"{}"}}"#, "x".repeat(1023));
        assert!(parse_channel_data(&big_info, &l)
            .unwrap_err()
            .contains("1024"));
    }

    #[test]
    fn a_signed_in_member_is_the_sign_in_id_and_user_info_only() {
        let l = Limits::default();
        let raw = r#"{"id":"ada","user_info":{"name":"Ada"},"watchlist":["bob"]}"#;
        let m = signed_in_member(raw, &l).unwrap();
        assert_eq!(m.user_id, "ada");
        assert_eq!(m.user_info.as_deref(), Some(r#"{"name":"Ada"}"#));
        let bare = signed_in_member(r#"{"id":"ada","user_info":null}"#, &l).unwrap();
        assert_eq!(bare.user_info, None);
        let big = format!(r#"{{"id":"ada","user_info":"{}"}}"#, "x".repeat(1100));
        let refused = signed_in_member(&big, &l).unwrap_err();
        assert!(
            refused.contains("user_data.user_info is 1102 bytes"),
            "{refused}"
        );
        let long = format!(r#"{{"id":"{}"}}"#, "u".repeat(129));
        assert!(signed_in_member(&long, &l)
            .unwrap_err()
            .contains("longer than 128"));
    }

    #[test]
    fn user_data() {
        let l = Limits::default();
        let u = parse_user_data(
            r#"{"id":"12345","user_info":{"n":1},"watchlist":["a","b"]}"#,
            &l,
        )
        .unwrap();
        assert_eq!(u.id, "12345");
        assert_eq!(u.watchlist, vec!["a", "b"]);
        assert!(!u.watchlist_truncated);
        for bad in [
            r#"{"id":12345}"#,
            r#"{"id":""}"#,
            "{}",
            "x",
            r#"{"id":"a b"}"#,
            r#"{"id":"."}"#,
            r#"{"id":".."}"#,
            r#"{"id":"%2e%2e"}"#,
            r#"{"id":"a","watchlist":[1]}"#,
            r#"["12345",["a"]]"#,
        ] {
            assert!(parse_user_data(bad, &l).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..150).map(|i| format!("\"u{i}\"")).collect();
        let u = parse_user_data(
            &format!(r#"{{"id":"x","watchlist":[{}]}}"#, many.join(",")),
            &l,
        )
        .unwrap();
        assert_eq!(u.watchlist.len(), 100);
        assert_eq!(u.watchlist[99], "u99");
        assert!(u.watchlist_truncated);
    }
}
