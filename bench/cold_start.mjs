// What the bundle's size costs at a cold start: V8 compiling the Worker's Wasm (what an isolate
// does before its first request; Cloudflare does it per isolate too), and the first requests a
// fresh local workerd answers (a route that reads the configuration, one that reads the app
// registry, and a connection). Medians over several runs. Prints Markdown.
//
//   node bench/cold_start.mjs        (after bash scripts/build.sh; BENCH_BUILD_DIR for another
//                                     bundle, BENCH_RUNS for the runs, default 7)
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import WebSocket from "ws";
import { benchWorkerOptions, runContext } from "./lib/start_worker.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const buildDir = process.env.BENCH_BUILD_DIR ?? "build";
const runs = Number(process.env.BENCH_RUNS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const build = resolve(root, buildDir);
const wasmFile = readdirSync(build).find((f) => f.endsWith(".wasm"));
const wasm = readFileSync(resolve(build, wasmFile));
const js = readFileSync(resolve(build, "index.js"));

const compileMs = [];
for (let i = 0; i < runs; i++) {
  const started = performance.now();
  await WebAssembly.compile(wasm);
  compileMs.push(performance.now() - started);
}

const app = { id: "1000001", key: "cold-start-key", secret: "cold-start-secret" };
const firstMs = { up: [], rest: [], lookup: [], connect: [] };
for (let i = 0; i < runs; i++) {
  const { options } = benchWorkerOptions({ apps: [app], buildDir });
  const mf = new Miniflare({ ...options, port: 0 });
  const url = await mf.ready;
  const timed = async (list, what) => {
    const started = performance.now();
    await what();
    list.push(performance.now() - started);
  };
  await timed(firstMs.up, () => fetch(new URL("/up", url)).then((r) => r.text()));
  // The first route that reads PUSHER_APPS, then a key only the registry could have (one
  // index object started), then a client connection (a connection shard started).
  await timed(firstMs.rest, () => fetch(new URL("/apps/1000001/channels", url)).then((r) => r.text()));
  await timed(firstMs.lookup, () => fetch(new URL("/apps/x/channels?auth_key=unknown-key", url)).then((r) => r.text()));
  await timed(
    firstMs.connect,
    () =>
      new Promise((resolvePromise, reject) => {
        const ws = new WebSocket(`ws://${url.host}/app/${app.key}?protocol=7`);
        ws.once("message", () => {
          ws.close();
          resolvePromise();
        });
        ws.once("error", reject);
      }),
  );
  await mf.dispose();
}

const heading = runContext();
const gz = gzipSync(wasm).length + gzipSync(js).length;
console.log(`### Cold start (${heading})\n`);
console.log(
  `Bundle \`${buildDir}/\`: ${wasm.length} bytes of Wasm, ${gz} bytes gzipped (each file on its own, with index.js).\n`,
);
console.log("| what | median of", runs, "|\n|---|---|");
console.log(`| V8 compiles the Wasm (\`WebAssembly.compile\`) | ${median(compileMs).toFixed(1)} ms |`);
console.log(`| first request, \`GET /up\` (the isolate starts) | ${median(firstMs.up).toFixed(1)} ms |`);
console.log(
  `| then a REST call (reads the configuration, the ledger starts) | ${median(firstMs.rest).toFixed(1)} ms |`,
);
console.log(`| then an unknown key (one registry index object starts) | ${median(firstMs.lookup).toFixed(1)} ms |`);
console.log(
  `| then a connection to \`connection_established\` (a shard starts) | ${median(firstMs.connect).toFixed(1)} ms |`,
);
