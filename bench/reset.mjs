// What a reset of the channel rooms does to connected clients (the baseline for the
// invisible-resets work): pusher-js clients subscribed to a public and a presence channel, a
// publisher at a steady rate through the REST API, and, part-way, every ChannelRoom instance
// reset with its sockets closed (Miniflare's `unsafeEvictDurableObject` with
// `webSockets: "close"`, which closes an instance's sockets as a reset does). Counts, per client,
// the reconnects pusher-js made and the events lost, doubled or out of order. Prints Markdown.
//
//   node bench/reset.mjs        (after bash scripts/build.sh)
//
// Knobs (environment): BENCH_CLIENTS (default 20), BENCH_RATE (events per second on each
// channel, default 50), BENCH_SECONDS (publishing time, default 6; the reset comes at a third).
import { startWorker, makeApp, serverSdk, pusherJs, sdkAuth, subscribed, sleep } from "../tests/support/harness.mjs";
import { runContext } from "./lib/start_worker.mjs";

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 20);
const RATE = Number(process.env.BENCH_RATE ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const CHANNELS = ["reset-news", "presence-reset-room"];

const app = makeApp({ id: "1000001" });
const worker = await startWorker({ apps: [app] });
const clients = [];
try {
  for (let i = 0; i < CLIENTS; i++) {
    const client = await pusherJs(worker, app, sdkAuth(worker, { app, presence: { user_id: `user-${i}` } }));
    const seen = Object.fromEntries(CHANNELS.map((c) => [c, []]));
    let reconnects = 0;
    client.connection.bind("state_change", ({ current }) => {
      if (current !== "connected") reconnects++;
    });
    for (const name of CHANNELS) {
      const channel = await subscribed(client, name);
      channel.bind("tick", ({ n }) => seen[name].push(n));
    }
    clients.push({ client, seen, reconnects: () => reconnects });
  }
  const sdk = serverSdk(worker, app);
  const total = RATE * SECONDS;
  let resetAt = null;
  const started = Date.now();
  for (let n = 0; n < total; n++) {
    const due = started + (n * 1000) / RATE;
    if (due > Date.now()) await sleep(due - Date.now());
    if (resetAt === null && n >= total / 3) {
      resetAt = n;
      const ids = await worker.mf.listDurableObjectIds("ChannelRoom");
      await Promise.all(
        ids.map((id) =>
          worker.mf.unsafeEvictDurableObject(worker.workerName, "ChannelRoom", { id, webSockets: "close" }),
        ),
      );
    }
    await sdk.trigger(CHANNELS, "tick", { n }).catch(() => {});
  }
  await sleep(3000);

  let reconnected = 0;
  let lost = 0;
  let doubled = 0;
  let disordered = 0;
  for (const { seen, reconnects } of clients) {
    if (reconnects() > 0) reconnected++;
    for (const name of CHANNELS) {
      const got = seen[name];
      const unique = new Set(got);
      doubled += got.length - unique.size;
      lost += total - unique.size;
      disordered += got.filter((n, i) => i > 0 && n < got[i - 1]).length;
    }
  }
  console.log(`### A reset of every channel room (${runContext()})\n`);
  console.log(
    `${CLIENTS} pusher-js clients, each on ${CHANNELS.join(" and ")}; ${RATE} events/s on both ` +
      `for ${SECONDS} s (${total} per channel); every ChannelRoom reset with its sockets closed ` +
      `after event ${resetAt}.\n`,
  );
  console.log("| clients that reconnected | events lost | doubled | out of order |\n|---|---|---|---|");
  console.log(
    `| ${reconnected} of ${CLIENTS} | ${lost} of ${total * CHANNELS.length * CLIENTS} | ${doubled} | ${disordered} |`,
  );
} finally {
  for (const { client } of clients) client.disconnect();
  await worker.stop();
}
