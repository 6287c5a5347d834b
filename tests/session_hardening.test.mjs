// A client working against the session: it cannot escape terminate_connections, subscribe and
// unsubscribe churn leaves exact counts and no stray frames, and REST bodies and client frames
// are bounded before they are read.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import {
  startWorker,
  connectRaw,
  subscribeRaw,
  serverSdk,
  pusherJs,
  sdkAuth,
  makeApp,
  eventually,
  sleep,
  signedQuery,
} from "./support/harness.mjs";

const counted = makeApp({ enable_client_messages: true, enable_subscription_count: true });
const strict = makeApp({ limits: { max_subscribes_per_minute: 5 } });
const small = makeApp({ limits: { max_request_body_bytes: 16 * 1024, max_event_payload_bytes: 10 * 1024 } });

let worker;
before(async () => {
  worker = await startWorker({ apps: [counted, strict, small] });
});
after(async () => {
  await worker?.stop();
});

/** Signs in a raw connection as `user` (an object with `id`), waits for signin_success. */
async function signinRaw(conn, app, user) {
  const sdk = serverSdk(worker, app);
  const from = conn.sock.frames.length;
  conn.sock.send({ event: "pusher:signin", data: sdk.authenticateUser(conn.socketId, user) });
  await conn.sock.waitFrom(from, (f) => f.event === "pusher:signin_success", "signin_success");
}

const pongs = (sock) => sock.frames.filter((f) => f.event === "pusher:pong").length;
async function stillAlive(sock) {
  const before = pongs(sock);
  sock.send('{"event":"pusher:ping","data":{}}');
  await sock.waitFor(() => pongs(sock) > before, "pong");
}

/** Calls `read` until `done(value)` holds (or 5 s pass); returns the last value. */
async function settle(read, done) {
  const deadline = Date.now() + 5000;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await sleep(50);
    value = await read();
  }
  return value;
}

async function channelInfo(app, channel, info) {
  const response = await serverSdk(worker, app).get({ path: `/channels/${channel}`, params: { info } });
  return response.json();
}

test("terminate_connections closes a connection that unsubscribed its own user channel", async () => {
  const sdk = serverSdk(worker, counted);
  const escaper = await connectRaw(worker, counted);
  await signinRaw(escaper, counted, { id: "eve" });
  const own = await subscribeRaw(escaper.sock, "#server-to-user-eve");
  assert.equal(own.event, "pusher_internal:subscription_succeeded");
  // What pusher-js never sends: the server must not let it detach the connection from the user.
  escaper.sock.send({ event: "pusher:unsubscribe", data: { channel: "#server-to-user-eve" } });
  await stillAlive(escaper.sock);
  assert.equal(
    escaper.sock.frames.filter((f) => f.event === "pusher:error").length,
    0,
    "an unsubscribe gets no answer, as on Pusher",
  );
  // Still reached by events to the user...
  await sdk.sendToUser("eve", "note", { n: 1 });
  await escaper.sock.waitFor((f) => f.event === "note", "the user event after the unsubscribe");

  // ...and by terminate, as is a watcher's view of the user.
  const watcher = await pusherJs(
    worker,
    counted,
    sdkAuth(worker, { app: counted, user: { id: "w1", watchlist: ["eve"] } }),
  );
  const online = [];
  const offline = [];
  watcher.user.watchlist.bind("online", (e) => online.push(...e.user_ids));
  watcher.user.watchlist.bind("offline", (e) => offline.push(...e.user_ids));
  watcher.signin();
  try {
    await eventually(() => online.includes("eve"), "eve online to the watcher");
    const response = await sdk.terminateUserConnections("eve");
    assert.equal(response.status, 200);
    const closed = await escaper.sock.closed();
    assert.equal(closed.code, 4009);
    await eventually(() => offline.includes("eve"), "eve offline to the watcher");
  } finally {
    watcher.disconnect();
  }
});

test("terminate_connections reaches a connection whose user channel is still queued", async () => {
  // Each new channel's first subscriber waits for the ledger's index: a burst of them is slow
  // on a loaded machine, so the SDK gets more than its default 5 s.
  const sdk = serverSdk(worker, counted, { timeout: 30_000 });
  const conn = await connectRaw(worker, counted);
  // Upgrades ahead of the sign-in fill the six slots: the user channel may still be on its way
  // when the terminate comes (then the room's memory of the terminate refuses it), or may be
  // open (then the terminate closes it); either way the connection must close with 4009.
  for (let i = 0; i < 30; i++) {
    conn.sock.send({ event: "pusher:subscribe", data: { channel: `queue-${i}` } });
  }
  await signinRaw(conn, counted, { id: "quinn" });
  const response = await sdk.terminateUserConnections("quinn");
  assert.equal(response.status, 200);
  const closed = await conn.sock.closed();
  assert.equal(closed.code, 4009);
  // A connection that signs in after the terminate is not affected.
  const later = await connectRaw(worker, counted);
  await signinRaw(later, counted, { id: "quinn" });
  await subscribeRaw(later.sock, "#server-to-user-quinn");
  await sdk.sendToUser("quinn", "note", { n: 2 });
  await later.sock.waitFor((f) => f.event === "note", "a user event on the new connection");
  later.sock.close();
});

