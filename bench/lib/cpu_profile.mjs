// V8 CPU profiles of workerd isolates through the inspector (Chrome DevTools Protocol over
// workerd's inspector WebSocket): the benchmarks' one DevTools client. Two ways to profile:
// - `profileProcess`: every user isolate of one workerd process, by its inspector URL
//   (profile_room.mjs, on the split server's processes);
// - `profileDuring`: our worker's isolate (Worker and Durable Objects share it locally) in a
//   worker started with Miniflare's `inspectorPort` (start_worker.mjs; publish_ceiling.mjs).
// And two summaries of a profile: `selfSamples` (samples by function, counted) and
// `breakdown` / `formatBreakdown` (time by where it goes in our bundle).
import WebSocket from "ws";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** A Chrome DevTools Protocol session on one inspector target. */
export async function cdpSession(url) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let nextId = 1;
  const pending = new Map();
  ws.on("message", (raw) => {
    const message = JSON.parse(raw.toString());
    const waiter = pending.get(message.id);
    if (!waiter) return; // an event
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`${waiter.method}: ${JSON.stringify(message.error)}`));
    else waiter.resolve(message.result);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject, method });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

/**
 * Connects to the isolates (workers) of the workerd process whose inspector is `inspectorUrl`
 * (ws://host:port/, Miniflare's `getInspectorURL()`) whose target id passes `only` (default:
 * the user's workers, "core:user:*", which in a Miniflare process include the dev registry's
 * proxy), and returns `start()` / `stop()`: `stop()` resolves with `{ target id: CPU profile }`.
 * `intervalUs` is the sampling interval. Each profiled isolate gets its own sampling thread,
 * so profile few: every sampler slows the whole process.
 */
export async function profileProcess(
  inspectorUrl,
  { intervalUs = 250, only = (id) => id.startsWith("core:user:") } = {},
) {
  const { host } = new URL(inspectorUrl);
  const targets = (await (await fetch(`http://${host}/json/list`)).json()).filter((t) => only(t.id));
  const sessions = [];
  for (const target of targets) {
    sessions.push({ id: target.id, cdp: await cdpSession(target.webSocketDebuggerUrl) });
  }
  return {
    async start() {
      for (const { cdp } of sessions) {
        await cdp.send("Profiler.enable");
        await cdp.send("Profiler.setSamplingInterval", { interval: intervalUs });
      }
      await Promise.all(sessions.map(({ cdp }) => cdp.send("Profiler.start")));
    },
    async stop() {
      const profiles = {};
      for (const { id, cdp } of sessions) {
        profiles[id] = (await cdp.send("Profiler.stop")).profile;
        cdp.close();
      }
      return profiles;
    },
  };
}

/**
 * Starts profiling our worker's isolate in `worker` (start_worker.mjs `startBenchWorker` with an
 * `inspectorPort`); `stop()` answers the profile's `breakdown` (and saves the raw profile).
 */
