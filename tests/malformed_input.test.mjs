// Malformed input from every side, at the built worker: a few thousand bad WebSocket frames over
// raw connections and a few thousand bad REST requests. Every frame must get a documented answer
// (pusher:error, a subscription answer; never a close), every request a documented status (never
// 5xx), and the connections opened before (pusher-js on a public and a presence channel, a raw
// socket) must still get the events published afterwards with the pusher SDK.
//
// Seeded: the seed is printed; FUZZ_SEED=<seed> replays a run, FUZZ_SCALE=<n> sends n times more.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import {
  startWorker,
  makeApp,
  pusherJs,
  subscribed,
  sdkAuth,
  serverSdk,
  connectRaw,
  subscribeRaw,
  nextEvent,
  signedQuery as sdkQuery,
} from "./support/harness.mjs";

const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
const scale = Math.max(1, Number(process.env.FUZZ_SCALE ?? 1));
console.log(`malformed_input: seed ${seed} (replay with FUZZ_SEED=${seed})`);

const FRAMES_PER_SOCKET = 600 * scale;
const FUZZ_SOCKETS = 4;
const REST_REQUESTS = 2500 * scale;
const FRAME_LIMIT = 12_288;

/** mulberry32: small, seedable, good enough to pick inputs. */
/** Percent-encodes any text (lone surrogates made well-formed first). */
const enc = (s) => encodeURIComponent(s.toWellFormed());

function random(s) {
  let a = s >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (list) => list[Math.floor(next() * list.length)],
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))),
    /** Any UTF-16 text: ASCII, controls, Latin-1, CJK, emoji, lone surrogates. */
    text: (n) => {
      let s = "";
      for (let i = 0; i < n; i++) {
        const pool = r.int(6);
        if (pool === 0) s += String.fromCharCode(r.int(32));
        else if (pool === 1) s += String.fromCharCode(0x20 + r.int(95));
        else if (pool === 2) s += String.fromCharCode(0xa0 + r.int(0x60));
        else if (pool === 3) s += String.fromCharCode(0x4e00 + r.int(100));
        else if (pool === 4) s += "🦀";
        else s += String.fromCharCode(0xd800 + r.int(0x800)); // lone surrogate
      }
      return s;
    },
  };
  return r;
}

/** Any JSON value, with the odd shapes (big numbers, deep-ish nesting, unicode). */
function jsonValue(r, depth = 0) {
  const kind = r.int(depth > 3 ? 5 : 7);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -0, 1, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, 2 ** 64, Number.MIN_VALUE]);
    case 3:
      return r.text(r.int(12));
    case 4:
      return r.pick(["", "private-x", "presence-x", "#server-to-user-1", "client-x", "pusher:ping"]);
    case 5:
      return Array.from({ length: r.int(4) }, () => jsonValue(r, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: r.int(4) }, () => [
          r.pick(["channel", "auth", "channel_data", "user_data", "event", "data", "user_id", r.text(3)]),
          jsonValue(r, depth + 1),
        ]),
      );
  }
}

/** JSON text that JSON.stringify cannot make: numbers out of range, bad escapes, nesting. */
function rawJson(r) {
  return r.pick([
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    '"\\ud800"',
    '"\\x41"',
    '"unterminated',
    "[".repeat(200 + r.int(3000)) + "]".repeat(10),
    "[".repeat(150) + "]".repeat(150),
    `${'{"a":'.repeat(130)}1${"}".repeat(130)}`,
    "{,}",
    "[1,]",
    "NaN",
    "\u0000",
  ]);
}

const EVENTS = [
  "pusher:subscribe",
  "pusher:unsubscribe",
  "pusher:signin",
  "pusher:ping",
  "pusher:pong",
  "pusher:error",
  "pusher_internal:subscription_succeeded",
  "client-x",
  "",
];
const NAMES = [
  "a",
  "private-a",
  "presence-a",
  "private-encrypted-a",
  "cache-a",
  "#server-to-user-1",
  "#directory",
  "a b",
  "x".repeat(201),
  "",
];

