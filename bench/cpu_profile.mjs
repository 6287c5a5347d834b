// A V8 CPU profile of the worker's isolate (Worker and Durable Objects share it locally), taken
// through workerd's inspector (Miniflare's `inspectorPort`), summarised by where time goes.
import WebSocket from "ws";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function inspector(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let id = 0;
    const pending = new Map();
    ws.on("message", (raw) => {
      const msg = JSON.parse(raw.toString());
      if (msg.id && pending.has(msg.id)) {
        pending.get(msg.id)(msg);
        pending.delete(msg.id);
      }
    });
    ws.on("error", reject);
    ws.on("open", () =>
      resolve({
        send: (method, params = {}) =>
          new Promise((done, fail) => {
            const my = ++id;
            pending.set(my, (msg) => (msg.error ? fail(new Error(JSON.stringify(msg.error))) : done(msg.result)));
            ws.send(JSON.stringify({ id: my, method, params }));
          }),
        close: () => ws.close(),
      }),
    );
  });
}

/** Starts profiling; `stop()` answers the profile's breakdown (and saves the raw profile). */
export async function profileDuring(worker, { samplingMicros = 200 } = {}) {
  const url = `ws://127.0.0.1:${worker.inspectorPort}/core:user:${worker.workerName}`;
  const session = await inspector(url);
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
  ["session relay: room frame → client socket (src/edge/relay.rs)", (f, m) => f.url.endsWith("index.js") && f.lineNumber === 0 && f.columnNumber >= m.relayFrom && f.columnNumber < m.relayTo],
  ["room: the loop sending a publish to its sockets (src/room/frame_send.rs and its caller)", (f, m) => f.functionName === m.sendFn || f.functionName.startsWith("__wbg_send_frame_") || m.sendCallers.has(f.functionName)],
  ["request bodies read as a stream (REST body, src/rest/signed_body.rs)", (f) => /^__wbg_(getReader|read|releaseLock|body|get_done)_/.test(f.functionName)],
  ["request bodies read as text (room requests)", (f) => /^__wbg_text_/.test(f.functionName)],
  ["Durable Object requests made (stub fetch, Request/Response objects)", (f) => /^__wbg_(fetch|new_with_str_and_init|new_with_opt_buffer_source_and_init|idFromName)_/.test(f.functionName) || f.functionName === "Request" || f.functionName === "Response"],
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
  const sorted = (map, n) => [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => ({ name, ms: us / 1000 }));
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
    lines.push(`| ${c.name} | ${(100 * share).toFixed(1)} % | ${cpuUsPerEvent ? (share * cpuUsPerEvent).toFixed(1) : "–"} |`);
  }
  lines.push("", "Top frames by self time: " + b.top.map((t) => `${t.name} ${((100 * t.ms) / b.busyMs).toFixed(1)} %`).join(", "));
  return lines.join("\n");
}
