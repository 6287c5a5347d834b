//! Whether a client connection is still alive and allowed to stay: the last frame it sent,
//! the ping sent to a silent client and the pong it owes, and the deadline for authorising
//! the connection (Pusher's "authorized connections").

use crate::protocol::limits::Limits;

/// What the periodic check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    Fine,
    /// The client was silent for the activity timeout: send it a ping.
    SendPing,
    /// The ping went unanswered for the pong timeout (close with 4201).
    PongOverdue,
    /// The user-authentication deadline passed without sign-in or private/presence auth
    /// (close with 4009).
    Unauthorized,
}

#[derive(Debug, Clone)]
pub(super) struct Liveness {
    started_ms: f64,
    last_activity_ms: f64,
    ping_sent_ms: Option<f64>,
    /// Signed in, or authorised for a private or presence channel.
    authorized: bool,
}

impl Liveness {
    pub(super) fn new(now_ms: f64) -> Self {
        Liveness {
            started_ms: now_ms,
            last_activity_ms: now_ms,
            ping_sent_ms: None,
            authorized: false,
        }
    }

    /// The client sent a frame (any frame answers a ping).
    pub(super) fn activity(&mut self, now_ms: f64) {
        self.last_activity_ms = now_ms;
        self.ping_sent_ms = None;
    }

    pub(super) fn authorize(&mut self) {
        self.authorized = true;
    }

    /// The periodic check; `require_authorization` is the app's `enable_user_authentication`.
    pub(super) fn check(
        &mut self,
        now_ms: f64,
        limits: &Limits,
        require_authorization: bool,
    ) -> Check {
        let auth_deadline =
            self.started_ms + f64::from(limits.user_authentication_timeout_secs) * 1000.0;
        if require_authorization && !self.authorized && now_ms >= auth_deadline {
            return Check::Unauthorized;
        }
        match self.ping_sent_ms {
            Some(sent) if now_ms - sent >= f64::from(limits.pong_timeout_secs) * 1000.0 => {
                Check::PongOverdue
            }
            None if now_ms - self.last_activity_ms
                >= f64::from(limits.activity_timeout_secs) * 1000.0 =>
            {
                self.ping_sent_ms = Some(now_ms);
                Check::SendPing
            }
            _ => Check::Fine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            activity_timeout_secs: 120,
            pong_timeout_secs: 30,
            user_authentication_timeout_secs: 30,
            ..Limits::default()
        }
    }

    #[test]
    fn a_silent_client_is_pinged_once_then_overdue() {
        let mut l = Liveness::new(1_000.0);
        assert_eq!(l.check(120_999.0, &limits(), false), Check::Fine);
        assert_eq!(l.check(121_000.0, &limits(), false), Check::SendPing);
        assert_eq!(l.check(150_999.0, &limits(), false), Check::Fine);
        assert_eq!(l.check(151_000.0, &limits(), false), Check::PongOverdue);
    }

    #[test]
    fn activity_cancels_the_pending_pong_and_restarts_the_silence() {
        let mut l = Liveness::new(0.0);
        assert_eq!(l.check(120_000.0, &limits(), false), Check::SendPing);
        l.activity(130_000.0);
        assert_eq!(l.check(200_000.0, &limits(), false), Check::Fine);
        assert_eq!(l.check(250_000.0, &limits(), false), Check::SendPing);
    }

    #[test]
    fn the_authorization_deadline_applies_only_when_required_and_not_authorized() {
        let mut l = Liveness::new(0.0);
        assert_eq!(l.check(29_999.0, &limits(), true), Check::Fine);
        assert_eq!(l.check(30_000.0, &limits(), true), Check::Unauthorized);
        assert_eq!(l.check(30_000.0, &limits(), false), Check::Fine);
        l.authorize();
        assert_eq!(l.check(60_000.0, &limits(), true), Check::Fine);
    }
}
