// The critical paths of docs/operating.md, counted: for each, the round trips to Durable
// Objects before the user sees the result. Every object request waits at the test entry's gate
// (tests/support/counting_entry.mjs); a round lets through every request waiting once they have
// settled, and the rounds needed before the answer arrives are the path's round trips, each
// named by the objects it reached. No timer decides a result: a path that needed one more round
// trip would need one more release.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, makeApp, serverSdk, rawSocket, sleep } from "./support/harness.mjs";

const TOKEN = "operators-token-for-the-critical-paths";
const open = makeApp({ enable_client_messages: true, limits: { channel_split_threshold: 2 } });
const capped = makeApp({ limits: { max_connections: 100 } });
/** Created through the operators' API: the registry is where the Worker looks it up. */
let registered;
let registeredAt;
let worker;

before(async () => {
  worker = await startWorker({
    apps: [open, capped],
    bindings: { PUSHER_APPS: JSON.stringify([open, capped]), DASHBOARD_TOKEN: TOKEN },
    countObjectRequests: true,
  });
  const created = await fetch(new URL("/admin/apps", worker.url), {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: "{}",
  });
  assert.equal(created.status, 201);
  registered = (await created.json()).app;
  registeredAt = Date.now();
});
after(() => worker?.stop());

/**
 * Until no object request has arrived for 1.5 s, with the gate open: rooms and shards gather
 * their counts for the ledger for 1 s (REPORT_INTERVAL_MS) before they report them.
 */
async function quiet() {
  await worker.gate("open");
  let last = await worker.objectRequests();
  for (;;) {
    await sleep(1500);
    const now = await worker.objectRequests();
    if (now === last) return;
    last = now;
  }
}

/** How long the requests waiting must stay the same before a round lets them through. */
const SETTLED_MS = 500;

/**
 * Runs `path` (an async function whose result is what the user sees) with the gate closed and
 * lets the waiting requests through a round at a time until it has its result. Answers the
 * rounds (each the objects released in it, once each, sorted), the result, and what was still waiting
 * when the result came (the path's work after its answer).
 */
async function roundTrips(path) {
  await quiet();
  await worker.gate("close");
  const rounds = [];
  let outcome;
  const running = path().then(
    (value) => (outcome = { value }),
    (error) => (outcome = { error }),
  );
  try {
    for (;;) {
      let seen = "";
      let since = Date.now();
      let pending = [];
      while (!outcome) {
        pending = await worker.gate();
        const key = JSON.stringify(pending);
        if (key !== seen) [seen, since] = [key, Date.now()];
        else if (pending.length > 0 && Date.now() - since >= SETTLED_MS) break;
        await sleep(25);
      }
      if (outcome) {
        await running;
        if (outcome.error) throw outcome.error;
        const after = (await worker.gate()).map((p) => p.object).sort();
        return { rounds, value: outcome.value, after };
      }
      assert.ok(rounds.length < 8, `no answer after 8 rounds: ${JSON.stringify(rounds)}`);
      const released = await worker.gate("release");
      if (process.env.PATHS_DEBUG) console.log(JSON.stringify(released));
      // The objects a round reached, each once: a room or shard may also send the ledger a
      // batched report (every 1 s) while a round settles, which is not the path's.
      rounds.push([...new Set(released.map((p) => p.object))].sort());
    }
  } finally {
    await worker.gate("open");
  }
}

const PATH = (app) => `/app/${app.key}?protocol=7&client=js&version=8.6.0&flash=false`;

/** A raw connection; resolves with it once `connection_established` arrived. */
async function connect(app) {
  const sock = await rawSocket(worker, PATH(app));
  const first = await sock.next("connection_established");
  assert.equal(first.event, "pusher:connection_established", JSON.stringify(first));
  return { sock, socketId: JSON.parse(first.data).socket_id };
}

/** Sends a frame and resolves with the first later frame matching `predicate`. */
function answer(sock, frame, predicate, what) {
  const from = sock.frames.length;
  sock.send(frame);
  return sock.waitFrom(from, predicate, what);
}

const succeeded = (channel) => (f) =>
  f.channel === channel && /subscription_succeeded|subscription_error/.test(f.event);