/**
 * One malformed client frame: { text } or { binary }. `talk` is a channel this socket is
 * subscribed to with a valid signature, so client events on it are really sent up.
 */
function badFrame(r, talk) {
  const kind = r.int(14);
  switch (kind) {
    case 0:
      return { text: r.text(r.int(200)) };
    case 1:
      return { text: r.bytes(r.int(200)).toString("latin1") };
    case 2:
      return { binary: r.bytes(r.int(300)) };
    case 3: {
      const good = JSON.stringify({ event: "pusher:subscribe", data: { channel: "a", auth: "" } });
      return { text: good.slice(0, r.int(good.length)) };
    }
    case 4:
      return { text: JSON.stringify({ event: jsonValue(r), data: jsonValue(r), channel: jsonValue(r) }) };
    case 5:
      return { text: JSON.stringify({ event: r.pick(EVENTS), data: jsonValue(r) }) };
    case 6:
      return {
        text: JSON.stringify({ event: r.pick(["pusher:", "pusher_internal:", "", "x"]) + r.text(r.int(20)), data: {} }),
      };
    case 7: {
      // Near and over the frame limit.
      const size = r.chance(0.7) ? FRAME_LIMIT - 100 + r.int(200) : 20_000 + r.int(180_000);
      return { text: JSON.stringify({ event: "client-x", channel: talk, data: "x".repeat(size) }) };
    }
    case 8:
      return {
        text: `{"event":${JSON.stringify(r.pick(EVENTS))},"channel":${JSON.stringify(talk)},"data":${rawJson(r)}}`,
      };
    case 9: {
      const data = {
        channel: r.pick(NAMES),
        auth: r.pick(["", "key", "key:", ":", `x:${"0".repeat(64)}`, jsonValue(r)]),
        channel_data: r.pick([undefined, "{}", '{"user_id":""}', '["1",null]', jsonValue(r), "x".repeat(2000)]),
      };
      return { text: JSON.stringify({ event: "pusher:subscribe", data: r.chance(0.3) ? JSON.stringify(data) : data }) };
    }
    case 10: {
      const data = {
        auth: r.pick(["", "key:abc", jsonValue(r)]),
        user_data: r.pick(['{"id":"1"}', "{}", "[1]", jsonValue(r)]),
      };
      return { text: JSON.stringify({ event: "pusher:signin", data }) };
    }
    case 11:
      // Client events: on the subscribed channel (really sent), on others, of any size and shape.
      return {
        text: JSON.stringify({
          event: r.pick(["client-", "client-x", `client-${"e".repeat(200)}`, `client-${r.text(5)}`]),
          channel: r.chance(0.6) ? talk : r.pick(NAMES),
          data: jsonValue(r),
        }),
      };
    case 12:
      return { text: JSON.stringify({ event: "pusher:unsubscribe", data: { channel: r.pick([...NAMES, talk]) } }) };
    default:
      return {
        text: r.pick([
          "",
          " ",
          "null",
          "{}",
          "[]",
          '{"event":null}',
          '{"event":"pusher:ping","data":{}}trailing',
          '{"event":"a","event":"b"}',
          '{"event":"pusher:subscribe","data":"{\\"channel\\":1e400}"}',
          '{"event":"pusher:subscribe","data":"[\\"a\\"]"}',
          "\u0000",
          "\ufeff{}",
        ]),
      };
  }
}

/** What a frame sent back may be: an error, a subscription answer, or traffic on a channel. */
const DOCUMENTED = new Set([
  "pusher:error",
  "pusher:pong",
  "pusher:subscription_error",
  "pusher_internal:subscription_succeeded",
  "pusher_internal:member_added",
  "pusher_internal:member_removed",
  "pusher:cache_miss",
]);

