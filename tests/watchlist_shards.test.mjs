// Watchlists over a sharded user directory: a watcher and the users it watches live on
// different directory shards, and still see each other exactly (initial state, online, offline,
// several tabs on both sides), also after the shards were evicted from memory.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, makeApp, pusherJs, sdkAuth, eventually, sleep } from "./support/harness.mjs";

const SHARDS = 4;
const app = makeApp({ limits: { user_directory_shards: SHARDS } });
let worker;
before(async () => {
  worker = await startWorker({ apps: [app] });
});
after(async () => {
  await worker?.stop();
});

/** A user's home shard, as src/room/directory_shards.rs computes it (FNV-1a, 32 bit). */
function shardOf(id, shards = SHARDS) {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(id, "utf8")) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return hash % shards;
}

/** The first `{prefix}{n}` homed on `shard`. */
function homedOn(shard, prefix) {
  for (let n = 0; ; n++) {
    if (shardOf(`${prefix}${n}`) === shard) return `${prefix}${n}`;
  }
}

/** A pusher-js connection signed in as `id`, recording the watchlist ids it is told about. */
async function signedIn(id, watchlist) {
  const user = watchlist ? { id, watchlist } : { id };
  const client = await pusherJs(worker, app, sdkAuth(worker, { app, user }));
  const online = [];
  const offline = [];
  client.user.watchlist.bind("online", (e) => online.push(...e.user_ids));
  client.user.watchlist.bind("offline", (e) => offline.push(...e.user_ids));
  client.signin();
  await client.user.signinDonePromise;
  return { client, online, offline, count: (list, id) => list.filter((x) => x === id).length };
}

test("the hash matches the worker's (fixed FNV-1a vectors)", () => {
  assert.equal(shardOf("a", 2 ** 32 - 1), 0xe40c292c);
  assert.equal(shardOf("foobar", 2 ** 32 - 1), 0xbf9cf968);
});

test("a session holds its sockets on its user's shard and on its watched users' shards; a shard reset is rejoined quietly", async () => {
  const ann = homedOn(1, "placed-ann-");
  const ben = homedOn(2, "placed-ben-");
  const annWatcher = homedOn(0, "placed-v-"); // sockets on shards 0 and 1
  const benWatcher = homedOn(3, "placed-w-"); // sockets on shards 3 and 2
  const clients = {};
  const drops = {};
  const open = [];
  const connect = async (name, id, watchlist) => {
    const c = await signedIn(id, watchlist);
    open.push(c.client);
    clients[name] = c;
    drops[name] = 0;
    c.client.connection.bind("state_change", ({ current }) => {
      if (current !== "connected") drops[name]++;
    });
    return c;
  };
  try {
    const v = await connect("annWatcher", annWatcher, [ann]);
    const w = await connect("benWatcher", benWatcher, [ben]);
    await connect("ann", ann);
    await connect("ben", ben);
    await eventually(() => v.online.includes(ann) && w.online.includes(ben), "everyone in place");
    const seen = [v.online.length, v.offline.length, w.online.length, w.offline.length];
    // Shard 2 resets: the sessions with a socket there (ben's home, his watcher's) rejoin it
    // without a word to their clients, and nobody hears online or offline for it.
    await worker.mf.unsafeEvictDurableObject(worker.workerName, "UserDirectory", {
      name: `${app.id}#directory#2`,
      webSockets: "close",
    });
    await sleep(2_000);
    assert.deepEqual(drops, { annWatcher: 0, benWatcher: 0, ann: 0, ben: 0 }, "nobody reconnected");
    assert.deepEqual([v.online.length, v.offline.length, w.online.length, w.offline.length], seen);
    // Both are back on shard 2's new instance: ben leaving reaches his watcher from there.
    const benOffline = w.count(w.offline, ben); // 1: the initial state, before he signed in
    clients.ben.client.disconnect();
    await eventually(() => w.count(w.offline, ben) > benOffline, "ben offline for his watcher, through the new shard");
    await sleep(300);
    assert.equal(w.count(w.offline, ben), benOffline + 1, "once");
    assert.deepEqual([v.online.length, v.offline.length], seen.slice(0, 2), "ann's watcher heard nothing");
  } finally {
    for (const c of open) c.disconnect();
  }
});

