// Empty channel rooms leave nothing behind: once a room has no sockets, no webhook waiting and
// no live cached event, its Durable Object storage (keys, SQLite tables, alarm) is gone. The
// storage is observed through the room's internal `/storage` diagnostic, called on the
// Durable Object directly (Miniflare's namespace binding), not through any public route.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startWorker, makeApp, serverSdk, connectRaw, subscribeRaw, sleep, objectFetch } from "./support/harness.mjs";

let worker, hookServer;
const hookEvents = [];
let plainApp, hookApp, shortCacheApp;

before(async () => {
  hookServer = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      hookEvents.push(...JSON.parse(body).events);
      res.writeHead(200);
      res.end("ok");
    });
  });
  await new Promise((resolve) => hookServer.listen(0, "127.0.0.1", resolve));
  plainApp = makeApp();
  hookApp = makeApp({ webhooks: [{ url: `http://127.0.0.1:${hookServer.address().port}/hooks` }] });
  shortCacheApp = makeApp({ limits: { cache_ttl_secs: 3 } });
  worker = await startWorker({ apps: [plainApp, hookApp, shortCacheApp] });
});
after(async () => {
  await worker?.stop();
  await new Promise((resolve) => hookServer?.close(resolve));
});

/** What the channel's room holds in storage: `{keys, tables, alarm}`. */
async function census(app, channel) {
  const res = await objectFetch(worker, "CHANNELS", `${app.id}:${channel}`, "/storage");
  assert.equal(res.status, 200);
  return res.json();
}

const empty = { keys: 0, tables: 0, alarm: false };

/** Waits until every channel's room has nothing in storage. */
async function allReclaimed(app, channels, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = [];
    for (const channel of channels) {
      const found = await census(app, channel);
      if (JSON.stringify(found) !== JSON.stringify(empty)) left.push([channel, found]);
    }
    if (left.length === 0) return;
    if (Date.now() > deadline) assert.fail(`storage left behind: ${JSON.stringify(left)}`);
    await sleep(250);
  }
}

test("cache channels of an app without webhooks store nothing for a miss, and nothing is left", async () => {
  const channels = Array.from({ length: 12 }, (_, i) => `cache-plain-${i}`);
  const c = await connectRaw(worker, plainApp);
  for (const channel of channels) {
    await subscribeRaw(c.sock, channel);
    await c.sock.waitFor((f) => f.event === "pusher:cache_miss" && f.channel === channel, `cache_miss on ${channel}`);
  }
  for (const channel of channels) {
    const { keys, tables } = await census(plainApp, channel);
    assert.deepEqual({ keys, tables }, { keys: 0, tables: 0 }, `${channel} while subscribed`);
  }
  c.sock.close();
  await allReclaimed(plainApp, channels);
});

test("webhook channels, cache ones included, delete their storage once vacated and delivered", async () => {
  const channels = [
    ...Array.from({ length: 8 }, (_, i) => `hooked-${i}`),
    ...Array.from({ length: 8 }, (_, i) => `cache-hooked-${i}`),
  ];
  const c = await connectRaw(worker, hookApp);
  for (const channel of channels) await subscribeRaw(c.sock, channel);
  const occupiedIds = new Map();
  const deadline = Date.now() + 20_000;
  while (hookEvents.filter((e) => e.name === "channel_occupied").length < channels.length) {
    if (Date.now() > deadline) assert.fail(`occupied webhooks missing: ${JSON.stringify(hookEvents)}`);
    await sleep(100);
  }
  for (const e of hookEvents) if (e.name === "channel_occupied") occupiedIds.set(e.channel, e.id);
  // While occupied, the room keeps its webhook state (identity, what receivers were told).
  for (const channel of channels) {
    const found = await census(hookApp, channel);
    assert.ok(found.keys > 0 && found.tables > 0, `${channel}: ${JSON.stringify(found)}`);
  }
  c.sock.close();
  await allReclaimed(hookApp, channels);
  const vacated = hookEvents.filter((e) => e.name === "channel_vacated").map((e) => e.channel);
  assert.deepEqual(vacated.sort(), [...channels].sort(), "every channel_vacated was delivered before the storage went");

  // A reclaimed room starts afresh, with webhook ids it never handed out before.
  const again = await connectRaw(worker, hookApp);
  await subscribeRaw(again.sock, "hooked-0");
  const until = Date.now() + 20_000;
  while (hookEvents.filter((e) => e.name === "channel_occupied" && e.channel === "hooked-0").length < 2) {
    if (Date.now() > until) assert.fail("no second channel_occupied");
    await sleep(100);
  }
  const ids = hookEvents.filter((e) => e.channel === "hooked-0").map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, `ids are unique across reclaims: ${ids}`);
  assert.notEqual(ids.at(-1), occupiedIds.get("hooked-0"));
  again.sock.close();
  await allReclaimed(hookApp, ["hooked-0"]);
});

test("a cached event is kept until it expires, then the room is reclaimed", async () => {
  const sdk = serverSdk(worker, shortCacheApp);
  await sdk.trigger("cache-short", "e", "kept");
  // Past the room's first alarm (its ledger report): the live event holds the storage.
  await sleep(1500);
  const held = await census(shortCacheApp, "cache-short");
  assert.equal(held.keys, 1, JSON.stringify(held));
  assert.equal(held.alarm, true, "an alarm is set for the event's expiry");
  const c = await connectRaw(worker, shortCacheApp);
  await subscribeRaw(c.sock, "cache-short");
  const cached = await c.sock.waitFor((f) => f.channel === "cache-short" && f.event === "e", "the cached event");
  assert.equal(cached.data, "kept");
  c.sock.close();
  await allReclaimed(shortCacheApp, ["cache-short"]);
});
