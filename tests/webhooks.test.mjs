// Webhooks with real HTTP receivers in the test: every event type with its exact payload and a
// signature the `pusher` SDK accepts, the 3 s grace for vacated/member_removed, delivery after
// a receiver outage (500s, then down), after a channel Durable Object eviction, the count
// of webhooks given up on after the retry window, and the outbox cap (oldest dropped, counted,
// the rest delivered in order; a backlog sent in batches, in order).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker,
  makeApp,
  serverSdk,
  connectRaw,
  subscribeRaw,
  pusherJs,
  subscribed,
  sdkAuth,
  sleep,
  eventually,
} from "./support/harness.mjs";
import { receiver, arrived } from "./support/webhook_receiver.mjs";

const withoutId = ({ id, ...rest }) => {
  assert.equal(typeof id, "string", "every event has a stable id");
  return rest;
};
const named = (r, name, channel) =>
  r
    .events()
    .filter((e) => e.name === name && e.channel === channel)
    .map(withoutId);

const METRICS_TOKEN = "metrics-token-for-webhook-tests";
let worker;
let all, grace, flaky, evicted, hopeless, members, channels, reset, full, behind;
let allApp, graceApp, flakyApp, evictedApp, hopelessApp, splitApp, resetApp, fullApp, behindApp;

before(async () => {
  [all, grace, flaky, evicted, hopeless, members, channels, reset, full, behind] = await Promise.all(
    Array.from({ length: 10 }, () => receiver()),
  );
  allApp = makeApp({
    enable_client_messages: true,
    enable_subscription_count: true,
    webhooks: [{ url: all.url() }],
  });
  graceApp = makeApp({
    webhooks: [
      { url: grace.url(), event_types: ["channel_occupied", "channel_vacated", "member_added", "member_removed"] },
    ],
  });
  flakyApp = makeApp({ enable_client_messages: true, webhooks: [{ url: flaky.url(), event_types: ["client_event"] }] });
  evictedApp = makeApp({ webhooks: [{ url: evicted.url() }] });
  hopelessApp = makeApp({ webhooks: [{ url: hopeless.url() }], limits: { webhook_retry_window_secs: 2 } });
  splitApp = makeApp({
    webhooks: [
      { url: members.url(), event_types: ["member_added", "member_removed"] },
      { url: channels.url(), event_types: ["channel_occupied", "channel_vacated"] },
    ],
  });
  resetApp = makeApp({ webhooks: [{ url: reset.url() }] });
  fullApp = makeApp({
    enable_client_messages: true,
    webhooks: [{ url: full.url(), event_types: ["client_event"] }],
    limits: { webhook_outbox_max_events: 5, max_client_events_per_second: 100 },
  });
  behindApp = makeApp({
    enable_client_messages: true,
    webhooks: [{ url: behind.url(), event_types: ["client_event"] }],
    limits: { max_client_events_per_second: 1000 },
  });
  const apps = [allApp, graceApp, flakyApp, evictedApp, hopelessApp, splitApp, resetApp, fullApp, behindApp];
  worker = await startWorker({ apps, bindings: { PUSHER_APPS: JSON.stringify(apps), METRICS_TOKEN } });
});
after(async () => {
  await worker?.stop();
  for (const r of [all, grace, flaky, evicted, hopeless, members, channels, reset, full, behind]) {
    await r?.stop().catch(() => {});
  }
});

/** Two raw connections of `app` subscribed to the private channel `name`. */
async function privatePair(app, name) {
  const sdk = serverSdk(worker, app);
  const pair = [await connectRaw(worker, app), await connectRaw(worker, app)];
  for (const c of pair) {
    const { auth } = sdk.authorizeChannel(c.socketId, name);
    await subscribeRaw(c.sock, name, { auth });
  }
  return pair;
}

/** The `n` of a client event's data (an object, or its JSON text). */
const nOf = (data) => (typeof data === "string" ? JSON.parse(data) : data)?.n;

/** Each distinct event (by id) once, in first-arrival order, as its `n`. */
const sequence = (r) => {
  const seen = new Map();
  for (const e of r.events()) if (!seen.has(e.id)) seen.set(e.id, JSON.parse(e.data).n);
  return [...seen.values()];
};

