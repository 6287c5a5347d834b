//! The channel room Durable Object: holds one hibernatable internal socket per subscribed
//! client connection and fans each publish out as one pre-serialised frame.

use super::member::{param, path, Member};
use crate::protocol::frames;
use std::cell::RefCell;
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

#[durable_object]
pub struct ChannelRoom {
    state: State,
    /// Subscribers by socket id. A cache of the live sockets: rebuilt from the hibernated
    /// sockets' attachments on the first publish after the object wakes.
    subscribers: RefCell<Option<Vec<(String, WebSocket)>>>,
}

impl DurableObject for ChannelRoom {
    fn new(state: State, _env: Env) -> Self {
        ChannelRoom {
            state,
            subscribers: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let query = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        match (req.method(), req.path().as_str()) {
            (Method::Get, path::SUBSCRIBE) => {
                let (Some(channel), Some(socket_id)) =
                    (query(param::CHANNEL), query(param::SOCKET_ID))
                else {
                    return Response::error("channel and socket_id are required", 400);
                };
                self.subscribe(&channel, Member { socket_id })
            }
            (Method::Post, path::PUBLISH) => {
                let frame = req.text().await?;
                let delivered = self.publish(&frame, query(param::EXCLUDE).as_deref());
                Response::ok(format!("{{\"delivered\":{delivered}}}"))
            }
            _ => Response::error("Not found", 404),
        }
    }

    async fn websocket_message(
        &self,
        _ws: WebSocket,
        _message: WebSocketIncomingMessage,
    ) -> Result<()> {
        // Sessions send nothing up the internal socket yet (client events come later).
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        self.forget(&ws);
        // Complete the closing handshake; the socket may already be fully closed.
        let _ = ws.close(Some(1000), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.forget(&ws);
        Ok(())
    }
}

impl ChannelRoom {
    fn subscribe(&self, channel: &str, member: Member) -> Result<Response> {
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(&member)?;
        // Queued until the session accepts its end, so this is the first frame it relays.
        pair.server
            .send_with_str(frames::subscription_succeeded(channel, "{}"))?;
        if let Some(list) = self.subscribers.borrow_mut().as_mut() {
            list.push((member.socket_id, pair.server));
        }
        Response::from_websocket(pair.client)
    }

    /// Sends `frame` to every subscriber but `exclude`; returns how many it reached.
    fn publish(&self, frame: &str, exclude: Option<&str>) -> usize {
        let mut cache = self.subscribers.borrow_mut();
        let subscribers = cache.get_or_insert_with(|| self.load_subscribers());
        let mut delivered = 0;
        // Sockets that fail to send are closing: drop them from the cache.
        subscribers.retain(|(socket_id, ws)| {
            if Some(socket_id.as_str()) == exclude {
                return true;
            }
            let ok = ws.send_with_str(frame).is_ok();
            delivered += usize::from(ok);
            ok
        });
        delivered
    }

    fn load_subscribers(&self) -> Vec<(String, WebSocket)> {
        self.state
            .get_websockets()
            .into_iter()
            .filter_map(|ws| {
                let member = ws.deserialize_attachment::<Member>().ok().flatten()?;
                Some((member.socket_id, ws))
            })
            .collect()
    }

    fn forget(&self, ws: &WebSocket) {
        let socket_id = ws
            .deserialize_attachment::<Member>()
            .ok()
            .flatten()
            .map(|m| m.socket_id);
        if let Some(list) = self.subscribers.borrow_mut().as_mut() {
            list.retain(|(id, s)| s != ws && Some(id) != socket_id.as_ref());
        }
    }
}
