// Abuse controls at the edge: an app's allowed origins (4009 "Origin not allowed" before any
// object), rate limits by tier (HTTP 429 for upgrades and REST calls, before any object), and
// the refusals counted in batches in stats and /metrics. The worker runs behind
// tests/support/counting_entry.mjs, which counts every request its Durable Objects receive.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import { startWorker, makeApp, serverSdk, pusherJs, rawSocket, eventually, sleep } from "./support/harness.mjs";

const TOKEN = "operators-token-for-the-abuse-tests";
const METRICS_TOKEN = "metrics-token-for-the-abuse-tests";
const guarded = makeApp({
  id: "5102",
  allowed_origins: ["https://app.example.com", "https://*.example.org", "http://localhost:3000"],
});
const strict = makeApp({ id: "5103", allowed_origins: ["https://app.example.com"], require_origin: true });
const standard = makeApp({ id: "5104" });
const high = makeApp({ id: "5105", rate_limit_tier: "high" });
const unlimited = makeApp({ id: "5106", rate_limit_tier: "unlimited" });
const counted = makeApp({ id: "5107" });
const apps = [guarded, strict, standard, high, unlimited, counted];
// Lowered so a test reaches them in a few calls; wrangler.toml's own are far higher.
const LIMITS = { CONNECTIONS_STANDARD: 4, CONNECTIONS_HIGH: 12, REST_STANDARD: 5, REST_HIGH: 15 };
let worker;

before(async () => {
  worker = await startWorker({
    apps,
    bindings: { PUSHER_APPS: JSON.stringify(apps), DASHBOARD_TOKEN: TOKEN, METRICS_TOKEN },
    rateLimits: Object.fromEntries(Object.entries(LIMITS).map(([name, limit]) => [name, { limit }])),
    countObjectRequests: true,
  });
});
after(() => worker?.stop());

let addresses = 0;
// When a refusal was last seen: its batch of counts reaches the ledger 5 s after the batch's
// first refusal, an object request a test counting them must let pass first.
let lastRefusal = 0;
/** A client address of its own (CF-Connecting-IP), so tests do not share rate-limit counters. */
const newAddress = () => `198.51.100.${++addresses}`;

const PATH = (app) => `/app/${app.key}?protocol=7&client=js&version=8.6.0&flash=false`;

/** A raw connection attempt: its socket and first frame, or the HTTP status that refused it. */
async function attempt(app, { origin, address = newAddress() } = {}, w = worker) {
  const headers = { "CF-Connecting-IP": address };
  if (origin !== undefined) headers.Origin = origin;
  try {
    const sock = await rawSocket(w, PATH(app), { headers });
    const first = await sock.next("the first frame");
    if (first.event === "pusher:error") lastRefusal = Date.now();
    return { sock, first };
  } catch (e) {
    const status = /HTTP (\d+)/.exec(e.message)?.[1];
    if (!status) throw e;
    lastRefusal = Date.now();
    return { status: Number(status) };
  }
}

async function assertAccepted(app, options) {
  const { sock, first, status } = await attempt(app, options);
  assert.equal(status, undefined, `refused with HTTP ${status}: ${JSON.stringify(options)}`);
  assert.equal(first.event, "pusher:connection_established", JSON.stringify(options));
  return sock;
}

async function assertOriginRefused(app, options) {
  const { sock, first } = await attempt(app, options);
  assert.deepEqual(first, { event: "pusher:error", data: { code: 4009, message: "Origin not allowed" } });
  assert.equal((await sock.closed()).code, 4009, JSON.stringify(options));
}

/**
 * The objects' request count once the last refusal's batch has gone and nothing has reached
 * them for 1.5 s (reports settled).
 */
async function quietCount(w = worker) {
  await sleep(Math.max(0, lastRefusal + 5_500 - Date.now()));
  let last = await w.objectRequests();
  for (;;) {
    await sleep(1500);
    const now = await w.objectRequests();
    if (now === last) return now;
    last = now;
  }
}

test("pages of other origins are refused with 4009 before any Durable Object is asked", async () => {
  const quiet = await quietCount();
  for (const origin of [
    "https://evil.example.com",
    "http://app.example.com", // the scheme is part of the origin
    "https://app.example.com:8443", // so is the port
    "https://example.org", // a wildcard covers subdomains, not the domain
    "https://example.org.evil.net",
    "null", // sandboxed frames and files
  ]) {
    await assertOriginRefused(guarded, { origin });
  }
  await assertOriginRefused(strict, {}); // no Origin where one is required
  assert.equal(await worker.objectRequests(), quiet, "a refused origin costs no object request");
});