test("every event type, exactly shaped and signed so the pusher SDK validates it", async () => {
  const sdk = serverSdk(worker, allApp);
  const c1 = await connectRaw(worker, allApp);
  const c2 = await connectRaw(worker, allApp);
  await subscribeRaw(c1.sock, "hooks-public");
  for (const c of [c1, c2]) {
    const { auth } = sdk.authorizeChannel(c.socketId, "private-hooks");
    await subscribeRaw(c.sock, "private-hooks", { auth });
  }
  c1.sock.send({ event: "client-ping", channel: "private-hooks", data: { a: 1 } });
  await subscribeRaw(c1.sock, "cache-hooks");
  await subscribeRaw(c2.sock, "cache-hooks");
  const member = await pusherJs(
    worker,
    allApp,
    sdkAuth(worker, { app: allApp, presence: { user_id: "u1", user_info: { n: 1 } }, user: { id: "u1" } }),
  );
  member.signin(); // its #server-to-user-u1 channel sends no webhooks, as on Pusher
  await member.user.signinDonePromise;
  const presenceChannel = await subscribed(member, "presence-hooks");
  const memberSocketId = member.connection.socket_id;
  assert.equal(presenceChannel.trigger("client-hi", { x: 2 }), true);
  await arrived(all, (events) => events.some((e) => e.event === "client-hi"), "presence client event");
  member.disconnect();

  await arrived(
    all,
    (events) => events.some((e) => e.name === "channel_vacated" && e.channel === "presence-hooks"),
    "presence-hooks vacated",
  );

  assert.deepEqual(named(all, "channel_occupied", "hooks-public"), [
    { name: "channel_occupied", channel: "hooks-public" },
  ]);
  assert.deepEqual(named(all, "subscription_count", "hooks-public"), [
    { name: "subscription_count", channel: "hooks-public", subscription_count: 1 },
  ]);
  assert.deepEqual(named(all, "client_event", "private-hooks"), [
    {
      name: "client_event",
      channel: "private-hooks",
      event: "client-ping",
      data: JSON.stringify({ a: 1 }),
      socket_id: c1.socketId,
    },
  ]);
  assert.deepEqual(named(all, "client_event", "presence-hooks"), [
    {
      name: "client_event",
      channel: "presence-hooks",
      event: "client-hi",
      data: JSON.stringify({ x: 2 }),
      socket_id: memberSocketId,
      user_id: "u1",
    },
  ]);
  assert.deepEqual(
    named(all, "cache_miss", "cache-hooks"),
    [{ name: "cache_miss", channel: "cache-hooks" }],
    "one cache_miss for two subscribers",
  );
  assert.deepEqual(named(all, "member_added", "presence-hooks"), [
    { name: "member_added", channel: "presence-hooks", user_id: "u1" },
  ]);
  assert.deepEqual(named(all, "member_removed", "presence-hooks"), [
    { name: "member_removed", channel: "presence-hooks", user_id: "u1" },
  ]);
  assert.ok(
    all.events().every((e) => !e.channel.startsWith("#")),
    "no webhooks for user channels",
  );
  const presence = all
    .events()
    .filter((e) => e.channel === "presence-hooks")
    .map((e) => e.name);
  assert.deepEqual(presence, ["channel_occupied", "member_added", "client_event", "member_removed", "channel_vacated"]);
  assert.ok(
    all.requests.some((q) => JSON.parse(q.body).events.length > 1),
    "events close in time share a request",
  );

  for (const request of all.requests) {
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers["x-pusher-key"], allApp.key);
    const hook = sdk.webhook({ headers: request.headers, rawBody: request.body });
    assert.equal(hook.isValid(), true, `SDK rejects ${request.body}`);
    const time = hook.getTime().getTime();
    assert.ok(Math.abs(Date.now() - time) < 60_000, "time_ms is the creation time");
  }
  // A forged body is not valid.
  const forged = { ...all.requests[0], body: all.requests[0].body.replace("channel_occupied", "channel_vacated") };
  assert.equal(sdk.webhook({ headers: forged.headers, rawBody: forged.body }).isValid(), false);

  // The cache is filled by a publish: the next miss after it expires would be reported again.
  await sdk.trigger("cache-hooks", "e", "x");
  c1.sock.close();
  c2.sock.close();
});

