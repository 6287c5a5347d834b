// What a pusher-js client sees while the system under it is disturbed (an object reset, a
// broken internal socket), and a steady publisher to measure delivery against: shared by the
// tests that assert a disturbance stays invisible.
import assert from "node:assert/strict";
import { pusherJs, serverSdk, sleep } from "./harness.mjs";

export const PINGS = new Set(["pusher:ping", "pusher:pong"]);

/**
 * Records what a pusher-js client sees from now on: every frame as pusher-js decoded it (the
 * connection's `message` event, before any channel handles it, so a repeated member_removed
 * that pusher-js would swallow still shows) and every state change.
 */
export function watch(client, name) {
  const w = { name, client, socketId: client.connection.socket_id, frames: [], states: [] };
  client.connection.bind("message", (f) =>
    w.frames.push({ event: f.event, channel: f.channel, data: f.data, at: Date.now() }),
  );
  client.connection.bind("state_change", ({ previous, current }) => w.states.push(`${previous} -> ${current}`));
  return w;
}

/**
 * `w` saw nothing of the reset: the same connection, no state change, and from `since` on
 * only frames named in `allowed` (pings aside).
 */
export function assertUnseen(w, since, allowed = []) {
  assert.deepEqual(w.states, [], `${w.name}: pusher-js changed state`);
  assert.equal(w.client.connection.state, "connected", w.name);
  assert.equal(w.client.connection.socket_id, w.socketId, `${w.name}: a new connection`);
  const extra = w.frames
    .filter((f) => f.at >= since && !allowed.includes(f.event) && !PINGS.has(f.event))
    .map(({ event, channel, data }) => ({ event, channel, data }));
  assert.deepEqual(extra, [], `${w.name} saw the reset`);
}

/**
 * The pusher SDK publishing `{n}` at `rate` per second, one call at a time so each room
 * receives them in order, until stopped: each event to every channel of `channels`, or with
 * `rotate`, to one channel after another. `accepted` maps each n the API took (200) to when it
 * was sent, `targets(n)` the channels it went to; a refused call (during a reset) is only
 * counted.
 */
export function publisher(worker, target, channels, rate = 50, { rotate = false } = {}) {
  const sdk = serverSdk(worker, target);
  const targets = (n) => (rotate ? [channels[n % channels.length]] : channels);
  const pub = { accepted: new Map(), refused: [], stopped: false, targets };
  /** The events that went to `channel`. */
  pub.acceptedOn = (channel) => [...pub.accepted].filter(([n]) => targets(n).includes(channel));
  const started = Date.now();
  pub.done = (async () => {
    for (let n = 0; !pub.stopped; n++) {
      // At least a few ms between calls: Miniflare evicts an object only between requests.
      const due = started + (n * 1000) / rate;
      await sleep(Math.max(5, due - Date.now()));
      const at = Date.now();
      try {
        await sdk.trigger(targets(n), "tick", { n });
        pub.accepted.set(n, at);
      } catch (e) {
        pub.refused.push({ n, status: e.status });
      }
    }
  })();
  pub.stop = async () => {
    pub.stopped = true;
    await pub.done;
  };
  return pub;
}

/** The publisher's events `w` got on `channel`, in arrival order. */
export const ticks = (w, channel) =>
  w.frames.filter((f) => f.channel === channel && f.event === "tick").map((f) => f.data.n);

/**
 * A pusher-js client of `app` with `auth` (sdkAuth), signed in as `id`: its watchlist events as
 * "online {id}" / "offline {id}" in `events`, and what it sees (`w`, watch).
 */
export async function signedInWatching(worker, app, auth, id) {
  const client = await pusherJs(worker, app, auth);
  const events = [];
  client.user.watchlist.bind("online", (e) => events.push(...e.user_ids.map((u) => `online ${u}`)));
  client.user.watchlist.bind("offline", (e) => events.push(...e.user_ids.map((u) => `offline ${u}`)));
  client.signin();
  await client.user.signinDonePromise;
  return { client, events, w: watch(client, id) };
}
