// What a Durable Object reset costs clients now that it should be invisible (each session
// rejoins the new instance, spread over 1 s or, for a big room, over its size at 800 a second;
// a new room replays what it sent before the session got back). A reset is Miniflare's `unsafeEvictDurableObject` with `webSockets:
// "close"`: the instance's sockets close and its next request starts a new one, as in a deploy.
// Each part has its own worker and prints Markdown:
// 1. everything reset under load: pusher-js clients on every channel kind, some signed in, a
//    steady REST publisher, and at a third every ChannelRoom, UserDirectory and ConnectionShard
//    instance reset; per client, what should all be 0 (state changes, events lost, doubled or
//    out of order, a second subscription_succeeded);
// 2. a big room reset: how long until its subscription_count is whole again, and the rate of
//    upgrades the new instance took meanwhile (a Durable Object's soft limit: ~1,000 requests/s).
//
//   node bench/reset.mjs        (after bash scripts/build.sh)
//
// Knobs (environment): BENCH_CLIENTS (default 200; 0 skips part 1), BENCH_RATE (publishes per
// second, each to every channel, default 50), BENCH_SECONDS (publishing time, default 12),
// BENCH_ROOM_SIZES (default "1000,5000"; "" skips part 2). Clients connect and subscribe one
// at a time, and the publisher leaves a few ms between calls: Miniflare cannot evict an object
// that took concurrent upgrades or has a request in flight ("it still has active references").
import WebSocket from "ws";
import { execSync } from "node:child_process";
import { makeApp, serverSdk, pusherJs, sdkAuth, subscribed, sleep } from "../tests/support/harness.mjs";
import { startBenchWorker, runContext } from "./lib/start_worker.mjs";

const env = process.env;
const CLIENTS = Number(env.BENCH_CLIENTS ?? 200);
const RATE = Number(env.BENCH_RATE ?? 50);
const SECONDS = Number(env.BENCH_SECONDS ?? 12);
const SIZES = (env.BENCH_ROOM_SIZES ?? "1000,5000").split(",").filter(Boolean).map(Number);
const CLASSES = ["ChannelRoom", "UserDirectory", "ConnectionShard"];
const context = runContext();
/** Prints a Markdown table: the header `head` ("a | b"), then `rows` (arrays of cells). */
const table = (head, rows) =>
  console.log(
    [head, head.replace(/[^|]+/g, "---"), ...rows.map((r) => r.join(" | "))].map((l) => `| ${l} |`).join("\n"),
  );

/**
 * Resets one object with its sockets closed: "reset", "idle" (not running: nothing to reset)
 * or "stuck" (Miniflare still found it busy after a second of retries).
 */
async function evict(worker, className, target) {
  for (let tries = 0; ; tries++) {
    try {
      await worker.mf.unsafeEvictDurableObject(worker.workerName, className, { ...target, webSockets: "close" });
      return "reset";
    } catch (e) {
      if (/not currently running/.test(e.message)) return "idle";
      if (!/active references/.test(e.message)) throw new Error(`${className}: ${e.message}`);
      if (tries >= 20) return "stuck";
      await sleep(50);
    }
  }
}

/** Every instance of CLASSES at once, as a deploy does; answers "ChannelRoom 31, ..." (and any stuck). */
async function resetEvery(worker) {
  const reset = async (c) => {
    const outcomes = await Promise.all((await worker.mf.listDurableObjectIds(c)).map((id) => evict(worker, c, { id })));
    const stuck = outcomes.filter((o) => o === "stuck").length;
    return `${c} ${outcomes.filter((o) => o === "reset").length}${stuck ? ` (${stuck} stuck)` : ""}`;
  };
  return (await Promise.all(CLASSES.map(reset))).join(", ");
}

/**
 * The pusher SDK publishing `{n}` to `channels` at RATE, one call at a time so each room gets
 * them in order. `accepted` holds each n the API took (200); a refused call is only counted.
 */
function publisher(sdk, channels) {
  const pub = { accepted: new Set(), refused: 0, stopped: false, started: Date.now() };
  pub.done = (async () => {
    for (let n = 0; !pub.stopped; n++) {
      // At least a few ms between calls: Miniflare evicts an object only between requests.
      await sleep(Math.max(5, pub.started + (n * 1000) / RATE - Date.now()));
      try {
        await sdk.trigger(channels, "tick", { n });
        pub.accepted.add(n);
      } catch {
        pub.refused++;
      }
    }
  })();
  pub.stop = () => {
    pub.stopped = true;
    return pub.done;
  };
  return pub;
}

