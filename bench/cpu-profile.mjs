// V8 CPU profiles of workerd isolates through the inspector (Chrome DevTools Protocol over the
// inspector WebSocket): start and stop the sampling profiler of every isolate of a workerd
// process, and sum a profile's self time by function.
import WebSocket from "ws";

/** A Chrome DevTools Protocol session on one inspector target. */
async function cdpSession(url) {
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
export async function profileProcess(inspectorUrl, { intervalUs = 250, only = (id) => id.startsWith("core:user:") } = {}) {
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

/** How V8 names the samples that are not in a JavaScript or Wasm function. */
const PSEUDO = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"]);

function label(callFrame) {
  const name = callFrame.functionName || "(anonymous)";
  if (PSEUDO.has(name)) return name;
  const kind = callFrame.url.startsWith("wasm://") ? "wasm" : "js";
  return kind === "js" && callFrame.url ? `${name} (js ${callFrame.url.split("/").pop()}:${callFrame.lineNumber + 1})` : `${name} (${kind})`;
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
