// The fan-out benchmark (lib/fanout.mjs) against a Pusher-protocol server already running on
// loopback, any server: prints the result as JSON. Its knobs (environment): BENCH_HOST (loopback
// only), BENCH_PORT, BENCH_REST_PORT (if the REST API listens elsewhere), BENCH_APP_ID/KEY/SECRET,
// BENCH_SUBSCRIBERS, BENCH_EVENTS, BENCH_INTERVAL_MS, BENCH_PAYLOAD_BYTES,
// BENCH_SATURATION_EVENTS, BENCH_SATURATION_CONCURRENCY, BENCH_DEFLATE=0 (the clients do not offer
// permessage-deflate) and BENCH_SERVER_PIDS (for CPU and memory).
//
//   BENCH_PORT=6001 BENCH_APP_ID=1 BENCH_APP_KEY=k BENCH_APP_SECRET=s \
//   BENCH_SUBSCRIBERS=1000 BENCH_SERVER_PIDS=1234 node bench/fanout_any_server.mjs
import { runFanout, optionsFromEnv } from "./lib/fanout.mjs";

const result = await runFanout(optionsFromEnv());
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
