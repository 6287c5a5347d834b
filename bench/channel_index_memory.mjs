// The ledger with a big channel index (issue 24, point 3): what `GET /channels` (Pusher's API
// has no paging: every occupied channel in one answer) costs the Wasm memory of the isolate
// that answers it. Opens raw connections subscribed to 100 channels each until BENCH_CHANNELS
// channels (default "2000,10000", names of BENCH_NAME_BYTES bytes, default 60) are occupied, then
// asks `GET /channels` and reads the isolate's Wasm memory (the test entry's /__test/memory)
// before and after. Locally one isolate holds the Worker and every object, so the growth is
// the sum of the ledger building the answer and the Worker passing it on.
//
//   node bench/channel_index_memory.mjs      (after bash scripts/build.sh)
import WebSocket from "ws";
import { makeApp, serverSdk, startWorker } from "../tests/support/harness.mjs";
import { runContext } from "./lib/start_worker.mjs";

const COUNTS = (process.env.BENCH_CHANNELS ?? "2000,10000").split(",").map(Number);
const NAME_BYTES = Number(process.env.BENCH_NAME_BYTES ?? 60);

const mb = (bytes) => (bytes / 1048576).toFixed(1);

/** A raw connection subscribed to `channels`; resolves once every one succeeded. */
function subscriber(port, app, channels) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${app.key}?protocol=7&client=bench&version=8.6.0`);
  return new Promise((resolve, reject) => {
    let left = channels.length;
    ws.on("error", reject);
    ws.on("message", (raw) => {
      const frame = JSON.parse(raw.toString());
      if (frame.event === "pusher:connection_established") {
        for (const channel of channels) ws.send(JSON.stringify({ event: "pusher:subscribe", data: { channel } }));
      } else if (frame.event === "pusher_internal:subscription_succeeded" && --left === 0) {
        resolve(ws);
      } else if (/error/.test(frame.event)) {
        reject(new Error(raw.toString()));
      }
    });
  });
}

console.log(`## The channel index in one GET /channels (${runContext()})\n`);
console.log(
  "| occupied channels | name bytes | answer bytes | Wasm before, MB | Wasm after, MB | growth per channel, bytes |",
);
console.log("|---|---|---|---|---|---|");
for (const count of COUNTS) {
  const app = makeApp({ rate_limit_tier: "unlimited", limits: { max_subscribes_per_minute: 100_000 } });
  const worker = await startWorker({ apps: [app], countObjectRequests: true });
  const sockets = [];
  try {
    const pad = "x".repeat(Math.max(0, NAME_BYTES - 12));
    const names = Array.from({ length: count }, (_, i) => `${pad}-${String(i).padStart(10, "0")}`);
    for (let i = 0; i < count; i += 1000) {
      const batch = [];
      for (let j = i; j < Math.min(count, i + 1000); j += 100) {
        batch.push(subscriber(worker.port, app, names.slice(j, Math.min(count, j + 100))));
      }
      sockets.push(...(await Promise.all(batch)));
    }
    const wasm = async () => (await (await fetch(new URL("/__test/memory", worker.url))).json()).wasmBytes;
    // The rooms' batched reports to the ledger (1 s) land first: their work is not this one's.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const before = await wasm();
    const answer = await serverSdk(worker, app).get({ path: "/channels" });
    const body = await answer.text();
    const listed = Object.keys(JSON.parse(body).channels).length;
    if (listed !== count) throw new Error(`GET /channels listed ${listed} of ${count}`);
    const after = await wasm();
    console.log(
      `| ${count.toLocaleString("en")} | ${NAME_BYTES} | ${body.length.toLocaleString("en")} | ${mb(before)} | ${mb(after)} | ${Math.round((after - before) / count)} |`,
    );
  } finally {
    for (const ws of sockets) ws.terminate();
    await worker.stop();
  }
}
process.exit(0);
