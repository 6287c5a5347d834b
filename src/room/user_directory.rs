//! The user directory Durable Object, one per app and shard (see `directory_shards`): every
//! session signed in as a user homed here holds one hibernatable socket here, so "who is
//! online" is exactly the set of live sockets; sessions watching users homed here hold one
//! socket here too, and get `online`/`offline` events when a user's first socket arrives or
//! last leaves.

use super::contract::{DirectoryRequest, Member};
use super::directory_index::{DirectoryIndex, Notice};
use super::sockets;
use crate::glue::internal_query::{read_request, refusal};
use std::cell::RefCell;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

// Only the handlers it has (hibernatable sockets: no alarm): each unused one would bring workers-rs's default,
// which panics, and its glue into the bundle.
#[durable_object(websocket)]
pub struct UserDirectory {
    state: State,
    /// The shard's sockets, indexed; rebuilt from the hibernated sockets' attachments after a
    /// wake.
    index: RefCell<Option<DirectoryIndex<WebSocket>>>,
}

impl DurableObject for UserDirectory {
    fn new(state: State, _env: Env) -> Self {
        UserDirectory {
            state,
            index: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match read_request::<DirectoryRequest>(&mut req).await? {
            Ok(DirectoryRequest::SignIn(join)) => {
                let rejoin = join.rejoin.is_some();
                self.sign_in(join.member, rejoin)
            }
            Err(refused) => refusal(&refused),
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
    fn with_index<T>(&self, f: impl FnOnce(&mut DirectoryIndex<WebSocket>) -> T) -> T {
        let mut cache = self.index.borrow_mut();
        let index = cache.get_or_insert_with(|| sockets::load(&self.state).into_iter().collect());
        f(index)
    }

    /// A session's socket; `rejoin`: its session is back after this shard reset, and its
    /// watchers already know its user is online, as it knows its watchlist's state: nothing
    /// is sent for it. (Changes while it was away are not replayed: the shard keeps no
    /// memory of them.)
    fn sign_in(&self, member: Member, rejoin: bool) -> Result<Response> {
        // Rebuild the index (after a wake) before the new socket is among the accepted ones.
        self.with_index(|_| ());
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(&member)?;
        let joined = self.with_index(|index| index.join(member, pair.server.clone()));
        if rejoin {
            return Response::from_websocket(pair.client);
        }
        if let Some(frame) = joined.initial {
            pair.server.send_with_str(frame)?;
        }
        send(joined.notice);
        Response::from_websocket(pair.client)
    }

    fn sign_out(&self, ws: &WebSocket) {
        let notice = self.with_index(|index| match sockets::member_of(ws) {
            Some(member) => index.leave(&member),
            None => index.leave_socket(ws),
        });
        send(notice);
    }
}

fn send(notice: Option<Notice<WebSocket>>) {
    if let Some((frame, sockets)) = notice {
        for ws in sockets {
            // A socket closing meanwhile gets its own close event.
            let _ = ws.send_with_str(&frame);
        }
    }
}