function checkAnswer(frame, context) {
  assert.ok(!("unparsed" in frame), `${context}: not JSON: ${JSON.stringify(frame).slice(0, 200)}`);
  // Besides answers: events on the socket's channels (client events of the other fuzzing
  // sockets, REST events the REST fuzzing happened to publish).
  const traffic =
    typeof frame.channel === "string" && typeof frame.event === "string" && !frame.event.startsWith("pusher");
  const ok = DOCUMENTED.has(frame.event) || traffic;
  assert.ok(ok, `${context}: undocumented frame ${JSON.stringify(frame).slice(0, 300)}`);
  if (frame.event === "pusher:error") {
    assert.ok([null, 4009, 4301, 4302].includes(frame.data?.code), `${context}: error code ${JSON.stringify(frame)}`);
    assert.equal(typeof frame.data.message, "string");
  }
  if (frame.event === "pusher:subscription_error") {
    assert.ok([400, 401, 403, 4100].includes(frame.data?.status), `${context}: ${JSON.stringify(frame).slice(0, 300)}`);
  }
}

/**
 * Whether a frame may go unanswered: a pong, a subscribe (answered once the room is reached),
 * an unsubscribe of a subscription still being made, a client event sent up.
 */
function maySilence(text, talk) {
  if (typeof text !== "string") return false;
  try {
    const f = JSON.parse(text);
    if (f === null || typeof f !== "object" || Array.isArray(f)) return false;
    if (["pusher:pong", "pusher:subscribe", "pusher:unsubscribe"].includes(f.event)) return true;
    return typeof f.event === "string" && f.event.startsWith("client-") && f.channel === talk;
  } catch {
    return false;
  }
}

let worker;
// Unlimited: thousands of signed REST calls in seconds are the point here, not its rate limit
// (tests/abuse_controls.test.mjs covers that).
const app = makeApp({ enable_client_messages: true, rate_limit_tier: "unlimited" });
/** Closes what a failed run left open, so the failure is reported at once. */
const open = [];
before(async () => {
  worker = await startWorker({ apps: [app] });
});
after(async () => {
  for (const close of open) close();
  await worker?.stop();
});

/**
 * Sends each frame followed by a sentinel (an unknown event, answered with a pusher:error that
 * names it), so the answers between two sentinels belong to that frame.
 */
async function barrage(sock, frames, talk, label) {
  let from = sock.frames.length;
  let answered = 0;
  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i];
    if (frame.binary) sock.ws.send(frame.binary, { binary: true });
    else sock.ws.send(frame.text);
    const sentinel = `sentinel-${i}`;
    sock.send({ event: sentinel });
    const answer = await sock.waitFrom(
      from,
      (f) => f.event === "pusher:error" && f.data?.message?.endsWith(sentinel),
      `${label}: the sentinel after frame ${i} (seed ${seed}): ${JSON.stringify(frame).slice(0, 200)}`,
    );
    const end = sock.frames.indexOf(answer, from);
    const window = sock.frames.slice(from, end);
    const context = `${label} frame ${i} (seed ${seed}) ${JSON.stringify(frame).slice(0, 200)}`;
    for (const f of window) checkAnswer(f, context);
    if (window.length > 0) answered++;
    else assert.ok(maySilence(frame.text, talk), `${context}: no answer`);
    assert.equal(sock.isClosed(), false, `${context}: the connection closed`);
    from = end + 1;
  }
  return answered;
}