test("3 s grace: a reload within it sends nothing; leaving for longer sends vacated once", async () => {
  const first = await connectRaw(worker, graceApp);
  await subscribeRaw(first.sock, "reloading");
  await arrived(grace, (ev) => ev.some((e) => e.channel === "reloading"), "occupied");
  // A page reload: the old connection goes, a new one subscribes a moment later.
  first.sock.close();
  await sleep(500);
  const second = await connectRaw(worker, graceApp);
  await subscribeRaw(second.sock, "reloading");
  // Presence: the same user reloads too.
  const tab1 = await pusherJs(worker, graceApp, sdkAuth(worker, { app: graceApp, presence: { user_id: "r1" } }));
  await subscribed(tab1, "presence-reloading");
  await arrived(grace, (ev) => ev.some((e) => e.name === "member_added"), "member_added");
  tab1.disconnect();
  await sleep(500);
  const tab2 = await pusherJs(worker, graceApp, sdkAuth(worker, { app: graceApp, presence: { user_id: "r1" } }));
  await subscribed(tab2, "presence-reloading");
  await sleep(4000);
  assert.deepEqual(
    grace.events().map(withoutId),
    [
      { name: "channel_occupied", channel: "reloading" },
      { name: "channel_occupied", channel: "presence-reloading" },
      { name: "member_added", channel: "presence-reloading", user_id: "r1" },
    ],
    "no vacated, no member_removed, no second occupied or member_added",
  );

  const left = Date.now();
  second.sock.close();
  tab2.disconnect();
  await arrived(grace, (ev) => ev.filter((e) => e.name === "channel_vacated").length === 2, "both vacated");
  const vacatedAt = grace.requests.find((q) => q.body.includes('"channel_vacated"')).at;
  assert.ok(vacatedAt - left >= 2500, `vacated waited ${vacatedAt - left} ms`);
  await sleep(1000);
  const tail = grace.events().slice(3).map(withoutId);
  assert.deepEqual(
    tail.filter((e) => e.channel === "reloading"),
    [{ name: "channel_vacated", channel: "reloading" }],
  );
  assert.deepEqual(
    tail.filter((e) => e.channel === "presence-reloading"),
    [
      { name: "member_removed", channel: "presence-reloading", user_id: "r1" },
      { name: "channel_vacated", channel: "presence-reloading" },
    ],
  );
});

test("receiver answering 500, then down, then back: every webhook arrives, in order", async () => {
  const sdk = serverSdk(worker, flakyApp);
  const a = await connectRaw(worker, flakyApp);
  const b = await connectRaw(worker, flakyApp);
  for (const c of [a, b]) {
    const { auth } = sdk.authorizeChannel(c.socketId, "private-flaky");
    await subscribeRaw(c.sock, "private-flaky", { auth });
  }
  flaky.failing = true;
  for (let n = 0; n < 3; n++) {
    a.sock.send({ event: "client-seq", channel: "private-flaky", data: { n } });
    await sleep(150);
  }
  await sleep(1500);
  assert.ok(
    flaky.requests.some((q) => q.failed),
    "the receiver was tried while failing",
  );
  await flaky.stop(); // down: connections refused
  for (let n = 3; n < 6; n++) {
    a.sock.send({ event: "client-seq", channel: "private-flaky", data: { n } });
    await sleep(150);
  }
  await sleep(2000);
  flaky.failing = false;
  await flaky.start();
  await arrived(flaky, (ev) => new Set(ev.map((e) => e.id)).size === 6, "all six client events", 40_000);
  // At-least-once: de-duplicate by id, then the order is the order sent.
  const seen = new Map();
  for (const e of flaky.events()) if (!seen.has(e.id)) seen.set(e.id, JSON.parse(e.data).n);
  assert.deepEqual([...seen.values()], [0, 1, 2, 3, 4, 5]);
  a.sock.close();
  b.sock.close();
});

test("a channel Durable Object evicted while webhooks are pending still delivers them", async () => {
  evicted.failing = true;
  const c = await connectRaw(worker, evictedApp);
  await subscribeRaw(c.sock, "evict-me");
  c.sock.close();
  // Evict between two attempts: Miniflare waits for the object to be idle, and an attempt in
  // flight at that moment does not complete until it times out. So: right after a failed
  // attempt has been answered (the next one is a back-off away; vacated waits out its grace).
  await eventually(() => evicted.requests.length >= 1, "a failed attempt");
  await sleep(30);
  await worker.mf.unsafeEvictDurableObject(worker.workerName, "ChannelRoom", {
    name: `${evictedApp.id}:evict-me`,
    webSockets: "close",
  });
  evicted.failing = false;
  await arrived(evicted, (ev) => ev.some((e) => e.name === "channel_vacated"), "vacated after eviction", 40_000);
  assert.deepEqual(
    [...new Map(evicted.events().map((e) => [e.id, withoutId(e)])).values()],
    [
      { name: "channel_occupied", channel: "evict-me" },
      { name: "channel_vacated", channel: "evict-me" },
    ],
  );
});

