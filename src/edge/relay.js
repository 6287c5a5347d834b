// The session's JavaScript listeners (see relay.rs): a room's frames go from the room's socket
// to the client's without entering WebAssembly, counted in one counter per session; the
// client's frames are sorted (text, binary, too long) before any is copied into WebAssembly.
// Imported by relay.rs (`#[wasm_bindgen(module = ...)]`) and by tests/relay.test.mjs.

export function relay_counter(on_cap) {
  return { frames: 0, cap: Infinity, on_cap };
}

export function take_frames(counter) {
  const frames = counter.frames;
  counter.frames = 0;
  return frames;
}

export function set_cap(counter, cap) {
  counter.cap = cap;
}

export function relay_frames(from, to, counter, on_close) {
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
      if (++counter.frames >= counter.cap) {
        // Reported once: the session reads the count and sets the next cap.
        counter.cap = Infinity;
        counter.on_cap();
      }
    }
  });
  // The session needs only the code: 4009 (terminated) ends the client; any other close it
  // did not ask for is the room's object going away (a reset), which the session rejoins.
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
  // Called once: the close code, or 1006 (no close frame) when the socket failed first.
  let open = true;
  const closed = (code) => {
    if (open) {
      open = false;
      on_close(code);
    }
  };
  ws.addEventListener("close", (event) => closed(event.code ?? 1006));
  ws.addEventListener("error", () => closed(1006));
}
