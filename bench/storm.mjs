// A reconnect storm (issue 24, point 4): the clients that do reconnect, after a Worker-level
// restart, all at once. BENCH_STORM_CLIENTS real pusher-js clients (default 2,000), each
// subscribed to one of BENCH_STORM_CHANNELS public channels (default 20), on our worker in local
// workerd; then the runtime restarts (Miniflare's `setOptions` with the same options: every
// socket drops, Durable Object storage is kept on disk) and pusher-js reconnects and
// resubscribes on its own. Prints, from the restart: when every client was connected again and
// when every one had its channel's `pusher:subscription_succeeded` again (median, p95, last),
// and what was refused meanwhile.
//
//   node bench/storm.mjs        (after bash scripts/build.sh)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { Miniflare } from "miniflare";
import { makeApp, newPusherJs, sleep } from "../tests/support/harness.mjs";
import { benchWorkerOptions, runContext } from "./lib/start_worker.mjs";

const CLIENTS = Number(process.env.BENCH_STORM_CLIENTS ?? 2000);
const CHANNELS = Number(process.env.BENCH_STORM_CHANNELS ?? 20);
const app = makeApp({ id: "2000002" });

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Milliseconds at the given fraction of the sorted `values`. */
const at = (values, q) => values[Math.min(values.length - 1, Math.floor(q * values.length))];

const persist = mkdtempSync(join(tmpdir(), "pusher-edge-storm-"));
const port = await freePort();
const { options } = benchWorkerOptions({ apps: [app] });
const restartable = { ...options, port, durableObjectsPersist: persist };
const mf = new Miniflare(restartable);
await mf.ready;
const worker = { port };

const clients = [];
try {
  // Connected and subscribed 100 at a time.
  for (let i = 0; i < CLIENTS; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(CLIENTS, i + 100); j++) {
      const c = { client: newPusherJs(worker, app), subscribed: 0, connectedAt: 0, subscribedAt: 0 };
      c.client.connection.bind("connected", () => {
        c.connectedAt = Date.now();
      });
      const channel = c.client.subscribe(`storm-${j % CHANNELS}`);
      batch.push(
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`client ${j} did not subscribe`)), 60_000);
          channel.bind("pusher:subscription_succeeded", () => {
            c.subscribed++;
            c.subscribedAt = Date.now();
            clearTimeout(timer);
            resolve();
          });
        }),
      );
      clients.push(c);
    }
    await Promise.all(batch);
    console.error(`${clients.length} of ${CLIENTS} clients subscribed`);
  }
  await sleep(2000);
  let errors = 0;
  for (const c of clients) c.client.connection.bind("error", () => errors++);

  const restartAt = Date.now();
  await mf.setOptions(restartable);
  const restarted = Date.now() - restartAt;
  const deadline = Date.now() + 300_000;
  while (clients.some((c) => c.subscribed < 2) && Date.now() < deadline) await sleep(100);
  const back = clients.filter((c) => c.subscribed >= 2);
  const connected = back.map((c) => c.connectedAt - restartAt).sort((a, b) => a - b);
  const resubscribed = back.map((c) => c.subscribedAt - restartAt).sort((a, b) => a - b);
  console.log(`## A reconnect storm: ${CLIENTS} pusher-js clients on ${CHANNELS} channels (${runContext()})\n`);
  console.log(`The runtime restarted in ${restarted} ms; ${back.length} of ${CLIENTS} clients came back.\n`);
  console.log("| from the restart, ms | median | p95 | last |");
  console.log("|---|---|---|---|");
  console.log(`| connected again | ${at(connected, 0.5)} | ${at(connected, 0.95)} | ${connected.at(-1)} |`);
  console.log(`| subscribed again | ${at(resubscribed, 0.5)} | ${at(resubscribed, 0.95)} | ${resubscribed.at(-1)} |`);
  console.log(`\nConnection errors pusher-js reported meanwhile: ${errors}.`);
} finally {
  for (const c of clients) c.client.disconnect();
  await mf.dispose();
  rmSync(persist, { recursive: true, force: true });
}
process.exit(0);