test("subscribe/unsubscribe churn leaves exact counts, at once", async () => {
  const channel = "churn-public";
  const watcher = await connectRaw(worker, counted);
  await subscribeRaw(watcher.sock, channel);
  const churner = await connectRaw(worker, counted);
  // Back to back, without waiting for any answer; the last word is a subscribe.
  for (let i = 0; i < 25; i++) {
    churner.sock.send({ event: "pusher:subscribe", data: { channel } });
    churner.sock.send({ event: "pusher:unsubscribe", data: { channel } });
  }
  churner.sock.send({ event: "pusher:subscribe", data: { channel } });
  await churner.sock.waitFor((f) => f.event === "pusher_internal:subscription_succeeded", "the last subscribe");
  // The room holds exactly the two sockets the clients asked for (no phantom subscribers).
  const count = () => channelInfo(counted, channel, "subscription_count");
  let info = await settle(count, (i) => i.subscription_count === 2);
  assert.equal(info.subscription_count, 2, "phantom subscribers after churn");
  // And the other subscriber's last count says so too.
  await eventually(() => {
    const counts = watcher.sock.frames.filter((f) => f.event === "pusher_internal:subscription_count");
    const data = counts.at(-1)?.data;
    return (typeof data === "string" ? JSON.parse(data) : data)?.subscription_count === 2;
  }, "the watcher's last subscription_count is 2");

  // Ending unsubscribed: back to one, and nothing more of the channel reaches the churner.
  for (let i = 0; i < 10; i++) {
    churner.sock.send({ event: "pusher:unsubscribe", data: { channel } });
    churner.sock.send({ event: "pusher:subscribe", data: { channel } });
  }
  churner.sock.send({ event: "pusher:unsubscribe", data: { channel } });
  await stillAlive(churner.sock);
  info = await settle(count, (i) => i.subscription_count === 1);
  assert.equal(info.subscription_count, 1);
  const mark = churner.sock.frames.length;
  await serverSdk(worker, counted).trigger(channel, "after", { n: 1 });
  await watcher.sock.waitFor((f) => f.event === "after", "the watcher gets the event");
  await stillAlive(churner.sock);
  assert.deepEqual(
    churner.sock.frames.slice(mark).filter((f) => f.channel === channel),
    [],
    "no frame of an unsubscribed channel",
  );
  watcher.sock.close();
  churner.sock.close();
});

test("no frame of a channel reaches the client after its unsubscribe", async () => {
  const channel = "stop-at-once";
  const sdk = serverSdk(worker, counted);
  const conn = await connectRaw(worker, counted);
  await subscribeRaw(conn.sock, channel);
  // Publishes race the unsubscribe; whatever the room sent before it saw the close is
  // dropped by the session once the client has unsubscribed.
  const publishing = Promise.all([1, 2, 3, 4, 5].map((n) => sdk.trigger(channel, "race", { n })));
  conn.sock.send({ event: "pusher:unsubscribe", data: { channel } });
  const mark = conn.sock.frames.length;
  await publishing;
  await sdk.trigger(channel, "late", {});
  await stillAlive(conn.sock);
  await sleep(100);
  assert.deepEqual(
    conn.sock.frames.slice(mark).filter((f) => f.event === "late"),
    [],
    "a publish after the unsubscribe reached the client",
  );
  conn.sock.close();
});

test("presence churn: members and user_count match what clients asked last", async () => {
  const channel = "presence-churn";
  const sdk = serverSdk(worker, counted);
  const stayer = await connectRaw(worker, counted);
  const stay = sdk.authorizeChannel(stayer.socketId, channel, { user_id: "stay" });
  await subscribeRaw(stayer.sock, channel, stay);
  const churner = await connectRaw(worker, counted);
  const auth = sdk.authorizeChannel(churner.socketId, channel, { user_id: "churn" });
  for (let i = 0; i < 15; i++) {
    churner.sock.send({ event: "pusher:subscribe", data: { channel, ...auth } });
    churner.sock.send({ event: "pusher:unsubscribe", data: { channel } });
  }
  await stillAlive(churner.sock);
  const users = await settle(
    async () => (await (await sdk.get({ path: `/channels/${channel}/users` })).json()).users,
    (u) => u.length === 1,
  );
  assert.deepEqual(users, [{ id: "stay" }]);
  // The stayer saw the churner come and go, and the last word is that it left.
  await eventually(() => {
    const moves = stayer.sock.frames.filter((f) => f.event?.startsWith("pusher_internal:member_"));
    return moves.length === 0 || moves.at(-1).event === "pusher_internal:member_removed";
  }, "the last member event is member_removed");
  // After a reconnect (a new connection of the same user) and a disconnect: gone.
  const again = await connectRaw(worker, counted);
  await subscribeRaw(again.sock, channel, sdk.authorizeChannel(again.socketId, channel, { user_id: "churn" }));
  assert.equal((await channelInfo(counted, channel, "user_count")).user_count, 2);
  again.sock.ws.terminate();
  const left = await settle(
    () => channelInfo(counted, channel, "user_count"),
    (i) => i.user_count === 1,
  );
  assert.equal(left.user_count, 1);
  stayer.sock.close();
  churner.sock.close();
});