test("thousands of malformed frames and REST requests: documented answers, and earlier connections keep working", async () => {
  const started = Date.now();
  const sdk = serverSdk(worker);

  // The connections that must survive: pusher-js on a public and a presence channel, a raw socket.
  const client = await pusherJs(
    worker,
    app,
    sdkAuth(worker, { presence: { user_id: "watcher", user_info: { n: 1 } } }),
  );
  open.push(() => client.disconnect());
  const publicChannel = await subscribed(client, "observed");
  const presenceChannel = await subscribed(client, "presence-observed");
  const { sock: raw } = await connectRaw(worker);
  open.push(() => raw.close());
  assert.equal((await subscribeRaw(raw, "observed")).event, "pusher_internal:subscription_succeeded");
  const clientErrors = [];
  client.connection.bind("error", (e) => clientErrors.push(e));

  // The fuzzing sockets share a private channel (a valid signature), so client events go up.
  const talk = "private-fuzz";
  const sockets = [];
  for (let n = 0; n < FUZZ_SOCKETS; n++) {
    const { sock, socketId } = await connectRaw(worker);
    open.push(() => sock.close());
    const { auth } = sdk.authorizeChannel(socketId, talk);
    assert.equal((await subscribeRaw(sock, talk, { auth })).event, "pusher_internal:subscription_succeeded");
    sockets.push(sock);
  }

  // Invalid UTF-8 in a text frame: workerd hands it on with replacement characters and the
  // worker answers pusher:error; a runtime that fails the connection must use 1007 (RFC 6455).
  const utf8 = await connectRaw(worker);
  utf8.sock.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0xc3, 0x22, 0x7d]), { binary: false });
  const outcome = await Promise.race([
    utf8.sock.closed().then(
      (closed) => ({ closed }),
      () => null,
    ),
    utf8.sock
      .waitFrom(1, (f) => f.event === "pusher:error", "an answer")
      .then(
        (frame) => ({ frame }),
        () => null,
      ),
  ]);
  assert.ok(outcome, "invalid UTF-8: neither an answer nor a close");
  console.log(
    `malformed_input: invalid UTF-8 in a text frame: ${outcome.closed ? `close ${outcome.closed.code}` : "pusher:error"}`,
  );
  if (outcome.closed) assert.equal(outcome.closed.code, 1007, "invalid UTF-8");
  else checkAnswer(outcome.frame, "invalid UTF-8");
  utf8.sock.close();

  const frames = sockets.map((_, n) => {
    const r = random(seed + 101 * (n + 1));
    return Array.from({ length: FRAMES_PER_SOCKET }, () => badFrame(r, talk));
  });
  // Requests with a body go one at a time, after the rest: when the worker refuses one without
  // reading its body (401 before the signature, 404, 413), the local runtime resets the other
  // requests in flight (a plain JavaScript worker in Miniflare does the same), which would
  // blame the worker for the local proxy.
  const rest = restRequests(random(seed ^ 0x5eed), REST_REQUESTS);
  const bodiless = rest.filter((req) => !req.body);
  const bodied = rest.filter((req) => req.body);
  const r = random(seed ^ 0x413);
  bodied.push(...Array.from({ length: 10 }, () => oversized(r)));
  const [answered, concurrent] = await Promise.all([
    Promise.all(sockets.map((sock, n) => barrage(sock, frames[n], talk, `socket ${n}`))),
    sendAll(bodiless, 16),
  ]);
  for (const sock of sockets) {
    assert.equal(sock.isClosed(), false);
    sock.close();
  }
  const serial = await sendAll(bodied, 1);
  console.log(
    `malformed_input: ${frames.flat().length} frames (${answered.reduce((a, b) => a + b, 0)} answered); ` +
      `REST without a body ${JSON.stringify(concurrent)}, with one ${JSON.stringify(serial)}; ${Date.now() - started} ms`,
  );

  // The earlier connections still get what the real SDK publishes.
  const gotPublic = nextEvent(publicChannel, "after-fuzz");
  const gotPresence = nextEvent(presenceChannel, "after-fuzz");
  const from = raw.frames.length;
  await sdk.trigger(["observed"], "after-fuzz", { seed });
  await sdk.trigger("presence-observed", "after-fuzz", { seed });
  assert.deepEqual(await gotPublic, { seed });
  assert.deepEqual(await gotPresence, { seed });
  const rawEvent = await raw.waitFrom(from, (f) => f.event === "after-fuzz", "after-fuzz on the raw socket");
  assert.deepEqual(JSON.parse(rawEvent.data), { seed });
  assert.equal(client.connection.state, "connected");
  assert.equal(presenceChannel.members.count, 1);
  assert.deepEqual(clientErrors, []);
  assert.equal(raw.isClosed(), false);
  client.disconnect();
  raw.close();
});

