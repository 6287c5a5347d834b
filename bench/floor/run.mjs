// Runs the fan-out benchmark against bench/floor/worker.mjs (the two-hop topology in plain
// JavaScript) in the same local workerd, to separate what workerd's hops cost from what our
// code costs. `node bench/floor/run.mjs` (BENCH_SUBSCRIBERS=1000 by default).
import { Miniflare } from "miniflare";
import { resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { runFanout } from "../fanout.mjs";
import { childPids } from "../proc.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const mf = new Miniflare({
  modules: true,
  scriptPath: resolve(here, "worker.mjs"),
  compatibilityDate: "2026-07-01",
  durableObjects: { ROOMS: { className: "Room", useSQLite: true } },
  host: "127.0.0.1",
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
