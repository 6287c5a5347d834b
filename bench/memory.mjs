// Memory where it is spent (issue 24, point 1): per connection, as the marginal slope over
// several connection counts, inside each isolate (V8 heap used after a full GC, read through
// the inspector; our Wasm linear memory, read at the test entry's /__test/memory) and per
// process (resident memory from /proc), for our server split into one workerd process per role
// (sessions: the Worker's client sockets; rooms: ChannelRoom; state: ledger, connection shards,
// user directory) and for bench/lib/floor_worker.mjs split alike. Like with like: the floor's
// connections hold a socket to a shard object too (`shardSocket`), as ours hold one to their
// connection shard.
//
//   node bench/memory.mjs        (after bash scripts/build.sh)
//
// Scenarios: connections subscribed to 0, 1, 10 and 100 channels (the channels shared by every
// connection). For each: a fresh server per side, connections opened in steps, a sample after
// each step; then one publish to every channel (the rooms' heap awake, without a GC first), then
// an idle wait (the rooms' heap once their objects may hibernate). BENCH_SCALE (default 1)
// multiplies the connection counts; BENCH_IDLE_SECONDS (default 15) is the idle wait;
// BENCH_CHANNELS (default "0,1,10,100") picks the scenarios; BENCH_SIDES (default
// "ours,floor") the servers.
import WebSocket from "ws";
import PusherServer from "pusher";
import { makeApp, sleep } from "../tests/support/harness.mjs";
import { startSplit, startFloorSplit } from "./lib/split_processes.mjs";
import { rssKb } from "./lib/proc.mjs";
import { runContext } from "./lib/start_worker.mjs";
import { cdpSession } from "./lib/cpu_profile.mjs";

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 15);
const SIDES = (process.env.BENCH_SIDES ?? "ours,floor").split(",");
const SCENARIOS = [
  { channels: 0, counts: [200, 400, 800] },
  { channels: 1, counts: [200, 400, 800] },
  { channels: 10, counts: [50, 100, 200] },
  { channels: 100, counts: [10, 20, 40] },
]
  .filter((s) => (process.env.BENCH_CHANNELS ?? "0,1,10,100").split(",").map(Number).includes(s.channels))
  .map((s) => ({ ...s, counts: s.counts.map((n) => Math.max(2, Math.round(n * SCALE))) }));

const app = makeApp({
  limits: { max_subscribes_per_minute: 100_000, max_channels_per_trigger: 100 },
});

/** A Chrome DevTools Protocol session on the isolate `target` of the inspector at `inspectorUrl`. */
async function isolateSession(inspectorUrl, target) {
  const { host } = new URL(inspectorUrl);
  const targets = await (await fetch(`http://${host}/json/list`)).json();
  const found = targets.find((t) => t.id === `core:user:${target}`);
  if (!found) throw new Error(`no isolate ${target} among ${targets.map((t) => t.id).join(", ")}`);
  return cdpSession(found.webSocketDebuggerUrl);
}

/** One side (ours or the floor), split by role, with an inspector on every process. */
async function startSide(side) {
  const server =
    side === "ours"
      ? await startSplit({ apps: [app], inspect: ["sessions", "rooms", "state"], probe: true })
      : await startFloorSplit({ inspect: ["sessions", "rooms"], shardSocket: true });
  const name = side === "ours" ? "pusher-edge" : "floor";
  const sessions = {};
  for (const [role, proc] of Object.entries(server.processes)) {
    if (!proc.inspector) continue;
    sessions[role] = await isolateSession(proc.inspector, `${name}-${role}`);
    await sessions[role].send("HeapProfiler.enable");
  }
  return { side, server, sessions, port: server.processes.sessions.port };
}

/**
 * Each process's memory now: `heap` (V8 heap used, after a full GC unless `gc` is false), `wasm`
 * (our Wasm linear memory; 0 for the floor) and `rss`, in bytes. workerd runs an inspector's GC
 * when the isolate is next entered, so requests poke it until the GC is done (ours: the Wasm
 * memory's answer).
 */
async function sample({ side, server, sessions }, { gc = true } = {}) {
  const out = {};
  for (const [role, proc] of Object.entries(server.processes)) {
    const cdp = sessions[role];
    if (!cdp) continue;
    const poke = side === "ours" ? "/__test/memory" : "/__test/poke";
    const enter = async () => (await fetch(`http://127.0.0.1:${proc.port}${poke}`)).json();
    if (gc) {
      let done = false;
      const collected = cdp.send("HeapProfiler.collectGarbage").then(() => (done = true));
      // Until the isolate has been entered after the inspector took the command.
      while (!done) await Promise.race([collected, enter().then(() => sleep(50))]);
    }
    const answer = await enter();
    const heap = await cdp.send("Runtime.getHeapUsage");
    out[role] = { heap: heap.usedSize, wasm: answer.wasmBytes ?? 0, rss: rssKb(proc.pids) * 1024 };
  }
  return out;
}

