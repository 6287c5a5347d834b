//! Relaying a room's frames to the client without bringing them into WebAssembly: a small
//! JavaScript listener sends each frame from the room's socket straight to the client's socket
//! (no copy into Wasm memory and back), and only tells the session that a frame went by (for
//! its CPU budget) and, once, the close code.

use futures_channel::oneshot;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use worker::WebSocket;

#[wasm_bindgen(inline_js = r#"
export function relay_frames(from, to, on_frame, on_close) {
  let open = true;
  const finish = (code) => {
    if (open) {
      open = false;
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
      on_frame();
    }
  });
  from.addEventListener("close", (event) => finish(event.code));
  from.addEventListener("error", () => finish(1011));
  from.accept();
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn relay_frames(
        from: &JsValue,
        to: &JsValue,
        on_frame: &JsValue,
        on_close: &JsValue,
    ) -> Result<(), JsValue>;
}

fn js(ws: &WebSocket) -> &JsValue {
    let socket: &web_sys::WebSocket = ws.as_ref();
    socket.as_ref()
}

/// Relays every text frame of `from` to `to` until `from` closes; calls `on_frame` after each
/// one; returns the close code.
pub async fn relay(from: &WebSocket, to: &WebSocket, on_frame: impl FnMut() + 'static) -> u16 {
    let (sender, closed) = oneshot::channel::<u16>();
    let sender = RefCell::new(Some(sender));
    // Owned by the JavaScript functions from here on, and freed when they are collected.
    let on_close = Closure::<dyn FnMut(u16)>::new(move |code: u16| {
        if let Some(sender) = sender.borrow_mut().take() {
            let _ = sender.send(code);
        }
    })
    .into_js_value();
    let on_frame = Closure::<dyn FnMut()>::new(on_frame).into_js_value();
    if relay_frames(js(from), js(to), &on_frame, &on_close).is_err() {
        return 1011;
    }
    closed.await.unwrap_or(1006)
}
