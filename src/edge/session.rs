//! The socket glue of one pusher-js connection: runs `SessionCore` against the client socket
//! and one internal socket per subscribed channel room. Room frames are relayed unparsed.

use super::session_core::{Command, OpenChannel, SessionApp, SessionCore};
use crate::protocol::{frames, socket_id::new_socket_id};
use crate::room::member::{param, path, room_name};
use crate::CHANNELS_BINDING;
use futures_util::StreamExt;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen_futures::spawn_local;
use worker::{
    Env, Headers, Method, Request, RequestInit, Response, Result, Url, WebSocket, WebSocketPair,
    WebsocketEvent,
};

/// Seconds of client silence before pusher-js should ping (sent in the handshake).
pub const ACTIVITY_TIMEOUT_SECS: u32 = 120;

struct Session {
    core: SessionCore,
    client: WebSocket,
    app_id: String,
    env: Env,
    /// Open internal sockets by channel, with the attempt that opened them.
    channels: HashMap<String, (u64, WebSocket)>,
}

type Shared = Rc<RefCell<Session>>;

/// Answers the upgrade for a client whose app could not be served: one `pusher:error`
/// with `code`, then a close with the same code (pusher-js reads both).
pub fn refuse(code: u16, message: &str) -> Result<Response> {
    let pair = WebSocketPair::new()?;
    pair.server.accept()?;
    pair.server
        .send_with_str(frames::error(Some(code), message, None))?;
    pair.server
        .close(Some(code), Some(frames::close_reason(message)))?;
    Response::from_websocket(pair.client)
}

/// Accepts a client connection for `app` and starts its session.
pub fn start(env: Env, app_id: String, app: SessionApp) -> Result<Response> {
    let socket_id = new_socket_id().map_err(|e| worker::Error::RustError(e.to_string()))?;
    let pair = WebSocketPair::new()?;
    let client = pair.server;
    client.accept()?;
    client.send_with_str(frames::connection_established(
        &socket_id,
        ACTIVITY_TIMEOUT_SECS,
    ))?;
    let session = Rc::new(RefCell::new(Session {
        core: SessionCore::new(socket_id, app),
        client,
        app_id,
        env,
        channels: HashMap::new(),
    }));
    spawn_local(run(session));
    Response::from_websocket(pair.client)
}

async fn run(session: Shared) {
    let client = session.borrow().client.clone();
    let Ok(mut events) = client.events() else {
        let cmds = session.borrow_mut().core.on_client_closed();
        execute(&session, cmds);
        return;
    };
    while let Some(event) = events.next().await {
        let cmds = match event {
            Ok(WebsocketEvent::Message(msg)) => match msg.text() {
                Some(text) => session.borrow_mut().core.on_text(&text),
                None => session.borrow_mut().core.on_binary(),
            },
            Ok(WebsocketEvent::Close(_)) | Err(_) => break,
        };
        execute(&session, cmds);
        if session.borrow().core.is_closed() {
            break;
        }
    }
    let cmds = session.borrow_mut().core.on_client_closed();
    execute(&session, cmds);
}

fn execute(session: &Shared, cmds: Vec<Command>) {
    for cmd in cmds {
        match cmd {
            Command::Send(frame) => {
                // A send fails only when the client is already gone; its close event follows.
                let _ = session.borrow().client.send_with_str(frame);
            }
            Command::OpenChannel(open) => spawn_local(open_channel(session.clone(), open)),
            Command::CloseChannel { channel } => {
                let removed = session.borrow_mut().channels.remove(&channel);
                if let Some((_, ws)) = removed {
                    let _ = ws.close(Some(1000), Some("unsubscribed"));
                }
            }
            Command::CloseClient { code, reason } => {
                let _ = session
                    .borrow()
                    .client
                    .close(Some(code), Some(frames::close_reason(&reason)));
                let more = session.borrow_mut().core.on_client_closed();
                execute(session, more);
            }
        }
    }
}

async fn open_channel(session: Shared, open: OpenChannel) {
    let (env, app_id) = {
        let s = session.borrow();
        (s.env.clone(), s.app_id.clone())
    };
    let ws = match connect_room(&env, &app_id, &open).await {
        Ok(ws) => ws,
        Err(e) => {
            let cmds = session.borrow_mut().core.on_channel_failed(
                &open.channel,
                open.attempt,
                &e.to_string(),
            );
            execute(&session, cmds);
            return;
        }
    };
    if !session
        .borrow_mut()
        .core
        .on_channel_opened(&open.channel, open.attempt)
    {
        let _ = ws.close(Some(1000), Some("unsubscribed"));
        return;
    }
    session
        .borrow_mut()
        .channels
        .insert(open.channel.clone(), (open.attempt, ws.clone()));
    relay(&session, &ws).await;

    let cmds = {
        let mut s = session.borrow_mut();
        if s.channels.get(&open.channel).map(|(a, _)| *a) == Some(open.attempt) {
            s.channels.remove(&open.channel);
        }
        s.core.on_channel_closed(&open.channel, open.attempt)
    };
    execute(&session, cmds);
}

/// Forwards every frame the room sends to the client, as is, until the socket ends.
async fn relay(session: &Shared, ws: &WebSocket) {
    let client = session.borrow().client.clone();
    let Ok(mut events) = ws.events() else { return };
    if ws.accept().is_err() {
        return;
    }
    while let Some(event) = events.next().await {
        match event {
            Ok(WebsocketEvent::Message(msg)) => {
                if let Some(text) = msg.text() {
                    let _ = client.send_with_str(text);
                }
            }
            Ok(WebsocketEvent::Close(_)) | Err(_) => break,
        }
    }
}

async fn connect_room(env: &Env, app_id: &str, open: &OpenChannel) -> Result<WebSocket> {
    let stub = env
        .durable_object(CHANNELS_BINDING)?
        .id_from_name(&room_name(app_id, &open.channel))?
        .get_stub()?;
    let url = Url::parse_with_params(
        &format!("https://room{}", path::SUBSCRIBE),
        &[
            (param::CHANNEL, open.channel.as_str()),
            (param::SOCKET_ID, open.member.socket_id.as_str()),
        ],
    )
    .map_err(|e| worker::Error::RustError(e.to_string()))?;
    let headers = Headers::new();
    headers.set("Upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let response = stub
        .fetch_with_request(Request::new_with_init(url.as_str(), &init)?)
        .await?;
    let status = response.status_code();
    response
        .websocket()
        .ok_or_else(|| worker::Error::RustError(format!("the channel room answered HTTP {status}")))
}
