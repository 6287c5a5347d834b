// The built worker (build/) in local workerd through Miniflare, started in this process for a
// benchmark, configured like tests/support/harness.mjs (from wrangler.toml) with the apps given,
// and optionally with V8's inspector open on `inspectorPort` (for CPU profiles, cpu_profile.mjs).
// Answers the port, the workerd process ids (for /proc CPU time) and a `stop`; `runContext`
// names the date, commit and machine for a table's heading.
import { Miniflare, Log, LogLevel } from "miniflare";
import { cpus } from "node:os";
import { execSync } from "node:child_process";
import { resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { childPids } from "./proc.mjs";
import { workerOptions } from "../tests/support/harness.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export async function startBenchWorker({ apps, inspectorPort }) {
  const { wrangler, options } = workerOptions({ PUSHER_APPS: JSON.stringify(apps) });
  // The relay is measured as Cloudflare runs it: no assets router in front of the Worker
  // (in Miniflare it is one more JavaScript worker on every request; the dashboard is off).
  delete options.assets;
  const mf = new Miniflare({
    ...options,
    port: 0,
    ...(inspectorPort ? { inspectorPort } : {}),
    // BENCH_WORKER_LOG=1 shows the worker's console output.
    ...(process.env.BENCH_WORKER_LOG ? { log: new Log(LogLevel.DEBUG) } : {}),
  });
  const url = await mf.ready;
  return {
    mf,
    port: Number(url.port),
    pids: childPids(process.pid, "workerd"),
    workerName: wrangler.name,
    inspectorPort,
    stop: () => mf.dispose(),
  };
}

/** Where figures come from, for a table's heading: today's date, the commit, the CPUs. */
export function runContext() {
  let commit = "?";
  try {
    commit = execSync("git rev-parse --short HEAD", { cwd: root, encoding: "utf8" }).trim();
  } catch {
    // not a git checkout
  }
  const cores = cpus();
  return `${new Date().toISOString().slice(0, 10)}, commit ${commit}, ${cores.length} × ${cores[0]?.model ?? "?"}`;
}