/** Client `i`, connected, signed in if every 10th, subscribed to `channels` one at a time. */
async function connect(worker, app, i, channels) {
  const id = `user-${i}`;
  const c = { channels, ticks: Object.fromEntries(channels.map((ch) => [ch, []])), states: 0, resubscribed: 0 };
  c.client = await pusherJs(worker, app, sdkAuth(worker, { app, presence: { user_id: id }, user: { id } }));
  c.client.connection.bind("state_change", () => c.states++);
  // Frames as pusher-js decoded them, before any channel handles them: a repeated cached event
  // or subscription_succeeded shows here even where pusher-js would swallow it.
  c.client.connection.bind("message", (f) => {
    if (f.event === "tick") c.ticks[f.channel]?.push(f.data.n);
    else if (f.event === "pusher_internal:subscription_succeeded" && c.armed) c.resubscribed++;
  });
  if (i % 10 === 0) {
    c.client.signin();
    await c.client.user.signinDonePromise;
  }
  for (const ch of channels) await subscribed(c.client, ch);
  return c;
}

async function resetUnderLoad() {
  const app = makeApp({ id: "1000001" });
  const worker = await startBenchWorker({ apps: [app] });
  const names = (prefix, k) => Array.from({ length: k }, (_, j) => `${prefix}-${j}`);
  const news = names("reset-news", 4);
  const desks = names("private-reset-desk", 4);
  const lobbies = names("presence-reset-lobby", Math.max(2, Math.ceil(CLIENTS / 100))); // ≤ 100 members each
  const cache = "cache-reset-weather";
  const all = [...news, ...desks, ...lobbies, cache];
  const sdk = serverSdk(worker, app);
  const clients = [];
  try {
    // Cached before anyone subscribes: each cache subscriber gets it (n = -1) once, never again.
    await sdk.trigger(cache, "tick", { n: -1 });
    for (let i = 0; i < CLIENTS; i++) {
      const channels = [news[i % 4], desks[i % 4], lobbies[i % lobbies.length], ...(i % 5 ? [] : [cache])];
      clients.push(await connect(worker, app, i, channels));
      if ((i + 1) % 50 === 0) console.error(`part 1: ${i + 1} of ${CLIENTS} clients subscribed`);
    }
    await sleep(500); // the user-channel rooms are joined after signin_success
    for (const c of clients) c.armed = true;
    const pub = publisher(sdk, all);
    await sleep((SECONDS * 1000) / 3);
    const start = Date.now();
    const objects = await resetEvery(worker);
    const took = Date.now() - start;
    await sleep(Math.max(0, pub.started + SECONDS * 1000 - Date.now()));
    await pub.stop();

    // At the defaults the fan-out (~32,000 deliveries/s) outruns 2 cores: wait for the backlog.
    const last = Math.max(...pub.accepted);
    const stopped = Date.now();
    const behind = () => clients.some((c) => c.channels.some((ch) => !c.ticks[ch].includes(last)));
    while (pub.accepted.size && behind() && Date.now() - stopped < 90_000) await sleep(200);
    const drained = Date.now() - stopped;
    await sleep(500); // anything extra would have arrived by now

    const t = { expected: 0, lost: 0, doubled: 0, disordered: 0 };
    for (const c of clients) {
      for (const ch of c.channels) {
        const got = c.ticks[ch];
        const unique = new Set(got);
        t.doubled += got.length - unique.size;
        t.disordered += got.filter((n, k) => k > 0 && n < got[k - 1]).length;
        for (const n of pub.accepted) if (!unique.has(n)) t.lost++;
        t.expected += pub.accepted.size;
      }
    }
    const changed = clients.filter((c) => c.states > 0).length;
    const resubscribed = clients.reduce((sum, c) => sum + c.resubscribed, 0);
    console.log(`### A reset of everything under load (${context})\n`);
    console.log(
      `${CLIENTS} pusher-js clients, each on one of ${news.length} public, ${desks.length} private and ` +
        `${lobbies.length} presence channels, every 5th on a cache channel too, every 10th signed in; ` +
        `${RATE} publishes/s to all ${all.length} channels for ${SECONDS} s (${pub.accepted.size} accepted, ` +
        `${pub.refused} refused; the last delivered ${(drained / 1000).toFixed(1)} s after the last publish). ` +
        "Lost: accepted by the API, never received (a reset may cost the dying rooms' last sends).\n",
    );
    const at = `${((start - pub.started) / 1000).toFixed(1)} s (took ${took} ms)`;
    table(
      "clients | deliveries expected | clients that changed state | lost | doubled | out of order | " +
        "repeated subscription_succeeded | reset at | objects reset",
      [[CLIENTS, t.expected, changed, t.lost, t.doubled, t.disordered, resubscribed, at, objects]],
    );
    console.log();
  } finally {
    for (const c of clients) c.client.disconnect();
    await worker.stop();
  }
}

const PONG = JSON.stringify({ event: "pusher:pong", data: {} });
const SUBSCRIBE = JSON.stringify({ event: "pusher:subscribe", data: { channel: "big-room" } });

/**
 * A raw protocol-7 subscriber to big-room; resolves once subscribed. `live` counts the
 * subscribers' closes and, once `live.resetAt` is set, every frame they get (pings aside).
 */
