//! Sending one frame to many sockets: the frame becomes a JavaScript string once, and each
//! socket's `send` gets that same string (no copy out of WebAssembly memory per socket).

use wasm_bindgen::prelude::*;
use worker::WebSocket;

#[wasm_bindgen(inline_js = r#"
export function send_frame(ws, frame) {
  ws.send(frame);
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn send_frame(ws: &JsValue, frame: &JsValue) -> Result<(), JsValue>;
}

/// A frame ready to be sent to many sockets (a clone is the same JavaScript string).
#[derive(Clone)]
pub struct Frame(JsValue);

impl Frame {
    pub fn new(text: &str) -> Frame {
        Frame(JsValue::from_str(text))
    }

    /// Sends the frame; false if the socket would not take it (it is closing).
    pub fn send_to(&self, ws: &WebSocket) -> bool {
        let socket: &web_sys::WebSocket = ws.as_ref();
        send_frame(socket.as_ref(), &self.0).is_ok()
    }
}
