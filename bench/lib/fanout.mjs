// The fan-out benchmark: N raw WebSocket clients speaking the Pusher protocol subscribe to one
// channel; events are published through the signed REST API. Measures publish→first and
// publish→last-subscriber latency (p50, p99, max) at a steady rate, deliveries per second at
// saturation, and (given the server's process ids) its CPU time per delivered message and
// its memory. Works against any Pusher-protocol server; talks to loopback only.
// A server run as several processes (serve_split.mjs) can also be measured per process
// (`serverPidGroups`), with its REST API on another port (`restPort`).
// Run by bench/run.mjs, bench/floor.mjs and bench/profile_room.mjs; bench/fanout_any_server.mjs
// runs it against a server already running, from `optionsFromEnv`.
import WebSocket from "ws";
import http from "node:http";
import { createHash, createHmac } from "node:crypto";
import { performance } from "node:perf_hooks";
import { cpuSeconds, rssKb, peakRssKb } from "./proc.mjs";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);
const CHANNEL = "bench-fanout";

export function optionsFromEnv(env = process.env) {
  return {
    host: env.BENCH_HOST ?? "127.0.0.1",
    port: Number(env.BENCH_PORT),
    appId: env.BENCH_APP_ID,
    key: env.BENCH_APP_KEY,
    secret: env.BENCH_APP_SECRET,
    subscribers: Number(env.BENCH_SUBSCRIBERS ?? 100),
    events: Number(env.BENCH_EVENTS ?? 200),
    intervalMs: Number(env.BENCH_INTERVAL_MS ?? 10),
    payloadBytes: Number(env.BENCH_PAYLOAD_BYTES ?? 100),
    saturationEvents: Number(env.BENCH_SATURATION_EVENTS ?? 300),
    saturationConcurrency: Number(env.BENCH_SATURATION_CONCURRENCY ?? 16),
    serverPids: (env.BENCH_SERVER_PIDS ?? "").split(",").filter(Boolean).map(Number),
    ...(env.BENCH_REST_PORT ? { restPort: Number(env.BENCH_REST_PORT) } : {}),
    perMessageDeflate: env.BENCH_DEFLATE !== "0",
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

/** A signed `POST /apps/{id}/events` (auth_version 1.0), as the SDKs send it; to `o.restPort`
 * when the server takes REST calls on a port of their own, else to `o.port`. */
function publisher(o) {
  const port = o.restPort ?? o.port;
  const path = `/apps/${o.appId}/events`;
  return async (body) => {
    const text = JSON.stringify(body);
    const params = {
      auth_key: o.key,
      auth_timestamp: String(Math.floor(Date.now() / 1000)),
      auth_version: "1.0",
      body_md5: createHash("md5").update(text).digest("hex"),
    };
    const query = Object.keys(params)
      .sort()
      .map((k) => `${k}=${params[k]}`)
      .join("&");
    const signature = createHmac("sha256", o.secret).update(`POST\n${path}\n${query}`).digest("hex");
    // A fresh connection per publish (the same for every server): reused keep-alive
    // connections race with servers closing idle ones.
    const { status, text: answer } = await new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: o.host,
          port,
          method: "POST",
          path: `${path}?${query}&auth_signature=${signature}`,
          agent: false,
          headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) },
        },
        (res) => {
          let data = "";
          res.on("data", (chunk) => (data += chunk));
          res.on("end", () => resolve({ status: res.statusCode, text: data }));
        },
      );
      req.on("error", reject);
      req.end(text);
    });
    if (status !== 200) throw new Error(`publish answered ${status}: ${answer}`);
  };
}

/**
 * Opens one subscriber; `onEvent(seq, now)` is called for each benchmark event it receives.
 * Like a browser, it offers permessage-deflate unless `o.perMessageDeflate` is false; workerd
 * accepts it (compatibility flag `web_socket_compression`, on since 2023-08-15) and compresses
 * every frame to the client, soketi and sockudo decline it.
 */
