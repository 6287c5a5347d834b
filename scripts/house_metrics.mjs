#!/usr/bin/env node
// Structure figures of src/: import cycles between files and between top-level modules, the
// longest non-test files and functions. Used to keep the house in order (CONTRIBUTING.md);
// `--check` exits 1 when there is a cycle or a file/function is over the limits.
//
// It reads Rust as text: `crate::a::b` and `super::x` paths outside `#[cfg(test)]` modules are
// resolved to the deepest source file they name; a function runs from its `fn` line to the line
// that closes its body (brace counting, strings and comments stripped).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const MAX_FILE_LINES = 600;
const MAX_FN_LINES = 80;

function rustFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return rustFiles(p);
    return name.endsWith(".rs") ? [p] : [];
  });
}

// src/room/channel_room/mod.rs -> ["room", "channel_room"]; src/lib.rs -> []
function modulePath(file) {
  const parts = relative(src, file).replace(/\.rs$/, "").split("/");
  const last = parts[parts.length - 1];
  if (last === "mod" || last === "lib" || last === "main") parts.pop();
  return parts;
}

// Blank out string literals and comments (keeping newlines) so braces and paths in them are
// not counted: a small scanner for `//`, `/* */`, "..." with escapes, r#"..."# raw strings
// and char literals (told apart from lifetimes).
function stripCode(text) {
  let out = "";
  let i = 0;
  const blank = (from, to) => {
    out += text.slice(from, to).replace(/[^\n]/g, " ");
    i = to;
  };
  while (i < text.length) {
    const rest = text.slice(i, i + 3);
    if (rest.startsWith("//")) {
      const end = text.indexOf("\n", i);
      blank(i, end < 0 ? text.length : end);
    } else if (rest.startsWith("/*")) {
      const end = text.indexOf("*/", i + 2);
      blank(i, end < 0 ? text.length : end + 2);
    } else if (/^b?r#*"/.test(text.slice(i, i + 40)) && !/\w/.test(text[i - 1] || "")) {
      const m = text.slice(i).match(/^b?r(#*)"/);
      const close = `"${m[1]}`;
      const end = text.indexOf(close, i + m[0].length);
      blank(i, end < 0 ? text.length : end + close.length);
    } else if (text[i] === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      blank(i, j + 1);
    } else if (text[i] === "'" && /^'(\\.[^']*|[^'\\])'/.test(text.slice(i, i + 12))) {
      const m = text.slice(i).match(/^'(\\.[^']*|[^'\\])'/);
      blank(i, i + m[0].length);
    } else {
      out += text[i];
      i++;
    }
  }
  return out;
}

let testLineCount = 0;
// The text of a file without its `#[cfg(test)] mod ... { }` blocks (kept as blank lines).
function withoutTests(code) {
  const lines = code.split("\n");
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*#\[cfg\(test\)\]/.test(lines[i]) && /^\s*(pub(\(crate\))? )?mod \w+\s*\{/.test(lines[i + 1] || "")) {
      let depth = 0;
      let j = i + 1;
      for (; j < lines.length; j++) {
        for (const ch of lines[j]) {
          if (ch === "{") depth++;
          else if (ch === "}") depth--;
        }
        if (depth === 0) break;
      }
      for (let k = i; k <= j && k < lines.length; k++) {
        out.push("");
        testLineCount++;
      }
      i = j;
      continue;
    }
    out.push(lines[i]);
  }
  return out.join("\n");
}

// Files declared as `#[cfg(test)] mod name;` are tests kept beside their module: not code.
function testFiles(all) {
  const out = new Set();
  for (const file of all) {
    const text = readFileSync(file, "utf8");
    const dir = /(mod|lib)\.rs$/.test(file) ? dirname(file) : file.replace(/\.rs$/, "");
    for (const m of text.matchAll(/#\[cfg\(test\)\]\s*(?:pub(?:\(crate\))?\s+)?mod\s+(\w+)\s*;/g)) {
      out.add(join(dir, `${m[1]}.rs`));
      out.add(join(dir, m[1], "mod.rs"));
    }
  }
  return out;
}

const allFiles = rustFiles(src).sort();
const tests = testFiles(allFiles);
const files = allFiles.filter((f) => !tests.has(f));
const byModule = new Map(files.map((f) => [modulePath(f).join("::"), f]));

function resolve(segments) {
  for (let n = segments.length; n >= 0; n--) {
    const key = segments.slice(0, n).join("::");
    if (byModule.has(key)) return byModule.get(key);
  }
  return null;
}

// Expand `use a::{b, c::{d}}` groups into the paths they name.
function expandUse(prefix, body) {
  const out = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    const ch = body[i];
    if (ch === "{") depth++;
    else if (ch === "}") depth--;
    if ((ch === "," && depth === 0) || i === body.length) {
      const item = body.slice(start, i).trim();
      start = i + 1;
      if (!item) continue;
      const m = item.match(/^([\w:]*?)::\{([\s\S]*)\}$/);
      if (m) out.push(...expandUse([...prefix, ...m[1].split("::").filter(Boolean)], m[2]));
      else
        out.push([
          ...prefix,
          ...item
            .split(/\s+as\s+/)[0]
            .split("::")
            .filter(Boolean),
        ]);
    }
  }
  return out;
}

