// Calibrates the session's CPU budget (`limits.session_cpu_micros_per_frame`): silent subscriber
// connections on a busy channel (batch publishes through the REST API, several in flight) until
// each session closes itself with 4200 for its CPU budget. Measures the frames each relayed
// before its close, the wall time and the workerd process's CPU (from /proc). The same batches
// are then published again with nobody subscribed: the difference, per frame relayed, is the CPU
// a subscriber adds per frame (its session's relay plus the room's send to its socket), an upper
// bound for the session's own share, to compare with what the budget assumes. Extrapolates to
// the default budget and the runtime's CPU limits. Prints Markdown.
//
//   node bench/session_budget.mjs        (after bash scripts/build.sh)
//
// Knobs (environment): BENCH_BUDGET_MS (the session budget for the run, default 2000: small so
// the run is short), BENCH_MICROS_PER_FRAME (the estimate per frame, default 150 as shipped),
// BENCH_SESSIONS (subscriber connections, default 20: each relays the same frames and closes
// the same way; with 1, the subscriber's share is a small difference between two large CPU
// figures, since every publish costs a REST request and a room request per event, and on a
// busy machine it drowns in their noise), BENCH_BATCH (events per batch publish, default 10,
// Pusher's limit), BENCH_CONCURRENCY (publishes in flight, default 4), BENCH_PAYLOAD_BYTES
// (default 100).
import http from "node:http";
import { cpus, totalmem } from "node:os";
import { execFileSync } from "node:child_process";
import WebSocket from "ws";
import { makeApp, signedQuery } from "../tests/support/harness.mjs";
import { startBenchWorker } from "./lib/start_worker.mjs";
import { cpuSeconds } from "./lib/proc.mjs";

const env = process.env;
const budgetMs = Number(env.BENCH_BUDGET_MS ?? 2000);
const microsPerFrame = Number(env.BENCH_MICROS_PER_FRAME ?? 150);
const sessionCount = Number(env.BENCH_SESSIONS ?? 20);
const batchSize = Number(env.BENCH_BATCH ?? 10);
const concurrency = Number(env.BENCH_CONCURRENCY ?? 4);
const payloadBytes = Number(env.BENCH_PAYLOAD_BYTES ?? 100);
// What ships (src/protocol/limits.rs, wrangler.toml), for the extrapolation.
const DEFAULT_BUDGET_MS = 25_000;
const CPU_LIMITS_S = [
  ["Workers Paid default", 30],
  ["`[limits] cpu_ms = 300000` (wrangler.toml)", 300],
];
const CHANNEL = "bench-session-budget";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const app = makeApp({
  limits: {
    session_cpu_budget_ms: budgetMs,
    session_cpu_micros_per_frame: microsPerFrame,
    max_batch_size: Math.max(10, batchSize),
  },
});
const worker = await startBenchWorker({ apps: [app] });
const { pids } = worker;
if (pids.length === 0) throw new Error("no workerd process found under this one");

/** One signed `POST /apps/{id}/batch_events` of `batchSize` events, on a fresh connection. */
const pad = "x".repeat(Math.max(0, payloadBytes - 20));
let seq = 0;
function publishBatch() {
  const path = `/apps/${app.id}/batch_events`;
  const batch = Array.from({ length: batchSize }, () => ({
    channel: CHANNEL,
    name: "bench",
    data: JSON.stringify({ seq: seq++, pad }),
  }));
  const body = JSON.stringify({ batch });
  const query = signedQuery({ app, method: "POST", path, body });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: worker.port,
        method: "POST",
        path: `${path}?${query}`,
        agent: false,
        headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`publish: ${res.statusCode} ${text}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Publishes with `concurrency` batches in flight until `stop()` is true or `count` are sent. */
async function publishUntil({ stop = () => false, count = Infinity }) {
  let sent = 0;
  const lane = async () => {
    while (!stop() && sent < count) {
      sent++;
      await publishBatch();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return sent;
}

/** A subscriber that counts the channel's frames and records the close. */
function subscribe() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${worker.port}/app/${app.key}?protocol=7&client=bench&version=8.6.0`);
    const state = { ws, relayed: 0, error: null, close: null, closed: null };
    state.closed = new Promise((r) =>
      ws.on("close", (code) => {
        state.close = code;
        r(code);
      }),
    );
    ws.on("error", reject);
    ws.on("message", (raw) => {
      const text = raw.toString();
      // Room frames carry the channel; the session's own frames (handshake, errors) do not.
      if (text.includes(`"channel":"${CHANNEL}"`)) state.relayed++;
      if (text.includes('"event":"bench"')) return;
      const frame = JSON.parse(text);
      if (frame.event === "pusher:connection_established") {
        ws.send(JSON.stringify({ event: "pusher:subscribe", data: { channel: CHANNEL } }));
      } else if (frame.event === "pusher_internal:subscription_succeeded") {
        resolve(state);
      } else if (frame.event === "pusher:ping") {
        ws.send(JSON.stringify({ event: "pusher:pong", data: {} }));
      } else if (frame.event === "pusher:error") {
        state.error = frame.data;
      }
    });
  });
}