function subscriber(o, onEvent) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${o.host}:${o.port}/app/${o.key}?protocol=7&client=bench&version=8.6.0`, {
      perMessageDeflate: o.perMessageDeflate ?? true,
    });
    const timer = setTimeout(() => reject(new Error("subscriber timed out")), 60_000);
    ws.on("error", reject);
    ws.on("message", (raw) => {
      const now = performance.now();
      const text = raw.toString();
      // Only the sequence number is read from benchmark events, without parsing the frame.
      const at = text.indexOf('seq\\":');
      if (at >= 0) {
        onEvent(parseInt(text.slice(at + 6), 10), now);
        return;
      }
      const frame = JSON.parse(text);
      if (frame.event === "pusher:connection_established") {
        ws.send(JSON.stringify({ event: "pusher:subscribe", data: { channel: CHANNEL } }));
      } else if (frame.event === "pusher_internal:subscription_succeeded") {
        clearTimeout(timer);
        resolve(ws);
      } else if (frame.event === "pusher:ping") {
        ws.send(JSON.stringify({ event: "pusher:pong", data: {} }));
      } else if (frame.event === "pusher:error") {
        reject(new Error(`server error: ${JSON.stringify(frame.data)}`));
      }
    });
  });
}

/** The same load for every server: a steady 10,000 deliveries/s for latency, then about
 * 300,000 deliveries as fast as the server takes them. */
export function workload(n) {
  return {
    subscribers: n,
    intervalMs: Math.max(10, n / 10),
    events: n >= 5000 ? 40 : 100,
    saturationEvents: Math.max(20, Math.round(300_000 / n)),
    saturationConcurrency: 16,
    payloadBytes: 100,
  };
}

/** CPU seconds so far of each group of processes: `{ name: seconds }`. */
function cpuByGroup(groups) {
  return Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, cpuSeconds(pids)]));
}

function mapGroups(groups, f) {
  return Object.fromEntries(Object.entries(groups).map(([name, value]) => [name, f(value, name)]));
}

/**
 * Runs the benchmark. Besides the options of `optionsFromEnv`: `serverPidGroups` (`{ name:
 * [pid] }`, a server run as several processes) adds CPU per delivery and memory per group;
 * `idleMs` measures each group's CPU over that long with the clients connected and nothing
 * published, before the timed phases; `beforeSaturation()` / `afterSaturation()` are awaited
 * around the saturated phase (e.g. to profile it).
 */
export async function runFanout(o) {
  if (!LOOPBACK.has(o.host)) throw new Error(`the benchmark only talks to loopback, not ${o.host}`);
  const publish = publisher(o);
  const total = o.events + o.saturationEvents;
  const sentAt = new Float64Array(total);
  const firstAt = new Float64Array(total);
  const lastAt = new Float64Array(total);
  const received = new Uint32Array(total);
  let deliveries = 0;
  const onEvent = (seq, now) => {
    if (!(seq >= 0 && seq < total)) return;
    if (received[seq] === 0) firstAt[seq] = now;
    lastAt[seq] = now;
    received[seq]++;
    deliveries++;
  };
  const pids = o.serverPids;
  const groups = o.serverPidGroups ?? {};
  const rssBefore = pids.length ? rssKb(pids) : 0;

  const sockets = [];
  for (let i = 0; i < o.subscribers; i += 100) {
    const batch = Math.min(100, o.subscribers - i);
    sockets.push(...(await Promise.all(Array.from({ length: batch }, () => subscriber(o, onEvent)))));
  }
  await sleep(500);
  const rssConnected = pids.length ? rssKb(pids) : 0;
  const groupRssConnected = mapGroups(groups, (g) => rssKb(g) / 1024);
  let idleCpu = null;
  if (o.idleMs) {
    const before = cpuByGroup(groups);
    await sleep(o.idleMs);
    const after = cpuByGroup(groups);
    idleCpu = mapGroups(groups, (_, name) => ((after[name] - before[name]) * 1000) / (o.idleMs / 1000));
  }
  const pad = "x".repeat(Math.max(0, o.payloadBytes - 20));
  const event = (seq) => ({ name: "bench", channel: CHANNEL, data: JSON.stringify({ seq, pad }) });
  const allIn = async (from, to, timeoutMs) => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      let done = true;
      for (let s = from; s < to; s++) if (received[s] < o.subscribers) done = false;
      if (done || performance.now() > deadline) return;
      await sleep(20);
    }
  };

  // Steady rate: latency.
  const cpu0 = pids.length ? cpuSeconds(pids) : 0;
  const groupCpu0 = cpuByGroup(groups);
  const steady = [];
  for (let seq = 0; seq < o.events; seq++) {
    sentAt[seq] = performance.now();
    steady.push(publish(event(seq)));
    await sleep(o.intervalMs);
  }
  await Promise.all(steady);
  await allIn(0, o.events, 30_000);
  const firsts = [];
  const lasts = [];
  for (let s = 0; s < o.events; s++) {
    if (received[s] > 0) firsts.push(firstAt[s] - sentAt[s]);
    if (received[s] === o.subscribers) lasts.push(lastAt[s] - sentAt[s]);
  }
  const steadyDeliveries = deliveries;

  // Saturation: as many publishes in flight as allowed, then wait for every delivery.
  await o.beforeSaturation?.();
  const satStart = performance.now();
  let next = o.events;
  const worker = async () => {
    while (next < total) {
      const seq = next++;
      sentAt[seq] = performance.now();
      await publish(event(seq));
    }
  };
  await Promise.all(Array.from({ length: o.saturationConcurrency }, worker));
  await allIn(o.events, total, 60_000);
  let satEnd = satStart;
  for (let s = o.events; s < total; s++) satEnd = Math.max(satEnd, lastAt[s]);
  const satDeliveries = deliveries - steadyDeliveries;
  const cpu1 = pids.length ? cpuSeconds(pids) : 0;
  const groupCpu1 = cpuByGroup(groups);
  await o.afterSaturation?.();

  for (const ws of sockets) ws.terminate();
  const expected = total * o.subscribers;
  return {
    subscribers: o.subscribers,
    events: o.events,
    saturation_events: o.saturationEvents,
    payload_bytes: o.payloadBytes,
    per_message_deflate_offered: o.perMessageDeflate ?? true,
    publish_to_first_ms: summary(firsts),
    publish_to_last_ms: summary(lasts),
    deliveries_per_second: satDeliveries / ((satEnd - satStart) / 1000),
    missing_deliveries: expected - deliveries,
    server_cpu_seconds: pids.length ? cpu1 - cpu0 : null,
    server_cpu_us_per_delivery: pids.length ? ((cpu1 - cpu0) * 1e6) / deliveries : null,
    server_rss_mb_connected: pids.length ? rssConnected / 1024 : null,
    server_rss_kb_per_connection: pids.length ? (rssConnected - rssBefore) / o.subscribers : null,
    server_peak_rss_mb: pids.length ? peakRssKb(pids) / 1024 : null,
    ...(o.serverPidGroups
      ? {
          server_cpu_us_per_delivery_by_process: mapGroups(
            groups,
            (_, name) => ((groupCpu1[name] - groupCpu0[name]) * 1e6) / deliveries,
          ),
          server_rss_mb_connected_by_process: groupRssConnected,
          server_peak_rss_mb_by_process: mapGroups(groups, (g) => peakRssKb(g) / 1024),
          server_idle_cpu_ms_per_s_by_process: idleCpu,
        }
      : {}),
  };
}
