//! The glue's one error story for the internal wire (Worker ↔ Durable Objects): what failed,
//! said the same way in every log line and every 500. It travels as a `worker::Error` (what
//! the runtime, `?` and the `#[durable_object]` methods expect), or as a REST 500.

use crate::protocol::rest_error::RestError;
use std::fmt;

#[derive(Debug)]
pub enum InternalError {
    /// A Durable Object answered with a status its contract does not list.
    UnexpectedStatus {
        object: &'static str,
        status: u16,
        body: String,
    },
    /// The deployment's app configuration (`PUSHER_APPS`) does not load.
    Config(String),
    /// A Durable Object was asked to act before it learnt which app and channel it serves.
    UnknownIdentity,
}

impl InternalError {
    pub fn status(object: &'static str, status: u16, body: impl Into<String>) -> Self {
        InternalError::UnexpectedStatus {
            object,
            status,
            body: body.into(),
        }
    }
}

impl fmt::Display for InternalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InternalError::UnexpectedStatus {
                object,
                status,
                body,
            } if body.is_empty() => write!(f, "{object} answered HTTP {status}"),
            InternalError::UnexpectedStatus {
                object,
                status,
                body,
            } => write!(f, "{object} answered HTTP {status}: {body}"),
            InternalError::Config(why) => write!(f, "{why}"),
            InternalError::UnknownIdentity => write!(f, "room identity unknown"),
        }
    }
}

impl From<InternalError> for worker::Error {
    fn from(e: InternalError) -> Self {
        worker::Error::RustError(e.to_string())
    }
}

impl From<InternalError> for RestError {
    fn from(e: InternalError) -> Self {
        RestError::internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_object_and_the_status() {
        assert_eq!(
            InternalError::status("ledger", 503, "overloaded").to_string(),
            "ledger answered HTTP 503: overloaded"
        );
        assert_eq!(
            RestError::from(InternalError::status("room", 500, "")),
            RestError::internal("room answered HTTP 500")
        );
    }
}
