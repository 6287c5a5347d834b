// A Durable Object reset is invisible to clients. Every ChannelRoom, UserDirectory and
// ConnectionShard instance is reset at once (Miniflare's `unsafeEvictDurableObject` with
// `webSockets: "close"`: the instance's sockets close and the next request starts a new one,
// as in a deploy) while real pusher-js clients stay connected and the real pusher SDK
// publishes at a steady rate. Each session re-opens its internal sockets to the new instances
// by itself, so pusher-js sees no state change, no second subscription_succeeded, no cached
// event or member event again; no event is doubled or reordered, and only the dying instances'
// last publishes may be lost. Rosters, counts and webhooks come out exact. bench/reset.mjs
// measures the same reset as it was before (every client reconnected).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import {
  startWorker,
  makeApp,
  serverSdk,
  pusherJs,
  sdkAuth,
  subscribed,
  nextEvent,
  eventually,
  sleep,
} from "./support/harness.mjs";
import { receiver, arrived as arrivedAll } from "./support/webhook_receiver.mjs";
import { watch, assertUnseen, publisher, ticks, PINGS } from "./support/delivery_watch.mjs";

/** Waits until `predicate` holds of `r`'s events, each once. */
const arrived = (r, predicate, what, timeoutMs) => arrivedAll(r, predicate, what, timeoutMs, r.uniqueEvents);

const RATE = 50; // the publisher's events per second
const MEMBERSHIP = new Set(["channel_occupied", "channel_vacated", "member_added", "member_removed"]);

/**
 * Waits until `r` has had no new webhook on `channels` for a second (arrivals are batched and
 * subscription counts follow them), and answers the ids of the events it has had.
 */
async function quiet(r, channels, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  const ids = () => r.uniqueEvents().filter((e) => channels.includes(e.channel));
  let count = -1;
  let since = Date.now();
  for (;;) {
    const now = ids().length;
    if (now !== count) [count, since] = [now, Date.now()];
    else if (Date.now() - since >= 1000) return new Set(ids().map((e) => e.id));
    if (Date.now() > deadline) assert.fail(`webhooks on ${channels} never settled`);
    await sleep(100);
  }
}

/** The webhooks on `channels` that `r` got since `before` (ids), as name, channel, user_id. */
const hooksSince = (r, before, channels) =>
  r
    .uniqueEvents()
    .filter((e) => !before.has(e.id) && channels.includes(e.channel))
    .map((e) => ({ name: e.name, channel: e.channel, user_id: e.user_id }));

let worker;
let hooks, lobbyHooks, mixHooks;
let app, lobbyApp, shardApp, mixApp, quietApp;
const open = new Set(); // every pusher-js client, disconnected in `after` if a test could not

const appFor = (receiverOf, more = {}) =>
  makeApp({
    enable_client_messages: true,
    enable_subscription_count: true,
    webhooks: [{ url: receiverOf.url() }],
    ...more,
  });

before(async () => {
  [hooks, lobbyHooks, mixHooks] = await Promise.all([receiver(), receiver(), receiver()]);
  app = appFor(hooks);
  lobbyApp = appFor(lobbyHooks); // its own receiver: the presence test compares every webhook
  shardApp = appFor(hooks, { limits: { connection_shards: 4 } });
  mixApp = appFor(mixHooks);
  quietApp = makeApp(); // no webhooks: departures are settled by the room's alarm alone
  worker = await startWorker({ apps: [app, lobbyApp, shardApp, mixApp, quietApp] });
});
after(async () => {
  for (const client of open) client.disconnect();
  await worker?.stop();
  for (const r of [hooks, lobbyHooks, mixHooks]) await r?.stop().catch(() => {});
});

/**
 * Runs `fn` over `items` one at a time. Clients connect and subscribe one after another here:
 * Miniflare cannot evict a room that took concurrent upgrades ("it still has active
 * references", on the build before the rejoin work too), so a reset needs them in series.
 */
async function inSeries(items, fn) {
  const out = [];
  for (const item of items) out.push(await fn(item));
  return out;
}

/**
 * Resets every instance of `classes` at once, as a deploy does: each instance's sockets are
 * closed and its next request starts a new instance. Answers how many of each were reset
 * (Miniflare lists the instances that have storage, and resets only running ones).
 */
