// The client WebSocket protocol on the wire: handshake, ping, and every refusal.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker,
  rawSocket,
  connectRaw,
  subscribeRaw,
  serverSdk,
  newPusherJs,
  makeApp,
  sleep,
  objectFetch,
} from "./support/harness.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(async () => {
  await worker?.stop();
});

async function lastError(sock, count = 1) {
  await sock.waitFor(() => sock.frames.filter((f) => f.event === "pusher:error").length >= count, "pusher:error");
  return sock.frames.filter((f) => f.event === "pusher:error")[count - 1];
}

/** The connection still answers after an error: errors are never fatal to the session. */
async function stillAlive(sock) {
  const before = sock.frames.filter((f) => f.event === "pusher:pong").length;
  sock.send('{"event":"pusher:ping","data":{}}');
  await sock.waitFor(() => sock.frames.filter((f) => f.event === "pusher:pong").length > before, "pong");
  assert.equal(sock.isClosed(), false);
}

test("the first frame is connection_established with a socket_id and activity_timeout", async () => {
  const sock = await rawSocket(worker, `/app/${worker.app.key}?protocol=7&client=js&version=8.6.0&flash=false`);
  const first = await sock.next();
  assert.equal(first.event, "pusher:connection_established");
  assert.equal(typeof first.data, "string", "data is a JSON string");
  const data = JSON.parse(first.data);
  assert.match(data.socket_id, /^\d+\.\d+$/);
  assert.equal(data.activity_timeout, 120);
  sock.close();
});

test("socket ids are unique per connection", async () => {
  const conns = await Promise.all([1, 2, 3, 4, 5].map(() => connectRaw(worker)));
  assert.equal(new Set(conns.map((c) => c.socketId)).size, 5);
  for (const c of conns) c.sock.close();
});

test("pusher:ping is answered with pusher:pong, exactly", async () => {
  const { sock } = await connectRaw(worker);
  sock.send('{"event":"pusher:ping","data":{}}');
  assert.deepEqual(await sock.next(), { event: "pusher:pong", data: {} });
  sock.close();
});

test("unknown app key: pusher:error 4001, then close 4001", async () => {
  const sock = await rawSocket(worker, "/app/no-such-key?protocol=7&client=js&version=8.6.0");
  const first = await sock.next();
  assert.equal(first.event, "pusher:error");
  assert.equal(first.data.code, 4001);
  assert.match(first.data.message, /Application does not exist/);
  const closed = await sock.closed();
  assert.equal(closed.code, 4001);
});

test("pusher-js reports 4001 on an unknown key and does not retry", async () => {
  const client = newPusherJs(worker, makeApp());
  const states = [];
  client.connection.bind("state_change", ({ current }) => states.push(current));
  const error = await new Promise((resolve) => client.connection.bind("error", resolve));
  assert.equal(error.error.data.code, 4001);
  assert.match(error.error.data.message, /Application does not exist/);
  await sleep(1500); // pusher-js would retry within a second if it meant to
  assert.deepEqual(states, ["disconnected"]);
  client.disconnect();
});

test("unsupported protocol: 4007; unparsable protocol: 4006", async () => {
  for (const [query, code] of [
    ["protocol=3", 4007],
    ["protocol=99", 4007],
    ["protocol=abc", 4006],
  ]) {
    const sock = await rawSocket(worker, `/app/${worker.app.key}?${query}`);
    const first = await sock.next();
    assert.equal(first.event, "pusher:error");
    assert.equal(first.data.code, code, query);
    assert.equal((await sock.closed()).code, code, query);
  }
  // No protocol at all is accepted (as version 7).
  const sock = await rawSocket(worker, `/app/${worker.app.key}`);
  assert.equal((await sock.next()).event, "pusher:connection_established");
  sock.close();
});

test("a plain HTTP request to the WebSocket endpoint gets 426", async () => {
  const res = await fetch(`http://127.0.0.1:${worker.port}/app/${worker.app.key}`);
  assert.equal(res.status, 426);
  assert.match((await res.json()).error, /WebSocket/);
});

