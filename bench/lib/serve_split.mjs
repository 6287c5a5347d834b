// Runs the built worker as one workerd process per role (split_processes.mjs: rooms, sessions,
// rest, state) — or, with the argument `floor`, floor_worker.mjs split alike (rooms, sessions,
// rest) — in its own process, for bench/run.mjs: prints one JSON line
// {"port", "restPort", "pids", "groups", "inspectors"} — `port` takes the client WebSockets
// (the sessions process), `restPort` the REST publishes, `groups` maps each role to its
// workerd process ids — and serves until it is sent SIGTERM. App credentials come from
// BENCH_APP_ID/KEY/SECRET; BENCH_INSPECT=rooms,... gives those processes a V8 inspector;
// BENCH_BUILD_DIR serves another bundle than build/ (e.g. the profiling build).
import { startSplit, startFloorSplit } from "./split_processes.mjs";

const app = {
  id: process.env.BENCH_APP_ID,
  key: process.env.BENCH_APP_KEY,
  secret: process.env.BENCH_APP_SECRET,
};
const inspect = (process.env.BENCH_INSPECT ?? "").split(",").filter(Boolean);
const split =
  process.argv[2] === "floor"
    ? await startFloorSplit({ inspect })
    : await startSplit({ apps: [app], inspect, buildDir: process.env.BENCH_BUILD_DIR });
const { processes } = split;
const groups = Object.fromEntries(Object.entries(processes).map(([role, p]) => [role, p.pids]));
const inspectors = Object.fromEntries(
  Object.entries(processes)
    .filter(([, p]) => p.inspector)
    .map(([role, p]) => [role, p.inspector]),
);
process.stdout.write(
  `${JSON.stringify({
    port: processes.sessions.port,
    restPort: processes.rest.port,
    pids: Object.values(groups).flat(),
    groups,
    inspectors,
  })}\n`,
);
process.on("SIGTERM", async () => {
  await split.stop();
  process.exit(0);
});
