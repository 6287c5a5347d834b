// Profiles the split server (bench/lib/split_processes.mjs) during the saturated phase of
// bench/lib/fanout.mjs's workload for N subscribers, in one of two ways:
//
// - BENCH_PROFILER=v8 (default): V8 CPU profiles, through the inspector, of the user isolates
//   (our worker and Miniflare's dev-registry proxy) of the rooms process (and of the other
//   processes in BENCH_PROFILE_ROLES), from the profiling build (bench/build_profiling.sh: the
//   release build with Wasm function names). Prints each isolate's samples next to its
//   process's CPU and the top self-time functions of our isolate; writes the profiles to
//   target/profiles/*.cpuprofile (Chrome DevTools' Performance panel opens them).
// - BENCH_PROFILER=perf: Linux `perf` of the rooms and sessions processes (the release build),
//   to see where their CPU goes outside JavaScript, and how much of it is the Cap'n Proto RPC
//   that carries frames between the processes (which a single process does not have).
//
//   bash bench/build_profiling.sh && node bench/profile_room.mjs
//   BENCH_PROFILER=perf node bench/profile_room.mjs
//   (BENCH_SUBSCRIBERS=1000, BENCH_PROFILE_ROLES=rooms,sessions, BENCH_PROFILE_TOP=25,
//    BENCH_PROFILE_INTERVAL_US=250, BENCH_DEFLATE=0 as for bench/run.mjs)
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startSplit } from "./lib/split_processes.mjs";
import { runFanout, workload } from "./lib/fanout.mjs";
import { profileProcess, selfSamples } from "./lib/cpu_profile.mjs";
import { recordPerf, readPerf, perfAvailable } from "./lib/perf_profile.mjs";
import { cpuSeconds } from "./lib/proc.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "target/profiles");
const n = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const profiler = process.env.BENCH_PROFILER ?? "v8";
const defaultRoles = profiler === "perf" ? "rooms,sessions" : "rooms";
const roles = (process.env.BENCH_PROFILE_ROLES ?? defaultRoles).split(",");
const top = Number(process.env.BENCH_PROFILE_TOP ?? 25);
const intervalUs = Number(process.env.BENCH_PROFILE_INTERVAL_US ?? 250);
const app = { id: "4242", key: "bench-key", secret: "bench-secret" };
const f = (x, d = 1) => x.toFixed(d);

/** Runs the workload against a split server, with `profile.start()` / `profile.stop()` around
 * the saturated phase; returns the benchmark's result and each role's CPU seconds in it. */
async function profiledRun(split, profile) {
  const { processes } = split;
  const cpu = {};
  const result = await runFanout({
    host: "127.0.0.1",
    port: processes.sessions.port,
    restPort: processes.rest.port,
    appId: app.id,
    key: app.key,
    secret: app.secret,
    ...workload(n),
    perMessageDeflate: process.env.BENCH_DEFLATE !== "0",
    serverPids: [],
    beforeSaturation: async () => {
      await profile.start();
      for (const role of roles) cpu[role] = cpuSeconds(processes[role].pids);
    },
    afterSaturation: async () => {
      for (const role of roles) cpu[role] = cpuSeconds(processes[role].pids) - cpu[role];
      await profile.stop();
    },
  });
  return { result, cpu };
}

async function v8Profiles() {
  const buildDir = "target/profiling-build";
  if (!existsSync(join(root, buildDir, "index_bg.wasm"))) {
    throw new Error(`no ${buildDir}: run bash bench/build_profiling.sh first`);
  }
  const split = await startSplit({ apps: [app], inspect: roles, buildDir });
  const profilers = {};
  const profiles = {};
  let run;
  try {
    for (const role of roles) {
      profilers[role] = await profileProcess(split.processes[role].inspector, { intervalUs });
    }
    run = await profiledRun(split, {
      start: async () => {
        for (const role of roles) await profilers[role].start();
      },
      stop: async () => {
        for (const role of roles) profiles[role] = await profilers[role].stop();
      },
    });
  } finally {
    await split.stop();
  }
  printV8(run, profiles);
}

function printV8({ result, cpu }, profiles) {
  const deliveries = result.saturation_events * n;
  // A sample stands for about one sampling interval of the isolate's thread (see selfSamples).
  const usPerDelivery = (samples) => (samples * intervalUs) / deliveries;
  console.log(
    `N = ${n}, saturated phase only: ${deliveries} deliveries, ${f(result.deliveries_per_second, 0)} deliveries/s while profiled, ${result.missing_deliveries} missing; one sample every ${intervalUs} µs\n`,
  );
  console.log(
    "| process | isolate | samples in JS + Wasm + GC | entered, outside JS | ≈ µs per delivery in JS + Wasm + GC | process CPU µs per delivery (/proc, profiler included) |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const role of roles) {
    for (const [id, profile] of Object.entries(profiles[role])) {
      writeFileSync(join(outDir, `${role}-${id.replaceAll(":", "_")}.cpuprofile`), JSON.stringify(profile));
      const { busy, program } = selfSamples(profile);
      console.log(
        `| ${role} | ${id} | ${busy} | ${program} | ${f(usPerDelivery(busy), 2)} | ${f((cpu[role] * 1e6) / deliveries)} |`,
      );
    }
  }
  for (const role of roles) {
    const ours = Object.keys(profiles[role]).find((id) => id.startsWith("core:user:pusher-edge"));
    if (!ours) continue;
    const { functions, busy } = selfSamples(profiles[role][ours]);
    console.log(`\nTop self time in the ${role} process's ${ours} (${busy} samples in JS + Wasm + GC):\n`);
    console.log("| function | self samples | % | ≈ µs per delivery |");
    console.log("|---|---|---|---|");
    for (const fn of functions.slice(0, top)) {
      console.log(
        `| \`${fn.name}\` | ${fn.samples} | ${f((fn.samples * 100) / busy)} | ${f(usPerDelivery(fn.samples), 2)} |`,
      );
    }
  }
}

async function perfProfiles() {
  if (!perfAvailable()) throw new Error("BENCH_PROFILER=perf needs Linux perf on the PATH");
  const split = await startSplit({ apps: [app] });
  const files = Object.fromEntries(roles.map((role) => [role, join(outDir, `${role}.perf.data`)]));
  let run;
  try {
    const stops = [];
    run = await profiledRun(split, {
      start: async () => {
        for (const role of roles) stops.push(await recordPerf(split.processes[role].pids[0], files[role]));
      },
      stop: async () => {
        for (const stop of stops) await stop();
      },
    });
  } finally {
    await split.stop();
  }
  const { result, cpu } = run;
  const deliveries = result.saturation_events * n;
  console.log(
    `N = ${n}, saturated phase only: ${deliveries} deliveries, ${f(result.deliveries_per_second, 0)} deliveries/s, ${result.missing_deliveries} missing; perf data in target/profiles/*.perf.data\n`,
  );
  console.log(
    "| process | CPU µs per delivery (/proc) | samples with Cap'n Proto on the stack (carrying frames between processes) | where the samples end (leaf frame) |",
  );
  console.log("|---|---|---|---|");
  for (const role of roles) {
    const { capnpShare, categories } = readPerf(files[role]);
    const leaves = categories.filter((c) => c.share >= 0.005).map((c) => `${c.name} ${f(c.share * 100, 0)} %`);
    console.log(`| ${role} | ${f((cpu[role] * 1e6) / deliveries)} | ${f(capnpShare * 100)} % | ${leaves.join("; ")} |`);
  }
}

mkdirSync(outDir, { recursive: true });
if (profiler === "perf") await perfProfiles();
else await v8Profiles();