test("listed origins, subdomains of a wildcard and server-side clients without Origin connect", async () => {
  const socks = [];
  for (const origin of [
    "https://app.example.com",
    "https://APP.example.com:443",
    "https://a.b.example.org",
    "http://localhost:3000",
    undefined, // pusher-js in Node, pysher and other server-side clients send no Origin
  ]) {
    socks.push(await assertAccepted(guarded, { origin }));
  }
  socks.push(await assertAccepted(strict, { origin: "https://app.example.com" }));
  const node = await pusherJs(worker, guarded);
  assert.equal(node.connection.state, "connected");
  node.disconnect();
  for (const sock of socks) sock.close();
});

test("connection attempts past the tier's limit get HTTP 429; other addresses are unaffected", async () => {
  const address = newAddress();
  let refused = 0;
  let accepted = 0;
  const socks = [];
  // Miniflare counts in fixed windows: a window may end mid-way, so allow two windows' worth.
  for (let i = 0; i < 2 * LIMITS.CONNECTIONS_STANDARD + 1 && !refused; i++) {
    const result = await attempt(standard, { address });
    if (result.status) {
      assert.equal(result.status, 429);
      refused++;
    } else {
      accepted++;
      socks.push(result.sock);
    }
  }
  assert.equal(refused, 1, `no 429 within ${accepted} attempts`);
  assert.ok(accepted >= LIMITS.CONNECTIONS_STANDARD, `only ${accepted} accepted before the 429`);
  (await assertAccepted(standard, { address: newAddress() })).close();
  for (const sock of socks) sock.close();
});

test("the high tier allows more attempts, and has its limit too; unlimited has none", async () => {
  const address = newAddress();
  const socks = [];
  let refused = false;
  for (let i = 0; i < 2 * LIMITS.CONNECTIONS_HIGH + 1 && !refused; i++) {
    const result = await attempt(high, { address });
    refused = result.status === 429;
    if (result.sock) socks.push(result.sock);
  }
  assert.ok(refused, `no 429 within ${socks.length} attempts`);
  // More than the standard tier lets through even across two of Miniflare's windows.
  assert.ok(socks.length > 2 * LIMITS.CONNECTIONS_STANDARD, `only ${socks.length} accepted`);
  for (let i = 0; i < 2 * LIMITS.CONNECTIONS_HIGH + 1; i++) {
    socks.push(await assertAccepted(unlimited, { address }));
  }
  for (const sock of socks) sock.close();
});

test("REST calls past the app's limit get 429 with Pusher's JSON error; other apps keep their own budget", async () => {
  const sdk = serverSdk(worker, standard);
  let refusal;
  for (let i = 0; i < 2 * LIMITS.REST_STANDARD + 1 && !refusal; i++) {
    await sdk.trigger("rest-limit", "e", { i }).catch((e) => {
      refusal = e;
      lastRefusal = Date.now();
    });
  }
  assert.ok(refusal, "no refusal");
  assert.equal(refusal.status, 429);
  assert.match(JSON.parse(refusal.body).error, /Too many REST calls/);
  // The app's own REST reads share its budget (refused too, unless Miniflare's window just
  // ended: then within two windows' worth).
  let statsRefused = false;
  for (let i = 0; i < 2 * LIMITS.REST_STANDARD + 1 && !statsRefused; i++) {
    statsRefused = (await sdk.get({ path: "/stats" }).catch((e) => e)).status === 429;
  }
  assert.ok(statsRefused, "/stats refused too");
  // An unlimited app has no limit.
  const free = serverSdk(worker, unlimited);
  for (let i = 0; i < 2 * LIMITS.REST_HIGH + 1; i++) await free.trigger("rest-limit", "e", { i });
});

test("calls with the app's public key but no valid signature do not spend its REST budget", async () => {
  for (let i = 0; i < 4 * LIMITS.REST_STANDARD; i++) {
    const forged = await fetch(
      new URL(
        `/apps/${counted.id}/events?auth_key=${counted.key}&auth_timestamp=${Math.floor(Date.now() / 1000)}&auth_version=1.0&auth_signature=${"0".repeat(64)}`,
        worker.url,
      ),
      {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: '{"name":"e","channels":["c"],"data":"{}"}',
      },
    );
    assert.equal(forged.status, 401);
  }
  const sdk = serverSdk(worker, counted);
  assert.equal((await sdk.trigger("c", "e", {})).status, 200, "the app's own server still publishes");
});