// ---- REST ----

// 204: OPTIONS answers with the Allow header and no body.
const STATUSES = new Set([200, 204, 400, 401, 403, 404, 405, 413, 426]);

/** The query string an SDK sends for `method path body`, signed with `secret`. */
function signedQuery(method, path, body, params = {}, secret = app.secret) {
  return sdkQuery({ app, method, path, body, params, secret, encode: enc });
}

/** A trigger body with wrong types, bad names, sizes around the limits, or no JSON at all. */
function badBody(r) {
  const kind = r.int(6);
  if (kind === 0) return r.bytes(r.int(200));
  if (kind === 1) {
    const good = JSON.stringify({ name: "e", channel: "c", data: "x" });
    return Buffer.from(good.slice(0, r.int(good.length)));
  }
  if (kind === 2) return Buffer.from(rawJson(r));
  if (kind === 3) {
    const data = r.chance(0.5) ? "d".repeat(10_230 + r.int(20)) : jsonValue(r);
    return Buffer.from(
      JSON.stringify({
        name: r.pick(["e", "", "e".repeat(201), 5]),
        channels: r.pick([[], ["a", "a"], ["a b"], "a", [jsonValue(r)]]),
        data,
      }),
    );
  }
  if (kind === 4) return Buffer.from(JSON.stringify({ batch: Array.from({ length: r.int(13) }, () => jsonValue(r)) }));
  return Buffer.from(JSON.stringify(jsonValue(r)));
}

const ENDPOINTS = [
  "events",
  "batch_events",
  "channels",
  "channels/a",
  "channels/presence-a/users",
  "users/1/terminate_connections",
  "stats",
  "nope",
  "",
];

