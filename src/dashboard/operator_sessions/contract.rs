//! The operator sessions store's wire contract, pure data: one Durable Object for the whole
//! deployment (the dashboard is low traffic) that remembers the sessions logged out before
//! their cookie expired, and which apps each session opened a debug console on, so a logout
//! can close them.

use crate::protocol::query::QueryParams;
use crate::protocol::wire::{
    number, required, text, InternalRequest, RouteRow, Verb, WireError, WireRequest,
};

/// The Durable Object namespace binding of the store (see wrangler.toml).
pub const OPERATORS_BINDING: &str = "OPERATORS";
/// The store's one object.
pub const STORE_NAME: &str = "operators";
/// Apps one session may hold consoles on (each recorded so the logout can close it).
pub const MAX_CONSOLE_APPS: usize = 64;
/// Status of the store's refusal of one more console app for a session.
pub const TOO_MANY_APPS_STATUS: u16 = 429;

pub mod path {
    pub const CHECK: &str = "/check";
    pub const REVOKE: &str = "/revoke";
    pub const CONSOLE: &str = "/console";
}

mod param {
    pub const NONCE: &str = "nonce";
    pub const UNTIL: &str = "until";
    pub const APP: &str = "app";
}

/// What the store is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionsRequest {
    /// Whether the session was logged out (answer: `{"revoked":bool}`).
    Check { nonce: String },
    /// A logout: the session stays revoked until its cookie would expire (Unix s); the answer
    /// is the apps it opened consoles on (`{"apps":[...]}`), which the store then forgets.
    Revoke { nonce: String, until_secs: i64 },
    /// The session opened a console on `app_id` (remembered until `until_secs`).
    ConsoleOpened {
        nonce: String,
        app_id: String,
        until_secs: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionsRoute {
    Check,
    Revoke,
    ConsoleOpened,
}

impl InternalRequest for SessionsRequest {
    type Route = SessionsRoute;
    const ROUTES: &'static [RouteRow<SessionsRoute>] = &[
        (Some(Verb::Get), path::CHECK, SessionsRoute::Check),
        (Some(Verb::Post), path::REVOKE, SessionsRoute::Revoke),
        (
            Some(Verb::Post),
            path::CONSOLE,
            SessionsRoute::ConsoleOpened,
        ),
    ];

    fn takes_body(_route: SessionsRoute) -> bool {
        false
    }

    fn encode(&self) -> WireRequest {
        match self {
            SessionsRequest::Check { nonce } => {
                WireRequest::new(Verb::Get, path::CHECK).param(param::NONCE, nonce)
            }
            SessionsRequest::Revoke { nonce, until_secs } => {
                WireRequest::new(Verb::Post, path::REVOKE)
                    .param(param::NONCE, nonce)
                    .param(param::UNTIL, until_secs)
            }
            SessionsRequest::ConsoleOpened {
                nonce,
                app_id,
                until_secs,
            } => WireRequest::new(Verb::Post, path::CONSOLE)
                .param(param::NONCE, nonce)
                .param(param::APP, app_id)
                .param(param::UNTIL, until_secs),
        }
    }

    fn decode(
        route: SessionsRoute,
        query: &QueryParams,
        _body: Option<String>,
    ) -> Result<SessionsRequest, WireError> {
        let nonce = required(text(query, param::NONCE), param::NONCE)?;
        let until = || required(number(query, param::UNTIL), param::UNTIL);
        Ok(match route {
            SessionsRoute::Check => SessionsRequest::Check { nonce },
            SessionsRoute::Revoke => SessionsRequest::Revoke {
                nonce,
                until_secs: until()?,
            },
            SessionsRoute::ConsoleOpened => SessionsRequest::ConsoleOpened {
                nonce,
                app_id: required(text(query, param::APP), param::APP)?,
                until_secs: until()?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{round_trip, route_of};

    #[test]
    fn every_request_round_trips_and_the_shape_is_pinned() {
        let nonce = "0123456789abcdef0123456789abcdef".to_string();
        let all = [
            SessionsRequest::Check {
                nonce: nonce.clone(),
            },
            SessionsRequest::Revoke {
                nonce: nonce.clone(),
                until_secs: 1_700_000_000,
            },
            SessionsRequest::ConsoleOpened {
                nonce: nonce.clone(),
                app_id: "app 1".into(),
                until_secs: 1_700_000_000,
            },
        ];
        for request in &all {
            assert_eq!(round_trip(request).as_ref(), Ok(request));
        }
        assert_eq!(
            all[2].encode().url("operators"),
            format!("https://operators/console?v=1&nonce={nonce}&app=app%201&until=1700000000")
        );
        assert_eq!(
            route_of(SessionsRequest::ROUTES, "GET", path::REVOKE),
            Err(WireError::MethodNotAllowed)
        );
        let missing =
            SessionsRequest::decode(SessionsRoute::Revoke, &QueryParams::parse("nonce=a"), None);
        assert_eq!(missing.unwrap_err().status(), 400);
    }
}