test("REST calls naming keys no app has count per address before any lookup: 429 past the limit, no object asked", async () => {
  const madeUpKey = () => randomBytes(10).toString("hex");
  const call = (address) =>
    fetch(
      new URL(
        `/apps/${standard.id}/events?auth_key=${madeUpKey()}&auth_timestamp=${Math.floor(Date.now() / 1000)}&auth_version=1.0&auth_signature=${"0".repeat(64)}`,
        worker.url,
      ),
      {
        method: "POST",
        headers: { "Content-Type": "application/json", "CF-Connecting-IP": address },
        body: '{"name":"e","channels":["c"],"data":"{}"}',
      },
    );
  // Miniflare counts in fixed 10 s windows: a burst a window's end splits is tried again.
  for (let round = 1; ; round++) {
    const quiet = await quietCount();
    const calls = 2 * LIMITS.REST_STANDARD;
    const statuses = (await Promise.all(Array.from({ length: calls }, () => call(`203.0.113.${round}`)))).map(
      (r) => r.status,
    );
    const asked = (await worker.objectRequests()) - quiet;
    lastRefusal = Date.now();
    const refused = statuses.filter((s) => s === 429).length;
    if (refused < LIMITS.REST_STANDARD && round < 3) continue;
    assert.equal(refused, LIMITS.REST_STANDARD, statuses.join(" "));
    assert.equal(statuses.filter((s) => s === 401).length, LIMITS.REST_STANDARD, "the others: unknown key");
    assert.ok(asked <= LIMITS.REST_STANDARD, `${asked} object requests for ${LIMITS.REST_STANDARD} lookups`);
    break;
  }
  // Another address has its own count.
  assert.equal((await call("203.0.113.200")).status, 401);
});

test("a refusal costs no Durable Object request; refusals reach the ledger in one batch (stats, /metrics)", async () => {
  // One call a minute: once it is used, every call is refused until the minute ends.
  const blocked = makeApp({ id: "5201" });
  const picky = makeApp({ id: "5202", allowed_origins: ["https://ok.example"], rate_limit_tier: "unlimited" });
  const zero = await startWorker({
    apps: [blocked, picky],
    bindings: { PUSHER_APPS: JSON.stringify([blocked, picky]), METRICS_TOKEN },
    rateLimits: { CONNECTIONS_STANDARD: { limit: 1, period: 60 }, REST_STANDARD: { limit: 1, period: 60 } },
    countObjectRequests: true,
  });
  try {
    const address = newAddress();
    const at = (app, origin) => attempt(app, { address, origin }, zero);
    // Miniflare's windows are whole minutes: start early in one, so all of this fits in it.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 30_000) await sleep(60_000 - intoMinute + 100);
    const sdk = serverSdk(zero, blocked);
    await sdk.trigger("c", "e", {}); // the minute's one REST call
    (await at(blocked)).sock.close(); // and its one connection from this address
    const welcome = await at(picky, "https://ok.example");
    assert.equal(welcome.first.event, "pusher:connection_established");
    welcome.sock.close();
    const quiet = await quietCount(zero);
    assert.ok(quiet > 0, "the counter counts");
    // All at once, well within the 5 s before the refusals' batch leaves.
    const started = Date.now();
    const [upgrades, calls, origins] = await Promise.all([
      Promise.all(Array.from({ length: 20 }, () => at(blocked))),
      Promise.all(Array.from({ length: 5 }, () => sdk.trigger("c", "e", {}).catch((e) => e))),
      Promise.all(Array.from({ length: 3 }, () => at(picky, "https://evil.example"))),
    ]);
    const afterRefusals = await zero.objectRequests();
    const elapsed = Date.now() - started;
    assert.deepEqual(
      upgrades.map((u) => u.status),
      Array(20).fill(429),
    );
    assert.deepEqual(
      calls.map((c) => c.status),
      Array(5).fill(429),
    );
    for (const { sock, first } of origins) {
      assert.equal(first.data.code, 4009);
      assert.equal((await sock.closed()).code, 4009);
    }
    if (elapsed < 4_500) {
      assert.equal(afterRefusals, quiet, "28 refusals, no object request");
    } else {
      // A machine this slow let the batch leave already: at most its two reports.
      assert.ok(afterRefusals <= quiet + 2, `28 refusals in ${elapsed} ms: ${afterRefusals - quiet} requests`);
    }
    // The batch leaves 5 s after the first refusal: one report per app, then nothing.
    await sleep(6_500);
    assert.equal(await zero.objectRequests(), quiet + 2, "one report to each app's ledger");
    const metrics = await fetch(new URL("/metrics", zero.url), {
      headers: { Authorization: `Bearer ${METRICS_TOKEN}` },
    }).then((r) => r.text());
    assert.match(metrics, /pusher_edge_connections_rate_limited_total\{app_id="5201"\} 20\n/);
    assert.match(metrics, /pusher_edge_rest_rate_limited_total\{app_id="5201"\} 5\n/);
    assert.match(metrics, /pusher_edge_origins_refused_total\{app_id="5202"\} 3\n/);
    const stats = await serverSdk(zero, picky)
      .get({ path: "/stats" })
      .then((r) => r.json());
    assert.equal(stats.total.origins_refused, 3);
  } finally {
    await zero.stop();
  }
});

