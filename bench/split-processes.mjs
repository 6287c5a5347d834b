// Runs a worker as several local workerd processes, one per role, so that the CPU of the
// channel rooms and of the client sessions can be read apart from /proc. Each role is its own
// Miniflare instance (so its own workerd process) running the same bundle; a Durable Object
// class lives in exactly one of them and the others reach it by `scriptName` through
// Miniflare's dev registry — the mechanism two `wrangler dev` processes use for a `script_name`
// binding: the caller's process holds a small JavaScript proxy object per Durable Object
// (Miniflare's dev-registry-proxy worker), which hands each request, WebSocket upgrades
// included, to the owner's workerd over its debug port (Cap'n Proto RPC on loopback).
import { Miniflare, Log, LogLevel } from "miniflare";
import { parse as parseToml } from "smol-toml";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { childPids } from "./proc.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * pusher-edge's roles: which Durable Object classes each process owns. Every process runs the
 * same bundle; the Worker's fetch handler in the `rooms` and `state` processes goes unused.
 * - state: the per-app ledger, the connection shards and the user directory.
 * - rooms: `ChannelRoom`, the channel's fan-out (room-side CPU).
 * - sessions: the Worker invocations that hold the client WebSockets and relay the rooms'
 *   frames to them (session-side CPU); owns no Durable Object.
 * - rest: the Worker invocations that answer the REST publishes (a cost per publish, not per
 *   delivery, and a separate invocation on Cloudflare too); owns no Durable Object.
 * They start in this order, each process after those it calls: a process learns of those
 * already running when it starts, and of later ones only when the registry's file watcher
 * tells it (until then a call to them answers 503).
 */
export const ROLES = {
  state: ["AppLedger", "ConnectionShard", "UserDirectory"],
  rooms: ["ChannelRoom"],
  sessions: [],
  rest: [],
};

/** The floor (bench/floor/worker.mjs, the same topology in plain JavaScript), split alike. */
export const FLOOR_ROLES = { rooms: ["Room"], sessions: [], rest: [] };

/**
 * Starts one workerd process per role of `roles` (`{ role: [class names it owns] }`) for a
 * worker described by `worker`: `{ name, script (Miniflare code options), bindings: [{ name,
 * className, useSQLite }], options (any other Miniflare options) }`. `inspect` lists the roles
 * whose process gets a V8 inspector. Resolves with `processes` (each role's `port`, workerd
 * `pids` and `inspector` URL) and `stop()`.
 */
export async function startRoles({ worker, roles, inspect = [] }) {
  // A registry of our own, so nothing else on the machine (another `wrangler dev`) mixes in.
  const registry = mkdtempSync(join(tmpdir(), `${worker.name}-registry-`));
  const scriptName = (role) => `${worker.name}-${role}`;
  const ownerOf = (className) => {
    const role = Object.keys(roles).find((r) => roles[r].includes(className));
    if (!role) throw new Error(`no process owns ${className}`);
    return role;
  };
  const processes = {};
  const instances = [];
  try {
    for (const role of Object.keys(roles)) {
      const durableObjects = Object.fromEntries(
        worker.bindings.map(({ name, className, useSQLite }) => {
          const owner = ownerOf(className);
          const local = { className, useSQLite };
          return [name, owner === role ? local : { ...local, scriptName: scriptName(owner) }];
        }),
      );
      const before = new Set(childPids(process.pid, "workerd"));
      const mf = new Miniflare({
        ...worker.script,
        ...worker.options,
        name: scriptName(role),
        durableObjects,
        host: "127.0.0.1",
        port: 0,
        unsafeDevRegistryPath: registry,
        ...(inspect.includes(role) ? { inspectorPort: 0 } : {}),
      });
      instances.push(mf);
      const url = await mf.ready;
      const pids = childPids(process.pid, "workerd").filter((pid) => !before.has(pid));
      const inspector = inspect.includes(role) ? String(await mf.getInspectorURL()) : null;
      processes[role] = { port: Number(url.port), pids, inspector };
    }
  } catch (e) {
    for (const mf of instances) await mf.dispose();
    throw e;
  }
  return {
    processes,
    stop: async () => {
      for (const mf of instances) await mf.dispose();
      rmSync(registry, { recursive: true, force: true });
    },
  };
}

/**
 * pusher-edge split by `ROLES`, from the bundle in `buildDir` (default build/, wrangler.toml's
 * `main`), configured from wrangler.toml with `apps`.
 */
export function startSplit({ apps, inspect = [], buildDir = "build" }) {
  const wrangler = parseToml(readFileSync(resolve(root, "wrangler.toml"), "utf8"));
  const sqlite = new Set(wrangler.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
  const build = resolve(root, buildDir);
  const worker = {
    name: wrangler.name,
    script: {
      modules: true,
      modulesRoot: build,
      scriptPath: join(build, "index.js"),
      modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    },
    bindings: wrangler.durable_objects.bindings.map((b) => ({
      name: b.name,
      className: b.class_name,
      useSQLite: sqlite.has(b.class_name),
    })),
    options: {
      compatibilityDate: wrangler.compatibility_date,
      compatibilityFlags: wrangler.compatibility_flags ?? [],
      bindings: { PUSHER_APPS: JSON.stringify(apps) },
      ...(process.env.PUSHER_EDGE_TEST_LOG ? { log: new Log(LogLevel.DEBUG) } : {}),
    },
  };
  return startRoles({ worker, roles: ROLES, inspect });
}

/** The floor (bench/floor/worker.mjs) split by `FLOOR_ROLES`. */
export function startFloorSplit({ inspect = [] } = {}) {
  const worker = {
    name: "floor",
    script: { modules: true, scriptPath: resolve(root, "bench/floor/worker.mjs") },
    bindings: [{ name: "ROOMS", className: "Room", useSQLite: true }],
    options: { compatibilityDate: "2026-07-01" },
  };
  return startRoles({ worker, roles: FLOOR_ROLES, inspect });
}