test("malformed JSON, unknown events, binary and oversized frames get pusher:error and the connection lives", async () => {
  const { sock } = await connectRaw(worker);
  const cases = [
    ["{not json", /^Invalid message format/],
    ['["an","array"]', /^Invalid message format/],
    ['{"event":"pusher:subscribe"}', /^Invalid data for pusher:subscribe: data is missing/],
    ['{"event":"pusher:subscribe","data":{"channel":7}}', /channel must be a string/],
    ['{"event":"something-else","data":{}}', /^Unsupported event received: something-else/],
  ];
  let n = 0;
  for (const [frame, pattern] of cases) {
    sock.send(frame);
    const err = await lastError(sock, ++n);
    assert.equal(err.data.code, null);
    assert.match(err.data.message, pattern, frame);
  }
  sock.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.match((await lastError(sock, ++n)).data.message, /Binary frames are not supported/);
  sock.send(JSON.stringify({ event: "client-big", channel: "private-x", data: "x".repeat(13_000) }));
  assert.match(
    (await lastError(sock, ++n)).data.message,
    /^Message too large: \d+ bytes( or more)?, the maximum is 12288 bytes/,
  );
  await stillAlive(sock);
  sock.close();
});

test("double subscribe and unsubscribing an unknown channel get Pusher's messages", async () => {
  const { sock } = await connectRaw(worker);
  const ok = await subscribeRaw(sock, "dupe");
  assert.equal(ok.event, "pusher_internal:subscription_succeeded");
  sock.send({ event: "pusher:subscribe", data: { channel: "dupe", auth: "" } });
  assert.equal((await lastError(sock, 1)).data.message, "Existing subscription to channel dupe");
  sock.send({ event: "pusher:unsubscribe", data: { channel: "never-joined" } });
  assert.equal(
    (await lastError(sock, 2)).data.message,
    "No current subscription to channel never-joined, or subscription in progress",
  );
  await stillAlive(sock);
  sock.close();
});

test("invalid channel names are refused with pusher:error and a channel-scoped subscription_error", async () => {
  const { sock } = await connectRaw(worker);
  for (const name of ["bad channel", "#reserved", "x".repeat(201), ""]) {
    const before = sock.frames.length;
    sock.send({ event: "pusher:subscribe", data: { channel: name, auth: "" } });
    const subErr = await sock.waitFor(
      (f) => f.event === "pusher:subscription_error" && f.channel === name,
      `subscription_error for ${JSON.stringify(name).slice(0, 20)}`,
    );
    assert.equal(subErr.data.status, 400);
    assert.equal(subErr.data.type, "InvalidChannel");
    const err = sock.frames.slice(before).find((f) => f.event === "pusher:error");
    assert.match(err.data.message, /^Invalid channel name/);
  }
  await stillAlive(sock);
  sock.close();
});

test("private channels: a valid signature subscribes, a bad one is refused with the string to sign", async () => {
  const { sock, socketId } = await connectRaw(worker);
  const sdk = serverSdk(worker);
  const { auth } = sdk.authorizeChannel(socketId, "private-room");
  const ok = await subscribeRaw(sock, "private-room", { auth });
  assert.equal(ok.event, "pusher_internal:subscription_succeeded");
  assert.equal(ok.data, "{}");

  const refused = await subscribeRaw(sock, "private-other", { auth });
  assert.equal(refused.event, "pusher:subscription_error");
  assert.deepEqual(Object.keys(refused.data).sort(), ["error", "status", "type"]);
  assert.equal(refused.data.status, 401);
  assert.equal(refused.data.type, "AuthError");
  const err = sock.frames.find((f) => f.event === "pusher:error");
  assert.equal(
    err.data.message,
    `Invalid signature: Expected HMAC SHA256 hex digest of ${socketId}:private-other, but got ${auth.split(":")[1]}`,
  );

  // A signature for another connection's socket_id does not transfer.
  const { sock: other } = await connectRaw(worker);
  const stolen = await subscribeRaw(other, "private-room", { auth });
  assert.equal(stolen.event, "pusher:subscription_error");
  other.close();

  // Events reach the authorised subscriber.
  await sdk.trigger("private-room", "secret", "s3");
  await sock.waitFor((f) => f.event === "secret" && f.data === "s3", "private event");
  await stillAlive(sock);
  sock.close();
});

test("closing the client closes its channel sockets (the room stops delivering to it)", async () => {
  const a = await connectRaw(worker);
  const b = await connectRaw(worker);
  await subscribeRaw(a.sock, "leaving");
  await subscribeRaw(b.sock, "leaving");
  a.sock.close();
  await a.sock.closed();
  await sleep(200);
  const res = await fetchPublishCount("leaving");
  assert.equal(res, 1, "only the remaining subscriber is reached");
  b.sock.close();
});

/** Publishes straight to the room (inside the worker) and returns how many sockets it reached. */
async function fetchPublishCount(channel) {
  const res = await objectFetch(worker, "CHANNELS", `${worker.app.id}:${channel}`, `/publish?channel=${channel}`, {
    method: "POST",
    body: JSON.stringify({ event: "probe", channel, data: "{}" }),
  });
  return Number(res.headers.get("x-delivered"));
}
