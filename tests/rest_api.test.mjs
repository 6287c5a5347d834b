// The whole REST API through the official Node SDK (`pusher`): events with info, batches,
// channel lists, channel attributes, presence users, stats, and each endpoint's 400s.
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
  signedFetch,
} from "./support/harness.mjs";

let worker;
let sdk;
const app = makeApp();
const sockets = [];

before(async () => {
  worker = await startWorker({ apps: [app] });
  sdk = serverSdk(worker);
});
after(async () => {
  for (const s of sockets) s.close();
  await worker?.stop();
});

async function rawSubscriber(channel) {
  const { sock, socketId } = await connectRaw(worker);
  sockets.push(sock);
  const result = await subscribeRaw(sock, channel);
  assert.equal(result.event, "pusher_internal:subscription_succeeded");
  return { sock, socketId };
}

/** A pusher-js member of a presence channel. */
async function presenceMember(channel, userId) {
  const client = await pusherJs(
    worker,
    app,
    sdkAuth(worker, { presence: { user_id: userId, user_info: { n: userId } } }),
  );
  sockets.push({ close: () => client.disconnect() });
  await subscribed(client, channel);
  return client;
}

/** The SDK throws on statuses >= 400; this returns [status, body] either way. */
async function sdkCall(promise) {
  try {
    const res = await promise;
    return [res.status, await res.json()];
  } catch (e) {
    if (e.status === undefined) throw e;
    return [e.status, JSON.parse(e.body)];
  }
}

async function get(path, params) {
  return sdkCall(sdk.get({ path, params }));
}

/** GETs until `done(body)` holds (or 10 s pass); returns the last body. */
async function pollGet(path, params, done) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [status, body] = await get(path, params);
    assert.equal(status, 200, JSON.stringify(body));
    if (done(body) || Date.now() > deadline) return body;
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("trigger with info answers each channel's counts (user_count on presence only)", async () => {
  const a = await rawSubscriber("info-news");
  await rawSubscriber("info-news");
  await presenceMember("presence-info", "u1");
  await presenceMember("presence-info", "u2");

  const [status, body] = await sdkCall(
    sdk.trigger(["info-news", "presence-info"], "evt", { x: 1 }, { info: "user_count,subscription_count" }),
  );
  assert.equal(status, 200);
  assert.deepEqual(body, {
    channels: {
      "info-news": { subscription_count: 2 },
      "presence-info": { user_count: 2, subscription_count: 2 },
    },
  });
  // Counts include an excluded socket: they are the channel's, not the delivery's.
  const [, excluded] = await sdkCall(
    sdk.trigger("info-news", "evt", "x", { info: "subscription_count", socket_id: a.socketId }),
  );
  assert.deepEqual(excluded, { channels: { "info-news": { subscription_count: 2 } } });
  // Without info: {}.
  assert.deepEqual(await sdkCall(sdk.trigger("info-news", "evt", "x")), [200, {}]);
  // An unknown attribute is a 400 that names it.
  const [bad, err] = await sdkCall(sdk.trigger("info-news", "evt", "x", { info: "members" }));
  assert.equal(bad, 400);
  assert.match(err.error, /Unknown info attribute "members"/);
});

test("batch_events delivers each item to its channel, answers index-aligned info, refuses 11 items", async () => {
  const one = await rawSubscriber("batch-one");
  const two = await rawSubscriber("batch-two");
  const [status, body] = await sdkCall(
    sdk.triggerBatch([
      { channel: "batch-one", name: "first", data: "1" },
      { channel: "batch-two", name: "second", data: "2", info: "subscription_count" },
      { channel: "batch-empty", name: "third", data: "3", info: "subscription_count" },
    ]),
  );
  assert.equal(status, 200);
  assert.deepEqual(body, { batch: [{}, { subscription_count: 1 }, { subscription_count: 0 }] });
  const got1 = await one.sock.waitFor((f) => f.event === "first", "first");
  assert.deepEqual(got1, { event: "first", channel: "batch-one", data: "1" });
  await two.sock.waitFor((f) => f.event === "second" && f.data === "2", "second");

  assert.deepEqual(await sdkCall(sdk.triggerBatch([{ channel: "batch-one", name: "e", data: "x" }])), [200, {}]);
  const eleven = Array.from({ length: 11 }, (_, i) => ({ channel: `b${i}`, name: "e", data: "x" }));
  const [tooMany, err] = await sdkCall(sdk.triggerBatch(eleven));
  assert.equal(tooMany, 400);
  assert.match(err.error, /maximum is 10/);
  const [badItem, itemErr] = await sdkCall(
    sdk.triggerBatch([
      { channel: "ok", name: "e", data: "x" },
      { channel: "bad name", name: "e", data: "x" },
    ]),
  );
  assert.equal(badItem, 400);
  assert.match(itemErr.error, /^batch\[1\]: Invalid channel name/);
});