const edges = new Map(files.map((f) => [f, new Set()]));
const runtimeUses = new Map();

// Pure modules: no runtime crate, no clock, no subrequest glue, and imports of pure files only,
// so they compile and are tested natively (`cargo test`) and the fuzzers can reach them.
// The glue (the Durable Objects, the session's sockets, `clock`, `subrequest`, `http`, ...) is
// everything else. A directory entry covers every file under it.
const RUNTIME_CRATES = ["worker", "wasm_bindgen", "wasm_bindgen_futures", "web_sys", "js_sys"];
const PURE = [
  "protocol/",
  "config/",
  "apps/contract.rs",
  "apps/record.rs",
  "apps/settings.rs",
  "apps/cache.rs",
  "admin/route.rs",
  "admin/token.rs",
  "edge/session_core/",
  "room/contract/",
  "ledger/contract.rs",
  "ledger/report.rs",
  "ledger/console.rs",
  "ledger/stats.rs",
  "ledger/shard_plan.rs",
  "ledger/webhook_log.rs",
  "ledger/refusal_tally.rs",
  "room/roster.rs",
  "room/directory_index.rs",
  "room/directory_shards.rs",
  "room/watchlist.rs",
  "room/count_throttle.rs",
  "room/replay_log.rs",
  "room/presence_book.rs",
  "room/channel_room/identity.rs",
  "dashboard/operator_request.rs",
  "dashboard/login.rs",
  "dashboard/operator_sessions/contract.rs",
];
const isPure = (file) => {
  const r = relative(src, file);
  return PURE.some((p) => (p.endsWith("/") ? r.startsWith(p) : r === p));
};
const fileLines = new Map();
const functions = [];

for (const file of files) {
  testLineCount = 0;
  const code = withoutTests(stripCode(readFileSync(file, "utf8")));
  const self = modulePath(file);
  const isModRoot = /(mod|lib)\.rs$/.test(file);
  const parent = isModRoot ? self.slice(0, -1) : self.slice(0, -1);
  const here = isModRoot ? self : self.slice(0, -1); // where `foo` in `mod foo;` lives
  // Every line outside test modules counts, comments and blank lines too (what `wc -l` sees).
  const raw = readFileSync(file, "utf8").split("\n");
  fileLines.set(file, raw.length - (raw[raw.length - 1] === "" ? 1 : 0) - testLineCount);

  const paths = [];
  for (const m of code.matchAll(/\buse\s+([\s\S]*?);/g)) {
    const text = m[1].replace(/\s+/g, " ").trim();
    const g = text.match(/^([\w:]*?)::\{([\s\S]*)\}$/);
    if (g) paths.push(...expandUse(g[1].split("::").filter(Boolean), g[2]));
    else
      paths.push(
        text
          .split(/\s+as\s+/)[0]
          .split("::")
          .filter(Boolean),
      );
  }
  for (const m of code.matchAll(/\b((?:crate|super)(?:::\w+)+)/g)) paths.push(m[1].split("::"));

  for (const p of paths) {
    let abs;
    if (p[0] === "crate") abs = p.slice(1);
    else if (p[0] === "super") {
      let base = isModRoot ? self.slice(0, -1) : parent.slice();
      let rest = p.slice(1);
      while (rest[0] === "super") {
        base = base.slice(0, -1);
        rest = rest.slice(1);
      }
      abs = [...base, ...rest];
    } else if (p[0] === "self") abs = [...here, ...p.slice(1)];
    else if (byModule.has([...here, p[0]].join("::"))) abs = [...here, ...p];
    else continue;
    const target = resolve(abs);
    // A module's own children (declared with `mod x;`) are its parts, not its dependencies.
    if (target && target !== file) {
      const tp = modulePath(target);
      const isChild = tp.length > self.length && self.every((s, i) => tp[i] === s) && isModRoot;
      if (!isChild) edges.get(file).add(target);
    }
  }

  // Crates of the runtime a file reaches: `use` paths and inline paths (`worker::Error`,
  // `js_sys::Date::now()`) and the attribute macros that bind Rust to JavaScript.
  const runtime = new Set();
  for (const p of paths) if (RUNTIME_CRATES.includes(p[0])) runtime.add(p[0]);
  for (const m of code.matchAll(/\b(\w+)::/g)) if (RUNTIME_CRATES.includes(m[1])) runtime.add(m[1]);
  for (const m of code.matchAll(/#\[(wasm_bindgen|durable_object|event)\b/g)) runtime.add(`#[${m[1]}]`);
  runtimeUses.set(file, runtime);

  // Functions: from the `fn` line to the line where its body's braces close.
  const lines = code.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(
      /^\s*(?:pub(?:\([\w:]+\))?\s+)?(?:async\s+)?(?:const\s+)?(?:unsafe\s+)?(?:extern\s+"C"\s+)?fn\s+(\w+)/,
    );
    if (!m) continue;
    let depth = 0;
    let opened = false;
    let j = i;
    for (; j < lines.length; j++) {
      for (const ch of lines[j]) {
        if (ch === "{") {
          depth++;
          opened = true;
        } else if (ch === "}") depth--;
        else if (ch === ";" && !opened && depth === 0) break;
      }
      if ((opened && depth === 0) || (!opened && /;\s*$/.test(lines[j]))) break;
    }
    if (opened) functions.push({ file, name: m[1], line: i + 1, lines: j - i + 1 });
  }
}

// Tarjan's strongly connected components over a graph given as Map<node, Set<node>>.
function cycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) || []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp);
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