async function resetEvery(worker, classes = ["ChannelRoom", "UserDirectory", "ConnectionShard"]) {
  const listed = await Promise.all(classes.map(async (c) => [c, await worker.mf.listDurableObjectIds(c)]));
  const evictions = listed.flatMap(([className, ids]) =>
    ids.map(async (id) => {
      for (let tries = 1; ; tries++) {
        try {
          await worker.mf.unsafeEvictDurableObject(worker.workerName, className, { id, webSockets: "close" });
          return className;
        } catch (e) {
          // Idle or hibernated (earlier tests' objects): nothing running to reset.
          if (/not currently running/.test(e.message)) return null;
          // Miniflare evicts an object only between requests, and gives up when one (a
          // publish) is in flight too long: once it is answered, the reset can go on.
          if (!/active references/.test(e.message) || tries >= 20) {
            throw new Error(`${className} ${id}: ${e.message}`);
          }
          await sleep(50);
        }
      }
    }),
  );
  const reset = await Promise.all(evictions);
  return Object.fromEntries(classes.map((c) => [c, reset.filter((r) => r === c).length]));
}

/** `resetEvery`, timed: when it began and when every instance was gone. */
async function reset(t, classes) {
  const start = Date.now();
  const counts = await resetEvery(worker, classes);
  const done = Date.now();
  t.diagnostic(`reset ${JSON.stringify(counts)} in ${done - start} ms`);
  return { start, done, counts };
}

/** A connected pusher-js client of `app`, watched; `presence` and `user` go to its auth. */
async function connect(target, name, { presence, user } = {}) {
  const client = await pusherJs(worker, target, sdkAuth(worker, { app: target, presence, user }));
  open.add(client);
  return watch(client, name);
}

async function signIn(w) {
  w.client.signin();
  await w.client.user.signinDonePromise;
}

/** Waits until every subscription of `subs` ({ w, channels }) has the last accepted event. */
async function drained(subs, pub) {
  assert.ok(pub.accepted.size > 0, "the publisher got no event accepted");
  const last = (c) => Math.max(-1, ...pub.acceptedOn(c).map(([n]) => n));
  const has = (w, c) => (w.frames.findLast((f) => f.channel === c && f.event === "tick")?.data.n ?? -2) >= last(c);
  await eventually(() => subs.every(({ w, channels }) => channels.every((c) => has(w, c))), "the last event", 10_000);
  await sleep(300); // anything extra would have arrived by now
}

/**
 * Every subscription of `subs` got the publisher's events with none doubled, in order, and
 * lost at most the tail of each reset: events the dying instance accepted but had not yet
 * sent when its sockets closed, which the platform leaves to chance. So a lost event was sent
 * while a reset ran (from a second before it began to when it was done); one sent later
 * reached a new instance, which replays it to a session coming back, and is never lost.
 */
function assertDelivery(t, subs, pub, resets, { lossSpan, maxLost = 2 * resets.length } = {}) {
  const span = lossSpan ?? ((at) => resets.some((r) => at >= r.start - 1000 && at <= r.done));
  let lost = 0;
  let expected = 0;
  for (const { w, channels } of subs) {
    for (const channel of channels) {
      const got = ticks(w, channel);
      const unique = new Set();
      const doubled = [];
      for (const n of got) {
        if (unique.has(n)) doubled.push(n);
        else unique.add(n);
      }
      assert.deepEqual(doubled, [], `${w.name} on ${channel}: events delivered twice`);
      const disordered = got.filter((n, i) => i > 0 && n < got[i - 1]);
      assert.deepEqual(disordered, [], `${w.name} on ${channel}: events out of order`);
      const missing = pub.acceptedOn(channel).filter(([n]) => !unique.has(n));
      assert.ok(
        missing.length <= maxLost,
        `${w.name} on ${channel}: lost ${missing.length} (${missing.map(([n]) => n)}), more than a tail`,
      );
      for (const [n, at] of missing) {
        assert.ok(
          span(at),
          `${w.name} on ${channel}: event ${n}, sent ${at - resets[0].start} ms after the reset began, was lost`,
        );
      }
      lost += missing.length;
      expected += pub.acceptedOn(channel).length;
    }
  }
  t.diagnostic(`lost ${lost} of ${expected} deliveries; ${pub.refused.length} publishes refused during the reset`);
}

