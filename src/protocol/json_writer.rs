//! The one small JSON writer behind every frame and answer the service builds by hand.
//!
//! Frames are written once per publish and sent as they are, and most of their parts are
//! JSON already (a client event's `data`, a member's `user_info`, a room's attributes), so a
//! writer that copies those parts and escapes only strings is both exact and cheap: one
//! buffer, no `Value` tree. Keys are the program's own constants and are written as given.

use std::fmt::Display;

/// Appends `s` as a JSON string literal (quotes included), escaped exactly as `serde_json`
/// escapes it: `"` `\` and control characters; everything else, non-ASCII too, as is.
pub fn push_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A JSON string literal (quotes included) for `s`.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_string(&mut out, s);
    out
}

/// `["a","b"]` from strings.
pub fn string_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(&mut out, item);
    }
    out.push(']');
    out
}

/// `[a,b]` from JSON texts.
pub fn raw_array<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.as_ref());
    }
    out.push(']');
    out
}

/// One JSON object, field by field, in the order written.
pub struct JsonObject {
    out: String,
    empty: bool,
}

impl Default for JsonObject {
    fn default() -> Self {
        JsonObject::new()
    }
}

impl JsonObject {
    pub fn new() -> Self {
        JsonObject::with_capacity(64)
    }

    /// `capacity`: the bytes the object will take, roughly (a frame around a payload).
    pub fn with_capacity(capacity: usize) -> Self {
        let mut out = String::with_capacity(capacity);
        out.push('{');
        JsonObject { out, empty: true }
    }

    /// Goes on writing an object already written (`{...}`): its fields, then more.
    pub fn reopen(object: &str) -> Self {
        let inner = object.trim_end().strip_suffix('}').unwrap_or(object);
        JsonObject {
            empty: inner.trim() == "{",
            out: inner.to_string(),
        }
    }

    fn key(&mut self, key: &str) {
        debug_assert!(!key.contains(['"', '\\']), "keys are written as given");
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    /// `"key":"value"`, the value escaped.
    pub fn string(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_string(&mut self.out, value);
        self
    }

    /// `"key":"value"` when there is a value; nothing otherwise.
    pub fn string_if(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.string(key, value),
            None => self,
        }
    }

    /// `"key":<json>`: `json` is JSON text already, copied as it is.
    pub fn raw(mut self, key: &str, json: &str) -> Self {
        self.key(key);
        self.out.push_str(json);
        self
    }

    /// `"key":<json>` for a key that is data (a channel name, a user id): escaped.
    pub fn raw_at(mut self, key: &str, json: &str) -> Self {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_string(&mut self.out, key);
        self.out.push(':');
        self.out.push_str(json);
        self
    }

    /// `"key":<number or boolean>`.
    pub fn value(mut self, key: &str, value: impl Display) -> Self {
        use std::fmt::Write;
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let samples = [
            "",
            "plain",
            "quote \" and backslash \\",
            "\n\r\t\u{8}\u{c}",
            "\u{0}\u{1}\u{1f}\u{7f}",
            "é ü 中文 🎉",
            "</script>",
        ];
        for s in samples {
            assert_eq!(json_string(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn objects_keep_field_order_and_copy_raw_json() {
        let text = JsonObject::new()
            .string("event", "a\"b")
            .string_if("channel", None)
            .string_if("user_id", Some("7"))
            .raw("data", r#"{"k":[1,2]}"#)
            .value("count", 3)
            .value("occupied", true)
            .raw_at("presence-\"x\"", "null")
            .finish();
        assert_eq!(
            text,
            r#"{"event":"a\"b","user_id":"7","data":{"k":[1,2]},"count":3,"occupied":true,"presence-\"x\"":null}"#
        );
        assert_eq!(JsonObject::new().finish(), "{}");
        assert_eq!(
            JsonObject::reopen(r#"{"a":1}"#).string("id", "x").finish(),
            r#"{"a":1,"id":"x"}"#
        );
        assert_eq!(
            JsonObject::reopen("{}").value("n", 2).finish(),
            r#"{"n":2}"#
        );
    }

    #[test]
    fn arrays() {
        assert_eq!(string_array(["1", "x\"y"]), r#"["1","x\"y"]"#);
        assert_eq!(string_array([]), "[]");
        let v: Value = serde_json::from_str(&raw_array([r#"{"a":1}"#, "null"])).unwrap();
        assert_eq!(v, json!([{"a": 1}, null]));
    }
}
