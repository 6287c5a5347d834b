// Starts the built worker (build/) in local workerd through Miniflare, configured from
// wrangler.toml, with a test app; and offers the real pusher-js client, the real pusher SDK
// and raw WebSocket helpers to drive it.
import { Miniflare, Log, LogLevel } from "miniflare";
import { parse as parseToml } from "smol-toml";
import { readFileSync } from "node:fs";
import { resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes, createHash, createHmac } from "node:crypto";
import PusherClient from "pusher-js";
import PusherServer from "pusher";
import WebSocket from "ws";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export function makeApp(overrides = {}) {
  return {
    id: `test-${randomBytes(3).toString("hex")}`,
    key: `key-${randomBytes(8).toString("hex")}`,
    secret: randomBytes(16).toString("hex"),
    ...overrides,
  };
}

/**
 * Starts the worker; `bindings` overrides the app configuration (default: one test app); `port`
 * asks for a fixed port (default: any free one).
 */
/**
 * Miniflare's options for the built worker (build/) as wrangler.toml configures it (Durable
 * Objects, SQLite classes, compatibility), with `bindings`; also answers wrangler.toml itself.
 * Shared by the tests and the benchmarks.
 */
export function workerOptions(bindings, { rateLimits = {}, countObjectRequests = false } = {}) {
  const wrangler = parseToml(readFileSync(resolve(root, "wrangler.toml"), "utf8"));
  const sqlite = new Set(wrangler.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
  const durableObjects = Object.fromEntries(
    wrangler.durable_objects.bindings.map((b) => [
      b.name,
      { className: b.class_name, useSQLite: sqlite.has(b.class_name) },
    ]),
  );
  const options = {
    name: wrangler.name,
    modules: true,
    modulesRoot: resolve(root, "build"),
    scriptPath: resolve(root, wrangler.main),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: wrangler.compatibility_date,
    compatibilityFlags: wrangler.compatibility_flags ?? [],
    durableObjects,
    // The Rate Limiting bindings, as Miniflare emulates them (`rateLimits` lowers a limit
    // for a test: { CONNECTIONS_STANDARD: { limit: 3 } }).
    ratelimits: Object.fromEntries(
      (wrangler.ratelimits ?? []).map((r) => [
        r.name,
        { namespace_id: r.namespace_id, simple: { ...r.simple, ...rateLimits[r.name] } },
      ]),
    ),
    bindings,
    host: "127.0.0.1",
  };
  if (countObjectRequests) {
    // The built worker behind tests/support/counting_entry.mjs, which counts object requests.
    options.modulesRoot = root;
    options.scriptPath = resolve(root, "tests/support/counting_entry.mjs");
    options.modulesRules = [...options.modulesRules, { type: "ESModule", include: ["**/*.js", "**/*.mjs"] }];
  }
  if (wrangler.assets) {
    // Static assets as wrangler serves them: the Worker first when run_worker_first.
    options.assets = {
      directory: resolve(root, wrangler.assets.directory),
      binding: wrangler.assets.binding,
      routerConfig: {
        has_user_worker: true,
        invoke_user_worker_ahead_of_assets: wrangler.assets.run_worker_first === true,
      },
      assetConfig: {
        html_handling: wrangler.assets.html_handling,
        not_found_handling: wrangler.assets.not_found_handling,
      },
    };
  }
  return { wrangler, options };
}

/**
 * `rateLimits` lowers Rate Limiting bindings' limits (see workerOptions); `countObjectRequests`
 * runs the worker behind a counter of its Durable Objects' requests (worker.objectRequests()).
 */
export async function startWorker({
  apps = [makeApp()],
  bindings,
  port: wantedPort = 0,
  rateLimits,
  countObjectRequests,
} = {}) {
  const { wrangler, options } = workerOptions(bindings ?? { PUSHER_APPS: JSON.stringify(apps) }, {
    rateLimits,
    countObjectRequests,
  });
  const mf = new Miniflare({
    ...options,
    port: wantedPort,
    // PUSHER_EDGE_TEST_LOG=1 shows the worker's console output while debugging a test.
    ...(process.env.PUSHER_EDGE_TEST_LOG ? { log: new Log(LogLevel.DEBUG) } : {}),
  });
  const url = await mf.ready;
  const port = Number(url.port);
  return {
    mf,
    url,
    port,
    app: apps[0],
    apps,
    workerName: wrangler.name,
    stop: () => mf.dispose(),
    /** Requests the Durable Objects have received (countObjectRequests only). */
    objectRequests: async () => (await (await fetch(new URL("/__test/object-requests", url))).json()).objectRequests,
    /**
     * The gate object requests wait at (countObjectRequests only): `gate("close")`, `gate()`
     * (those waiting), `gate("release")` (lets those waiting through; `gate("release",
     * "POST /terminate")` only those), `gate("open")`; each answers the requests waiting (or
     * released) as [{ object, path }].
     */
    gate: async (action, path) => {
      const query = path ? `?path=${encodeURIComponent(path)}` : "";
      const res = await fetch(new URL(`/__test/gate${action ? `/${action}` : ""}${query}`, url), {
        method: action ? "POST" : "GET",
      });
      return (await res.json()).pending;
    },
    /** Each Durable Object that received a request: [{ object, name }] (countObjectRequests only). */
    objectsReached: async () => (await (await fetch(new URL("/__test/objects", url))).json()).reached,
    /**
     * Makes the Worker's next `times` requests with `method` to objects of `binding` throw, as
     * the runtime's do, an Error carrying `flags` (countObjectRequests only); `faults()` tells
     * how many are still armed and how many were thrown.
     */
    failNext: async (binding, flags, { method = "POST", times = 1 } = {}) =>
      (
        await fetch(new URL("/__test/fail", url), {
          method: "POST",
          body: JSON.stringify({ binding, method, times, flags }),
        })
      ).json(),
    faults: async () => (await fetch(new URL("/__test/fail", url))).json(),
    /**
     * Sockets that sessions open from now on to objects of `binding` pass through links the
     * test can break (`breakLinks(binding)`: the object sees 1011, what it sent before reaches
     * the session, then the session sees 1011), both sides living on (countObjectRequests only).
     */
    linkSockets: async (binding) =>
      (await fetch(new URL("/__test/links", url), { method: "POST", body: JSON.stringify({ binding }) })).json(),
    breakLinks: async (binding) =>
      (
        await (
          await fetch(new URL("/__test/links/break", url), { method: "POST", body: JSON.stringify({ binding }) })
        ).json()
      ).broken,
  };
}

export function serverSdk(worker, app = worker.app, options = {}) {
  return new PusherServer({
    appId: app.id,
    key: app.key,
    secret: app.secret,
    host: "127.0.0.1",
    port: String(worker.port),
    useTLS: false,
    ...options,
  });
}

/**
 * pusher-js options whose channel authorizer and user authenticator call the real pusher SDK
 * in-process (what an app's auth endpoint does). `presence` gives the presence member data;
 * `user` the sign-in user data.
 */
export function sdkAuth(worker, { app = worker.app, presence, user, sdkOptions } = {}) {
  const sdk = serverSdk(worker, app, sdkOptions);
  return {
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        try {
          const isPresence = channelName.startsWith("presence-");
          callback(null, sdk.authorizeChannel(socketId, channelName, isPresence ? presence : undefined));
        } catch (e) {
          callback(e, null);
        }
      },
    },
    userAuthentication: {
      customHandler: ({ socketId }, callback) => callback(null, sdk.authenticateUser(socketId, user)),
    },
  };
}