async function channelInfo(target, name, attribute) {
  const res = await serverSdk(worker, target).get({ path: `/channels/${name}`, params: { info: attribute } });
  return (await res.json())[attribute];
}
async function listed(target) {
  return Object.keys((await (await serverSdk(worker, target).get({ path: "/channels" })).json()).channels);
}
async function users(target, name) {
  const body = await (await serverSdk(worker, target).get({ path: `/channels/${name}/users` })).json();
  return body.users.map((u) => u.id).sort();
}
async function connections(target) {
  return (await (await serverSdk(worker, target).get({ path: "/stats" })).json()).connections;
}

/** Polls `read` until it answers `expected` (the ledger is fed in batches, about once a second). */
async function until(read, expected, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (isDeepStrictEqual(value, expected)) return;
    if (Date.now() > deadline) assert.deepEqual(value, expected, `${what} did not settle`);
    await sleep(200);
  }
}

/**
 * After a reset of `channels` (public, private, presence, cache, in that order) that every
 * client of `ws` subscribed to: the rosters, the counts and the channel list are whole, and
 * receivers heard of no arrival or departure since `hooksBefore`.
 */
async function assertWhole(ws, channels, hooksBefore) {
  const [publicChannel, privateChannel, presence, cache] = channels;
  for (const w of ws) assert.equal(w.client.channel(presence).members.count, ws.length, w.name);
  assert.equal(await channelInfo(app, presence, "user_count"), ws.length);
  for (const c of [publicChannel, privateChannel, cache]) {
    assert.equal(await channelInfo(app, c, "subscription_count"), ws.length, c);
  }
  assert.deepEqual((await listed(app)).filter((c) => channels.includes(c)).sort(), [...channels].sort());
  const membership = hooksSince(hooks, hooksBefore, channels).filter((e) => MEMBERSHIP.has(e.name));
  assert.deepEqual(membership, [], "no occupancy or membership webhook");
}

test("a reset of every object is invisible to pusher-js on public, private, presence and cache channels", async (t) => {
  const channels = ["reset-news", "private-reset-desk", "presence-reset-lobby", "cache-reset-weather"];
  // Cached before anyone subscribes: each subscriber gets it once, with its subscription.
  await serverSdk(worker, app).trigger("cache-reset-weather", "tick", { n: -1 });
  const ws = await inSeries([0, 1, 2, 3], (i) => connect(app, `inv-${i}`, { presence: { user_id: `inv-${i}` } }));
  try {
    await inSeries(ws, (w) => inSeries(channels, (c) => subscribed(w.client, c)));
    // What an app sees: pusher:subscription_succeeded once per channel, never again.
    let resubscribed = 0;
    for (const w of ws)
      for (const c of channels) w.client.channel(c).bind("pusher:subscription_succeeded", () => resubscribed++);
    const hooksBefore = await quiet(hooks, channels);
    const subs = ws.map((w) => ({ w, channels }));
    const pub = publisher(worker, app, channels, RATE);
    await sleep(1000);
    const r = await reset(t);
    assert.ok(r.counts.ChannelRoom >= channels.length, "every room was reset");
    await sleep(4000);
    await pub.stop();
    await drained(subs, pub);

    // Nothing but the events: no reconnect, no subscription_succeeded, cached event,
    // cache_miss, member_added/removed or subscription_count again.
    for (const w of ws) assertUnseen(w, r.start, ["tick"]);
    assert.equal(resubscribed, 0, "a second pusher:subscription_succeeded");
    assertDelivery(t, subs, pub, [r]);
    await assertWhole(ws, channels, hooksBefore);
  } finally {
    for (const w of ws) w.client.disconnect();
  }
});

