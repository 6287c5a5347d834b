// The session's JavaScript relay (src/edge/relay.js), run in Node over fake sockets: what it
// forwards, what it counts, when it calls the session (the cap, the close), and how it sorts
// the client's frames. The same file is what relay.rs binds in the worker.
import { test } from "node:test";
import assert from "node:assert/strict";
import { relay_counter, take_frames, set_cap, relay_frames, listen_client } from "../src/edge/relay.js";

/** A socket with what the relay uses: listeners, accept, send; `emit` plays the runtime. */
class FakeSocket {
  constructor({ failSend = false } = {}) {
    this.listeners = {};
    this.sent = [];
    this.accepted = false;
    this.failSend = failSend;
  }
  addEventListener(type, listener) {
    this.listeners[type] ??= [];
    this.listeners[type].push(listener);
  }
  accept() {
    this.accepted = true;
  }
  send(data) {
    if (this.failSend) throw new Error("socket closed");
    this.sent.push(data);
  }
  emit(type, event = {}) {
    for (const listener of this.listeners[type] || []) listener(event);
  }
}

function relayed({ failSend = false } = {}) {
  const room = new FakeSocket();
  const client = new FakeSocket({ failSend });
  const caps = [];
  const closes = [];
  const counter = relay_counter(() => caps.push(take_frames(counter)));
  const stop = relay_frames(room, client, counter, (code) => closes.push(code));
  return { room, client, counter, caps, closes, stop };
}

test("a room's text frames reach the client as they are, counted; binary frames do not", () => {
  const { room, client, counter } = relayed();
  assert.equal(room.accepted, true, "the relay accepts the room's socket");
  room.emit("message", { data: '{"event":"a"}' });
  room.emit("message", { data: new ArrayBuffer(4) });
  room.emit("message", { data: '{"event":"b"}' });
  assert.deepEqual(client.sent, ['{"event":"a"}', '{"event":"b"}']);
  assert.equal(take_frames(counter), 2);
  assert.equal(take_frames(counter), 0, "a take resets the count");
});

test("the cap calls the session once, and a new cap arms it again", () => {
  const { room, counter, caps } = relayed();
  set_cap(counter, 3);
  for (let i = 0; i < 5; i++) room.emit("message", { data: `f${i}` });
  assert.deepEqual(caps, [3], "called once, on the third frame, which the session took");
  assert.equal(take_frames(counter), 2, "frames after the cap are counted until the next take");
  set_cap(counter, 1);
  room.emit("message", { data: "g" });
  assert.deepEqual(caps, [3, 1]);
});

test("one counter serves every relay of a session", () => {
  const client = new FakeSocket();
  const counter = relay_counter(() => {});
  const rooms = [new FakeSocket(), new FakeSocket()];
  for (const room of rooms) relay_frames(room, client, counter, () => {});
  rooms[0].emit("message", { data: "x" });
  rooms[1].emit("message", { data: "y" });
  assert.equal(take_frames(counter), 2);
  assert.deepEqual(client.sent, ["x", "y"]);
});

test("stop: nothing more reaches the client, and the close is reported once as 1000", () => {
  const { room, client, closes, stop } = relayed();
  room.emit("message", { data: "before" });
  stop();
  room.emit("message", { data: "after" });
  room.emit("close", { code: 4200 });
  stop();
  assert.deepEqual(client.sent, ["before"]);
  assert.deepEqual(closes, [1000]);
});

test("the room's close code is reported once; an error is 1011", () => {
  const closed = relayed();
  closed.room.emit("close", { code: 4009 });
  closed.room.emit("error", {});
  closed.room.emit("message", { data: "late" });
  assert.deepEqual(closed.closes, [4009]);
  assert.deepEqual(closed.client.sent, [], "nothing after the close");

  const failed = relayed();
  failed.room.emit("error", {});
  failed.room.emit("close", { code: 1006 });
  assert.deepEqual(failed.closes, [1011]);
});

test("a client that is gone does not stop the relay from counting", () => {
  const { room, counter, closes } = relayed({ failSend: true });
  room.emit("message", { data: "x" });
  assert.equal(take_frames(counter), 1);
  assert.deepEqual(closes, [], "the client's own close ends the session, not the relay");
});

test("the client's frames: text within the limit, binary as -1, too long as its length", () => {
  const ws = new FakeSocket();
  const texts = [];
  const others = [];
  const closes = [];
  listen_client(
    ws,
    5,
    (text) => texts.push(text),
    (length) => others.push(length),
    (code) => closes.push(code),
  );
  ws.emit("message", { data: "hello" });
  ws.emit("message", { data: "héllo" });
  ws.emit("message", { data: "toolong" });
  ws.emit("message", { data: new Uint8Array([1]) });
  assert.deepEqual(texts, ["hello", "héllo"], "UTF-16 length at the limit passes (Rust checks bytes)");
  assert.deepEqual(others, [7, -1]);
  ws.emit("close", { code: 1005 });
  ws.emit("error", {});
  assert.deepEqual(closes, [1005], "the close code, once: a later error is the same end");
  const dropped = new FakeSocket();
  const codes = [];
  listen_client(
    dropped,
    5,
    () => {},
    () => {},
    (code) => codes.push(code),
  );
  dropped.emit("error", {});
  dropped.emit("close", {});
  assert.deepEqual(codes, [1006], "a failure first: lost, without a close frame");
});
