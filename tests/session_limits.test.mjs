// Session budgets and liveness, and subscription counts, against per-app settings small
// enough for a test to reach.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker,
  makeApp,
  pusherJs,
  subscribed,
  eventually,
  connectRaw,
  subscribeRaw,
  serverSdk,
} from "./support/harness.mjs";

let worker;
const quick = makeApp({ limits: { activity_timeout_secs: 1, pong_timeout_secs: 1 } });
const capped = makeApp({ limits: { max_channels_per_connection: 3 } });
// Three subrequests: the connection's place in the ledger, then two channels.
const frugal = makeApp({ limits: { session_subrequest_budget: 3 } });
const counted = makeApp({ enable_subscription_count: true });
const busy = makeApp({ limits: { session_cpu_budget_ms: 1, session_cpu_micros_per_frame: 200 } });
before(async () => {
  worker = await startWorker({ apps: [quick, capped, frugal, counted, busy] });
});
after(async () => {
  await worker?.stop();
});

test("a silent client is pinged after activity_timeout and closed with 4201 if it does not answer", async () => {
  const { sock, handshake } = await connectRaw(worker, quick);
  assert.equal(handshake.activity_timeout, 1);
  const ping = await sock.waitFor((f) => f.event === "pusher:ping", "server ping");
  assert.deepEqual(ping, { event: "pusher:ping", data: {} });
  assert.equal((await sock.closed()).code, 4201);

  // Answering keeps the connection.
  const alive = await connectRaw(worker, quick);
  alive.sock.ws.on("message", (m) => {
    if (JSON.parse(m.toString()).event === "pusher:ping") alive.sock.send({ event: "pusher:pong", data: {} });
  });
  await new Promise((r) => setTimeout(r, 3500));
  assert.equal(alive.sock.isClosed(), false);
  alive.sock.close();
});

test("channels per connection are capped with a clear error", async () => {
  const { sock } = await connectRaw(worker, capped);
  for (const c of ["a", "b", "c"])
    assert.equal((await subscribeRaw(sock, c)).event, "pusher_internal:subscription_succeeded");
  const refused = await subscribeRaw(sock, "d");
  assert.equal(refused.event, "pusher:subscription_error");
  assert.equal(refused.data.type, "LimitReached");
  assert.match(refused.data.error, /at most 3/);
  sock.close();
});

test("many subscriptions at once are queued behind 6 upgrades in flight, not failed", async () => {
  const { sock } = await connectRaw(worker);
  const names = Array.from({ length: 25 }, (_, i) => `burst-${i}`);
  for (const channel of names) sock.send({ event: "pusher:subscribe", data: { channel, auth: "" } });
  await sock.waitFor(
    () => sock.frames.filter((f) => f.event === "pusher_internal:subscription_succeeded").length === 25,
    "25 subscriptions",
  );
  assert.equal(sock.frames.filter((f) => f.event === "pusher:subscription_error").length, 0);
  sock.close();
});

test("a session that spends its subrequest budget closes with 4200 so the client reconnects", async () => {
  const { sock } = await connectRaw(worker, frugal);
  await subscribeRaw(sock, "one");
  await subscribeRaw(sock, "two");
  sock.send({ event: "pusher:subscribe", data: { channel: "three", auth: "" } });
  const error = await sock.waitFor((f) => f.event === "pusher:error", "budget error");
  assert.equal(error.data.code, 4200);
  assert.equal((await sock.closed()).code, 4200);
});

test("a session that spends its CPU budget closes with 4200 before the runtime would kill it", async () => {
  const { sock } = await connectRaw(worker, busy);
  for (let i = 0; i < 6; i++) sock.send('{"event":"pusher:ping","data":{}}');
  const error = await sock.waitFor((f) => f.event === "pusher:error", "budget error");
  assert.equal(error.data.code, 4200);
  assert.match(error.data.message, /CPU budget/);
  assert.equal((await sock.closed()).code, 4200);
  // 1 ms at 200 µs a frame: the 5th frame ends the session, so at most 4 pongs came back.
  assert.ok(sock.frames.filter((f) => f.event === "pusher:pong").length <= 4);
});

test("a silent client on a busy channel: the relayed frames spend the CPU budget and close it with 4200", async () => {
  const { sock } = await connectRaw(worker, busy);
  await subscribeRaw(sock, "busy-channel");
  // The relays count in JavaScript and stop at the cap the session gave them, with no frame
  // from the client to make the session look: the 5th frame (the subscribe, the
  // subscription_succeeded, then 3 events) ends it.
  const sdk = serverSdk(worker, busy);
  for (let i = 0; i < 10 && !sock.isClosed(); i++) await sdk.trigger("busy-channel", "tick", { i });
  const error = await sock.waitFor((f) => f.event === "pusher:error", "budget error");
  assert.equal(error.data.code, 4200);
  assert.match(error.data.message, /CPU budget/);
  assert.equal((await sock.closed()).code, 4200);
  assert.equal(sock.frames.filter((f) => f.event === "tick").length, 3);
});

test("subscription counts reach pusher-js when the app enables them", async () => {
  const a = await pusherJs(worker, counted);
  const b = await pusherJs(worker, counted);
  try {
    const channel = a.subscribe("counted");
    const counts = [];
    channel.bind("pusher:subscription_count", (d) => counts.push(d.subscription_count));
    await eventually(() => counts.at(-1) === 1, "own count");
    await subscribed(b, "counted");
    await eventually(() => counts.at(-1) === 2, "count after b joins");
    b.disconnect();
    await eventually(() => counts.at(-1) === 1, "count after b leaves");
    assert.deepEqual(counts, [1, 2, 1]);
    assert.equal(channel.subscriptionCount, 1);
  } finally {
    a.disconnect();
    b.disconnect();
  }
});

const countOf = (frame) => (typeof frame.data === "string" ? JSON.parse(frame.data) : frame.data).subscription_count;

test("above 100 subscribers, counts are throttled to one every 5 s and the last one is right", async () => {
  const watcher = await connectRaw(worker, counted);
  const others = [];
  for (let i = 0; i < 101; i++) {
    const c = await connectRaw(worker, counted);
    await subscribeRaw(c.sock, "crowded");
    others.push(c);
  }
  const from = watcher.sock.frames.length;
  await subscribeRaw(watcher.sock, "crowded"); // 102 subscribers
  const counts = () =>
    watcher.sock.frames
      .slice(from)
      .filter((f) => f.event === "pusher_internal:subscription_count")
      .map((f) => countOf(f));
  // The 101st subscriber scheduled a count 5 s after the 100th was sent; the watcher's join and
  // three departures fall inside that window, so the one count that follows (from the room's
  // alarm) says 99.
  const start = Date.now();
  for (const c of others.slice(0, 3)) c.sock.close();
  await watcher.sock.waitFrom(
    from,
    (f) => f.event === "pusher_internal:subscription_count" && countOf(f) === 99,
    "the throttled count of 99",
  );
  const elapsed = Date.now() - start;
  assert.ok(elapsed < 7000, `the throttled count came after ${elapsed} ms`);
  assert.deepEqual(counts(), [99], "no count for 102, 101 or 100 inside the window");
  watcher.sock.close();
  for (const c of others.slice(3)) c.sock.close();
});
