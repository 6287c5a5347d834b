// Runs the fan-out benchmark side by side: our worker in local workerd (Miniflare) as one
// process (`pusher-edge`) and split into one process per role (`pusher-edge-split`: rooms,
// sessions, REST, ledger; bench/lib/split_processes.mjs), soketi 1.6 and sockudo 5.2
// (installed by bench/install_peers.sh), each alone on loopback, for N = 100, 1,000 and 5,000
// subscribers.
// Prints two Markdown tables (the runs; CPU per delivery by process) and writes
// bench/results.json.
//
//   npm run bench            (BENCH_SIZES=100,1000 BENCH_SERVERS=pusher-edge-split,sockudo to narrow;
//                             BENCH_DEFLATE=0: the clients do not offer permessage-deflate)
import { spawn } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir, cpus, totalmem } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { runFanout, workload } from "./lib/fanout.mjs";
import { SOCKUDO_BIN, SOKETI_CMD, sockudoConfig, soketiEnv } from "./lib/peers.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const app = { appId: "4242", key: "bench-key", secret: "bench-secret" };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolvePort) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

async function waitForPort(port, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise((r) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.end();
        r(true);
      });
      socket.on("error", () => r(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await sleep(200);
  }
}

/** Starts one of our lib/serve_*.mjs scripts and reads the JSON line it prints when it serves. */
async function serveOurs(script, ...args) {
  const child = spawn(process.execPath, [join(root, "bench/lib", script), ...args], {
    env: { ...process.env, BENCH_APP_ID: app.appId, BENCH_APP_KEY: app.key, BENCH_APP_SECRET: app.secret },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise((r) => child.stdout.once("data", (d) => r(d.toString())));
  return { ...JSON.parse(line), stop: () => child.kill("SIGTERM") };
}

// How long the split server's processes are watched with the clients connected and nothing
// published: their CPU when idle (timers, proxies), to set against the per-delivery figures.
const IDLE_MS = 5000;

async function serveSplit(...args) {
  const { port, restPort, pids, groups, stop } = await serveOurs("serve_split.mjs", ...args);
  return { port, pids, stop, options: { restPort, serverPidGroups: groups, idleMs: IDLE_MS } };
}

const servers = {
  "pusher-edge": () => serveOurs("serve_worker.mjs"),
  "pusher-edge-split": () => serveSplit(),
  // The same split of the floor's plain-JavaScript relay (bench/lib/floor_worker.mjs): what
  // the rooms and sessions processes cost with none of our code in them.
  "floor-split": () => serveSplit("floor"),
  async soketi() {
    const port = await freePort();
    const metricsPort = await freePort();
    const [cmd, ...args] = SOKETI_CMD;
    const child = spawn(cmd, args, {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...soketiEnv({ port, metricsPort, ...app }) },
      stdio: ["ignore", "ignore", "inherit"],
      cwd: mkdtempSync(join(tmpdir(), "soketi-")),
    });
    await waitForPort(port);
    return { port, pids: [child.pid], stop: () => child.kill("SIGTERM") };
  },
  async sockudo() {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "sockudo-"));
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify(sockudoConfig({ port, ...app })));
    // A small env: sockudo lets PORT, HOST and SOCKUDO_* variables override the file.
    const child = spawn(SOCKUDO_BIN, ["--config", config], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, RUST_LOG: "warn" },
      stdio: ["ignore", "ignore", "inherit"],
      cwd: dir,
    });
    await waitForPort(port);
    return { port, pids: [child.pid], stop: () => child.kill("SIGTERM") };
  },
};

const perMessageDeflate = process.env.BENCH_DEFLATE !== "0";
const sizes = (process.env.BENCH_SIZES ?? "100,1000,5000").split(",").map(Number);
const names = (process.env.BENCH_SERVERS ?? Object.keys(servers).join(",")).split(",");
const results = [];
for (const n of sizes) {
  for (const name of names) {
    const server = await servers[name]();
    await sleep(1000);
    try {
      const result = await runFanout({
        host: "127.0.0.1",
        port: server.port,
        ...app,
        ...workload(n),
        perMessageDeflate,
        serverPids: server.pids,
        ...server.options,
      });
      results.push({ server: name, ...result });
      process.stderr.write(`[bench] ${name} N=${n}: ${JSON.stringify(result)}\n`);
    } catch (e) {
      results.push({ server: name, subscribers: n, error: String(e) });
      process.stderr.write(`[bench] ${name} N=${n} failed: ${e}\n`);
    } finally {
      server.stop();
      await sleep(2000);
    }
  }
}

const machine = `${cpus().length} × ${cpus()[0].model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, Linux`;
writeFileSync(
  join(root, "bench/results.json"),
  `${JSON.stringify({ machine, date: new Date().toISOString(), results }, null, 2)}\n`,
);
const f = (x, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(digits));
console.log(`Machine: ${machine}\n`);
console.log(`Clients ${perMessageDeflate ? "offer" : "do not offer"} permessage-deflate (only workerd accepts it).\n`);
console.log(
  "| server | N | publish→first p50 / p99 / max (ms) | publish→last p50 / p99 / max (ms) | deliveries/s (saturated) | server CPU µs / delivery | server RSS after connect (MB) | peak RSS (MB) | missing |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const r of results) {
  if (r.error) {
    console.log(`| ${r.server} | ${r.subscribers} | failed: ${r.error} |||||||`);
    continue;
  }
  const a = r.publish_to_first_ms;
  const b = r.publish_to_last_ms;
  console.log(
    `| ${r.server} | ${r.subscribers} | ${f(a.p50)} / ${f(a.p99)} / ${f(a.max)} | ${f(b.p50)} / ${f(b.p99)} / ${f(b.max)} | ${f(r.deliveries_per_second, 0)} | ${f(r.server_cpu_us_per_delivery)} | ${f(r.server_rss_mb_connected, 0)} | ${f(r.server_peak_rss_mb, 0)} | ${r.missing_deliveries} |`,
  );
}
printByProcess(results, f);

/** The second table: CPU per delivery of each split process next to the whole servers. */
function printByProcess(all, f) {
  const split = all.filter((r) => r.server_cpu_us_per_delivery_by_process);
  if (split.length === 0) return;
  const whole = (name, n) => all.find((r) => r.server === name && r.subscribers === n)?.server_cpu_us_per_delivery;
  console.log("\nCPU µs per delivery: each process of a split server, and whole servers (one run):\n");
  console.log(
    "| N | split server | rooms | sessions | REST | state (ledger, shards) | all its processes | pusher-edge, one process | soketi | sockudo | idle CPU ms/s: rooms / sessions / REST / state |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of split) {
    const p = r.server_cpu_us_per_delivery_by_process;
    const idle = r.server_idle_cpu_ms_per_s_by_process ?? {};
    const n = r.subscribers;
    console.log(
      `| ${n} | ${r.server} | ${f(p.rooms)} | ${f(p.sessions)} | ${f(p.rest)} | ${f(p.state)} | ${f(r.server_cpu_us_per_delivery)} | ${f(whole("pusher-edge", n))} | ${f(whole("soketi", n))} | ${f(whole("sockudo", n))} | ${f(idle.rooms)} / ${f(idle.sessions)} / ${f(idle.rest)} / ${f(idle.state)} |`,
    );
  }
}