/** One call to the operators' API: the status and the parsed answer. */
async function admin(method, path, body) {
  const res = await fetch(new URL(`/admin${path}`, worker.url), {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

test("origins and tiers are settings managed live: checked when set, followed by new connections", async () => {
  const bad = await admin("POST", "/apps", { allowed_origins: ["example.com"] });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /allowed_origins: "example\.com": an origin needs its scheme/);
  const badTier = await admin("POST", "/apps", { rate_limit_tier: "gold" });
  assert.equal(badTier.status, 400);
  assert.match(badTier.json.error, /rate_limit_tier: "gold" is not a tier/);

  const created = await admin("POST", "/apps", { allowed_origins: ["https://one.example"] });
  assert.equal(created.status, 201);
  const app = created.json.app;
  const kept = await assertAccepted(app, { origin: "https://one.example" });
  await assertOriginRefused(app, { origin: "https://two.example" });

  const changed = await admin("PATCH", `/apps/${app.id}`, {
    allowed_origins: ["https://two.example"],
    rate_limit_tier: "unlimited",
  });
  assert.equal(changed.status, 200);
  assert.deepEqual(changed.json.changes, [
    { setting: "allowed_origins", applies: "new_connections" },
    { setting: "rate_limit_tier", applies: "live" },
  ]);
  await eventually(async () => {
    const { first, sock } = await attempt(app, { origin: "https://two.example" });
    sock.close();
    return first.event === "pusher:connection_established";
  }, "the new origin accepted");
  await assertOriginRefused(app, { origin: "https://one.example" });
  // A connection made under the old list stays: the list is checked when a page connects.
  assert.equal(kept.isClosed(), false);
  kept.close();
  // Unlimited now: one address past the standard tier's limit.
  const address = newAddress();
  for (let i = 0; i < 2 * LIMITS.CONNECTIONS_STANDARD + 1; i++) {
    (await assertAccepted(app, { origin: "https://two.example", address })).close();
  }
});

test("a refused upgrade is an HTTP answer pusher-js understands, not a socket error", async () => {
  // The binding counts in fixed windows: if one ends between using up the address's attempts and
  // the upgrade below, the upgrade opens a new window and is accepted. Try again then (a window
  // is 10 s, so the second try is inside one).
  for (let tries = 1; ; tries++) {
    const address = newAddress();
    // Until the address's attempts are used up.
    for (;;) {
      const { sock } = await attempt(standard, { address });
      if (!sock) break;
      sock.close();
    }
    const ws = new WebSocket(`ws://127.0.0.1:${worker.port}${PATH(standard)}`, {
      headers: { "CF-Connecting-IP": address },
    });
    const answer = await new Promise((resolve) => {
      ws.once("open", () => {
        ws.close();
        resolve(null);
      });
      ws.once("unexpected-response", (_req, res) => {
        let text = "";
        res.on("data", (c) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode, body: text }));
      });
    });
    if (!answer && tries < 3) continue;
    assert.ok(answer, "the upgrade after the address's attempts was refused");
    assert.equal(answer.status, 429);
    assert.match(JSON.parse(answer.body).error, /Too many connection attempts/);
    return;
  }
});