function subscribe(conn, channel, app = open, member) {
  const sdk = serverSdk(worker, app);
  let data = { channel };
  if (channel.startsWith("private-")) data = { channel, ...sdk.authorizeChannel(conn.socketId, channel) };
  if (channel.startsWith("presence-")) data = { channel, ...sdk.authorizeChannel(conn.socketId, channel, member) };
  return answer(conn.sock, { event: "pusher:subscribe", data }, succeeded(channel), `${channel}'s answer`);
}

function signin(conn, user, app = open) {
  const data = serverSdk(worker, app).authenticateUser(conn.socketId, user);
  return answer(conn.sock, { event: "pusher:signin", data }, (f) => /signin_success|error/.test(f.event), "signin");
}

const ROOM = ["ChannelRoom"];

test("connect: no round trip before connection_established; the place is taken after", async () => {
  const { rounds, value, after } = await roundTrips(() => connect(open));
  assert.deepEqual(rounds, []);
  assert.deepEqual(after, ["ConnectionShard"], "the connection's place, asked for after the answer");
  value.sock.close();
});

test("connect to an app with max_connections: one round trip, to its connection shard", async () => {
  const { rounds, value } = await roundTrips(() => connect(capped));
  assert.deepEqual(rounds, [["ConnectionShard"]]);
  value.sock.close();
});

test("subscribe: one round trip to the channel's room; two for its first subscriber", async () => {
  const first = await connect(open);
  const second = await connect(open);
  for (const [channel, member] of [
    ["public-paths", undefined],
    ["private-paths", undefined],
    ["presence-paths", { user_id: "p1" }],
    ["private-cache-paths", undefined],
  ]) {
    // The first subscriber: the room tells the ledger before answering (GET /channels sees
    // the channel at once).
    const one = await roundTrips(() => subscribe(first, channel, open, member));
    assert.equal(one.value.event, "pusher_internal:subscription_succeeded", channel);
    assert.deepEqual(one.rounds, [ROOM, ["AppLedger"]], `${channel}, first subscriber`);
    const other = member && { user_id: "p2" };
    const two = await roundTrips(() => subscribe(second, channel, open, other));
    assert.equal(two.value.event, "pusher_internal:subscription_succeeded", channel);
    // A new presence member is news for the ledger too (its user count).
    const expected = member ? [ROOM, ["AppLedger"]] : [ROOM];
    assert.deepEqual(two.rounds, expected, `${channel}, another subscriber`);
  }
  // The same user again on presence: not a new member, the room alone.
  const third = await connect(open);
  const again = await roundTrips(() => subscribe(third, "presence-paths", open, { user_id: "p1" }));
  assert.deepEqual(again.rounds, [ROOM]);
  for (const c of [first, second, third]) c.sock.close();
});

test("subscribe past the split threshold: the root sends the subscriber on to a leaf", async () => {
  const conns = [await connect(open), await connect(open), await connect(open)];
  await subscribe(conns[0], "big-paths");
  await subscribe(conns[1], "big-paths");
  const { rounds, value } = await roundTrips(() => subscribe(conns[2], "big-paths"));
  assert.equal(value.event, "pusher_internal:subscription_succeeded");
  // Root, then the leaf; the channel is not new to the ledger (its root reported it).
  assert.deepEqual(rounds, [ROOM, ROOM]);
  for (const c of conns) c.sock.close();
});

test("sign-in: signin_success at once; the user channel and the first watchlist frames after one round trip", async () => {
  const conn = await connect(open);
  const signed = await roundTrips(() => signin(conn, { id: "paths-ada", watchlist: ["paths-bob"] }));
  assert.equal(signed.value.event, "pusher:signin_success");
  assert.deepEqual(signed.rounds, []);
  conn.sock.close();

  const again = await connect(open);
  const user = "#server-to-user-paths-cy";
  const { rounds, value } = await roundTrips(async () => {
    await signin(again, { id: "paths-cy", watchlist: ["paths-ada", "paths-bob", "paths-dee"] });
    const [channel, watchlist] = await Promise.all([
      again.sock.waitFor(succeeded(user), "the user channel"),
      again.sock.waitFor((f) => f.event === "pusher_internal:watchlist_events", "watchlist frames"),
    ]);
    return { channel, watchlist };
  });
  assert.equal(value.channel.event, "pusher_internal:subscription_succeeded");
  // The user's room and the directory shards the watchlist touches, in parallel.
  assert.equal(rounds.length, 1, JSON.stringify(rounds));
  assert.ok(rounds[0].includes("ChannelRoom") && rounds[0].includes("UserDirectory"), JSON.stringify(rounds));
  again.sock.close();
});

