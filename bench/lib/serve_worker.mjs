// Runs the built worker (build/) in local workerd through Miniflare, in its own process, for
// the benchmark: prints one JSON line {"port", "pids"} (pids: the workerd processes) and
// serves until it is sent SIGTERM. App credentials come from BENCH_APP_ID/KEY/SECRET.
// Started as every benchmark starts it (start_worker.mjs); bench/run.mjs spawns it.
import { startBenchWorker } from "./start_worker.mjs";

const app = {
  id: process.env.BENCH_APP_ID,
  key: process.env.BENCH_APP_KEY,
  secret: process.env.BENCH_APP_SECRET,
};
const worker = await startBenchWorker({ apps: [app] });
const pids = worker.pids;
process.stdout.write(`${JSON.stringify({ port: worker.port, pids })}\n`);
process.on("SIGTERM", async () => {
  await worker.stop();
  process.exit(0);
});