test("presence across a reset: a newcomer gets the whole roster, a member leaving during it is removed once", async (t) => {
  const roster = "presence-reset-roster";
  const leave = "presence-reset-leave";
  const member = (id) => connect(lobbyApp, id, { presence: { user_id: id, user_info: { name: id } } });
  const ms = await inSeries(["m1", "m2", "m3"], member);
  const leaver = await member("leaver");
  const late = await member("late"); // connected now, subscribes only after the reset
  try {
    for (const w of ms) {
      await subscribed(w.client, roster);
      await subscribed(w.client, leave);
    }
    await subscribed(leaver.client, leave);
    // The arrivals' webhooks (2 occupied, 3 + 4 member_added) are all in before the reset.
    await arrived(lobbyHooks, (ev) => ev.length >= 9, "the arrivals' webhooks");
    const hooksBefore = await quiet(lobbyHooks, [roster, leave]);

    const r = await reset(t);
    assert.ok(r.counts.ChannelRoom >= 2, "both rooms were reset");
    // Gone before its session could rejoin (rejoins wait up to 1 s): the new room never
    // hears from it, and removes it when its window (10 s from its start) closes.
    leaver.client.disconnect();
    // The roster persists: a newcomer, before the old members are all back, gets all of them.
    const lateRoster = await subscribed(late.client, roster);
    t.diagnostic(`the newcomer subscribed ${Date.now() - r.done} ms after the reset`);
    assert.ok(Date.now() - r.done < 10_000, "within the window");
    assert.deepEqual(Object.keys(lateRoster.members.members).sort(), ["late", "m1", "m2", "m3"]);
    assert.equal(lateRoster.members.count, 4);

    const removals = (w) => w.frames.filter((f) => f.at >= r.start && f.event === "pusher_internal:member_removed");
    await eventually(() => ms.every((w) => removals(w).length >= 1), "member_removed for the leaver", 20_000);
    const removedAfter = Math.max(...ms.map((w) => removals(w)[0].at)) - r.done;
    t.diagnostic(`member_removed reached the members ${removedAfter} ms after the reset`);
    assert.ok(removedAfter <= 15_000, `member_removed took ${removedAfter} ms`);
    await arrived(lobbyHooks, (ev) => ev.some((e) => e.name === "member_removed"), "the member_removed webhook");
    await sleep(1500); // a second removal, or any other webhook, would have come by now

    assert.deepEqual(
      hooksSince(lobbyHooks, hooksBefore, [roster, leave]),
      [
        { name: "member_added", channel: roster, user_id: "late" },
        { name: "member_removed", channel: leave, user_id: "leaver" },
      ],
      "only the newcomer's arrival and the leaver's departure",
    );
    for (const w of ms) {
      assert.deepEqual(w.states, [], `${w.name}: pusher-js changed state`);
      assert.equal(w.client.connection.socket_id, w.socketId, w.name);
      // In either order: the leaver's session rejoins after a random jitter of up to 1 s, and
      // when that came before its client left, it left cleanly, at once.
      const seen = w.frames
        .filter((f) => f.at >= r.start && !PINGS.has(f.event))
        .map((f) => [f.event, f.channel, f.data?.user_id])
        .sort((a, b) => a[0].localeCompare(b[0]));
      assert.deepEqual(
        seen,
        [
          ["pusher_internal:member_added", roster, "late"],
          ["pusher_internal:member_removed", leave, "leaver"],
        ],
        `${w.name}: exactly one member_added and one member_removed`,
      );
      assert.equal(w.client.channel(roster).members.count, 4, w.name);
      assert.equal(w.client.channel(leave).members.count, 3, w.name);
    }
    assert.deepEqual(
      late.frames.filter((f) => f.at >= r.start && !PINGS.has(f.event)).map((f) => f.event),
      ["pusher_internal:subscription_succeeded"],
    );
    assert.equal(await channelInfo(lobbyApp, roster, "user_count"), 4);
    assert.equal(await channelInfo(lobbyApp, leave, "user_count"), 3);
    assert.deepEqual(await users(lobbyApp, leave), ["m1", "m2", "m3"]);
    assert.deepEqual((await listed(lobbyApp)).sort(), [leave, roster]);
  } finally {
    for (const w of [...ms, leaver, late]) w.client.disconnect();
  }
});