test("the user channel is not kept waiting by a burst of subscriptions ahead of the sign-in", async () => {
  const conn = await connect(open);
  const user = "#server-to-user-paths-eve";
  const { rounds } = await roundTrips(async () => {
    // Six first subscribers fill every upgrade slot the session has...
    for (let i = 0; i < 6; i++) {
      conn.sock.send({ event: "pusher:subscribe", data: { channel: `burst-${i}` } });
    }
    await signin(conn, { id: "paths-eve" });
    return conn.sock.waitFor(succeeded(user), "the user channel");
  });
  // ...yet the user channel's room is asked in the first round.
  assert.equal(rounds.length, 1, JSON.stringify(rounds));
  conn.sock.close();
});

test("REST publish: one round trip per channel, in parallel; client events and user events", async () => {
  const sdk = serverSdk(worker, open);
  const a = await connect(open);
  const b = await connect(open);
  for (const c of [a, b]) {
    await subscribe(c, "private-talk");
    await subscribe(c, "public-news");
  }
  const published = await roundTrips(() => sdk.trigger(["public-news", "private-talk"], "e", { n: 1 }));
  assert.equal(published.value.status, 200);
  // Both channels' rooms in one round.
  assert.deepEqual(published.rounds, [ROOM]);

  // A client event: a frame over the open socket, fanned out by the room: no round trip.
  const relayed = await roundTrips(() => {
    a.sock.send({ event: "client-hi", channel: "private-talk", data: { n: 2 } });
    return b.sock.waitFor((f) => f.event === "client-hi", "the client event");
  });
  assert.deepEqual(relayed.rounds, []);

  const user = await connect(open);
  await signin(user, { id: "paths-fay" });
  await user.sock.waitFor(succeeded("#server-to-user-paths-fay"), "the user channel");
  const sent = await roundTrips(() => sdk.sendToUser("paths-fay", "note", { n: 3 }));
  assert.deepEqual(sent.rounds, [ROOM]);
  await user.sock.waitFor((f) => f.event === "note", "the user event");

  // terminate_connections: one round trip to the user's room, which closes the user's sessions.
  const ended = await roundTrips(() => sdk.terminateUserConnections("paths-fay"));
  assert.equal(ended.value.status, 200);
  assert.deepEqual(ended.rounds, [ROOM]);
  assert.equal((await user.sock.closed()).code, 4009);
  for (const c of [a, b]) c.sock.close();
});

test("terminate_connections catches a connection whose user channel is on its way to the room", async () => {
  const sdk = serverSdk(worker, open);
  const conn = await connect(open);
  await quiet();
  await worker.gate("close");
  try {
    await signin(conn, { id: "paths-gus" });
    // The session's upgrade to the user's room waits at the gate; the terminate overtakes it.
    let upgrade = [];
    while (upgrade.length === 0) {
      upgrade = (await worker.gate()).filter((p) => p.object === "ChannelRoom");
      await sleep(20);
    }
    const terminated = sdk.terminateUserConnections("paths-gus");
    while ((await worker.gate()).filter((p) => p.path === "POST /terminate").length === 0) await sleep(20);
    // The terminate first: the room has no socket of the user yet, and remembers it.
    await worker.gate("release", "POST /terminate");
    assert.equal((await terminated).status, 200);
    assert.equal(conn.sock.isClosed(), false);
    // Then the upgrade, from a connection signed in before the terminate: refused.
    await worker.gate("release");
    assert.equal((await conn.sock.closed()).code, 4009);
  } finally {
    await worker.gate("open");
  }
});

test("a registry app this isolate has not looked up: one round trip more, then cached", async () => {
  // Past the isolate's memory of the app the operators' API created (SERVE_STALE_MS, 10 s).
  await sleep(Math.max(0, registeredAt + 10_500 - Date.now()));
  const cold = await roundTrips(() => connect(registered));
  assert.deepEqual(cold.rounds, [["AppRegistry"]]);
  const warm = await roundTrips(() => connect(registered));
  assert.deepEqual(warm.rounds, []);
  cold.value.sock.close();
  warm.value.sock.close();
});