// Warm-up: the room, the REST path and the JIT, with nobody subscribed.
await publishUntil({ count: 100 });
await sleep(500);

/** CPU seconds of workerd while `work` runs (and half a second after, for what it queued). */
async function cpuOf(work) {
  const before = cpuSeconds(pids);
  const result = await work();
  await sleep(500);
  return { cpu: cpuSeconds(pids) - before, result };
}

// The subscribers, until every session closed itself.
const subscribers = [];
for (let i = 0; i < sessionCount; i++) subscribers.push(await subscribe());
const withThem = await cpuOf(async () => {
  const start = performance.now();
  const sent = await publishUntil({ stop: () => subscribers.every((s) => s.close !== null) });
  await Promise.all(subscribers.map((s) => s.closed));
  return { sent, wallS: (performance.now() - start) / 1000 };
});
const { sent: publishes, wallS } = withThem.result;
const cpuWith = withThem.cpu;

// The same publishes with nobody subscribed: the rest of the process's work.
const cpuWithout = (await cpuOf(() => publishUntil({ count: publishes }))).cpu;
await worker.stop();

const relayed = subscribers.map((s) => s.relayed);
const frames = relayed.reduce((a, b) => a + b, 0);
const closes = [...new Set(subscribers.map((s) => s.close))].join(", ");
const reasons = [...new Set(subscribers.map((s) => s.error?.message).filter(Boolean))].join("; ");
// The budget counts the client's subscribe too.
const expectedFrames = Math.ceil((budgetMs * 1000) / microsPerFrame) - 1;
const wholeUs = (cpuWith * 1e6) / frames;
const marginalUs = ((cpuWith - cpuWithout) * 1e6) / frames;
const defaultFrames = Math.ceil((DEFAULT_BUDGET_MS * 1000) / microsPerFrame);
const f = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "–");
let commit = "?";
try {
  commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
} catch {
  // not a git checkout
}

console.log(
  `Machine: ${cpus().length} × ${cpus()[0].model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, Linux; commit ${commit}\n`,
);
console.log(
  `${sessionCount} subscriber connection(s); batches of ${batchSize} events of ${payloadBytes} bytes, ${concurrency} in flight; session budget ${budgetMs} ms at ${microsPerFrame} µs a frame.\n`,
);
console.log(
  "| closed with | frames relayed per session (budget allows) | wall (s) | publishes | workerd CPU with the subscribers (s) | same publishes, nobody subscribed (s) | whole process (REST and rooms too) µs / frame | added by the subscriber µs / frame | the budget assumes µs / frame |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
console.log(
  `| ${closes}${reasons ? ` (${reasons})` : ""} | ${Math.min(...relayed)}–${Math.max(...relayed)} (${expectedFrames}) | ${f(wallS)} | ${publishes} | ${f(cpuWith, 2)} | ${f(cpuWithout, 2)} | ${f(wholeUs)} | ${f(marginalUs)} | ${microsPerFrame} |`,
);
const atClose = (defaultFrames * marginalUs) / 1e6;
console.log(
  `\nExtrapolated to the default budget (${DEFAULT_BUDGET_MS / 1000} s at ${microsPerFrame} µs a frame): a session closes after ${defaultFrames.toLocaleString("en")} frames, having used about ${f(atClose)} s of CPU for them at the measured ${f(marginalUs)} µs a frame (the budget over-counts by ${f(microsPerFrame / marginalUs, 2)}×):\n`,
);
console.log(
  "| CPU limit | limit (s) | CPU at the 4200 close (s) | frames the limit would allow at the measured cost | the 4200 close comes first |",
);
console.log("|---|---|---|---|---|");
for (const [name, seconds] of CPU_LIMITS_S) {
  const allowed = Math.floor((seconds * 1e6) / marginalUs);
  console.log(
    `| ${name} | ${seconds} | ${f(atClose)} | ${allowed.toLocaleString("en")} | ${atClose < seconds ? "yes" : "NO"} |`,
  );
}
if (subscribers.some((s) => s.close !== 4200)) process.exitCode = 1;
