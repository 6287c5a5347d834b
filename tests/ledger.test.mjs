// The per-app ledger: exact counters after a known sequence (read after the batching
// interval), connection counts that heal themselves, the connection and broadcast quotas,
// the Prometheus endpoint, and the webhook delivery log's bound.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import {
  startWorker,
  makeApp,
  serverSdk,
  connectRaw,
  subscribeRaw,
  rawSocket,
  sleep,
  workerOptions,
} from "./support/harness.mjs";

const METRICS_TOKEN = "metrics-token-for-tests";
const counted = makeApp({ enable_client_messages: true });
const capped = makeApp({ limits: { max_connections: 2 } });
const sharded = makeApp({ limits: { connection_shards: 4 } });
const quota = makeApp({ limits: { max_broadcasts_per_month: 3 } });
const apps = [counted, capped, sharded, quota];
let worker;

before(async () => {
  worker = await startWorker({ apps, bindings: { PUSHER_APPS: JSON.stringify(apps), METRICS_TOKEN } });
});
after(async () => {
  await worker?.stop();
});

async function metricsText(token = METRICS_TOKEN) {
  const res = await fetch(`http://127.0.0.1:${worker.port}/metrics`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  return [res.status, await res.text(), res.headers.get("content-type")];
}

/** One app's value of a metric, from the Prometheus text (reading it counts no REST call). */
async function metric(name, app) {
  const [, text] = await metricsText();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{app_id="${app.id}"} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

/** Polls the metrics until every `expected` metric has its value (the ledger is fed in batches). */
async function settled(app, expected, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const values = {};
    for (const name of Object.keys(expected)) values[name] = await metric(name, app);
    if (Object.entries(expected).every(([k, v]) => values[k] === v)) return;
    if (Date.now() > deadline) assert.deepEqual(values, expected, "metrics did not settle");
    await sleep(200);
  }
}

async function stats(app) {
  const res = await serverSdk(worker, app).get({ path: "/stats" });
  return res.json();
}

test("counters are exact after a known sequence of publishes, deliveries, client events and connections", async () => {
  const sdk = serverSdk(worker, counted);
  const c1 = await connectRaw(worker, counted);
  const c2 = await connectRaw(worker, counted);
  const c3 = await connectRaw(worker, counted);
  for (const c of [c1, c2, c3]) await subscribeRaw(c.sock, "news");
  await subscribeRaw(c3.sock, "sports");
  for (const c of [c1, c2]) {
    const { auth } = sdk.authorizeChannel(c.socketId, "private-chat");
    await subscribeRaw(c.sock, "private-chat", { auth });
  }

  await sdk.trigger(["news", "sports"], "e", "1"); // 2 broadcasts, 3 + 1 deliveries
  await sdk.trigger(["news", "sports"], "e", "2"); // 2 broadcasts, 3 + 1 deliveries
  await sdk.trigger("news", "e", "3", { socket_id: c1.socketId }); // 1 broadcast, 2 deliveries
  await sdk.triggerBatch([
    { channel: "news", name: "e", data: "4" }, // 1 broadcast, 3 deliveries
    { channel: "sports", name: "e", data: "5" }, // 1 broadcast, 1 delivery
  ]);
  c1.sock.send({ event: "client-typing", channel: "private-chat", data: { a: 1 } }); // 1 delivery
  await c2.sock.waitFor((f) => f.event === "client-typing", "client event");

  await settled(counted, {
    pusher_edge_broadcasts_total: 7,
    pusher_edge_messages_delivered_total: 15,
    pusher_edge_client_events_total: 1,
    pusher_edge_connections: 3,
  });
  c3.sock.close();
  await settled(counted, { pusher_edge_connections: 2, pusher_edge_occupied_channels: 2 });

  const s = await stats(counted);
  const expected = {
    broadcasts: 7,
    messages_delivered: 15,
    client_events: 1,
    rest_calls: 5, // four publishing calls and this stats call
    connections_opened: 3,
    webhooks_failed: 0,
    webhooks_dropped: 0,
    replay_lost: 0,
    connections_rate_limited: 0,
    rest_rate_limited: 0,
    origins_refused: 0,
    peak_connections: 3,
  };
  assert.deepEqual(s.total, expected);
  const [month] = Object.keys(s.months);
  const [day] = Object.keys(s.days);
  assert.deepEqual(s.months[month], expected);
  assert.deepEqual(s.days[day], expected);
  assert.equal(day.slice(0, 7), month);
  assert.equal(s.connections, 2);
  assert.equal(s.occupied_channels, 2, "news and private-chat (sports was vacated)");
  c1.sock.close();
  c2.sock.close();
});

test("connection quota: the connection past max_connections gets 4004; a dead session frees its place", async () => {
  const first = await connectRaw(worker, capped);
  const second = await connectRaw(worker, capped);
  const third = await rawSocket(worker, `/app/${capped.key}?protocol=7`);
  const error = await third.next("pusher:error");
  assert.deepEqual(error, {
    event: "pusher:error",
    data: { code: 4004, message: "Application is over connection quota (2 connections)" },
  });
  assert.equal((await third.closed()).code, 4004);

  // A session that dies without a goodbye (TCP reset) gives its place back.
  first.sock.ws.terminate();
  const deadline = Date.now() + 10_000;
  let again;
  while (!again) {
    const sock = await rawSocket(worker, `/app/${capped.key}?protocol=7`);
    const frame = await sock.next();
    if (frame.event === "pusher:connection_established") again = sock;
    else if (Date.now() > deadline) assert.fail(`still refused: ${JSON.stringify(frame)}`);
    else await sleep(100);
  }
  again.close();
  second.sock.close();
});

test("connections over several shards add up exactly", async () => {
  const conns = [];
  for (let i = 0; i < 10; i++) conns.push(await connectRaw(worker, sharded));
  await settled(sharded, { pusher_edge_connections: 10, pusher_edge_connections_opened_total: 10 });
  for (const c of conns.slice(0, 4)) c.sock.ws.terminate();
  await settled(sharded, { pusher_edge_connections: 6 });
  for (const c of conns.slice(4)) c.sock.close();
  await settled(sharded, { pusher_edge_connections: 0 });
  const s = await stats(sharded);
  assert.equal(s.total.peak_connections, 10);
});

test("connections answered before their place is taken: one that closes at once leaves no phantom count", async () => {
  // Without max_connections, connection_established comes first and the shard's place right
  // after: a client gone in between must not stay counted.
  const closers = makeApp({ limits: { connection_shards: 2 } });
  const w = await startWorker({
    apps: [closers],
    bindings: { PUSHER_APPS: JSON.stringify([closers]), METRICS_TOKEN },
  });
  try {
    const path = `/app/${closers.key}?protocol=7&client=js&version=8.6.0&flash=false`;
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const sock = await rawSocket(w, path);
        const first = await sock.next("connection_established");
        assert.equal(first.event, "pusher:connection_established");
        if (i % 2) sock.close();
        else sock.ws.terminate(); // gone without a close frame
      }),
    );
    const stayed = await connectRaw(w, closers);
    const gauge = async () => {
      const text = await fetch(new URL("/metrics", w.url), {
        headers: { Authorization: `Bearer ${METRICS_TOKEN}` },
      }).then((r) => r.text());
      return Number(new RegExp(`^pusher_edge_connections\\{app_id="${closers.id}"\\} (\\d+)$`, "m").exec(text)?.[1]);
    };
    const deadline = Date.now() + 10_000;
    while ((await gauge()) !== 1 && Date.now() < deadline) await sleep(200);
    assert.equal(await gauge(), 1, "only the connection still open is counted");
    await sleep(1_500);
    assert.equal(await gauge(), 1, "and stays so");
    stayed.sock.close();
  } finally {
    await w.stop();
  }
});