test("presence across a reset, on an app without webhooks: a member who never returns is removed once, after the window", async (t) => {
  // The member's session rejoins after a random jitter of up to 1 s; when that comes before its
  // client leaves, it leaves cleanly, at once: that round proves nothing, and runs again.
  for (let round = 1; ; round++) {
    const channel = `presence-reset-quiet-${round}`;
    const member = (id) => connect(quietApp, `${id}-${round}`, { presence: { user_id: id } });
    const stays = await member("stays");
    const goes = await member("goes");
    try {
      await subscribed(stays.client, channel);
      await subscribed(goes.client, channel);
      await eventually(() => stays.client.channel(channel).members.count === 2, "both members in place");
      await sleep(300);
      const r = await reset(t, ["ChannelRoom"]);
      // Gone before its session could rejoin: only the room's window tells it left.
      goes.client.disconnect();
      const removals = () =>
        stays.frames.filter((f) => f.at >= r.start && f.event === "pusher_internal:member_removed");
      await eventually(() => removals().length >= 1, "member_removed for the member who left", 20_000);
      const after = removals()[0].at - r.done;
      t.diagnostic(`round ${round}: member_removed ${after} ms after the reset`);
      if (after < 8_000 && round < 3) continue;
      assert.ok(after >= 8_000 && after <= 15_000, `member_removed ${after} ms after the reset: at the window's end`);
      await sleep(1500); // a second removal would have come by now
      assert.deepEqual(
        removals().map((f) => f.data.user_id),
        ["goes"],
        "once",
      );
      assertUnseen(stays, r.start, ["pusher_internal:member_removed"]);
      assert.equal(stays.client.channel(channel).members.count, 1);
      assert.equal(await channelInfo(quietApp, channel, "user_count"), 1);
      assert.deepEqual(await users(quietApp, channel), ["stays"]);
      break;
    } finally {
      stays.client.disconnect();
      goes.client.disconnect();
    }
  }
});

test("a client event sent while the rooms come back is delivered once or refused to its sender, never dropped", async (t) => {
  const channel = "private-reset-chat";
  const a = await connect(app, "sender");
  const b = await connect(app, "other");
  try {
    const aChannel = await subscribed(a.client, channel);
    await subscribed(b.client, channel);
    await quiet(hooks, [channel]);
    const r = await reset(t);
    // Right away, before the sessions are back in the new room (10/s is the client-event limit).
    for (let n = 0; n < 5; n++) {
      assert.equal(aChannel.trigger("client-seq", { n }), true);
      await sleep(100);
    }
    await sleep(1500);
    aChannel.trigger("client-seq", { n: 5 }); // everyone is back: delivered
    const got = () => b.frames.filter((f) => f.event === "client-seq").map((f) => f.data.n);
    await eventually(() => got().includes(5), "the client event after the gap");
    await sleep(300);

    const refusals = a.frames.filter((f) => f.at >= r.start && f.event === "pusher:error");
    const delivered = got().filter((n) => n < 5);
    t.diagnostic(`during the gap: ${delivered.length} delivered, ${refusals.length} refused`);
    assert.deepEqual(
      got(),
      [...new Set(got())].sort((x, y) => x - y),
      "none doubled, in order",
    );
    assert.equal(delivered.length + refusals.length, 5, `delivered ${delivered}, refusals ${JSON.stringify(refusals)}`);
    assertUnseen(a, r.start, ["pusher:error"]); // and no echo of its own events
    assertUnseen(b, r.start, ["client-seq"]);
  } finally {
    a.client.disconnect();
    b.client.disconnect();
  }
});

test("signed-in users keep their user events and watchlist across a reset; terminate still closes with 4009", async (t) => {
  const sdk = serverSdk(worker, app);
  const ada = await connect(app, "reset-ada", { user: { id: "reset-ada" } });
  const bob = await connect(app, "reset-bob", { user: { id: "reset-bob" } });
  const watcher = await connect(app, "watcher", { user: { id: "watcher", watchlist: ["reset-ada", "reset-bob"] } });
  try {
    const online = [];
    const offline = [];
    watcher.client.user.watchlist.bind("online", (e) => online.push(...e.user_ids));
    watcher.client.user.watchlist.bind("offline", (e) => offline.push(...e.user_ids));
    for (const w of [ada, bob, watcher]) await signIn(w);
    await eventually(() => online.includes("reset-ada") && online.includes("reset-bob"), "both online");
    await sleep(300); // the user-channel rooms are joined after signin_success
    const got = [];
    ada.client.user.bind("note", (d) => got.push(d.n));
    await sdk.sendToUser("reset-ada", "note", { n: 0 });
    await eventually(() => got.length === 1, "the event before the reset");

    const r = await reset(t);
    assert.ok(r.counts.ChannelRoom >= 2, "the user channels' rooms were reset");
    if (!r.counts.UserDirectory) t.diagnostic("no UserDirectory instance was listed: the directory was not reset");
    // Taken by the user channel's new room before ada's session is back: replayed to it.
    await sdk.sendToUser("reset-ada", "note", { n: 1 });
    await sleep(1500);
    await sdk.sendToUser("reset-ada", "note", { n: 2 });
    await eventually(() => got.length >= 3, "the events after the reset");
    await sleep(300);
    assert.deepEqual(got, [0, 1, 2]);
    assertUnseen(ada, r.start, ["note"]);
    assertUnseen(bob, r.start);
    assertUnseen(watcher, r.start); // no offline/online for users who never left

    const error = nextEvent(ada.client.connection, "error");
    assert.equal((await sdk.terminateUserConnections("reset-ada")).status, 200);
    const e = await error;
    assert.equal(e.data?.code ?? e.error?.data?.code, 4009);
    await eventually(() => ada.client.connection.state !== "connected", "ada closed");
    await eventually(() => offline.includes("reset-ada"), "ada offline for the watcher");
    await sleep(300);
    assert.deepEqual(offline, ["reset-ada"]);
    assert.equal(bob.client.connection.state, "connected");
  } finally {
    for (const w of [ada, bob, watcher]) w.client.disconnect();
  }
});

