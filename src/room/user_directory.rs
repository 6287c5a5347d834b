//! The user directory Durable Object, one per app: every signed-in session holds one
//! hibernatable socket here, so "who is online" is exactly the set of live sockets, and
//! watchers get `online`/`offline` events when a user's first socket arrives or last leaves.

use super::member::{param, path, Join, Member};
use super::sockets;
use super::watchlist;
use crate::internal_query::{query_value, request_query};
use std::cell::RefCell;
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

#[durable_object]
pub struct UserDirectory {
    state: State,
    /// Signed-in sessions; rebuilt from the hibernated sockets' attachments after a wake.
    sessions: RefCell<Option<Vec<(Member, WebSocket)>>>,
}

impl DurableObject for UserDirectory {
    fn new(state: State, _env: Env) -> Self {
        UserDirectory {
            state,
            sessions: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let url = request_query(&req);
        let join = query_value(&url, param::JOIN).and_then(|v| Join::from_query_value(&v));
        match (req.method(), req.path().as_str(), join) {
            (Method::Get, path::SUBSCRIBE, Some(join)) => self.sign_in(join.member),
            _ => Response::error("Not found", 404),
        }
    }

    async fn websocket_message(&self, _ws: WebSocket, _m: WebSocketIncomingMessage) -> Result<()> {
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, _c: usize, _r: String, _w: bool) -> Result<()> {
        self.sign_out(&ws);
        let _ = ws.close(Some(1000), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.sign_out(&ws);
        Ok(())
    }
}

impl UserDirectory {
    fn with_sessions<T>(&self, f: impl FnOnce(&mut Vec<(Member, WebSocket)>) -> T) -> T {
        let mut cache = self.sessions.borrow_mut();
        let sessions = cache.get_or_insert_with(|| sockets::load(&self.state));
        f(sessions)
    }

    fn sign_in(&self, member: Member) -> Result<Response> {
        let user_id = member.user_id.clone().unwrap_or_default();
        let was_online = self.is_online(&user_id);
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(&member)?;
        let initial = self.with_sessions(|sessions| {
            let online = |id: &str| {
                id == user_id
                    || sessions
                        .iter()
                        .any(|(m, _)| m.user_id.as_deref() == Some(id))
            };
            watchlist::initial_state(&member.watchlist, online)
        });
        if let Some(frame) = initial {
            pair.server.send_with_str(frame)?;
        }
        if !was_online {
            self.notify_watchers(&user_id, true);
        }
        self.with_sessions(|sessions| sessions.push((member, pair.server.clone())));
        Response::from_websocket(pair.client)
    }

    fn sign_out(&self, ws: &WebSocket) {
        let left = self.with_sessions(|sessions| sockets::remove(sessions, ws));
        if let Some(user_id) = left.and_then(|m| m.user_id) {
            if !self.is_online(&user_id) {
                self.notify_watchers(&user_id, false);
            }
        }
    }

    fn is_online(&self, user_id: &str) -> bool {
        self.with_sessions(|sessions| {
            sessions
                .iter()
                .any(|(m, _)| m.user_id.as_deref() == Some(user_id))
        })
    }

    fn notify_watchers(&self, user_id: &str, online: bool) {
        let frame = watchlist::change(user_id, online);
        self.with_sessions(|sessions| {
            for (_, ws) in sessions
                .iter()
                .filter(|(m, _)| watchlist::watches(m, user_id))
            {
                let _ = ws.send_with_str(&frame);
            }
        });
    }
}