function subscriber(worker, app, live) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${worker.port}/app/${app.key}?protocol=7&client=js&version=8.6.0`);
    let joined = false;
    const fail = (e) => {
      clearTimeout(timer);
      ws.terminate();
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error("not subscribed within 30 s")), 30_000);
    ws.on("error", fail);
    ws.on("close", () => {
      if (joined && !live.closing) live.closed++;
    });
    ws.on("message", (raw) => {
      const f = JSON.parse(raw.toString());
      if (f.event === "pusher:ping") {
        ws.send(PONG); // the server pings after 120 s of silence: a 5,000-client run lasts longer
      } else if (live.resetAt) {
        live.after++;
        live.example ??= raw.toString();
      } else if (f.event === "pusher:connection_established") {
        ws.send(SUBSCRIBE);
      } else if (f.event === "pusher_internal:subscription_succeeded") {
        clearTimeout(timer);
        joined = true;
        resolve(ws);
      } else if (f.event === "pusher:error" || f.event === "pusher:subscription_error") {
        fail(new Error(raw.toString()));
      }
    });
  });
}

/** big-room's subscription_count through the REST API (null when the call failed). */
const subscriptionCount = (sdk) =>
  sdk
    .get({ path: "/channels/big-room", params: { info: "subscription_count" } })
    .then(async (res) => (await res.json()).subscription_count ?? 0)
    .catch(() => null);

/** N subscribers on big-room (in series: see the top), the room reset, polled until whole. */
async function bigRoom(n) {
  const app = makeApp({ id: "1000002" });
  const worker = await startBenchWorker({ apps: [app] });
  const sdk = serverSdk(worker, app);
  const live = { closing: false, closed: 0, after: 0, resetAt: 0 };
  const sockets = [];
  const failed = [];
  try {
    for (let i = 0; i < n && failed.length < 5; i++) {
      await subscriber(worker, app, live).then(
        (ws) => sockets.push(ws),
        (e) => failed.push(e.message),
      );
      if ((i + 1) % 500 === 0) console.error(`part 2: ${sockets.length} of ${n} subscribed`);
    }
    const r = { n, size: sockets.length, failed, before: await subscriptionCount(sdk) };
    await sleep(500); // no request in flight at the room
    live.resetAt = Date.now();
    r.outcome = await evict(worker, "ChannelRoom", { name: `${app.id}:big-room` });
    r.took = Date.now() - live.resetAt;
    while (r.outcome === "reset" && Date.now() - live.resetAt < 30_000) {
      r.last = await subscriptionCount(sdk);
      const at = Date.now() - live.resetAt;
      if (r.last > 0 && !r.first) r.first = { at, count: r.last };
      if (r.last >= r.size) {
        r.whole = at;
        break;
      }
      await sleep(50);
    }
    await sleep(1500); // a frame or a close the reset caused would have come by now
    return { ...r, closed: live.closed, after: live.after, example: live.example };
  } finally {
    live.closing = true;
    for (const ws of sockets) ws.terminate();
    await worker.stop();
  }
}

async function bigRooms() {
  // Each subscriber is a socket here and one in workerd, which inherits this process's limit.
  const limit = Number(execSync("ulimit -n", { encoding: "utf8" }).trim()); // NaN: unlimited
  if (limit < Math.max(...SIZES) + 1000) console.error(`part 2: ${limit} open files at most; connects may fail`);
  const results = [];
  for (const n of SIZES) results.push(await bigRoom(n));

  console.log(`\n### How long a big room takes to be whole again (${context})\n`);
  console.log(
    "N raw protocol-7 subscribers on one public channel, subscribed one at a time; its ChannelRoom reset with " +
      "its sockets closed, then its subscription_count polled every 50 ms until all N were back (times from the " +
      "reset). Rejoins are spread over 1 s, or a big room's size at 800 a second (rejoin_spread_ms). The rate: rejoins the new " +
      "instance took from the first poll that saw any to the one that saw all (soft limit ~1,000/s). A rejoin " +
      "is silent: no socket should close, no frame arrive.\n",
  );
  const notes = [];
  const rows = results.map((r) => {
    const { n, size, first, whole } = r;
    if (r.failed.length)
      notes.push(`${n}: ${r.failed.length} connects failed (${r.failed[0]}); measured with the rest.`);
    if (r.outcome !== "reset") notes.push(`${n}: Miniflare did not evict the room (${r.outcome}): not measured.`);
    if (r.example) notes.push(`${n}: the first frame after the reset: \`${r.example}\``);
    const span = whole - first?.at; // NaN when not whole
    return [
      size < n ? `${size} of ${n}` : size,
      r.before,
      `${r.took} ms`,
      first ? `${first.at} ms (${first.count})` : "–",
      whole === undefined ? `not in 30 s (${r.last ?? "–"})` : `${whole} ms`,
      span > 0 ? `${Math.round((size - first.count) / (span / 1000))}/s` : "–",
      r.closed,
      r.after,
    ];
  });
  table(
    "subscribers | count before | reset took | first rejoins seen | whole again | rejoin rate | sockets closed | " +
      "frames after the reset",
    rows,
  );
  if (notes.length) console.log(`\n${notes.map((note) => `- ${note}`).join("\n")}`);
}

if (CLIENTS > 0) await resetUnderLoad();
if (SIZES.length) await bigRooms();