/** A raw client (protocol 7) subscribed to `channels`; resolves once every one succeeded. */
function openClient(port, channels) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${app.key}?protocol=7&client=bench&version=8.6.0`);
  return new Promise((resolve, reject) => {
    let left = channels.length;
    const timer = setTimeout(() => reject(new Error("a client did not subscribe in 60 s")), 60_000);
    const done = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.on("error", reject);
    ws.on("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on("message", (raw) => {
      const frame = JSON.parse(raw.toString());
      if (frame.event === "pusher:connection_established") {
        if (left === 0) done();
        for (const channel of channels) ws.send(JSON.stringify({ event: "pusher:subscribe", data: { channel } }));
      } else if (frame.event === "pusher_internal:subscription_succeeded") {
        if (--left === 0) done();
      } else if (frame.event === "pusher:ping") {
        ws.send('{"event":"pusher:pong","data":{}}');
      } else if (/error/.test(frame.event)) {
        reject(new Error(raw.toString()));
      }
    });
  });
}

/** One publish to every channel of the scenario, as each side takes it. */
async function publish({ side, port }, channels) {
  if (channels.length === 0) return;
  if (side === "ours") {
    const sdk = new PusherServer({
      appId: app.id,
      key: app.key,
      secret: app.secret,
      host: "127.0.0.1",
      port: String(port),
    });
    const response = await sdk.trigger(channels, "memory", { pad: "x".repeat(100) });
    if (response.status !== 200) throw new Error(`publish: ${response.status}`);
    return;
  }
  await fetch(`http://127.0.0.1:${port}/apps/1/events`, {
    method: "POST",
    body: JSON.stringify({ name: "memory", channels, data: JSON.stringify({ pad: "x".repeat(100) }) }),
  });
}

/** Least-squares slope of `ys` over `xs`. */
function slope(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return num / den;
}

/** Runs one scenario on one side: per role and measure, bytes per connection; and extras. */
async function runScenario(side, { channels: count, counts }) {
  const channels = Array.from({ length: count }, (_, i) => `memory-${i}`);
  const running = await startSide(side);
  const clients = [];
  try {
    // Warm: the isolates loaded (our Wasm instantiated) before the first sample.
    (await openClient(running.port, channels)).close();
    await sleep(1500);
    const samples = [];
    for (const n of counts) {
      while (clients.length < n) {
        const batch = Math.min(50, n - clients.length);
        clients.push(...(await Promise.all(Array.from({ length: batch }, () => openClient(running.port, channels)))));
      }
      await sleep(1500); // the connections' places, taken after their answers
      samples.push(await sample(running));
    }
    await publish(running, channels);
    await sleep(500);
    const awake = await sample(running, { gc: false });
    await sleep(IDLE_SECONDS * 1000);
    const idle = await sample(running);
    const perConnection = {};
    for (const role of Object.keys(samples[0])) {
      perConnection[role] = {};
      for (const measure of ["heap", "wasm", "rss"]) {
        perConnection[role][measure] = slope(
          counts,
          samples.map((s) => s[role][measure]),
        );
      }
    }
    const last = samples.at(-1);
    return { perConnection, last, awake, idle };
  } finally {
    for (const ws of clients) ws.terminate();
    for (const cdp of Object.values(running.sessions)) cdp.close();
    await running.server.stop();
  }
}

const kb = (bytes) => (bytes / 1024).toFixed(1);
const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);

console.log(`## Memory per connection (${runContext()})\n`);
console.log("KB per connection: the slope over the connection counts; heap after a full GC.\n");
for (const scenario of SCENARIOS) {
  const results = {};
  for (const side of SIDES) results[side] = await runScenario(side, scenario);
  console.log(`### ${scenario.channels} channel(s) per connection, ${scenario.counts.join("/")} connections\n`);
  console.log(
    "| side | process | V8 heap KB/conn | Wasm KB/conn | RSS KB/conn | at the most: heap MB, Wasm MB, RSS MB |",
  );
  console.log("|---|---|---|---|---|---|");
  const totals = {};
  for (const [side, { perConnection, last }] of Object.entries(results)) {
    totals[side] = { heap: 0, wasm: 0, rss: 0 };
    for (const [role, m] of Object.entries(perConnection)) {
      for (const k of ["heap", "wasm", "rss"]) totals[side][k] += m[k];
      const at = last[role];
      console.log(
        `| ${side} | ${role} | ${kb(m.heap)} | ${kb(m.wasm)} | ${kb(m.rss)} | ${mb(at.heap)}, ${mb(at.wasm)}, ${mb(at.rss)} |`,
      );
    }
    const t = totals[side];
    console.log(`| ${side} | **all** | **${kb(t.heap)}** | **${kb(t.wasm)}** | **${kb(t.rss)}** | |`);
  }
  if (totals.ours && totals.floor) {
    const ratio = (k) => (totals.ours[k] / totals.floor[k]).toFixed(2);
    console.log(`\nours / floor: RSS ${ratio("rss")}×, V8 heap ${ratio("heap")}×.`);
  }
  if (scenario.channels > 0) {
    const rooms = (side) => {
      const { last, awake, idle } = results[side];
      return `${side} ${mb(last.rooms.heap)} MB after GC, ${mb(awake.rooms.heap)} MB right after a publish, ${mb(idle.rooms.heap)} MB after ${IDLE_SECONDS} s idle (Wasm ${mb(awake.rooms.wasm)} MB)`;
    };
    console.log(`Rooms' V8 heap at ${scenario.counts.at(-1)} connections: ${SIDES.map(rooms).join("; ")}.`);
  }
  console.log("");
}
process.exit(0);