/** One malformed REST request: { method, path, body, headers, expect? }. */
function badRequest(r) {
  const method = r.pick(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PROPFIND"]);
  const kind = r.int(6);
  const base = `/apps/${app.id}`;
  if (kind === 0) {
    // Unsigned, anywhere.
    const path =
      r.pick(["/apps/", "/apps/x/", `${base}/`, "/users/", "/app/", "/", "/up", "/metrics", "/x"]) +
      enc(r.text(r.int(30))).slice(0, 400);
    return {
      method,
      path: `${path}?${enc(r.text(r.int(40)))
        .replaceAll("%3D", "=")
        .replaceAll("%26", "&")}`,
      body: method === "POST" ? badBody(r) : null,
    };
  }
  if (kind === 1) {
    // Signed, then one thing changed: 401.
    const path = `${base}/events`;
    const body = Buffer.from(JSON.stringify({ name: "e", channel: "fuzz-rest", data: "x" }));
    let query = signedQuery("POST", path, body);
    let sentBody = body;
    const change = r.int(4);
    if (change === 0) {
      const i = query.length - 1 - r.int(64);
      query = query.slice(0, i) + (query[i] === "0" ? "1" : "0") + query.slice(i + 1);
    } else if (change === 1) sentBody = Buffer.concat([body, Buffer.from(" ")]);
    else if (change === 2)
      query = query.replace(
        /auth_timestamp=\d+/,
        `auth_timestamp=${r.pick(["0", "-9223372036854775808", "9223372036854775807", "1e9", "", "x"])}`,
      );
    else query = signedQuery("POST", path, body, {}, `${app.secret}x`);
    return { method: "POST", path: `${path}?${query}`, body: sentBody, expect: [401] };
  }
  if (kind === 2) {
    // Signed, with a bad body: 400 or 413 (or 200 if it happens to be a valid event).
    const path = `${base}/${r.pick(["events", "batch_events"])}`;
    const body = badBody(r);
    return { method: "POST", path: `${path}?${signedQuery("POST", path, body)}`, body, expect: [200, 400, 413] };
  }
  if (kind === 3) {
    // Signed reads of odd channel names and attributes.
    const name = enc(r.pick([r.text(r.int(20)), "presence-a", "#server-to-user-1", "a".repeat(250), "%", ".."]));
    const path = `${base}/${r.pick([`channels/${name}`, `channels/${name}/users`, "channels"])}`;
    const params = r.pick([
      {},
      { info: r.pick(["user_count", "subscription_count,cache", "x", r.text(5)]) },
      { filter_by_prefix: r.text(5) },
    ]);
    // 401 when the URL parser normalises what was signed (a `..` segment).
    return {
      method: "GET",
      path: `${path}?${signedQuery("GET", path, Buffer.alloc(0), params)}`,
      body: null,
      expect: [200, 400, 401, 404],
    };
  }
  if (kind === 4) {
    // Any method on any endpoint, signed for that method.
    const path = `${base}/${r.pick(ENDPOINTS)}`;
    const body = method === "GET" || method === "HEAD" ? Buffer.alloc(0) : r.chance(0.5) ? badBody(r) : Buffer.alloc(0);
    return { method, path: `${path}?${signedQuery(method, path, body)}`, body: body.length ? body : null };
  }
  // Odd headers.
  const path = `${base}/events`;
  const body = badBody(r);
  return {
    method: "POST",
    path: `${path}?${signedQuery("POST", path, body)}`,
    body,
    headers: {
      "content-type": r.pick([
        "text/plain",
        "application/json; charset=latin1",
        "multipart/form-data",
        `x/${"y".repeat(500)}`,
      ]),
    },
    expect: [200, 400, 413],
  };
}

/** A signed request whose body is over `limits.max_request_body_bytes`: 413 before it is read. */
function oversized(r) {
  const path = `/apps/${app.id}/${r.pick(["events", "batch_events"])}`;
  const body = Buffer.alloc(256 * 1024 + 1 + r.int(100_000), 0x61);
  return { method: "POST", path: `${path}?${signedQuery("POST", path, body)}`, body, expect: [413] };
}

function restRequests(r, n) {
  return Array.from({ length: n }, () => badRequest(r));
}

// A connection per request: a reused keep-alive connection can be closed by the server while
// a request is on its way (after an early 413), which says nothing about the worker.
const agent = new http.Agent({ keepAlive: false, maxSockets: 16 });

function send(req) {
  return new Promise((resolvePromise, reject) => {
    const call = http.request(
      { host: "127.0.0.1", port: worker.port, method: req.method, path: req.path, headers: req.headers ?? {}, agent },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolvePromise({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    call.on("error", (e) =>
      reject(
        new Error(
          `${req.method} ${req.path.slice(0, 200)} (${req.body?.length ?? 0} bytes): ${e.message} (seed ${seed})`,
        ),
      ),
    );
    call.end(req.body ?? undefined);
  });
}

async function sendAll(requests, concurrency = 16) {
  const statuses = {};
  let next = 0;
  const worker_ = async () => {
    while (next < requests.length) {
      const req = requests[next++];
      const context = `${req.method} ${req.path.slice(0, 200)} (seed ${seed})`;
      const res = await send(req);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      assert.ok(res.status < 500, `${context}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
      assert.ok(STATUSES.has(res.status), `${context}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
      if (res.status === 204) assert.equal(req.method, "OPTIONS", `${context}: 204 is for OPTIONS only`);
      if (req.expect)
        assert.ok(
          req.expect.includes(res.status),
          `${context}: HTTP ${res.status}, expected ${req.expect}: ${res.body.slice(0, 300)}`,
        );
      if (res.status >= 400 && req.method !== "HEAD") {
        const body = JSON.parse(res.body);
        assert.equal(typeof body.error, "string", `${context}: ${res.body.slice(0, 300)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker_));
  return statuses;
}