/** Resolves with the first `event` the pusher-js `target` (channel, user, watchlist) emits. */
export function nextEvent(target, event, timeoutMs = 10_000) {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event}`)), timeoutMs);
    const handler = (data) => {
      clearTimeout(timer);
      target.unbind(event, handler);
      resolvePromise(data);
    };
    target.bind(event, handler);
  });
}

/** Waits until `predicate` (sync or async) holds, polling every 20 ms. */
export async function eventually(predicate, what, timeoutMs = 10_000) {
  const start = Date.now();
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A real pusher-js client, not yet connected. */
export function newPusherJs(worker, app = worker.app, options = {}) {
  return new PusherClient(app.key, {
    cluster: "mt1",
    wsHost: "127.0.0.1",
    wsPort: worker.port,
    forceTLS: false,
    enabledTransports: ["ws"],
    disableStats: true,
    ...options,
  });
}

/** A real pusher-js client; resolves once connected. */
export async function pusherJs(worker, app = worker.app, options = {}) {
  const client = newPusherJs(worker, app, options);
  await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error("pusher-js did not connect")), 10_000);
    client.connection.bind("connected", () => {
      clearTimeout(timer);
      resolvePromise();
    });
  });
  return client;
}

/** Subscribes with pusher-js and waits for pusher:subscription_succeeded. */
export function subscribed(client, name) {
  const channel = client.subscribe(name);
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`no subscription to ${name}`)), 10_000);
    channel.bind("pusher:subscription_succeeded", () => {
      clearTimeout(timer);
      resolvePromise(channel);
    });
    channel.bind("pusher:subscription_error", (e) => {
      clearTimeout(timer);
      reject(new Error(`subscription_error on ${name}: ${JSON.stringify(e)}`));
    });
  });
}

/**
 * A raw WebSocket that records every frame (parsed) and its close, for wire-level assertions.
 */
export async function rawSocket(worker, path, { headers } = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${worker.port}${path}`, { headers });
  const frames = [];
  const waiters = [];
  let closed = null;
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  ws.on("message", (data, isBinary) => {
    const text = data.toString();
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { unparsed: text, isBinary };
    }
    frames.push(parsed);
    notify();
  });
  ws.on("close", (code, reason) => {
    closed = { code, reason: reason.toString() };
    notify();
  });
  ws.on("error", () => {});
  await new Promise((resolvePromise, reject) => {
    ws.once("open", resolvePromise);
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode} instead of an upgrade`)));
  });

  const until = (predicate, what, timeoutMs = 10_000) =>
    new Promise((resolvePromise, reject) => {
      const check = () => {
        const value = predicate();
        if (value) {
          waiters.splice(waiters.indexOf(check), 1);
          clearTimeout(timer);
          resolvePromise(value);
        }
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(check), 1);
        reject(new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(frames)}`));
      }, timeoutMs);
      waiters.push(check);
      check();
    });

  let cursor = 0;
  return {
    ws,
    frames,
    send: (obj) => ws.send(typeof obj === "string" ? obj : JSON.stringify(obj)),
    /** The next frame not yet returned by next(). */
    next: async (what = "a frame") => {
      await until(() => frames.length > cursor, what);
      return frames[cursor++];
    },
    /** Waits for a frame matching `predicate` (from the start), returns it. */
    waitFor: (predicate, what) => until(() => frames.find(predicate), what),
    /** Waits for a frame matching `predicate` among those from index `from` on. */
    waitFrom: (from, predicate, what) => until(() => frames.slice(from).find(predicate), what),
    closed: (what = "close") => until(() => closed, what),
    isClosed: () => closed !== null,
    close: () => ws.close(),
  };
}