test("a user whose session ends during its shard's reset goes offline for its watchers once, when the rejoin window ends", async (t) => {
  // Her session rejoins after a random jitter of up to 1 s; when that comes before her client
  // leaves, she leaves cleanly, at once: that round proves nothing, and runs again.
  for (let round = 1; ; round++) {
    const ann = homedOn(1, `gone-ann-${round}-`);
    const watcher = homedOn(0, `gone-v-${round}-`); // sockets on shard 0 and on ann's shard 1
    const v = await signedIn(watcher, [ann]);
    const a = await signedIn(ann);
    try {
      await eventually(() => v.online.includes(ann), "ann online for her watcher");
      const offlineBefore = v.count(v.offline, ann);
      // Shard 1 resets, and ann's session ends before it could rejoin: nothing tells the new
      // instance she left, but it kept in storage that she was online.
      await worker.mf.unsafeEvictDurableObject(worker.workerName, "UserDirectory", {
        name: `${app.id}#directory#1`,
        webSockets: "close",
      });
      a.client.disconnect();
      const reset = Date.now();
      await eventually(
        () => v.count(v.offline, ann) > offlineBefore,
        "ann offline for her watcher after the window",
        20_000,
      );
      const after = Date.now() - reset;
      t.diagnostic(`round ${round}: offline after ${after} ms`);
      if (after < 9_000 && round < 3) continue;
      await sleep(500);
      assert.equal(v.count(v.offline, ann), offlineBefore + 1, "once");
      assert.ok(after >= 9_000, `offline after ${after} ms: held for the rejoin window (10 s) first`);
      assert.equal(v.client.connection.state, "connected");
      break;
    } finally {
      v.client.disconnect();
      a.client.disconnect();
    }
  }
});

test("watcher and watched on different shards: initial state, online, offline, several tabs", async () => {
  const me = homedOn(0, "watcher-");
  const [ann, ben, cid] = [homedOn(1, "ann-"), homedOn(2, "ben-"), homedOn(3, "cid-")];
  const dot = homedOn(0, "dot-"); // on the watcher's own shard
  const watchlist = [ann, ben, cid, dot];
  const open = [];
  const connect = async (...args) => {
    const c = await signedIn(...args);
    open.push(c.client);
    return c;
  };
  try {
    // The initial state comes from every shard the watchlist touches.
    const tab1 = await connect(me, watchlist);
    await eventually(() => watchlist.every((id) => tab1.offline.includes(id)), "initial: all offline");
    assert.deepEqual(tab1.online, []);

    // Ann's first tab makes her online; her second tab says nothing more.
    const ann1 = await connect(ann);
    await eventually(() => tab1.online.includes(ann), "ann online");
    const ann2 = await connect(ann);
    await connect(dot);
    await eventually(() => tab1.online.includes(dot), "dot online");
    await sleep(300);
    assert.equal(tab1.count(tab1.online, ann), 1, "one online event for two tabs");

    // A second tab of the watcher gets the current state, then the same changes.
    const tab2 = await connect(me, watchlist);
    await eventually(
      () => [ann, dot].every((id) => tab2.online.includes(id)) && [ben, cid].every((id) => tab2.offline.includes(id)),
      "tab 2 initial state",
    );
    assert.ok(!tab2.offline.includes(ann) && !tab2.online.includes(ben));
    const ben1 = await connect(ben);
    await eventually(() => tab1.online.includes(ben) && tab2.online.includes(ben), "ben online on both tabs");

    // Evicted shards rebuild what they know from their sockets.
    for (let shard = 0; shard < SHARDS; shard++) {
      await worker.mf.unsafeEvictDurableObject(worker.workerName, "UserDirectory", {
        name: `${app.id}#directory#${shard}`,
        webSockets: "hibernate",
      });
    }

    // Ann goes offline only when her last tab leaves, and both watcher tabs hear it.
    ann1.client.disconnect();
    await sleep(300);
    assert.equal(tab1.count(tab1.offline, ann), 1, "still online with one tab");
    assert.equal(tab2.count(tab2.offline, ann), 0);
    ann2.client.disconnect();
    await eventually(
      () => tab1.count(tab1.offline, ann) === 2 && tab2.count(tab2.offline, ann) === 1,
      "ann offline on both tabs",
    );

    // With one watcher tab gone, the other still hears arrivals and departures.
    tab1.client.disconnect();
    await connect(cid);
    await eventually(() => tab2.online.includes(cid), "cid online");
    ben1.client.disconnect();
    await eventually(() => tab2.count(tab2.offline, ben) === 2, "ben offline");
    assert.equal(tab2.count(tab2.online, ann), 1);
    assert.equal(tab2.count(tab2.online, ben), 1);
  } finally {
    for (const c of open) c.disconnect();
  }
});
