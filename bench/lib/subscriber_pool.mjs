// Raw WebSocket subscribers (protocol 7) on one channel that keep, per subscriber, which
// benchmark events arrived and in what order, so a benchmark can check that a fan-out delivered
// every event exactly once and in order, and when each event reached its last subscriber.
// Benchmark events carry their sequence number as `data` = `{"s":<seq>,...}`.
import WebSocket from "ws";
import { performance } from "node:perf_hooks";

// How the sequence number appears inside a frame's (string-encoded) data: `\"s\":123`.
const SEQ_MARK = '\\"s\\":';

/** The `data` of benchmark event `seq`, padded to about `bytes` bytes. */
export function eventData(seq, bytes = 100) {
  return JSON.stringify({ s: seq, pad: "x".repeat(Math.max(0, bytes - 20)) });
}

function connectOne({ port, key, channel }, onEvent, onClose, index) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${key}?protocol=7&client=bench&version=8.6.0`);
    const timer = setTimeout(() => reject(new Error("subscriber timed out")), 60_000);
    ws.on("error", reject);
    ws.on("close", (code) => onClose(code));
    ws.on("message", (raw) => {
      const now = performance.now();
      const text = raw.toString();
      const at = text.indexOf(SEQ_MARK);
      if (at >= 0) {
        onEvent(index, parseInt(text.slice(at + SEQ_MARK.length), 10), now);
        return;
      }
      const frame = JSON.parse(text);
      if (frame.event === "pusher:connection_established") {
        ws.send(JSON.stringify({ event: "pusher:subscribe", data: { channel } }));
      } else if (frame.event === "pusher_internal:subscription_succeeded") {
        clearTimeout(timer);
        resolve(ws);
      } else if (frame.event === "pusher:ping") {
        ws.send(JSON.stringify({ event: "pusher:pong", data: {} }));
      } else if (frame.event === "pusher:error" || frame.event === "pusher:subscription_error") {
        reject(new Error(`server error: ${text}`));
      }
    });
  });
}

/**
 * Opens `count` subscribers to `channel` (100 at a time) with room for events 0..capacity-1.
 * Events outside that range are ignored.
 */
export async function openSubscribers({ port, key, channel, count, capacity }) {
  const seen = new Uint8Array(count * capacity); // per subscriber, per event: times received
  const last = new Int32Array(count).fill(-1); // per subscriber: the last sequence number
  const outOfOrder = new Uint32Array(count);
  const orderHash = new Uint32Array(count); // per subscriber: a hash of the arrival order
  const received = new Uint32Array(capacity); // per event: deliveries
  const firstAt = new Float64Array(capacity);
  const lastAt = new Float64Array(capacity);
  const waiters = new Map(); // seq → resolve, called once every subscriber has the event
  let duplicates = 0;
  let deliveries = 0;
  let closing = false;
  const closedByServer = []; // close codes of subscribers the server closed
  const onClose = (code) => {
    if (!closing) closedByServer.push(code);
  };

  const onEvent = (sub, seq, now) => {
    if (!(seq >= 0 && seq < capacity)) return;
    const slot = sub * capacity + seq;
    if (seen[slot]++ > 0) duplicates++;
    if (seq <= last[sub]) outOfOrder[sub]++;
    last[sub] = seq;
    orderHash[sub] = (Math.imul(orderHash[sub], 31) + seq + 1) >>> 0;
    if (received[seq] === 0) firstAt[seq] = now;
    lastAt[seq] = now;
    deliveries++;
    if (++received[seq] === count) waiters.get(seq)?.();
  };

  const sockets = [];
  for (let i = 0; i < count; i += 100) {
    const batch = Math.min(100, count - i);
    const opened = Array.from({ length: batch }, (_, j) => connectOne({ port, key, channel }, onEvent, onClose, i + j));
    sockets.push(...(await Promise.all(opened)));
  }

  return {
    count,
    firstAt,
    lastAt,
    /**
     * Resolves once every subscriber has event `seq` (at once with no subscribers), or after
     * `timeoutMs` (the event then shows as missing in `check`).
     */
    delivered(seq, timeoutMs = 60_000) {
      if (count === 0 || received[seq] >= count) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        waiters.set(seq, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    /** Waits until events from..to-1 reached everyone, or `timeoutMs` passed. */
    async settle(from, to, timeoutMs = 30_000) {
      const deadline = performance.now() + timeoutMs;
      const pending = () => received.subarray(from, to).some((n) => n < count);
      while (pending() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    },
    /** When the last of events from..to-1 reached its last subscriber. */
    lastDelivery(from, to) {
      let latest = 0;
      for (let s = from; s < to; s++) latest = Math.max(latest, lastAt[s]);
      return latest;
    },
    /**
     * Exactly-once and order over events from..to-1: deliveries missing or duplicated,
     * subscribers that saw an event after a later one, whether every subscriber saw the
     * events in the same order, and the close codes of subscribers the server closed.
     */
    check(from, to) {
      let missing = 0;
      for (let sub = 0; sub < count; sub++) {
        for (let s = from; s < to; s++) if (seen[sub * capacity + s] === 0) missing++;
      }
      return {
        deliveries,
        missing,
        duplicates,
        subscribersOutOfOrder: outOfOrder.reduce((n, v) => n + (v > 0 ? 1 : 0), 0),
        sameOrderEverywhere: orderHash.every((h) => h === orderHash[0]),
        closedByServer: [...closedByServer],
      };
    },
    close() {
      closing = true;
      for (const ws of sockets) ws.terminate();
    },
  };
}