/** Connects raw, checks the handshake, returns the socket and its socket_id. */
export async function connectRaw(worker, app = worker.app) {
  if (typeof app === "string") throw new Error("connectRaw takes an app object");
  const sock = await rawSocket(worker, `/app/${app.key}?protocol=7&client=js&version=8.6.0&flash=false`);
  const first = await sock.next("connection_established");
  if (first.event !== "pusher:connection_established") {
    throw new Error(`unexpected first frame ${JSON.stringify(first)}`);
  }
  const data = JSON.parse(first.data);
  return { sock, socketId: data.socket_id, handshake: data };
}

export async function subscribeRaw(sock, channel, extra = {}) {
  const from = sock.frames.length;
  sock.send({ event: "pusher:subscribe", data: { channel, auth: "", ...extra } });
  return sock.waitFrom(
    from,
    (f) =>
      f.channel === channel &&
      (f.event === "pusher_internal:subscription_succeeded" || f.event === "pusher:subscription_error"),
    `subscription result for ${channel}`,
  );
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A request straight to one of the worker's Durable Objects, through Miniflare's namespace
 * binding (no public route reaches them): `binding` ("CHANNELS", "CONNECTIONS", ...), the
 * object's name, the path with its query, and `fetch` options.
 */
export async function objectFetch(worker, binding, name, path, init) {
  const namespace = await worker.mf.getDurableObjectNamespace(binding);
  return namespace.get(namespace.idFromName(name)).fetch(`https://object${path}`, init);
}

/**
 * The query string an SDK sends for `method path body` (auth_version 1.0: sorted parameters,
 * `body_md5`, HMAC-SHA256), an independent implementation of the signing, with knobs to break
 * each part. `encode` percent-encodes keys and values as they go on the wire (the signature is
 * over the plain ones).
 */
export function signedQuery({
  app,
  method,
  path,
  body = "",
  timestamp,
  params = {},
  secret = app.secret,
  signature,
  omit = [],
  encode = (v) => v,
}) {
  const query = {
    auth_key: app.key,
    auth_timestamp: String(timestamp ?? Math.floor(Date.now() / 1000)),
    auth_version: "1.0",
    ...(body.length ? { body_md5: createHash("md5").update(body).digest("hex") } : {}),
    ...params,
  };
  for (const k of omit) delete query[k];
  const keys = Object.keys(query).sort();
  const sorted = keys.map((k) => `${k}=${query[k]}`).join("&");
  const sig = signature ?? createHmac("sha256", secret).update(`${method}\n${path}\n${sorted}`).digest("hex");
  const qs = keys.map((k) => `${encode(k)}=${encode(query[k])}`).join("&");
  return omit.includes("auth_signature") ? qs : `${qs}&auth_signature=${sig}`;
}

/** Signs a REST request with `signedQuery` (same knobs) and sends it; a fetch Response. */
export async function signedFetch(worker, { method = "POST", path, body, app = worker.app, ...knobs }) {
  const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  const qs = signedQuery({ app, method, path, body: text, ...knobs });
  return fetch(`http://127.0.0.1:${worker.port}${path}?${qs}`, {
    method,
    headers: text ? { "Content-Type": "application/json" } : {},
    body: text || undefined,
  });
}