test("subscribes past limits.max_subscribes_per_minute get pusher:error 4301, the connection stays", async () => {
  const conn = await connectRaw(worker, strict);
  for (let i = 0; i < 5; i++) {
    const ok = await subscribeRaw(conn.sock, `rate-${i}`);
    assert.equal(ok.event, "pusher_internal:subscription_succeeded");
  }
  const refused = await subscribeRaw(conn.sock, "rate-5");
  assert.equal(refused.event, "pusher:subscription_error");
  assert.equal(refused.data.status, 429);
  const error = conn.sock.frames.find((f) => f.event === "pusher:error");
  assert.equal(error.data.code, 4301);
  assert.match(error.data.message, /rate limit \(5 subscribes per minute\)/);
  await stillAlive(conn.sock);
  conn.sock.close();
});

/**
 * Writes a raw HTTP request (head, then `chunks` with a pause between them, never ending the
 * body unless `end`) and resolves with the status line as soon as the server answers.
 */
function rawHttp(head, chunks = [], { end = false } = {}) {
  return new Promise((resolvePromise, reject) => {
    const socket = net.connect(worker.port, "127.0.0.1");
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("no answer while the body was still open"));
    }, 10_000);
    socket.on("data", (data) => {
      answer += data.toString();
      const headEnd = answer.indexOf("\r\n\r\n");
      if (headEnd >= 0) {
        clearTimeout(timer);
        socket.destroy();
        resolvePromise(answer.slice(0, answer.indexOf("\r\n")));
      }
    });
    socket.on("error", () => {});
    socket.write(head);
    let i = 0;
    const more = () => {
      if (socket.destroyed) return;
      if (i < chunks.length) {
        socket.write(chunks[i++]);
        setTimeout(more, 5);
      } else if (end) {
        socket.write("0\r\n\r\n");
      }
    };
    more();
  });
}

const chunk = (text) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;

test("a Content-Length over the limit is refused with 413 before the body is sent", async () => {
  const path = `/apps/${small.id}/events`;
  const head =
    `POST ${path}?${signedQuery({ app: small, method: "POST", path, body: "x" })} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    `Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n`;
  assert.match(await rawHttp(head), /^HTTP\/1\.1 413/);
});

test("a chunked body is read with a running cap (413) and not at all without a valid signature (401)", async () => {
  const path = `/apps/${small.id}/events`;
  const piece = "x".repeat(4096);
  const big = piece.repeat(8); // 32 KiB, over the app's 16 KiB
  const chunked = (query) =>
    `POST ${path}?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Transfer-Encoding: chunked\r\n\r\n`;
  // Signed for the whole body, which is too large: refused once the cap is passed, while the
  // body is still open.
  const overCap = await rawHttp(
    chunked(signedQuery({ app: small, method: "POST", path, body: big })),
    Array(8).fill(chunk(piece)),
  );
  assert.match(overCap, /^HTTP\/1\.1 413/);
  // Only the public auth_key, a wrong signature: answered without reading a body that never ends.
  const forged = signedQuery({ app: small, method: "POST", path, body: big, signature: "0".repeat(64) });
  assert.match(await rawHttp(chunked(forged), [chunk(piece)]), /^HTTP\/1\.1 401/);
  // A signed chunked body under the cap is served.
  const body = JSON.stringify({ name: "evt", channel: "chunked", data: "{}" });
  const ok = await rawHttp(
    chunked(signedQuery({ app: small, method: "POST", path, body })),
    [chunk(body.slice(0, 10)), chunk(body.slice(10))],
    {
      end: true,
    },
  );
  assert.match(ok, /^HTTP\/1\.1 200/);
});

test("a client frame over max_client_frame_bytes is refused from its length; the connection stays", async () => {
  const conn = await connectRaw(worker, counted);
  conn.sock.send(JSON.stringify({ event: "client-x", channel: "private-a", data: "y".repeat(1024 * 1024) }));
  const error = await conn.sock.waitFor((f) => f.event === "pusher:error", "pusher:error");
  assert.match(error.data.message, /^Message too large: \d+ bytes or more, the maximum is 12288 bytes$/);
  // Multi-byte text just over the limit in bytes but not in UTF-16 units is measured in Rust.
  conn.sock.send(JSON.stringify({ event: "client-x", channel: "private-a", data: "é".repeat(7000) }));
  await conn.sock.waitFor(
    (f) => f.event === "pusher:error" && /Message too large: 140\d\d bytes/.test(f.data.message),
    "the byte-measured refusal",
  );
  await stillAlive(conn.sock);
  conn.sock.close();
});
