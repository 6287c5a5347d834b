// Runs the built worker (build/) in local workerd through Miniflare, in its own process, for
// the benchmark: prints one JSON line {"port", "pids"} (pids: the workerd processes) and
// serves until it is sent SIGTERM. App credentials come from BENCH_APP_ID/KEY/SECRET.
import { startWorker } from "../tests/support/harness.mjs";
import { childPids } from "./proc.mjs";

const app = {
  id: process.env.BENCH_APP_ID,
  key: process.env.BENCH_APP_KEY,
  secret: process.env.BENCH_APP_SECRET,
};
const worker = await startWorker({ apps: [app] });
const pids = childPids(process.pid, "workerd");
process.stdout.write(`${JSON.stringify({ port: worker.port, pids })}\n`);
process.on("SIGTERM", async () => {
  await worker.stop();
  process.exit(0);
});