test("two resets a second apart: the same guarantees", async (t) => {
  const channels = ["twice-news", "private-twice", "presence-twice", "cache-twice"];
  await serverSdk(worker, app).trigger("cache-twice", "tick", { n: -1 });
  const ws = await inSeries([0, 1, 2, 3], (i) => connect(app, `twice-${i}`, { presence: { user_id: `t${i}` } }));
  try {
    await inSeries(ws, (w) => inSeries(channels, (c) => subscribed(w.client, c)));
    const hooksBefore = await quiet(hooks, channels);
    const subs = ws.map((w) => ({ w, channels }));
    const pub = publisher(worker, app, channels, RATE);
    await sleep(1000);
    const first = await reset(t);
    await sleep(1000);
    const second = await reset(t);
    // Past the second instances' window (10 s): a member they missed would be gone by now.
    await sleep(second.done + 11_500 - Date.now());
    await pub.stop();
    await drained(subs, pub);

    for (const w of ws) assertUnseen(w, first.start, ["tick"]);
    // The guarantee is per instance rejoined: a session whose rejoin jitter (up to 1 s)
    // outlasts the gap never joins the middle instance, and what only that instance took (a
    // second's worth at most) is lost to it. Nothing is lost outside the two resets' span.
    assertDelivery(t, subs, pub, [first, second], {
      lossSpan: (at) => at >= first.start - 1000 && at <= second.done,
      maxLost: RATE * 2,
    });
    const late = [...pub.accepted.values()].filter((at) => at >= second.done + 10_000);
    assert.ok(late.length > 0, "events were published 10 s after the second reset");
    await assertWhole(ws, channels, hooksBefore);
  } finally {
    for (const w of ws) w.client.disconnect();
  }
});

test("the app's connection count stays exact when its connection shards reset", async (t) => {
  const ws = await inSeries([...Array(10).keys()], (i) => connect(shardApp, `conn-${i}`));
  try {
    await until(() => connections(shardApp), 10, "the count before the reset");
    const r = await reset(t, ["ConnectionShard"]);
    assert.ok(r.counts.ConnectionShard >= 1, "a connection shard was reset");
    await sleep(1000); // the sessions' rejoin jitter
    await until(() => connections(shardApp), 10, "the count after the reset");
    for (let i = 0; i < 3; i++) {
      await sleep(500);
      assert.equal(await connections(shardApp), 10, "the count stays");
    }
    for (const w of ws) assertUnseen(w, r.start);
    // The new shard instances count departures too.
    for (const w of ws.slice(0, 3)) w.client.disconnect();
    await until(() => connections(shardApp), 7, "the count after three left");
  } finally {
    for (const w of ws) w.client.disconnect();
  }
});

// The proof: 200 clients. The publisher's 50 events a second go to one channel after
// another (each to every channel would be 50 a second on each: 33,000 deliveries a second, more
// than two cores relay while 200 pusher-js clients run in this process).
const MIX_CLIENTS = 200;

