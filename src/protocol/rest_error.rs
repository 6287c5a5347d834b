//! A refused REST request: the HTTP status Pusher uses and a message, answered as
//! `{"error": message}`. Pure, so the protocol's parsers can return it; `crate::glue::http` turns it
//! into a response.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestError {
    pub status: u16,
    pub message: String,
    /// 405 only: the methods the path takes, for the `Allow` header.
    pub allow: Option<&'static str>,
}

impl RestError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        RestError {
            status,
            message: message.into(),
            allow: None,
        }
    }

    /// 405: the path exists but takes other methods.
    pub fn method_not_allowed(method: &str, path: &str, allow: &'static str) -> Self {
        RestError {
            allow: Some(allow),
            ..RestError::new(
                405,
                format!("{method} is not allowed on {path}: use {allow}"),
            )
        }
    }

    /// 400: the request is malformed or breaks a rule.
    pub fn bad_request(message: impl Into<String>) -> Self {
        RestError::new(400, message)
    }

    /// 401: the request is not signed by a known app.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        RestError::new(401, message)
    }

    /// 404: nothing is served at this path.
    pub fn not_found(message: impl Into<String>) -> Self {
        RestError::new(404, message)
    }

    /// 500: something behind the API failed; the message says what.
    pub fn internal(message: impl Into<String>) -> Self {
        RestError::new(500, message)
    }

    /// The same refusal, its message prefixed (`batch[3]: ...`).
    pub fn within(self, context: &str) -> Self {
        RestError {
            message: format!("{context}: {}", self.message),
            ..self
        }
    }

    /// The JSON body Pusher answers errors with.
    pub fn body(&self) -> String {
        super::json_writer::JsonObject::new()
            .string("error", &self.message)
            .finish()
    }
}

impl fmt::Display for RestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_pusher_error_json_with_the_message_escaped() {
        let e = RestError::bad_request("name \"x\" is reserved");
        assert_eq!(e.status, 400);
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v, serde_json::json!({ "error": "name \"x\" is reserved" }));
    }

    #[test]
    fn within_prefixes_the_message_and_keeps_the_status() {
        let e = RestError::new(413, "too big").within("batch[2]");
        assert_eq!(e, RestError::new(413, "batch[2]: too big"));
    }
}
