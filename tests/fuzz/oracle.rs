//! Independent answers to check the code under test against: HMAC tokens computed with the
//! hmac crate directly, and frames read with plain `serde_json::Value`.

use hmac::{Hmac, Mac};
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashMap;

pub const KEY: &str = "app-key";
pub const SECRET: &str = "app-secret";
pub const SID: &str = "123.456";

fn mac(secret: &str, message: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// `key:hex(HMAC-SHA256(secret, message))`.
pub fn token(secret: &str, message: &str) -> String {
    format!("{KEY}:{}", hex::encode(mac(secret, message)))
}

/// Whether `auth` is this app's key and the HMAC of `message` (hex in any case).
pub fn token_ok(auth: Option<&str>, message: &str) -> bool {
    let Some((key, sig)) = auth.and_then(|a| a.split_once(':')) else {
        return false;
    };
    key == KEY && hex::decode(sig).is_ok_and(|bytes| bytes == mac(SECRET, message))
}

/// The hex HMAC a REST request must carry.
pub fn hmac_hex(secret: &str, message: &str) -> String {
    hex::encode(mac(secret, message))
}

/// `channel_data` as its signature covers it: a string's contents, anything else's compact
/// JSON; `None` for a missing or null member (or text that is no JSON at all).
pub fn channel_data_as_signed(member_json: &str) -> Option<String> {
    signed_form(serde_json::from_str::<Value>(member_json).ok()?)
}

fn signed_form(channel_data: Value) -> Option<String> {
    match channel_data {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// One member of a JSON object, read on its own: members the code under test ignores may
/// hold what `Value` refuses (numbers out of range), so the object is not read as a whole.
pub fn member(object: &str, key: &str) -> Option<Value> {
    let members: HashMap<String, &RawValue> = serde_json::from_str(object).ok()?;
    serde_json::from_str(members.get(key)?.get()).ok()
}

/// A command frame's `data` object, whether sent as an object or double-encoded.
pub fn command_data(frame: &str) -> Option<serde_json::Map<String, Value>> {
    let data = match member(frame, "data")? {
        Value::String(s) => serde_json::from_str(&s).ok()?,
        other => other,
    };
    match data {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// What a subscribe frame asks for, read independently: (channel, auth, channel_data).
pub fn subscribe_request(frame: &str) -> Option<(String, Option<String>, Option<String>)> {
    let data = command_data(frame)?;
    let channel = data.get("channel")?.as_str()?.to_string();
    let auth = data.get("auth").and_then(Value::as_str).map(String::from);
    let channel_data = data.get("channel_data").cloned().and_then(signed_form);
    Some((channel, auth, channel_data))
}

/// Whether a subscribe frame carries the right auth for `channel` on socket [`SID`].
pub fn subscribe_authorised(frame: &str, signed_in: bool) -> bool {
    let Some((channel, auth, channel_data)) = subscribe_request(frame) else {
        return false;
    };
    let message = if channel.starts_with("presence-") {
        match channel_data {
            Some(cd) => format!("{SID}:{channel}:{cd}"),
            // A signed-in connection is its own member: the auth signs the channel only.
            None if signed_in => format!("{SID}:{channel}"),
            None => return false,
        }
    } else {
        // A private channel's auth may also sign the channel_data the client sent.
        match channel_data {
            Some(cd) => format!("{SID}:{channel}:{cd}"),
            None => format!("{SID}:{channel}"),
        }
    };
    token_ok(auth.as_deref(), &message)
}

/// The user id a sign-in frame proves with a right signature, if it does.
pub fn signed_in_user(frame: &str) -> Option<String> {
    let data = command_data(frame)?;
    let auth = data.get("auth")?.as_str()?;
    let user_data = data.get("user_data")?.as_str()?;
    if !token_ok(Some(auth), &format!("{SID}::user::{user_data}")) {
        return None;
    }
    match member(user_data, "id")? {
        Value::String(id) => Some(id),
        _ => None,
    }
}

/// The `user_id` a presence channel_data names: a non-empty string or a number's text.
pub fn presence_user_id(channel_data: &str) -> Option<String> {
    match member(channel_data, "user_id")? {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