test("webhooks still failing after the retry window are given up and counted in stats", async () => {
  hopeless.failing = true;
  const c = await connectRaw(worker, hopelessApp);
  await subscribeRaw(c.sock, "nobody-listens");
  const sdk = serverSdk(worker, hopelessApp);
  const deadline = Date.now() + 30_000;
  let failed = 0;
  while (failed < 1 && Date.now() < deadline) {
    await sleep(500);
    failed = (await (await sdk.get({ path: "/stats" })).json()).total.webhooks_failed;
  }
  assert.equal(failed, 1, "the occupied webhook was given up on");
  assert.ok(hopeless.requests.length >= 2, "it was retried before that");
  c.sock.close();
});

test("several URLs each get the event types they asked for; presence events are per user, not per tab", async () => {
  const join = () => pusherJs(worker, splitApp, sdkAuth(worker, { app: splitApp, presence: { user_id: "tabby" } }));
  const tab1 = await join();
  await subscribed(tab1, "presence-split");
  const tab2 = await join();
  await subscribed(tab2, "presence-split");
  tab1.disconnect();
  await sleep(4000);
  assert.deepEqual(members.events().map(withoutId), [
    { name: "member_added", channel: "presence-split", user_id: "tabby" },
  ]);
  tab2.disconnect();
  await arrived(members, (ev) => ev.length === 2, "member_removed once the last tab leaves");
  await arrived(channels, (ev) => ev.length === 2, "occupied and vacated");
  assert.deepEqual(members.events().map(withoutId), [
    { name: "member_added", channel: "presence-split", user_id: "tabby" },
    { name: "member_removed", channel: "presence-split", user_id: "tabby" },
  ]);
  assert.deepEqual(channels.events().map(withoutId), [
    { name: "channel_occupied", channel: "presence-split" },
    { name: "channel_vacated", channel: "presence-split" },
  ]);
});

test("a room reset is invisible to receivers; a member whose client leaves during it is removed once, after the window", async () => {
  const sdk = serverSdk(worker, resetApp);
  const join = async (userId) => {
    const c = await connectRaw(worker, resetApp);
    const channelData = JSON.stringify({ user_id: userId });
    const { auth } = sdk.authorizeChannel(c.socketId, "presence-reset", { user_id: userId });
    await subscribeRaw(c.sock, "presence-reset", { auth, channel_data: channelData });
    return c;
  };
  const stay = await join("stay-user");
  const gone = await join("gone-user");
  await arrived(reset, (ev) => ev.filter((e) => e.name === "member_added").length === 2, "two member_added");
  const before = reset.events().length;
  const evict = () =>
    worker.mf.unsafeEvictDurableObject(worker.workerName, "ChannelRoom", {
      name: `${resetApp.id}:presence-reset`,
      webSockets: "close",
    });
  // A reset both sessions come back from: receivers hear nothing, even after the window.
  const from = stay.sock.frames.length;
  await evict();
  await sleep(14_000);
  assert.equal(reset.events().length, before, "no webhook for a reset the members came back from");
  // A reset the gone user's client does not wait for: removed once, when the window ends.
  // (The room hibernated meanwhile: woken first, as only a running object can be reset.)
  await sdk.get({ path: "/channels/presence-reset" });
  await evict();
  gone.sock.close();
  await arrived(reset, (ev) => ev.some((e) => e.name === "member_removed"), "member_removed", 20_000);
  await stay.sock.waitFrom(from, (f) => f.event === "pusher_internal:member_removed", "member_removed frame");
  await sleep(4_000);
  assert.deepEqual(reset.events().slice(before).map(withoutId), [
    { name: "member_removed", channel: "presence-reset", user_id: "gone-user" },
  ]);
  assert.deepEqual(
    stay.sock.frames
      .slice(from)
      .map((f) => [f.event, f.event === "pusher_internal:member_removed" && JSON.parse(f.data).user_id]),
    [["pusher_internal:member_removed", "gone-user"]],
    "the member who stayed saw one member_removed, nothing else",
  );
  stay.sock.close();
  await arrived(reset, (ev) => ev.some((e) => e.name === "channel_vacated"), "vacated at last");
});

