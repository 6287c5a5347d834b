// Runs a worker as several local workerd processes, one per role, so that the CPU of the
// channel rooms and of the client sessions can be read apart from /proc. Each role is its own
// Miniflare instance (so its own workerd process) running the same bundle, with the options of
// start_worker.mjs (the same as the one-process benchmarks'); a Durable Object class lives in
// exactly one of them and the others reach it by `scriptName` through Miniflare's dev
// registry — the mechanism two `wrangler dev` processes use for a `script_name` binding: the
// caller's process holds a small JavaScript proxy object per Durable Object (Miniflare's
// dev-registry-proxy worker), which hands each request, WebSocket upgrades included, to the
// owner's workerd over its debug port (Cap'n Proto RPC on loopback).
import { Miniflare } from "miniflare";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { childPids } from "./proc.mjs";
import { benchWorkerOptions, floorOptions } from "./start_worker.mjs";

/**
 * pusher-edge's roles: which Durable Object classes each process owns. Every process runs the
 * same bundle; the Worker's fetch handler in the `rooms` and `state` processes goes unused.
 * - state: the per-app ledger, the connection shards, the user directory, the app registry
 *   and the dashboard's operator sessions.
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
  state: ["AppLedger", "ConnectionShard", "UserDirectory", "AppRegistry", "OperatorSessions"],
  rooms: ["ChannelRoom"],
  sessions: [],
  rest: [],
};

/** The floor (floor_worker.mjs, the same topology in plain JavaScript), split alike. */
export const FLOOR_ROLES = { rooms: ["Room"], sessions: [], rest: [] };

/**
 * Starts one workerd process per role of `roles` (`{ role: [class names it owns] }`) for the
 * worker named `name` whose Miniflare options (as for one process, start_worker.mjs) are
 * `options`: each role's process gets them with its own name and with the Durable Objects it
 * does not own bound to their owner's process. `inspect` lists the roles whose process gets a V8
 * inspector; `roleOptions` gives a role options of its own (another build: the tests of mixed
 * versions). Resolves with `processes` (each role's `port`, workerd `pids`, `inspector` URL,
 * Miniflare instance `mf` and `scriptName`) and `stop()`.
 */
export async function startRoles({ name, options, roles, inspect = [], roleOptions = {} }) {
  // A registry of our own, so nothing else on the machine (another `wrangler dev`) mixes in.
  const registry = mkdtempSync(join(tmpdir(), `${name}-registry-`));
  const scriptName = (role) => `${name}-${role}`;
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
        Object.entries(options.durableObjects).map(([binding, { className, useSQLite }]) => {
          const owner = ownerOf(className);
          const local = { className, useSQLite };
          return [binding, owner === role ? local : { ...local, scriptName: scriptName(owner) }];
        }),
      );
      const before = new Set(childPids(process.pid, "workerd"));
      const mf = new Miniflare({
        ...options,
        ...roleOptions[role],
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
      processes[role] = { port: Number(url.port), pids, inspector, mf, scriptName: scriptName(role) };
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
 * `main`), configured from wrangler.toml with `apps` (start_worker.mjs `benchWorkerOptions`).
 */
export function startSplit({ apps, inspect = [], buildDir, probe }) {
  const { wrangler, options } = benchWorkerOptions({ apps, buildDir, probe });
  return startRoles({ name: wrangler.name, options, roles: ROLES, inspect });
}

/** The floor (floor_worker.mjs) split by `FLOOR_ROLES`. */
export function startFloorSplit({ inspect = [], shardSocket } = {}) {
  return startRoles({ name: "floor", options: floorOptions({ shardSocket }), roles: FLOOR_ROLES, inspect });
}
