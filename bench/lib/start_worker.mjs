// The built worker (build/) in local workerd through Miniflare, started in this process for a
// benchmark, configured like tests/support/harness.mjs (from wrangler.toml) with the apps given,
// and optionally with V8's inspector open on `inspectorPort` (for CPU profiles, cpu_profile.mjs).
// Answers the port, the workerd process ids (for /proc CPU time) and a `stop`; `runContext`
// names the date, commit and machine for a table's heading. Every benchmark starts our worker
// from here: split_processes.mjs runs the same `benchWorkerOptions` as one process per role.
// `floorOptions` start the floor (floor_worker.mjs). BENCH_WORKER_LOG=1 shows the console output.
import { Miniflare, Log, LogLevel } from "miniflare";
import { cpus } from "node:os";
import { execSync } from "node:child_process";
import { join, relative, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { childPids } from "./proc.mjs";
import { workerOptions } from "../../tests/support/harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");

/** Our worker's Miniflare options with `apps`, from the bundle in `buildDir` (default build/). */
export function benchWorkerOptions({ apps, buildDir, probe = false }) {
  // A benchmark's thousands of clients all come from 127.0.0.1: the apps skip the rate limits
  // (a build given by `buildDir` may predate the setting, and its strict parsing would refuse it).
  const unlimited = buildDir ? apps : apps.map((app) => ({ rate_limit_tier: "unlimited", ...app }));
  // `probe`: behind the test entry (tests/support/counting_entry.mjs), which also answers the
  // isolate's Wasm memory at /__test/memory (bench/memory.mjs).
  const { wrangler, options } = workerOptions(
    { PUSHER_APPS: JSON.stringify(unlimited) },
    { countObjectRequests: probe },
  );
  // The relay is measured as Cloudflare runs it: no assets router in front of the Worker
  // (in Miniflare it is one more JavaScript worker on every request; the dashboard is off).
  delete options.assets;
  if (buildDir) {
    const build = resolve(root, buildDir);
    options.scriptPath = join(build, relative(options.modulesRoot, options.scriptPath));
    options.modulesRoot = build;
  }
  return { wrangler, options: { ...options, ...workerLog() } };
}

export async function startBenchWorker({ apps, inspectorPort }) {
  const { wrangler, options } = benchWorkerOptions({ apps });
  const mf = new Miniflare({
    ...options,
    port: 0,
    ...(inspectorPort ? { inspectorPort } : {}),
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

/** Miniflare's `log` option: the worker's console output when BENCH_WORKER_LOG is set. */
export function workerLog() {
  return process.env.BENCH_WORKER_LOG ? { log: new Log(LogLevel.DEBUG) } : {};
}

/**
 * The floor's options (floor_worker.mjs: one Durable Object class, `Room`, bound as ROOMS);
 * `shardSocket`: each connection also holds a socket to a shard object, as ours does.
 */
export function floorOptions({ shardSocket = false } = {}) {
  return {
    bindings: shardSocket ? { FLOOR_SHARD: "1" } : {},
    modules: true,
    scriptPath: join(here, "floor_worker.mjs"),
    compatibilityDate: "2026-07-01",
    durableObjects: { ROOMS: { className: "Room", useSQLite: true } },
    host: "127.0.0.1",
    ...workerLog(),
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
