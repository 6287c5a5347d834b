// Client events, cache channels, sign-in with server-to-user events and terminate, and
// watchlist events, with the real pusher-js and pusher SDK.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker,
  makeApp,
  pusherJs,
  subscribed,
  sdkAuth,
  nextEvent,
  eventually,
  connectRaw,
  subscribeRaw,
  serverSdk,
  sleep,
} from "./support/harness.mjs";

let worker;
const chatty = makeApp({ enable_client_messages: true });
before(async () => {
  worker = await startWorker({ apps: [chatty, makeApp()] });
});
after(async () => {
  await worker?.stop();
});

test("client events reach the other subscribers, never the sender; presence adds user_id", async () => {
  const a = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, presence: { user_id: "a" } }));
  const b = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, presence: { user_id: "b" } }));
  try {
    const aPriv = await subscribed(a, "private-chat");
    const bPriv = await subscribed(b, "private-chat");
    const aGot = [];
    aPriv.bind("client-typing", (d) => aGot.push(d));
    const bGot = nextEvent(bPriv, "client-typing");
    assert.equal(aPriv.trigger("client-typing", { who: "a" }), true);
    assert.deepEqual(await bGot, { who: "a" });
    await sleep(200);
    assert.deepEqual(aGot, [], "no echo to the sender");

    const aPres = await subscribed(a, "presence-chat");
    const bPres = await subscribed(b, "presence-chat");
    const meta = new Promise((r) => bPres.bind("client-hi", (data, metadata) => r(metadata)));
    aPres.trigger("client-hi", {});
    assert.equal((await meta).user_id, "a");
  } finally {
    a.disconnect();
    b.disconnect();
  }
});

test("client events are refused on public channels, when disabled, and past 10 per second", async () => {
  const { sock, socketId } = await connectRaw(worker, chatty);
  await subscribeRaw(sock, "public-x");
  const errors = () => sock.frames.filter((f) => f.event === "pusher:error");
  sock.send({ event: "client-x", channel: "public-x", data: {} });
  await sock.waitFor(() => errors().length === 1, "refusal");
  assert.match(errors()[0].data.message, /only allowed on private and presence/);

  const auth = serverSdk(worker, chatty).authorizeChannel(socketId, "private-r").auth;
  await subscribeRaw(sock, "private-r", { auth });
  for (let i = 0; i < 12; i++) sock.send({ event: "client-x", channel: "private-r", data: { i } });
  await sock.waitFor(() => errors().length >= 3, "rate-limit errors");
  assert.equal(errors()[1].data.code, 4301);
  assert.match(errors()[1].data.message, /rate limit/);
  sock.close();

  const off = await connectRaw(worker, worker.apps[1]);
  const offAuth = serverSdk(worker, worker.apps[1]).authorizeChannel(off.socketId, "private-r").auth;
  await subscribeRaw(off.sock, "private-r", { auth: offAuth });
  off.sock.send({ event: "client-x", channel: "private-r", data: {} });
  const err = await off.sock.waitFor((f) => f.event === "pusher:error", "disabled");
  assert.equal(err.data.code, 4301);
  assert.match(err.data.message, /not have client messaging enabled/);
  off.sock.close();
});

test("cache channels: the last REST event after subscription_succeeded, else pusher:cache_miss", async () => {
  const first = await connectRaw(worker, chatty);
  await subscribeRaw(first.sock, "cache-news");
  const miss = await first.sock.waitFor((f) => f.event === "pusher:cache_miss", "cache_miss");
  assert.deepEqual(miss, { event: "pusher:cache_miss", channel: "cache-news" });
  first.sock.close();

  await serverSdk(worker, chatty).trigger("cache-news", "headline", "one");
  await serverSdk(worker, chatty).trigger("cache-news", "headline", "two");
  await worker.mf.unsafeEvictDurableObject(worker.workerName, "ChannelRoom", {
    name: `${chatty.id}:cache-news`,
    webSockets: "hibernate",
  });
  const late = await connectRaw(worker, chatty);
  const from = late.sock.frames.length;
  await subscribeRaw(late.sock, "cache-news");
  const cached = await late.sock.waitFrom(from, (f) => f.event === "headline", "cached event");
  assert.deepEqual(cached, { event: "headline", channel: "cache-news", data: "two" });
  const order = late.sock.frames.slice(from).map((f) => f.event);
  assert.deepEqual(order.slice(0, 2), ["pusher_internal:subscription_succeeded", "headline"]);
  late.sock.close();
});

test("sign-in, events to the user, nobody else's user channel, and terminate_connections", async () => {
  const sdk = serverSdk(worker, chatty);
  const ada = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, user: { id: "ada" } }));
  const ada2 = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, user: { id: "ada" } }));
  const bob = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, user: { id: "bob" } }));
  try {
    for (const c of [ada, ada2, bob]) {
      c.signin();
      await c.user.signinDonePromise;
    }
    await sleep(300); // the user-channel rooms are joined after signin_success
    const got = { ada: [], ada2: [], bob: [] };
    ada.user.bind("note", (d) => got.ada.push(d));
    ada2.user.bind("note", (d) => got.ada2.push(d));
    bob.user.bind("note", (d) => got.bob.push(d));
    await sdk.sendToUser("ada", "note", { for: "ada" });
    await eventually(() => got.ada.length === 1 && got.ada2.length === 1, "both of ada's connections");
    await sleep(200);
    assert.deepEqual(got.bob, []);

    // A raw client cannot listen in on ada's channel.
    const spy = await connectRaw(worker, chatty);
    const refused = await subscribeRaw(spy.sock, "#server-to-user-ada");
    assert.equal(refused.event, "pusher:subscription_error");
    assert.equal(refused.data.status, 403);
    await sdk.sendToUser("ada", "note", { for: "ada", n: 2 });
    await sleep(300);
    assert.equal(spy.sock.frames.filter((f) => f.event === "note").length, 0);
    spy.sock.close();

    const closeCode = new Promise((r) => ada.connection.bind("error", (e) => r(e.data?.code ?? e.error?.data?.code)));
    const response = await sdk.terminateUserConnections("ada");
    assert.equal(response.status, 200);
    await eventually(() => ada.connection.state !== "connected" && ada2.connection.state !== "connected", "ada closed");
    assert.equal(await closeCode, 4009);
    await sleep(1200); // 4009: pusher-js does not reconnect
    assert.equal(ada.connection.state, "disconnected");
    assert.equal(bob.connection.state, "connected");
  } finally {
    [ada, ada2, bob].forEach((c) => c.disconnect());
  }
});

test("watchlist: the current state first, then online and offline as users come and go", async () => {
  const carl = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, user: { id: "carl" } }));
  carl.signin();
  await carl.user.signinDonePromise;
  await sleep(200);
  const watcher = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, user: { id: "w", watchlist: ["carl", "dora"] } }));
  const online = [];
  const offline = [];
  watcher.user.watchlist.bind("online", (e) => online.push(...e.user_ids));
  watcher.user.watchlist.bind("offline", (e) => offline.push(...e.user_ids));
  watcher.signin();
  try {
    await eventually(() => online.includes("carl") && offline.includes("dora"), "initial state");
    const dora = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, user: { id: "dora" } }));
    dora.signin();
    await eventually(() => online.includes("dora"), "dora online");
    dora.disconnect();
    await eventually(() => offline.filter((id) => id === "dora").length === 2, "dora offline");
  } finally {
    carl.disconnect();
    watcher.disconnect();
  }
});
