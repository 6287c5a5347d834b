// Linux `perf` profiles of whole workerd processes (workerd ships with its C++ symbols), to see
// where a process's CPU goes outside JavaScript: the runtime's WebSocket and event-loop code,
// the kernel, and — in a split run — the Cap'n Proto RPC that carries frames between
// processes (split_processes.mjs), which a single process does not have.
import { spawn, spawnSync } from "node:child_process";

export const perfAvailable = () => spawnSync("perf", ["--version"]).status === 0;

/** Starts `perf record` (call graphs, `hz` samples per second) on process `pid`; returns `stop()`. */
export async function recordPerf(pid, file, { hz = 499 } = {}) {
  const child = spawn("perf", ["record", "-F", String(hz), "-g", "-o", file, "-p", String(pid)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let errors = "";
  child.stderr.on("data", (d) => (errors += d));
  await new Promise((r) => setTimeout(r, 300)); // perf attaches
  return async () => {
    child.kill("SIGINT");
    const code = await new Promise((r) => child.on("exit", r));
    if (code !== 0 && code !== null) throw new Error(`perf record failed: ${errors}`);
  };
}

// zlib's deflate, linked into workerd (Chromium's copy: Cr_z_*).
const ZLIB = /^(Cr_z_|deflate|longest_match|fill_window|build_tree|compress_block|send_tree|pqdownheap|adler32|crc32)/;

// perf leaves a few C++ symbols mangled; their namespace is enough here.
const MANGLED = [
  ["_ZN2kj", "kj::"],
  ["_ZN5capnp", "capnp::"],
  ["_ZN7workerd", "workerd::"],
  ["_ZN2v8", "v8::"],
];
const demangledPrefix = (symbol) => {
  const sym = symbol.replace(/^non-virtual thunk to /, "");
  const hit = MANGLED.find(([mangled]) => sym.startsWith(mangled));
  return hit ? hit[1] + sym : sym;
};

/** What a leaf frame of a workerd stack is, by its symbol and shared object. */
function category(sym, dso) {
  if (dso === "[kernel.kallsyms]") return "kernel";
  if (dso.startsWith("[JIT]") || (sym === "[unknown]" && dso.startsWith("/tmp/perf-")))
    return "JIT code (JavaScript, Wasm)";
  if (ZLIB.test(sym)) return "zlib (permessage-deflate)";
  if (dso.includes("libc.so")) return "libc";
  if (sym.startsWith("v8::") || sym.startsWith("Builtins_") || sym.startsWith("cppgc::"))
    return "V8 (runtime, builtins, GC)";
  if (sym.startsWith("capnp::")) return "Cap'n Proto";
  if (sym.startsWith("kj::")) return "KJ (event loop, promises, WebSocket pipes and framing)";
  if (sym.startsWith("workerd::")) return "workerd (APIs, IoContext, bindings)";
  if (/^tcmalloc/i.test(sym)) return "tcmalloc";
  return "other";
}

/**
 * Reads a `perf record` file: the share of samples by leaf-frame category, and `capnpShare`,
 * the share of samples with a Cap'n Proto frame anywhere on their stack — the CPU a split run
 * spends carrying requests and WebSocket frames between workerd processes (the RPC itself and
 * the socket reads and writes it makes).
 */
export function readPerf(file) {
  const script = spawnSync("perf", ["script", "-i", file, "-F", "period,ip,sym,dso"], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
  if (script.status !== 0) throw new Error(`perf script failed: ${script.stderr}`);
  let total = 0;
  let capnp = 0;
  const byCategory = new Map();
  for (const block of script.stdout.split("\n\n")) {
    const lines = block.split("\n").filter((l) => l.trim());
    const period = Number(lines[0]?.trim());
    if (!period || lines.length < 2) continue;
    const frames = lines.slice(1).map((l) => {
      const m = l.trim().match(/^\S+ (.*) \((.*)\)$/);
      return m ? { sym: demangledPrefix(m[1]), dso: m[2] } : { sym: "[unknown]", dso: "" };
    });
    total += period;
    if (frames.some((f) => f.sym.startsWith("capnp::"))) capnp += period;
    const leaf = category(frames[0].sym, frames[0].dso);
    byCategory.set(leaf, (byCategory.get(leaf) ?? 0) + period);
  }
  return {
    capnpShare: total ? capnp / total : 0,
    categories: [...byCategory]
      .map(([name, period]) => ({ name, share: period / total }))
      .sort((a, b) => b.share - a.share),
  };
}
