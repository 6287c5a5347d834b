// Runs the fan-out benchmark against bench/lib/floor_worker.mjs (the two-hop topology in plain
// JavaScript) in the same local workerd, to separate what workerd's hops cost from what our
// code costs. `node bench/floor.mjs` (BENCH_SUBSCRIBERS=1000 by default).
import { Miniflare } from "miniflare";
import { runFanout } from "./lib/fanout.mjs";
import { childPids } from "./lib/proc.mjs";
import { floorOptions } from "./lib/start_worker.mjs";

const mf = new Miniflare({
  ...floorOptions(),
  port: 0,
});
const url = await mf.ready;
const n = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const result = await runFanout({
  host: "127.0.0.1",
  port: Number(url.port),
  appId: "1",
  key: "k",
  secret: "s",
  subscribers: n,
  intervalMs: Math.max(10, n / 10),
  events: 100,
  saturationEvents: Math.max(20, Math.round(300_000 / n)),
  saturationConcurrency: 16,
  payloadBytes: 100,
  serverPids: childPids(process.pid, "workerd"),
});
console.log(JSON.stringify(result));
await mf.dispose();
