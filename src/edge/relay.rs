//! The session's two JavaScript listeners, so frames cross into WebAssembly only when Rust must
//! read them:
//! - a room's frames go straight from the room's socket to the client's (no copy into Wasm
//!   memory and back, and no call into Wasm per frame); the session hears how many frames went
//!   by in batches of [`FRAMES_PER_REPORT`] (for its CPU budget) and, once, the close code. The session can stop the forwarding at once when the client
//!   unsubscribes, so no frame of that channel reaches the client afterwards.
//! - the client's frames: a text frame longer than the frame limit is refused from its
//!   JavaScript length, without being copied into Wasm.

use futures_channel::{mpsc, oneshot};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use worker::WebSocket;

#[wasm_bindgen(inline_js = r#"
export function relay_frames(from, to, batch, on_frames, on_close) {
  let open = true;
  let unreported = 0;
  const finish = (code) => {
    if (open) {
      open = false;
      if (unreported > 0) on_frames(unreported);
      on_close(code);
    }
  };
  from.addEventListener("message", (event) => {
    if (open && typeof event.data === "string") {
      try {
        to.send(event.data);
      } catch {
        // The client is gone; its close ends the session.
      }
      if (++unreported >= batch) {
        const frames = unreported;
        unreported = 0;
        on_frames(frames);
      }
    }
  });
  from.addEventListener("close", (event) => finish(event.code));
  from.addEventListener("error", () => finish(1011));
  from.accept();
  // Stops forwarding (the session unsubscribed); the close is reported as 1000.
  return () => finish(1000);
}

export function listen_client(ws, max_units, on_text, on_other, on_close) {
  ws.addEventListener("message", (event) => {
    const data = event.data;
    if (typeof data !== "string") {
      on_other(-1);
    } else if (data.length > max_units) {
      // A UTF-8 encoding is never shorter than its UTF-16 length: too large for certain.
      on_other(data.length);
    } else {
      on_text(data);
    }
  });
  ws.addEventListener("close", () => on_close());
  ws.addEventListener("error", () => on_close());
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn relay_frames(
        from: &JsValue,
        to: &JsValue,
        batch: u32,
        on_frames: &JsValue,
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

/// Relayed frames are reported to the session in batches this large (and what is left when
/// the relay ends): a session's budget may overrun by fewer frames than this per channel.
pub const FRAMES_PER_REPORT: u32 = 64;

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

/// Starts relaying every text frame of `from` to `to`; calls `on_frames(n)` for every
/// [`FRAMES_PER_REPORT`] frames relayed. Returns the handle that stops it, and the close code
/// once `from` closes (or is stopped).
pub fn relay(
    from: &WebSocket,
    to: &WebSocket,
    on_frames: impl FnMut(u32) + 'static,
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
    let on_frames = Closure::<dyn FnMut(u32)>::new(on_frames).into_js_value();
    match relay_frames(js(from), js(to), FRAMES_PER_REPORT, &on_frames, &on_close) {
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
}

/// Listens to the client's (already accepted) socket: every frame in order, then the end of the stream when the
/// client closes. Text frames longer than `max_bytes` UTF-16 units are not copied into Wasm.
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
    let on_close = Closure::<dyn FnMut()>::new(move || sender.close_channel()).into_js_value();
    let max_units = u32::try_from(max_bytes).unwrap_or(u32::MAX);
    if listen_client(js(ws), max_units, &on_text, &on_other, &on_close).is_err() {
        // Nothing will arrive: the receiver ends at once and the session closes.
        return mpsc::unbounded().1;
    }
    frames
}