test("a full outbox drops its oldest webhooks, counts them as dropped and failed, and delivers the rest in order", async () => {
  const sdk = serverSdk(worker, fullApp);
  const [a, b] = await privatePair(fullApp, "private-full");
  full.failing = true;
  for (let n = 0; n < 12; n++) a.sock.send({ event: "client-seq", channel: "private-full", data: { n } });
  await b.sock.waitFor((f) => f.event === "client-seq" && nOf(f.data) === 11, "the last client event");
  // The cap is 5 events for the URL: the 7 oldest make way.
  const deadline = Date.now() + 20_000;
  let total;
  do {
    await sleep(200);
    total = (await (await sdk.get({ path: "/stats" })).json()).total;
  } while (total.webhooks_dropped < 7 && Date.now() < deadline);
  assert.equal(total.webhooks_dropped, 7);
  assert.equal(total.webhooks_failed, 7, "dropped webhooks are failed ones too");
  assert.ok(
    full.requests.some((q) => q.failed),
    "the receiver was tried while failing",
  );

  full.failing = false;
  await arrived(full, (ev) => new Set(ev.map((e) => e.id)).size === 5, "the five kept events", 30_000);
  await sleep(500);
  assert.deepEqual(sequence(full), [7, 8, 9, 10, 11], "the newest five, in order");

  const metrics = await (
    await fetch(`http://127.0.0.1:${worker.port}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } })
  ).text();
  assert.match(metrics, new RegExp(`^pusher_edge_webhooks_dropped_total\\{app_id="${fullApp.id}"\\} 7$`, "m"));
  assert.match(metrics, new RegExp(`^pusher_edge_webhooks_failed_total\\{app_id="${fullApp.id}"\\} 7$`, "m"));
  a.sock.close();
  b.sock.close();
});

test("a backlog behind a slow receiver goes out in batches of at most 100, all of it, in order", async () => {
  const [a, b] = await privatePair(behindApp, "private-behind");
  behind.failing = true;
  for (let n = 0; n < 250; n++) a.sock.send({ event: "client-seq", channel: "private-behind", data: { n } });
  await b.sock.waitFor((f) => f.event === "client-seq" && nOf(f.data) === 249, "the last client event");
  await sleep(300);
  behind.delayMs = 300;
  behind.failing = false;
  await arrived(behind, (ev) => new Set(ev.map((e) => e.id)).size === 250, "all 250 events", 40_000);
  assert.deepEqual(
    sequence(behind),
    Array.from({ length: 250 }, (_, n) => n),
  );
  const delivered = behind.requests.filter((q) => !q.failed).map((q) => JSON.parse(q.body).events.length);
  assert.ok(delivered.length >= 3 && delivered.every((n) => n <= 100), `batches ${delivered}`);
  const total = (await (await serverSdk(worker, behindApp).get({ path: "/stats" })).json()).total;
  assert.equal(total.webhooks_dropped, 0);
  assert.equal(total.webhooks_failed, 0);
  a.sock.close();
  b.sock.close();
});

test("filters and headers: a receiver gets only the channels its filter names, with the operator's headers, and the SDK still verifies it", async () => {
  const [filtered, everything] = await Promise.all([receiver(), receiver()]);
  const app = makeApp({
    webhooks: [
      {
        url: filtered.url(),
        event_types: ["channel_occupied"],
        filter: { channel_name_starts_with: "presence-", channel_name_ends_with: "-room" },
        headers: { "X-Api-Key": "gateway-key", Authorization: "Bearer gateway-token" },
      },
      { url: everything.url(), event_types: ["channel_occupied"] },
    ],
  });
  const w = await startWorker({ apps: [app] });
  try {
    const client = await pusherJs(w, app, sdkAuth(w, { app, presence: { user_id: "u1" } }));
    for (const channel of ["presence-a-room", "presence-b", "private-c-room", "d-room"]) {
      await subscribed(client, channel);
    }
    await arrived(everything, (events) => events.length >= 4, "every channel_occupied");
    await arrived(filtered, (events) => events.length >= 1, "the filtered one");
    await sleep(300);
    assert.deepEqual(
      filtered.events().map((e) => e.channel),
      ["presence-a-room"],
    );
    const [request] = filtered.requests;
    assert.equal(request.headers["x-api-key"], "gateway-key");
    assert.equal(request.headers.authorization, "Bearer gateway-token");
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers["x-pusher-key"], app.key);
    const webhook = serverSdk(w, app).webhook({ headers: request.headers, rawBody: request.body });
    assert.ok(webhook.isValid(), "the signature holds with headers added");
    assert.equal(everything.requests[0].headers["x-api-key"], undefined, "headers go to their own receiver only");
    client.disconnect();
  } finally {
    await w.stop();
    await filtered.stop();
    await everything.stop();
  }
});