test(`mix: ${MIX_CLIENTS} pusher-js clients on every channel kind, some signed in, a 50/s publisher, everything reset once`, async (t) => {
  const news = ["mix-news-0", "mix-news-1", "mix-news-2"];
  const desks = ["private-mix-0", "private-mix-1"];
  const lobbies = ["presence-mix-0", "presence-mix-1", "presence-mix-2", "presence-mix-3"];
  const cache = "cache-mix";
  const all = [...news, ...desks, ...lobbies, cache];
  const channelsOf = (i) => [news[i % 3], desks[i % 2], lobbies[Math.floor(i / 2) % 4], ...(i % 3 ? [] : [cache])];
  const sdk = serverSdk(worker, mixApp);
  await sdk.trigger(cache, "tick", { n: -1 });
  const subs = [];
  try {
    await inSeries([...Array(MIX_CLIENTS).keys()], async (i) => {
      const id = `mix-${i}`;
      const w = await connect(mixApp, id, { presence: { user_id: id }, user: { id } });
      const sub = { w, channels: channelsOf(i), signedIn: i % 5 === 0, notes: [] };
      subs.push(sub);
      if (sub.signedIn) await signIn(w);
      await inSeries(sub.channels, (c) => subscribed(w.client, c));
    });
    await sleep(300); // the user-channel rooms are joined after signin_success
    const hooksBefore = await quiet(mixHooks, all);
    await until(() => connections(mixApp), MIX_CLIENTS, "the count before the reset");
    const signedIn = subs.filter((s) => s.signedIn);
    for (const s of signedIn) s.w.client.user.bind("note", (d) => s.notes.push(d.n));

    const pub = publisher(worker, mixApp, all, RATE, { rotate: true });
    await sleep(1000);
    const r = await reset(t);
    assert.ok(r.counts.ChannelRoom >= all.length + signedIn.length, "every room was reset");
    assert.ok(r.counts.ConnectionShard >= 1, "the connection shards were reset");
    // Taken by the new user-channel rooms before the sessions are back: replayed to them.
    await Promise.all(signedIn.map((s) => sdk.sendToUser(s.w.name, "note", { n: 1 })));
    await sleep(r.done + 11_000 - Date.now());
    await pub.stop();
    await drained(subs, pub);
    // Past the rooms' window (10 s) and the 3 s webhook grace: a member or subscriber the new
    // instances missed would have been removed and reported by now.
    await sleep(Math.max(0, r.done + 14_500 - Date.now()));

    const changed = subs.filter((s) => s.w.states.length > 0).length;
    t.diagnostic(`${changed} of ${subs.length} clients changed state`);
    for (const s of subs) assertUnseen(s.w, r.start, ["tick", "note"]);
    assertDelivery(t, subs, pub, [r]);
    assert.ok(
      [...pub.accepted.values()].some((at) => at >= r.done + 10_000),
      "events 10 s after the reset",
    );
    for (const s of signedIn) assert.deepEqual(s.notes, [1], s.w.name);

    const membersOf = (c) => subs.filter((s) => s.channels.includes(c)).map((s) => s.w.name);
    for (const lobby of lobbies) {
      const expected = membersOf(lobby).sort();
      for (const s of subs.filter((x) => x.channels.includes(lobby))) {
        assert.deepEqual(Object.keys(s.w.client.channel(lobby).members.members).sort(), expected, s.w.name);
      }
      assert.equal(await channelInfo(mixApp, lobby, "user_count"), expected.length, lobby);
      assert.deepEqual(await users(mixApp, lobby), expected, lobby);
    }
    for (const c of [...news, ...desks, cache]) {
      assert.equal(await channelInfo(mixApp, c, "subscription_count"), membersOf(c).length, c);
    }
    assert.deepEqual((await listed(mixApp)).filter((c) => all.includes(c)).sort(), [...all].sort());
    await until(() => connections(mixApp), MIX_CLIENTS, "the count after the reset");

    const after = hooksSince(mixHooks, hooksBefore, all);
    t.diagnostic(
      `subscription_count webhooks after the reset: ${after.filter((e) => e.name === "subscription_count").length}`,
    );
    assert.deepEqual(
      after.filter((e) => e.name !== "subscription_count"),
      [],
      "no occupancy, membership or cache_miss webhook",
    );
  } finally {
    for (const s of subs) s.w.client.disconnect();
  }
});