test("GET /channels lists occupied channels only, with prefix filter and presence user_count", async () => {
  await rawSubscriber("list-a");
  await rawSubscriber("list-b");
  await presenceMember("presence-list", "p1");
  await presenceMember("presence-list", "p2");
  const vacated = await rawSubscriber("list-gone");

  // Listed as soon as subscribed (tests/channel_index.test.mjs checks that at once); polled here.
  const three = await pollGet("/channels", { filter_by_prefix: "list-" }, (b) => Object.keys(b.channels).length === 3);
  assert.deepEqual(three, { channels: { "list-a": {}, "list-b": {}, "list-gone": {} } });

  vacated.sock.close();
  const two = await pollGet("/channels", { filter_by_prefix: "list-" }, (b) => !("list-gone" in b.channels));
  assert.deepEqual(two, { channels: { "list-a": {}, "list-b": {} } }, "a vacated channel leaves the list");

  const all = await pollGet(
    "/channels",
    { filter_by_prefix: "presence-", info: "user_count" },
    (b) => "presence-list" in b.channels,
  );
  assert.deepEqual(all.channels["presence-list"], { user_count: 2 });
  const [, everything] = await get("/channels");
  for (const name of ["list-a", "list-b", "presence-list"]) assert.ok(name in everything.channels, name);

  const [noFilter, err] = await get("/channels", { info: "user_count" });
  assert.equal(noFilter, 400);
  assert.match(err.error, /filter_by_prefix=presence-/);
  const [wrongFilter] = await get("/channels", { filter_by_prefix: "private-", info: "user_count" });
  assert.equal(wrongFilter, 400);
  const [subCount] = await get("/channels", { info: "subscription_count" });
  assert.equal(subCount, 400);
});

test("GET /channels/{name}: occupied, counts, cache, and 400 for attributes that do not apply", async () => {
  await rawSubscriber("show-me");
  await rawSubscriber("show-me");
  assert.deepEqual(await get("/channels/show-me", { info: "subscription_count" }), [
    200,
    { occupied: true, subscription_count: 2 },
  ]);
  assert.deepEqual(await get("/channels/show-me"), [200, { occupied: true }]);
  assert.deepEqual(await get("/channels/nobody-here", { info: "subscription_count" }), [
    200,
    { occupied: false, subscription_count: 0 },
  ]);

  await presenceMember("presence-show", "s1");
  await presenceMember("presence-show", "s2");
  assert.deepEqual(await get("/channels/presence-show", { info: "user_count" }), [
    200,
    { occupied: true, user_count: 2 },
  ]);
  const [presenceCount, presenceErr] = await get("/channels/presence-show", { info: "subscription_count" });
  assert.equal(presenceCount, 400, "presence channels count users, not subscriptions");
  assert.match(presenceErr.error, /ask for user_count/);

  await sdk.trigger("cache-show", "snapshot", { v: 7 });
  const [status, cached] = await get("/channels/cache-show", { info: "cache" });
  assert.equal(status, 200);
  assert.equal(cached.occupied, false);
  assert.equal(cached.cache.data, JSON.stringify({ v: 7 }));
  assert.ok(cached.cache.ttl > 1700 && cached.cache.ttl <= 1800, `ttl ${cached.cache.ttl}`);
  // Nothing cached: `"cache": null`, as Pusher documents, whether or not anyone is subscribed.
  assert.deepEqual(await get("/channels/cache-empty", { info: "cache" }), [200, { occupied: false, cache: null }]);
  await rawSubscriber("cache-empty-watched");
  assert.deepEqual(await get("/channels/cache-empty-watched", { info: "cache" }), [
    200,
    { occupied: true, cache: null },
  ]);

  const [s1, e1] = await get("/channels/show-me", { info: "user_count" });
  assert.equal(s1, 400);
  assert.match(e1.error, /only available for presence channels/);
  const [s2, e2] = await get("/channels/show-me", { info: "cache" });
  assert.equal(s2, 400);
  assert.match(e2.error, /only available for cache channels/);
  const [s3, e3] = await get("/channels/bad%20name");
  assert.equal(s3, 400);
  assert.match(e3.error, /Invalid channel name/);
});

test("GET /channels/{name}/users lists a presence channel's users; other channels get 400", async () => {
  await presenceMember("presence-users", "alice");
  await presenceMember("presence-users", "bob");
  await presenceMember("presence-users", "alice");
  assert.deepEqual(await get("/channels/presence-users/users"), [200, { users: [{ id: "alice" }, { id: "bob" }] }]);
  assert.deepEqual(await get("/channels/presence-nobody/users"), [200, { users: [] }]);
  const [status, err] = await get("/channels/show-me/users");
  assert.equal(status, 400);
  assert.match(err.error, /only available for presence channels/);
});

test("GET /stats is signed like the REST API and answers the app's counters", async () => {
  const [status, stats] = await get("/stats");
  assert.equal(status, 200);
  assert.equal(stats.app_id, app.id);
  for (const key of ["connections", "occupied_channels", "total", "months", "days"]) assert.ok(key in stats, key);
  assert.equal(typeof stats.total.broadcasts, "number");
  const unsigned = await fetch(`http://127.0.0.1:${worker.port}/apps/${app.id}/stats`);
  assert.equal(unsigned.status, 401);
});

test("wrong methods get 405 naming the right one", async () => {
  const res = await signedFetch(worker, { method: "POST", path: `/apps/${app.id}/channels`, body: {} });
  assert.equal(res.status, 405);
  assert.match((await res.json()).error, /use GET/);
  const res2 = await signedFetch(worker, { method: "GET", path: `/apps/${app.id}/batch_events` });
  assert.equal(res2.status, 405);
  // Without the /apps/{id} prefix only terminate_connections is served (the Python SDK's path).
  const bare = await signedFetch(worker, { method: "GET", path: "/users/u1/channels" });
  assert.equal(bare.status, 404);
  assert.match((await bare.json()).error, /No route/);
});
