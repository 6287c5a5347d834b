// The built worker (build/) in local workerd through Miniflare, started in this process for a
// benchmark, configured like tests/support/harness.mjs (from wrangler.toml) with the apps given,
// and optionally with V8's inspector open on `inspectorPort` (for CPU profiles, cpu_profile.mjs).
// Answers the port, the workerd process ids (for /proc CPU time) and a `stop`; `runContext`
// names the date, commit and machine for a table's heading.
import { Miniflare, Log, LogLevel } from "miniflare";
import { parse as parseToml } from "smol-toml";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { execSync } from "node:child_process";
import { resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { childPids } from "./proc.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export async function startBenchWorker({ apps, inspectorPort }) {
  const wrangler = parseToml(readFileSync(resolve(root, "wrangler.toml"), "utf8"));
  const sqlite = new Set(wrangler.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
  const durableObjects = Object.fromEntries(
    wrangler.durable_objects.bindings.map((b) => [
      b.name,
      { className: b.class_name, useSQLite: sqlite.has(b.class_name) },
    ]),
  );
  const mf = new Miniflare({
    name: wrangler.name,
    modules: true,
    modulesRoot: resolve(root, "build"),
    scriptPath: resolve(root, wrangler.main),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: wrangler.compatibility_date,
    compatibilityFlags: wrangler.compatibility_flags ?? [],
    durableObjects,
    bindings: { PUSHER_APPS: JSON.stringify(apps) },
    host: "127.0.0.1",
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