export async function profileDuring(worker, { samplingMicros = 200 } = {}) {
  const url = `ws://127.0.0.1:${worker.inspectorPort}/core:user:${worker.workerName}`;
  const session = await cdpSession(url);
  await session.send("Profiler.enable");
  await session.send("Profiler.setSamplingInterval", { interval: samplingMicros });
  await session.send("Profiler.start");
  return {
    async stop() {
      const { profile } = await session.send("Profiler.stop");
      session.close();
      const file = join(tmpdir(), `pusher-edge-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      return { file, ...breakdown(profile) };
    },
  };
}

/** How V8 names the samples that are not in a JavaScript or Wasm function. */
const PSEUDO = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"]);

function label(callFrame) {
  const name = callFrame.functionName || "(anonymous)";
  if (PSEUDO.has(name)) return name;
  const kind = callFrame.url.startsWith("wasm://") ? "wasm" : "js";
  return kind === "js" && callFrame.url
    ? `${name} (js ${callFrame.url.split("/").pop()}:${callFrame.lineNumber + 1})`
    : `${name} (${kind})`;
}

/**
 * Self samples by function of a V8 CPU profile, most first: `{ functions: [{ name, samples }],
 * busy, program, idle }`, where `busy` counts the samples in this isolate's JavaScript, Wasm
 * (a JavaScript builtin such as `send` includes the C++ it calls) and garbage collector;
 * `program` those with the isolate entered but outside JavaScript; `idle` the idle ones.
 *
 * Samples are counted, not timed: V8 takes a sample of an isolate only while it is entered on
 * its thread, and workerd runs all of a process's isolates on one thread, so a profile's
 * `timeDeltas` (wall time since the isolate's previous sample) also cover the time other
 * isolates and the runtime ran. A sample stands for about one sampling interval.
 */
export function selfSamples(profile) {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const counts = new Map();
  for (const id of profile.samples) {
    const name = label(byNode.get(id).callFrame);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const functions = [...counts]
    .map(([name, samples]) => ({ name, samples }))
    .filter((f) => f.name !== "(idle)" && f.name !== "(program)")
    .sort((a, b) => b.samples - a.samples);
  return {
    functions,
    busy: functions.reduce((sum, f) => sum + f.samples, 0),
    program: counts.get("(program)") ?? 0,
    idle: counts.get("(idle)") ?? 0,
  };
}

function frameName(node) {
  const f = node.callFrame;
  return f.functionName || `(anonymous ${f.url.split("/").pop()}:${f.lineNumber}:${f.columnNumber})`;
}

/**
 * How to recognise the parts of the bundle the profile is split into. The JavaScript glue is
 * minified, so its function names are found from the shims wasm-bindgen generates for them:
 * the session's relay (src/edge/relay.rs) and the room's send (src/room/frame_send.rs).
 */
function bundleMarks() {
  const source = readFileSync(resolve(root, "build/index.js"), "utf8");
  const relay = source.match(/__wbg_relay_frames_[0-9a-f]+:function\([^)]*\)\{return (\w+)\(/)?.[1];
  const send = source.match(/__wbg_send_frame_[0-9a-f]+:function\([^)]*\)\{(\w+)\(/)?.[1];
  // The relay function's extent in the (one-line) bundle: its listeners are anonymous.
  const from = relay ? source.indexOf(`function ${relay}(`) : -1;
  const to = from >= 0 ? source.indexOf("function ", from + 9) : -1;
  return { relayFrom: from, relayTo: to, sendFn: send };
}

// Categories in priority order: a sample goes to the first one that any frame of its stack
// matches (so the room's Wasm loop around its sends counts as the room's, whatever it calls).
const CATEGORIES = [
  [
    "session relay: room frame → client socket (src/edge/relay.rs)",
    (f, m) =>
      f.url.endsWith("index.js") && f.lineNumber === 0 && f.columnNumber >= m.relayFrom && f.columnNumber < m.relayTo,
  ],
  [
    "room: the loop sending a publish to its sockets (src/room/frame_send.rs and its caller)",
    (f, m) =>
      f.functionName === m.sendFn ||
      f.functionName.startsWith("__wbg_send_frame_") ||
      m.sendCallers.has(f.functionName),
  ],
  [
    "request bodies read as a stream (REST body, src/rest/signed_body.rs)",
    (f) => /^__wbg_(getReader|read|releaseLock|body|get_done)_/.test(f.functionName),
  ],
  ["request bodies read as text (room requests)", (f) => /^__wbg_text_/.test(f.functionName)],
  [
    "Durable Object requests made (stub fetch, Request/Response objects)",
    (f) =>
      /^__wbg_(fetch|new_with_str_and_init|new_with_opt_buffer_source_and_init|idFromName)_/.test(f.functionName) ||
      f.functionName === "Request" ||
      f.functionName === "Response",
  ],
  ["Request.cf, read by workers-rs for every request", (f) => /^__wbg_cf_/.test(f.functionName)],
  ["SQLite storage and alarms", (f) => /^__wbg_(exec|sql|setAlarm|getAlarm|storage)_/.test(f.functionName)],
  ["garbage collector", (f) => f.functionName === "(garbage collector)"],
  ["workerd outside JavaScript (program)", (f) => f.functionName === "(program)"],
];
const OTHER = "other JavaScript and Wasm (REST handling, room request handling, glue)";

/** Time per category and per frame (self time), idle left out. */
export function breakdown(profile) {
  const marks = bundleMarks();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // The Wasm function(s) calling the room's send: the loop over its sockets.
  marks.sendCallers = new Set();
  for (const n of profile.nodes) {
    const f = n.callFrame.functionName;
    if (f === marks.sendFn || f.startsWith("__wbg_send_frame_")) {
      for (let up = parent.get(n.id); up !== undefined; up = parent.get(up)) {
        const name = byId.get(up).callFrame.functionName;
        if (name.startsWith("wasm-function")) {
          marks.sendCallers.add(name);
          break;
        }
      }
    }
  }
  const rank = new Map(); // node → index of its best category along its stack
  const rankOf = (id) => {
    if (rank.has(id)) return rank.get(id);
    const own = CATEGORIES.findIndex(([, test]) => test(byId.get(id).callFrame, marks));
    const up = parent.get(id);
    const inherited = up === undefined ? -1 : rankOf(up);
    const best = own < 0 ? inherited : inherited < 0 ? own : Math.min(own, inherited);
    rank.set(id, best);
    return best;
  };
  const categorise = (id) => {
    const r = rankOf(id);
    return r < 0 ? OTHER : CATEGORIES[r][0];
  };
  const byCategory = new Map();
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(id);
    if (node.callFrame.functionName === "(idle)") return;
    const category = categorise(id);
    byCategory.set(category, (byCategory.get(category) ?? 0) + us);
    const name = frameName(node);
    self.set(name, (self.get(name) ?? 0) + us);
    total += us;
  });
  const sorted = (map, n) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000 }));
  return { busyMs: total / 1000, categories: sorted(byCategory, 20), top: sorted(self, 12) };
}

/**
 * Markdown: each category's share of the isolate's busy time and, split the same way, of
 * `cpuUsPerEvent` (the process's CPU per event from /proc: the profile's own times are wall
 * time between samples, inflated when the machine is busy), then the top frames.
 */
export function formatBreakdown(b, cpuUsPerEvent) {
  const lines = [
    `(${b.busyMs.toFixed(0)} ms of the isolate's time sampled, idle left out; raw profile: ${b.file})`,
    "",
    "| where | share of the isolate's busy time | ≈ µs of workerd CPU per event |",
    "|---|---|---|",
  ];
  for (const c of b.categories) {
    const share = c.ms / b.busyMs;
    lines.push(
      `| ${c.name} | ${(100 * share).toFixed(1)} % | ${cpuUsPerEvent ? (share * cpuUsPerEvent).toFixed(1) : "–"} |`,
    );
  }
  lines.push(
    "",
    `Top frames by self time: ${b.top.map((t) => `${t.name} ${((100 * t.ms) / b.busyMs).toFixed(1)} %`).join(", ")}`,
  );
  return lines.join("\n");
}