const rel = (f) => relative(root, f);
const fileCycles = cycles(edges);

// Top-level modules (protocol, config, ledger, room, edge, rest, ...): a cycle between them is a
// layering error even when no two files point at each other.
const top = (f) => modulePath(f)[0] || "lib";
const topGraph = new Map();
for (const [f, targets] of edges) {
  if (top(f) === "lib") continue;
  for (const t of targets) {
    if (top(t) === top(f) || top(t) === "lib") continue;
    if (!topGraph.has(top(f))) topGraph.set(top(f), new Set());
    topGraph.get(top(f)).add(top(t));
  }
}
const layerCycles = cycles(topGraph);

// Purity: what each declared pure file reaches that it must not.
const impurities = [];
for (const file of files.filter(isPure)) {
  for (const what of runtimeUses.get(file)) impurities.push(`${rel(file)} uses ${what}`);
  for (const target of edges.get(file)) {
    if (!isPure(target)) impurities.push(`${rel(file)} imports ${rel(target)}, which is not pure`);
  }
}
const pureFiles = files.filter(isPure);
const pureLines = pureFiles.reduce((sum, f) => sum + fileLines.get(f), 0);

const longestFiles = [...fileLines].sort((a, b) => b[1] - a[1]).slice(0, 5);
const allFunctions = [...functions];
const longestFns = functions.sort((a, b) => b.lines - a.lines).slice(0, 8);

const lines = [];
const log = (line) => lines.push(line);
log(`files: ${files.length}, non-test code lines: ${[...fileLines.values()].reduce((a, b) => a + b, 0)}`);
log(`file import cycles: ${fileCycles.length}`);
for (const c of fileCycles) log(`  ${c.map(rel).join(" <-> ")}`);
log(`layer cycles: ${layerCycles.length}`);
for (const c of layerCycles) log(`  ${c.join(" <-> ")}`);
log(`pure files: ${pureFiles.length} (${pureLines} lines), impurities: ${impurities.length}`);
for (const i of impurities) log(`  ${i}`);
log("layer imports:");
for (const [m, ts] of [...topGraph].sort()) log(`  ${m} -> ${[...ts].sort().join(", ")}`);
log("longest files (lines outside test modules):");
for (const [f, n] of longestFiles) log(`  ${n}\t${rel(f)}`);
log("longest functions (lines):");
for (const f of longestFns) log(`  ${f.lines}\t${rel(f.file)}:${f.line} ${f.name}`);

const over = [...fileLines].filter(([, n]) => n > MAX_FILE_LINES);
const longFns = allFunctions.filter((f) => f.lines > MAX_FN_LINES);
const problems = fileCycles.length + layerCycles.length + over.length + longFns.length + impurities.length;
if (!process.argv.includes("--check")) {
  console.log(lines.join("\n"));
} else {
  if (problems) {
    console.error(lines.join("\n"));
    for (const [f, n] of over) console.error(`  over ${MAX_FILE_LINES} lines: ${rel(f)} (${n})`);
    for (const f of longFns)
      console.error(`  over ${MAX_FN_LINES} lines: ${rel(f.file)}:${f.line} ${f.name} (${f.lines})`);
    console.error(
      `house check failed: ${fileCycles.length} file cycles, ${layerCycles.length} layer cycles, ` +
        `${over.length} files over ${MAX_FILE_LINES} lines, ${longFns.length} functions over ${MAX_FN_LINES} lines, ` +
        `${impurities.length} impurities in pure modules`,
    );
    process.exit(1);
  }
}
