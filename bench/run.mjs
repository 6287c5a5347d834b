// Runs the fan-out benchmark side by side: our worker in local workerd (Miniflare), soketi 1.6
// and sockudo 5.2 (installed by bench/install-peers.sh), each alone on loopback, for N = 100,
// 1,000 and 5,000 subscribers. Prints a Markdown table and writes bench/results.json.
//
//   npm run bench            (BENCH_SIZES=100,1000 BENCH_SERVERS=pusher-edge,sockudo to narrow)
import { spawn } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir, cpus, totalmem } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { runFanout } from "./fanout.mjs";
import { SOCKUDO_BIN, SOKETI_CMD, sockudoConfig, soketiEnv } from "./peers.mjs";

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

const servers = {
  async "pusher-edge"() {
    const child = spawn(process.execPath, [join(root, "bench/serve-worker.mjs")], {
      env: { ...process.env, BENCH_APP_ID: app.appId, BENCH_APP_KEY: app.key, BENCH_APP_SECRET: app.secret },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const line = await new Promise((r) => child.stdout.once("data", (d) => r(d.toString())));
    const { port, pids } = JSON.parse(line);
    return { port, pids, stop: () => child.kill("SIGTERM") };
  },
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

/** The same load for every server: a steady 10,000 deliveries/s for latency, then about
 * 300,000 deliveries as fast as the server takes them. */
function workload(n) {
  return {
    subscribers: n,
    intervalMs: Math.max(10, n / 10),
    events: n >= 5000 ? 40 : 100,
    saturationEvents: Math.max(20, Math.round(300_000 / n)),
    saturationConcurrency: 16,
    payloadBytes: 100,
  };
}

const sizes = (process.env.BENCH_SIZES ?? "100,1000,5000").split(",").map(Number);
const names = (process.env.BENCH_SERVERS ?? Object.keys(servers).join(",")).split(",");
const results = [];
for (const n of sizes) {
  for (const name of names) {
    const server = await servers[name]();
    await sleep(1000);
    try {
      const result = await runFanout({ host: "127.0.0.1", port: server.port, ...app, ...workload(n), serverPids: server.pids });
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
writeFileSync(join(root, "bench/results.json"), `${JSON.stringify({ machine, date: new Date().toISOString(), results }, null, 2)}\n`);
const f = (x, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(digits));
console.log(`Machine: ${machine}\n`);
console.log("| server | N | publish→first p50 / p99 / max (ms) | publish→last p50 / p99 / max (ms) | deliveries/s (saturated) | server CPU µs / delivery | server RSS after connect (MB) | peak RSS (MB) | missing |");
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
