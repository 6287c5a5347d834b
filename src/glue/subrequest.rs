//! The requests the service sends itself: to its Durable Objects and to webhook receivers.
//!
//! Built on `web_sys` directly: `worker::Request::new_with_init` also converts the
//! Cloudflare `cf` options (image resizing and the like, never set here), and that
//! conversion is a sizeable part of the bundle.

use crate::protocol::wire::{Verb, WireRequest};
use wasm_bindgen::JsValue;
use worker::{Error, Headers, Method, Request, Response, Result, Stub};

/// Sends an internal request to the object behind `stub` (`host` labels the URL in logs).
pub async fn send(stub: &Stub, host: &str, wire: &WireRequest) -> Result<Response> {
    PreparedRequest::new(host, wire).send(stub).await
}

/// An internal request whose body is held as a JavaScript string, not in Wasm memory: Wasm
/// memory never shrinks once grown, and a REST publish holds one frame per channel while its
/// rooms answer (and keeps each for its one retry), 100 channels of 10 KB at most, times the
/// publishes in flight in the isolate.
pub struct PreparedRequest {
    url: String,
    method: Method,
    upgrade: bool,
    body: Option<JsValue>,
}

impl PreparedRequest {
    pub fn new(host: &str, wire: &WireRequest) -> PreparedRequest {
        PreparedRequest {
            url: wire.url(host),
            method: match wire.verb {
                Verb::Get => Method::Get,
                Verb::Post => Method::Post,
            },
            upgrade: wire.upgrade,
            body: wire.body.as_deref().map(JsValue::from_str),
        }
    }

    /// Sends it to the object behind `stub`; it may be sent again.
    pub async fn send(&self, stub: &Stub) -> Result<Response> {
        let init = web_sys::RequestInit::new();
        init.set_method(self.method.as_ref());
        if self.upgrade {
            let headers = Headers::new();
            headers.set("Upgrade", "websocket")?;
            init.set_headers(&headers.0);
        }
        if let Some(body) = &self.body {
            init.set_body(body);
        }
        stub.fetch_with_request(new_request(&self.url, &init)?)
            .await
    }
}

/// A request to `url`: the method, optional headers and an optional text body.
pub fn request(
    url: &str,
    method: Method,
    headers: Option<&Headers>,
    body: Option<&str>,
) -> Result<Request> {
    let init = web_sys::RequestInit::new();
    init.set_method(method.as_ref());
    if let Some(headers) = headers {
        init.set_headers(&headers.0);
    }
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    new_request(url, &init)
}

fn new_request(url: &str, init: &web_sys::RequestInit) -> Result<Request> {
    web_sys::Request::new_with_str_and_init(url, init)
        .map(Request::from)
        .map_err(|e| {
            Error::JsError(
                e.as_string()
                    .unwrap_or_else(|| "invalid URL or options for Request".to_string()),
            )
        })
}

/// Whether a request to a Durable Object that threw `error` certainly never ran, so sending it
/// again cannot do it twice: the runtime refused it as `overloaded`, or marks it `retryable`
/// without the object having been reset under it (`durableObjectReset`: it may have run).
pub fn safe_to_retry(error: &Error) -> bool {
    let Error::UnknownJsError { original, .. } = error else {
        return false;
    };
    let flag = |name: &str| {
        js_sys::Reflect::get(original, &JsValue::from_str(name))
            .ok()
            .and_then(|value| value.as_bool())
            .unwrap_or(false)
    };
    flag("overloaded") || (flag("retryable") && !flag("durableObjectReset"))
}
