// REST load for the publish benchmarks: the real `pusher` SDK (as an app's server publishes)
// over keep-alive connections, and a closed loop that keeps a number of calls in flight.
import Pusher from "pusher";
import http from "node:http";
import { performance } from "node:perf_hooks";

/** The `pusher` SDK pointed at the local worker, reusing up to `sockets` connections. */
export function restClient({ port, app, sockets }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const sdk = new Pusher({
    appId: app.id,
    key: app.key,
    secret: app.secret,
    host: "127.0.0.1",
    port: String(port),
    useTLS: false,
    agent,
  });
  return { sdk, close: () => agent.destroy() };
}

/**
 * Runs `call`, again (up to 3 times) when the connection is closed before any answer. Local
 * workerd does that to a few calls when its thread is saturated for seconds (a keep-alive or
 * pipeline timeout firing before the queued request is read); such a call was not processed, and
 * if one ever were, the benchmark's exactly-once check would count the duplicates. `onRetry` is
 * told of each retry.
 */
export async function retryingResets(call, onRetry) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      const reset = (e.error ?? e.cause ?? e)?.code === "ECONNRESET";
      if (!reset || attempt === 3) throw e;
      onRetry();
    }
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Runs `call(i)` with `inFlight` calls at a time until `durationMs` passed or `maxCalls` were
 * started; each call's promise should settle when its work is done (answered, or delivered).
 * Answers the calls made, failures (with the first error) and call latencies (ms).
 */
export async function closedLoop({ inFlight, durationMs, maxCalls = Infinity, call }) {
  const start = performance.now();
  const latencies = [];
  let started = 0;
  let failures = 0;
  let firstError = null;
  const lane = async () => {
    while (performance.now() - start < durationMs && started < maxCalls) {
      const i = started++;
      const t0 = performance.now();
      try {
        await call(i);
        latencies.push(performance.now() - t0);
      } catch (e) {
        failures++;
        firstError ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const elapsedMs = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return {
    calls: latencies.length,
    failures,
    firstError,
    elapsedMs,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}