test("broadcast quota: publishes past max_broadcasts_per_month get 403 with a clear body", async () => {
  const sdk = serverSdk(worker, quota);
  for (let i = 0; i < 3; i++) {
    const res = await sdk.trigger("quota-a", "e", String(i));
    assert.equal(res.status, 200);
  }
  await settled(quota, { pusher_edge_month_broadcasts: 3 });
  await sleep(300); // the room takes in the ledger's answer
  for (const call of [
    () => sdk.trigger("quota-a", "e", "over"),
    () => sdk.trigger("quota-b", "e", "over"),
    () => sdk.triggerBatch([{ channel: "quota-c", name: "e", data: "over" }]),
  ]) {
    await assert.rejects(call(), (e) => {
      assert.equal(e.status, 403);
      assert.match(JSON.parse(e.body).error, /over its monthly broadcast quota/);
      return true;
    });
  }
  const s = await stats(quota);
  assert.equal(s.total.broadcasts, 3, "refused publishes are not counted");
  assert.equal(s.max_broadcasts_per_month, 3);
});

test("metrics: Prometheus text behind the deployment token", async () => {
  const [status, text, type] = await metricsText();
  assert.equal(status, 200);
  assert.match(type, /^text\/plain; version=0\.0\.4/);
  assert.match(text, /^# HELP pusher_edge_broadcasts_total /m);
  assert.match(text, /^# TYPE pusher_edge_connections gauge$/m);
  assert.match(text, /^# TYPE pusher_edge_webhooks_dropped_total counter$/m);
  assert.match(text, /^# TYPE pusher_edge_replay_lost_total counter$/m);
  for (const refused of ["connections_rate_limited", "rest_rate_limited", "origins_refused"]) {
    assert.match(text, new RegExp(`^# TYPE pusher_edge_${refused}_total counter$`, "m"));
  }
  for (const app of apps)
    assert.match(text, new RegExp(`^pusher_edge_broadcasts_total\\{app_id="${app.id}"\\} \\d+$`, "m"));
  assert.ok(!text.includes(counted.secret), "no secret in metrics");
  assert.equal((await metricsText(null))[0], 401);
  assert.equal((await metricsText("wrong"))[0], 401);
});

test("the ledger heals when a room or a connection shard restarts without its sockets", async () => {
  const sdk = serverSdk(worker, capped);
  const c = await connectRaw(worker, capped);
  await subscribeRaw(c.sock, "heal-me");
  const listed = async () => (await (await sdk.get({ path: "/channels" })).json()).channels;
  const deadline = Date.now() + 10_000;
  while (!("heal-me" in (await listed())) && Date.now() < deadline) await sleep(200);
  assert.ok("heal-me" in (await listed()));
  await settled(capped, { pusher_edge_connections: 1 });

  // The room loses its sockets (a deploy): the session rejoins it quietly, and it stays listed.
  const evictRoom = () =>
    worker.mf.unsafeEvictDurableObject(worker.workerName, "ChannelRoom", {
      name: `${capped.id}:heal-me`,
      webSockets: "close",
    });
  await evictRoom();
  await sleep(2_000);
  assert.equal(c.sock.isClosed(), false, "the client stays connected");
  assert.ok("heal-me" in (await listed()), "still listed: the session is back");
  // Reset again, and the client leaves before its session is back: the session wakes the new
  // instance, which tells the ledger it is empty.
  await evictRoom();
  c.sock.close();
  while ("heal-me" in (await listed()) && Date.now() < deadline + 10_000) await sleep(200);
  assert.ok(!("heal-me" in (await listed())), "the restarted room told the ledger it is empty");
  await settled(capped, { pusher_edge_connections: 0 });

  // The connection shard loses its sockets: the session takes its place again, quietly.
  const d = await connectRaw(worker, capped);
  await settled(capped, { pusher_edge_connections: 1 });
  await worker.mf.unsafeEvictDurableObject(worker.workerName, "ConnectionShard", {
    name: `${capped.id}#connections#0`,
    webSockets: "close",
  });
  await sleep(2_000);
  assert.equal(d.sock.isClosed(), false, "the client stays connected");
  await settled(capped, { pusher_edge_connections: 1 });
  d.sock.close();
  await settled(capped, { pusher_edge_connections: 0 });
});

test("the webhook delivery log keeps the app's newest 100 requests: read newest first, no more rows stored", async (t) => {
  // 120 requests in six reports of 20 (a room's most), sent to the app's ledger directly, each
  // line told by its `at`. The read alone shows at most 100 whatever the table holds, so the
  // table is read too: from the ledger's SQLite file, persisted to a temporary directory.
  const app = makeApp();
  const persist = mkdtempSync(join(tmpdir(), "pusher-edge-ledger-"));
  t.after(() => rmSync(persist, { recursive: true, force: true }));
  const { wrangler, options } = workerOptions({ PUSHER_APPS: JSON.stringify([app]) });
  const mf = new Miniflare({ ...options, port: 0, durableObjectsPersist: persist });
  const line = (at) => ({ at, host: "hooks.example", events: ["channel_occupied"], status: 200, latency_ms: 1 });
  const newestFirst = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => to - i);
  try {
    await mf.ready;
    const ledgers = await mf.getDurableObjectNamespace("LEDGER");
    const id = ledgers.idFromName(app.id);
    const ledger = ledgers.get(id);
    const call = (path, init) => ledger.fetch(`https://ledger${path}?app=${encodeURIComponent(app.id)}`, init);
    const read = async () => (await (await call("/webhook-log")).json()).attempts;
    for (let report = 0; report < 6; report++) {
      const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify(line(report * 20 + i)));
      const res = await call("/report", { method: "POST", body: JSON.stringify({ webhook_log: lines }) });
      assert.equal(res.status, 200, await res.text());
      if (report === 4)
        assert.deepEqual(
          (await read()).map((a) => a.at),
          newestFirst(0, 99),
          "100: none dropped",
        );
    }
    const attempts = await read();
    assert.deepEqual(
      attempts.map((a) => a.at),
      newestFirst(20, 119),
    );
    assert.deepEqual(attempts[0], line(119));
  } finally {
    await mf.dispose();
  }
  // Imported here: Node 22 warns once that node:sqlite is experimental.
  const { DatabaseSync } = await import("node:sqlite");
  const className = wrangler.durable_objects.bindings.find((b) => b.name === "LEDGER").class_name;
  const ledgerDir = join(persist, `${wrangler.name}-${className}`);
  const files = readdirSync(ledgerDir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  assert.equal(files.length, 1, `one ledger: ${files}`);
  const db = new DatabaseSync(join(ledgerDir, files[0]), { readOnly: true });
  try {
    const stored = db.prepare("SELECT line FROM webhook_log ORDER BY seq DESC").all();
    assert.deepEqual(
      stored.map((row) => JSON.parse(row.line).at),
      newestFirst(20, 119),
      "the table holds the newest 100 only",
    );
  } finally {
    db.close();
  }
});
