//! The session's two JavaScript listeners, so frames cross into WebAssembly only when Rust must
//! read them:
//! - a room's frames go straight from the room's socket to the client's, with no copy into
//!   Wasm memory and no call into Wasm per frame: every relay of a session counts its frames
//!   in one JavaScript [`RelayCounter`], which the session reads when it checks its CPU budget,
//!   and which calls into Wasm once when the cap the session gave it is reached. The session
//!   hears, once, the close code, and can stop the forwarding at once when the client
//!   unsubscribes, so no frame of that channel reaches the client afterwards.
//! - the client's frames: a text frame longer than the frame limit is refused from its
//!   JavaScript length, without being copied into Wasm.

use futures_channel::{mpsc, oneshot};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use worker::WebSocket;

// The JavaScript side lives in relay.js, beside this file; tests/relay.test.mjs runs it in Node
// over fake sockets.
#[wasm_bindgen(module = "/src/edge/relay.js")]
extern "C" {
    fn relay_counter(on_cap: &JsValue) -> JsValue;

    fn take_frames(counter: &JsValue) -> f64;

    fn set_cap(counter: &JsValue, cap: f64);

    #[wasm_bindgen(catch)]
    fn relay_frames(
        from: &JsValue,
        to: &JsValue,
        counter: &JsValue,
        on_close: &JsValue,
    ) -> Result<js_sys::Function, JsValue>;

    #[wasm_bindgen(catch)]
    fn listen_client(
        ws: &JsValue,
        max_units: u32,
        on_text: &JsValue,
        on_other: &JsValue,
        on_close: &JsValue,
    ) -> Result<(), JsValue>;
}

fn js(ws: &WebSocket) -> &JsValue {
    let socket: &web_sys::WebSocket = ws.as_ref();
    socket.as_ref()
}

/// The frames a session's relays forwarded since the session last looked, counted in
/// JavaScript, and the cap on them that makes the relays tell the session at once.
pub struct RelayCounter(JsValue);

impl RelayCounter {
    /// A counter with no cap yet; `on_cap` runs when a relay's frame reaches the cap.
    pub fn new(on_cap: impl FnMut() + 'static) -> Self {
        // Owned by the JavaScript counter from here on, and freed when it is collected.
        let on_cap = Closure::<dyn FnMut()>::new(on_cap).into_js_value();
        RelayCounter(relay_counter(&on_cap))
    }

    /// The frames relayed since the last take.
    pub fn take(&self) -> u64 {
        take_frames(&self.0) as u64
    }

    /// The relays call `on_cap` once when `cap` more frames (from the last take) have been
    /// relayed; `None`: never.
    pub fn set_cap(&self, cap: Option<u64>) {
        set_cap(&self.0, cap.map_or(f64::INFINITY, |frames| frames as f64));
    }
}

/// Stops a relay: after `stop()`, no further frame of the room reaches the client.
#[derive(Clone)]
pub struct RelayStop(Option<js_sys::Function>);

impl RelayStop {
    pub fn stop(&self) {
        if let Some(stop) = &self.0 {
            let _ = stop.call0(&JsValue::NULL);
        }
    }
}

/// Starts relaying every text frame of `from` to `to`, counting each in `counter`. Returns
/// the handle that stops it, and the close code once `from` closes (or is stopped).
pub fn relay(
    from: &WebSocket,
    to: &WebSocket,
    counter: &RelayCounter,
) -> (RelayStop, oneshot::Receiver<u16>) {
    let (sender, closed) = oneshot::channel::<u16>();
    let sender = RefCell::new(Some(sender));
    // Owned by the JavaScript functions from here on, and freed when they are collected.
    let on_close = Closure::<dyn FnMut(u16)>::new(move |code: u16| {
        if let Some(sender) = sender.borrow_mut().take() {
            let _ = sender.send(code);
        }
    })
    .into_js_value();
    match relay_frames(js(from), js(to), &counter.0, &on_close) {
        Ok(stop) => (RelayStop(Some(stop)), closed),
        Err(_) => {
            let (failed, closed) = oneshot::channel::<u16>();
            let _ = failed.send(1011);
            (RelayStop(None), closed)
        }
    }
}

/// What the client sent, as the session sees it.
pub enum ClientFrame {
    Text(String),
    Binary,
    /// A text frame of at least this many bytes, over the limit; its text stays in JavaScript.
    TooLarge(usize),
    /// The client's socket closed with this code (1006 on an error: no close frame).
    Closed(u16),
}

/// Listens to the client's (already accepted) socket: every frame in order, then its close
/// code and the end of the stream when the client closes. Text frames longer than `max_bytes` UTF-16 units are not copied into Wasm.
pub fn client_frames(ws: &WebSocket, max_bytes: usize) -> mpsc::UnboundedReceiver<ClientFrame> {
    let (sender, frames) = mpsc::unbounded::<ClientFrame>();
    let texts = sender.clone();
    let others = sender.clone();
    let on_text = Closure::<dyn FnMut(String)>::new(move |text: String| {
        let _ = texts.unbounded_send(ClientFrame::Text(text));
    })
    .into_js_value();
    let on_other = Closure::<dyn FnMut(f64)>::new(move |length: f64| {
        let frame = if length < 0.0 {
            ClientFrame::Binary
        } else {
            ClientFrame::TooLarge(length as usize)
        };
        let _ = others.unbounded_send(frame);
    })
    .into_js_value();
    let on_close = Closure::<dyn FnMut(u16)>::new(move |code: u16| {
        let _ = sender.unbounded_send(ClientFrame::Closed(code));
        sender.close_channel();
    })
    .into_js_value();
    let max_units = u32::try_from(max_bytes).unwrap_or(u32::MAX);
    if listen_client(js(ws), max_units, &on_text, &on_other, &on_close).is_err() {
        // Nothing will arrive: the receiver ends at once and the session closes.
        return mpsc::unbounded().1;
    }
    frames
}
