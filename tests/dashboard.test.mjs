// The operators' dashboard and its debug console, through HTTP and WebSocket as a browser
// uses them: off without a token, the login and its cookie, refusals without it or from
// another origin, no secret in any answer, the REST-backed channel inspector and test
// publish, and the console's live feed of connections, subscriptions, publishes, client
// events and webhooks, bounded, with rooms that forget the console once it closes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import WebSocket from "ws";
import {
  startWorker,
  makeApp,
  serverSdk,
  sdkAuth,
  pusherJs,
  subscribed,
  nextEvent,
  eventually,
  sleep,
  objectFetch,
  connectRaw,
  subscribeRaw,
} from "./support/harness.mjs";
import { receiver } from "./support/webhook_receiver.mjs";

const DASHBOARD_TOKEN = "dashboard-token-for-the-tests";
const METRICS_TOKEN = "metrics-token-for-the-dashboard";
let hooks;
/** The bodies `watched`'s receiver got. */
const hookBodies = [];
/** A receiver that answers 500 to everything, for `tested`'s first webhook. */
let failing;
let watched, other, tested, worker, metricsOnly, off;

before(async () => {
  hooks = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      hookBodies.push(body);
      res.writeHead(200);
      res.end("ok");
    });
  });
  await new Promise((resolve) => hooks.listen(0, "127.0.0.1", resolve));
  failing = await receiver();
  failing.failing = true;
  watched = makeApp({
    enable_client_messages: true,
    webhooks: [{ url: `http://127.0.0.1:${hooks.address().port}/hooks?token=hook-url-token` }],
  });
  other = makeApp();
  // Webhooks only for the test button: a receiver that answers 500, and one nobody listens on.
  tested = makeApp({ webhooks: [{ url: failing.url() }, { url: "http://127.0.0.1:1/nobody-listens" }] });
  const apps = [watched, other, tested];
  worker = await startWorker({ apps, bindings: { PUSHER_APPS: JSON.stringify(apps), DASHBOARD_TOKEN } });
  metricsOnly = await startWorker({ apps, bindings: { PUSHER_APPS: JSON.stringify(apps), METRICS_TOKEN } });
  off = await startWorker({ apps });
});
after(async () => {
  await Promise.all([worker?.stop(), metricsOnly?.stop(), off?.stop(), failing?.stop()]);
  await new Promise((resolve) => hooks?.close(resolve));
});

const base = (w = worker) => `http://127.0.0.1:${w.port}`;

async function login(w = worker, token = DASHBOARD_TOKEN, headers = {}) {
  return fetch(`${base(w)}/dashboard/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams({ token }).toString(),
  });
}

/** A fresh login's Cookie header. */
async function freshSession(w = worker, token = DASHBOARD_TOKEN) {
  const res = await login(w, token);
  assert.equal(res.status, 303);
  return res.headers.get("set-cookie").split(";")[0];
}

// Logins are rate-limited (10 a minute per address): the tests share one session.
let shared;
/** A logged-in session's Cookie header (one login for the whole file). */
async function session() {
  shared ??= await freshSession();
  return shared;
}

async function dashboardGet(path, cookie, w = worker) {
  return fetch(`${base(w)}${path}`, { headers: cookie ? { Cookie: cookie } : {} });
}

/** Opens the debug console of `app`; resolves once the ledger holds it, with its lines. */
async function openConsole(cookie, app = watched) {
  const ws = new WebSocket(`ws://127.0.0.1:${worker.port}/dashboard/api/apps/${app.id}/console`, {
    headers: { Cookie: cookie, Origin: base() },
  });
  const lines = [];
  ws.on("message", (data) => lines.push(...JSON.parse(data.toString())));
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`console refused: ${res.statusCode}`)));
    ws.once("error", reject);
  });
  await eventually(() => lines.some((l) => l.kind === "console_opened"), "the console's greeting");
  const close = () =>
    new Promise((r) => {
      ws.once("close", r);
      ws.close();
    });
  return { ws, lines, close };
}

/** Waits for a console line matching `fields`; returns it. */
async function line(lines, fields, what = JSON.stringify(fields)) {
  const matches = (l) => Object.entries(fields).every(([k, v]) => l[k] === v);
  await eventually(() => lines.some(matches), `console line ${what} (have ${JSON.stringify(lines)})`, 15_000);
  return lines.find(matches);
}

test("the dashboard is off (404) unless DASHBOARD_TOKEN is set; METRICS_TOKEN does not open it", async () => {
  for (const w of [off, metricsOnly]) {
    for (const path of ["/dashboard", "/dashboard/app.js", "/dashboard/api/apps"]) {
      const res = await dashboardGet(path, null, w);
      assert.equal(res.status, 404, path);
      assert.match((await res.json()).error, /DASHBOARD_TOKEN/);
    }
    assert.equal((await login(w, METRICS_TOKEN)).status, 404);
  }
  // METRICS_TOKEN still reads /metrics there.
  const metrics = await fetch(`${base(metricsOnly)}/metrics`, {
    headers: { Authorization: `Bearer ${METRICS_TOKEN}` },
  });
  assert.equal(metrics.status, 200);
});

test("logout revokes: the same cookie stops working, and the consoles it opened close", async () => {
  const cookie = await freshSession();
  const feed = await openConsole(cookie);
  const closed = new Promise((resolve) =>
    feed.ws.once("close", (code, reason) => resolve({ code, reason: `${reason}` })),
  );
  assert.equal((await dashboardGet("/dashboard/api/apps", cookie)).status, 200);
  const out = await fetch(`${base()}/dashboard/logout`, {
    method: "POST",
    redirect: "manual",
    headers: { Cookie: cookie },
  });
  assert.equal(out.status, 303);
  assert.match(out.headers.get("set-cookie"), /Max-Age=0/);
  // The browser forgets the cookie; one that kept it (copied, stolen) is refused all the same.
  assert.equal((await dashboardGet("/dashboard/api/apps", cookie)).status, 401);
  assert.doesNotMatch(await (await dashboardGet("/dashboard", cookie)).text(), /app-select/, "the login form again");
  assert.deepEqual(await closed, { code: 1000, reason: "logged out" });
  // Other sessions are not logged out.
  assert.equal((await dashboardGet("/dashboard/api/apps", await session())).status, 200);
});

test("login attempts are limited per address: past 10 a minute even the right token is refused (429)", async () => {
  const apps = [makeApp()];
  const limited = await startWorker({ apps, bindings: { PUSHER_APPS: JSON.stringify(apps), DASHBOARD_TOKEN } });
  try {
    const statuses = [];
    for (let i = 0; i < 10; i++) statuses.push((await login(limited, `wrong-token-${i}-long-enough`)).status);
    assert.deepEqual(statuses, Array(10).fill(401));
    const refused = await login(limited, DASHBOARD_TOKEN);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("set-cookie"), null);
    assert.match((await refused.json()).error, /Too many login attempts/);
  } finally {
    await limited.stop();
  }
});

test("login: a form, a wrong token refused, the right one gives an HttpOnly SameSite cookie that is not the token", async () => {
  const page = await dashboardGet("/dashboard");
  assert.equal(page.status, 200);
  const form = await page.text();
  assert.match(form, /<form method="post" action="\/dashboard\/login">/);
  assert.match(form, /name="token" type="password"/);
  assert.doesNotMatch(form, /app-select/, "no dashboard before the login");
  assert.equal(page.headers.get("cache-control"), "no-store");
  assert.match(page.headers.get("content-security-policy"), /frame-ancestors 'none'/);

  const wrong = await login(worker, "not-the-dashboard-token");
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get("set-cookie"), null);
  assert.match(await wrong.text(), /<p id="refused">/);

  const crossSite = await login(worker, DASHBOARD_TOKEN, { Origin: "https://evil.example" });
  assert.equal(crossSite.status, 403);
  assert.equal(crossSite.headers.get("set-cookie"), null);

  const right = await login();
  assert.equal(right.status, 303);
  assert.equal(right.headers.get("location"), "/dashboard");
  const cookie = right.headers.get("set-cookie");
  for (const part of ["HttpOnly", "SameSite=Strict", "Path=/dashboard", "Max-Age=43200"]) {
    assert.ok(cookie.includes(part), `${part} in ${cookie}`);
  }
  assert.ok(!cookie.includes(DASHBOARD_TOKEN), "the cookie is not the token");
  const value = cookie.split(";")[0];
  const logged = await (await dashboardGet("/dashboard", value)).text();
  assert.match(logged, /id="app-select"/);

  // An unbounded or oversized login body is refused before it is read.
  const big = await fetch(`${base()}/dashboard/login`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: `token=${"x".repeat(5000)}`,
  });
  assert.equal(big.status, 413);

  const out = await fetch(`${base()}/dashboard/logout`, {
    method: "POST",
    redirect: "manual",
    headers: { Cookie: value },
  });
  assert.equal(out.status, 303);
  assert.match(out.headers.get("set-cookie"), /Max-Age=0/);
});

test("the API refuses without a live session, with a forged one, and from another origin", async () => {
  for (const cookie of [null, "pusher_edge_dashboard=99999999999.deadbeef", "pusher_edge_dashboard=junk"]) {
    for (const path of ["/dashboard/api/apps", `/dashboard/api/apps/${watched.id}/stats`]) {
      const res = await dashboardGet(path, cookie);
      assert.equal(res.status, 401, `${path} with ${cookie}`);
      assert.match((await res.json()).error, /Log in/);
    }
  }
  const cookie = await session();
  const publish = await fetch(`${base()}/dashboard/api/apps/${watched.id}/events`, {
    method: "POST",
    headers: { Cookie: cookie, Origin: "https://evil.example", "Content-Type": "application/json" },
    body: JSON.stringify({ name: "e", channel: "a", data: "x" }),
  });
  assert.equal(publish.status, 403);
  await publish.text();
  // App management and the webhook test with the operator's cookie from another site:
  // refused for every write (and the receiver never hears of it).
  const tests = () => hookBodies.filter((b) => b.includes("webhook_test")).length;
  const testsBefore = tests();
  for (const [method, path] of [
    ["POST", "/dashboard/api/admin/apps"],
    ["PATCH", `/dashboard/api/admin/apps/${watched.id}`],
    ["DELETE", `/dashboard/api/admin/apps/${watched.id}`],
    ["POST", `/dashboard/api/admin/apps/${watched.id}/rotate`],
    ["POST", `/dashboard/api/apps/${watched.id}/webhooks/0/test`],
  ]) {
    const forged = await fetch(`${base()}${path}`, {
      method,
      headers: { Cookie: cookie, Origin: "https://evil.example", "Content-Type": "application/json" },
      body: "{}",
    });
    assert.equal(forged.status, 403, `${method} ${path}`);
    assert.deepEqual(await forged.json(), { error: "Cross-origin dashboard requests are refused" });
  }
  await sleep(200);
  assert.equal(tests(), testsBefore, "no test request from a cross-site page");
  const ws = new WebSocket(`ws://127.0.0.1:${worker.port}/dashboard/api/apps/${watched.id}/console`, {
    headers: { Cookie: cookie, Origin: "https://evil.example" },
  });
  const status = await new Promise((resolve) => {
    ws.once("unexpected-response", (_req, res) => resolve(res.statusCode));
    ws.once("open", () => resolve(101));
  });
  assert.equal(status, 403, "a cross-site page cannot open the console with the operator's cookie");
  for (const path of [
    "/dashboard/api/apps/no-such-app/stats",
    `/dashboard/api/other/${watched.id}/stats`,
    `/dashboard/api/apps/${watched.id}/nope`,
  ]) {
    assert.equal((await dashboardGet(path, cookie)).status, 404, path);
  }
});

test("no answer carries a secret: apps list settings and keys, webhook URLs by host only", async () => {
  const cookie = await session();
  const client = await pusherJs(
    worker,
    watched,
    sdkAuth(worker, { app: watched, presence: { user_id: "u1", user_info: { name: "Ann" } } }),
  );
  await subscribed(client, "presence-room");
  await subscribed(client, "cache-news");
  await serverSdk(worker, watched).trigger("cache-news", "headline", { text: "cached" });
  const paths = [
    "/dashboard",
    "/dashboard/app.js",
    "/dashboard/api/apps",
    `/dashboard/api/apps/${watched.id}/stats`,
    `/dashboard/api/apps/${watched.id}/channels`,
    `/dashboard/api/apps/${watched.id}/channels/presence-room?info=user_count`,
    `/dashboard/api/apps/${watched.id}/channels/presence-room/users`,
    `/dashboard/api/apps/${watched.id}/channels/cache-news?info=subscription_count,cache`,
  ];
  let everything = "";
  for (const path of paths) {
    const res = await dashboardGet(path, cookie);
    assert.equal(res.status, 200, path);
    // Pages and API answers alike: never cached, never sniffed.
    assert.equal(res.headers.get("cache-control"), "no-store", path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
    everything += JSON.stringify([...res.headers]) + (await res.text());
  }
  for (const path of ["/dashboard/api/apps/no-such-app/stats", "/dashboard/api/admin/apps/no-such-app"]) {
    const refused = await dashboardGet(path, cookie);
    assert.equal(refused.status, 404, path);
    assert.equal(refused.headers.get("cache-control"), "no-store", path);
    assert.equal(refused.headers.get("x-content-type-options"), "nosniff", path);
  }
  const publish = await fetch(`${base()}/dashboard/api/apps/${watched.id}/events`, {
    method: "POST",
    headers: { Cookie: cookie, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "e", channel: "cache-news", data: "x" }),
  });
  everything += await publish.text();
  for (const secret of [watched.secret, other.secret, DASHBOARD_TOKEN, "hook-url-token"]) {
    assert.ok(!everything.includes(secret), `a secret leaked: ${secret.slice(0, 6)}…`);
  }
  const { apps } = await (await dashboardGet("/dashboard/api/apps", cookie)).json();
  const shown = apps.find((a) => a.id === watched.id);
  assert.equal(shown.key, watched.key);
  assert.equal(shown.enable_client_messages, true);
  assert.deepEqual(shown.webhooks, [{ host: `127.0.0.1:${hooks.address().port}`, event_types: [] }]);
  assert.equal(typeof shown.limits.max_event_payload_bytes, "number");
  assert.ok(!("secret" in shown));
  client.disconnect();
});

/** A POST to the dashboard with the operator's cookie (if given), from the dashboard's own page. */
function dashboardPost(path, { cookie, body, origin = base() } = {}) {
  return fetch(`${base()}${path}`, {
    method: "POST",
    headers: {
      ...(cookie ? { Cookie: cookie } : {}),
      Origin: origin,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

test("POST answers, refusals included, are never cached nor sniffed either", async () => {
  const cookie = await session();
  const api = `/dashboard/api/apps/${watched.id}`;
  const cases = [
    // A publish the dashboard signs and hands to the REST API, and the API's refusal of one.
    [`${api}/events`, { cookie, body: { name: "e", channel: "headers-checked", data: "x" } }, 200],
    [`${api}/events`, { cookie, body: { name: "e", channel: "bad channel!", data: "x" } }, 400],
    // The dashboard's own answers.
    [`${api}/webhooks/0/test`, { cookie }, 200],
    [`${api}/webhooks/7/test`, { cookie }, 404],
    ["/dashboard/api/apps", { cookie }, 405],
    [`${api}/events`, { body: { name: "e", channel: "a", data: "x" } }, 401],
    [`${api}/events`, { cookie, origin: "https://evil.example", body: {} }, 403],
  ];
  for (const [path, options, status] of cases) {
    const res = await dashboardPost(path, options);
    const what = `POST ${path} (${status})`;
    assert.equal(res.status, status, `${what}: ${await res.clone().text()}`);
    assert.equal(res.headers.get("cache-control"), "no-store", what);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", what);
    await res.text();
  }
});

test("the webhook test: 404 for a webhook that does not exist; a receiver's 500, or no answer, is not taken", async () => {
  const cookie = await session();
  const sendTest = (app, index) => dashboardPost(`/dashboard/api/apps/${app.id}/webhooks/${index}/test`, { cookie });
  const tests = () => hookBodies.filter((b) => b.includes("webhook_test")).length;
  const testsBefore = tests();
  // `watched` has one webhook (index 0): past it, negative, not a number, empty, past usize.
  for (const index of ["1", "9", "-1", "abc", "0x0", "1.0", "", "18446744073709551616", "+0", "00"]) {
    const res = await sendTest(watched, index);
    assert.equal(res.status, 404, `index ${JSON.stringify(index)}`);
    assert.match(res.headers.get("content-type"), /application\/json/);
    assert.deepEqual(await res.json(), { error: "No such webhook" }, `index ${JSON.stringify(index)}`);
  }
  const noApp = await sendTest({ id: "no-such-app" }, "0");
  assert.equal(noApp.status, 404);
  assert.deepEqual(await noApp.json(), { error: "No such app" });
  // The one that exists is sent, taken (the receiver answered 200).
  const sent = await sendTest(watched, "0");
  assert.equal(sent.status, 200);
  const taken = await sent.json();
  assert.equal(taken.delivered, true, JSON.stringify(taken));
  assert.equal(taken.status, 200);
  await eventually(() => tests() === testsBefore + 1, "one test request at the receiver");

  // A receiver that answers 500: the answer the page shows as "did not take it" (its
  // `delivered` is false), with the receiver's status; the request itself was signed.
  const refused = await sendTest(tested, "0");
  assert.equal(refused.status, 200);
  const answer = await refused.json();
  assert.deepEqual(Object.keys(answer).sort(), ["delivered", "host", "id", "latency_ms", "status"]);
  assert.equal(answer.delivered, false);
  assert.equal(answer.status, 500);
  assert.equal(answer.host, `127.0.0.1:${failing.port}`);
  assert.match(answer.id, /^test:\d+-\d{6}$/);
  assert.equal(typeof answer.latency_ms, "number");
  assert.equal(failing.requests.length, 1);
  const [request] = failing.requests;
  assert.deepEqual(
    JSON.parse(request.body).events.map((e) => e.name),
    ["webhook_test"],
  );
  assert.ok(serverSdk(worker, tested).webhook({ headers: request.headers, rawBody: request.body }).isValid());
  // Nobody listening: no status at all (0, which the page shows as "no answer").
  const unanswered = await (await sendTest(tested, "1")).json();
  assert.equal(unanswered.delivered, false);
  assert.equal(unanswered.status, 0);
  assert.equal(unanswered.host, "127.0.0.1:1");
  // The delivery log keeps both, marked as tests.
  const logged = async () =>
    (await (await dashboardGet(`/dashboard/api/apps/${tested.id}/webhook-log`, cookie)).json()).attempts;
  await eventually(async () => (await logged()).length >= 2, "two test lines in the log");
  const lines = (await logged()).map(({ host, events, status, test }) => ({ host, events, status, test }));
  assert.deepEqual(
    lines.sort((a, b) => a.status - b.status),
    [
      { host: "127.0.0.1:1", events: ["webhook_test"], status: 0, test: true },
      { host: `127.0.0.1:${failing.port}`, events: ["webhook_test"], status: 500, test: true },
    ],
  );
});

test("the channel inspector reads the REST API, and the test publish reaches pusher-js subscribers", async () => {
  const cookie = await session();
  const client = await pusherJs(
    worker,
    watched,
    sdkAuth(worker, { app: watched, presence: { user_id: "inspected-user" } }),
  );
  const presence = await subscribed(client, "presence-inspected");
  await subscribed(client, "cache-inspected");
  const sdk = serverSdk(worker, watched);
  await sdk.trigger("cache-inspected", "state", { v: 1 });
  const get = async (path) => (await dashboardGet(`/dashboard/api/apps/${watched.id}${path}`, cookie)).json();
  const { channels } = await get("/channels");
  assert.ok("presence-inspected" in channels && "cache-inspected" in channels, JSON.stringify(channels));
  const info = await get("/channels/presence-inspected?info=user_count");
  assert.deepEqual(info, { occupied: true, user_count: 1 });
  assert.deepEqual(await get("/channels/presence-inspected/users"), { users: [{ id: "inspected-user" }] });
  const cached = await get("/channels/cache-inspected?info=cache");
  assert.equal(cached.cache.data, JSON.stringify({ v: 1 }));
  // The list the page refreshes on its timer: the ledger's index, first 100 by name, with the
  // presence user counts, uncounted as REST calls.
  const listed = (await get("/channel-list")).channels;
  assert.deepEqual(listed["presence-inspected"], { user_count: 1 });
  assert.ok("cache-inspected" in listed);
  assert.deepEqual(Object.keys(listed), Object.keys(listed).sort(), "by name");

  const received = nextEvent(presence, "from-dashboard");
  const res = await fetch(`${base()}/dashboard/api/apps/${watched.id}/events`, {
    method: "POST",
    headers: { Cookie: cookie, "Content-Type": "application/json", Origin: base() },
    body: JSON.stringify({ name: "from-dashboard", channel: "presence-inspected", data: JSON.stringify({ ok: true }) }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual(await received, { ok: true });
  // The REST API's own checks answer for the dashboard too.
  const invalid = await fetch(`${base()}/dashboard/api/apps/${watched.id}/events`, {
    method: "POST",
    headers: { Cookie: cookie, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "e", channel: "bad channel name!", data: "x" }),
  });
  assert.equal(invalid.status, 400);
  const tooBig = await fetch(`${base()}/dashboard/api/apps/${watched.id}/events`, {
    method: "POST",
    headers: { Cookie: cookie, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "e", channel: "a", data: "x".repeat(70_000) }),
  });
  assert.equal(tooBig.status, 413);
  // A body of no declared length is refused before it is read (a stream could never end).
  const chunked = await new Promise((resolve, reject) => {
    const req = http.request(`${base()}/dashboard/api/apps/${watched.id}/events`, {
      method: "POST",
      headers: { Cookie: cookie, "Content-Type": "application/json", "Transfer-Encoding": "chunked" },
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on("error", reject);
    req.write('{"name":"e",');
    req.end('"channel":"a","data":"x"}');
  });
  assert.equal(chunked, 411);
  // The console is a WebSocket: a plain GET of it is told so.
  const plain = await dashboardGet(`/dashboard/api/apps/${watched.id}/console`, cookie);
  assert.equal(plain.status, 426);
  assert.match((await plain.json()).error, /Upgrade: websocket/);
  client.disconnect();
});

test("the console shows connections, subscriptions, publishes, client events and webhooks as they happen", async () => {
  const cookie = await session();
  const feed = await openConsole(cookie);
  const presenceData = { user_id: "watched-user", user_info: { name: "Zed", note: "never in the console" } };
  const client = await pusherJs(worker, watched, sdkAuth(worker, { app: watched, presence: presenceData }));
  const socketId = client.connection.socket_id;
  await line(feed.lines, { kind: "connected", socket_id: socketId });

  const channel = await subscribed(client, "presence-watched");
  const subscribedLine = await line(feed.lines, { kind: "subscribed", channel: "presence-watched" });
  assert.equal(subscribedLine.socket_id, socketId);
  assert.equal(subscribedLine.user_id, "watched-user");

  const peerClient = await pusherJs(worker, watched, sdkAuth(worker, { app: watched, presence: { user_id: "peer" } }));
  const peer = await subscribed(peerClient, "presence-watched");
  const sdk = serverSdk(worker, watched);
  const big = "y".repeat(1000);
  await sdk.trigger("presence-watched", "news", { big }, { socket_id: peerClient.connection.socket_id });
  const api = await line(feed.lines, { kind: "api_message", event: "news" });
  assert.equal(api.channel, "presence-watched");
  assert.equal(api.excluded_socket_id, peerClient.connection.socket_id);
  assert.equal(api.size, JSON.stringify({ big }).length);
  assert.equal(api.truncated, true);
  assert.equal(api.data.length, 200, "event data is shown cut");

  const heard = nextEvent(peer, "client-typing");
  channel.trigger("client-typing", { on: true });
  await heard;
  const clientEvent = await line(feed.lines, { kind: "client_event", event: "client-typing" });
  assert.equal(clientEvent.socket_id, socketId);
  assert.equal(clientEvent.user_id, "watched-user");
  assert.equal(clientEvent.data, JSON.stringify({ on: true }));

  const webhook = await line(feed.lines, { kind: "webhook_sent" });
  assert.equal(webhook.host, `127.0.0.1:${hooks.address().port}`);
  assert.ok(
    webhook.events.includes("channel_occupied") || webhook.events.includes("member_added"),
    JSON.stringify(webhook),
  );

  const peerSocket = peerClient.connection.socket_id;
  peerClient.disconnect();
  await line(feed.lines, { kind: "unsubscribed", socket_id: peerSocket });
  await line(feed.lines, { kind: "disconnected", socket_id: peerSocket });
  const text = JSON.stringify(feed.lines);
  assert.ok(!text.includes("never in the console"), "user_info is not shown");
  assert.ok(!text.includes("hook-url-token") && !text.includes(watched.secret));
  // A publish to a channel nobody occupies (its room is new, and was not told of the console)
  // shows too: the room holds its line until the ledger's first answer says a console watches.
  await sdk.trigger("nobody-subscribes-here", "into-the-void", { n: 1 });
  await line(feed.lines, { kind: "api_message", channel: "nobody-subscribes-here" });
  // Another app's console hears nothing of this app.
  const otherConsole = await openConsole(cookie, other);
  await sdk.trigger("presence-watched", "only-watched", {});
  await line(feed.lines, { kind: "api_message", event: "only-watched" });
  assert.ok(!otherConsole.lines.some((l) => l.kind === "api_message"), JSON.stringify(otherConsole.lines));
  await otherConsole.close();
  client.disconnect();
  await feed.close();
});

test("an app has at most 8 consoles open; a closed one frees its place", async () => {
  const cookie = await session();
  const open = [];
  for (let i = 0; i < 8; i++) open.push(await openConsole(cookie, other));
  await assert.rejects(openConsole(cookie, other), /console refused: 429/);
  await open.pop().close();
  let again;
  for (let tries = 0; !again && tries < 50; tries++) {
    again = await openConsole(cookie, other).catch(() => sleep(100));
  }
  assert.ok(again, "a place freed by a closed console is taken again");
  for (const c of [...open, again]) await c.close();
});

test("past the first 100 occupied channels, a room shows a second subscriber from the console's opening", async () => {
  // 120 occupied channels; the ones past the first 100 by name were told no console watched
  // when they reported their occupancy, and a second subscriber sends no report of its own.
  const names = Array.from({ length: 120 }, (_, i) => `many-${String(i).padStart(3, "0")}`);
  const holders = [await connectRaw(worker, other), await connectRaw(worker, other)];
  try {
    for (const [i, name] of names.entries()) await subscribeRaw(holders[i % 2].sock, name);
    const occupied = async () =>
      (await (await dashboardGet(`/dashboard/api/apps/${other.id}/stats`, await session())).json()).occupied_channels;
    for (let tries = 0; (await occupied()) < 120 && tries < 100; tries++) await sleep(100);
    assert.ok((await occupied()) >= 120, "the 120 channels in the index");
    const feed = await openConsole(await session(), other);
    const late = await connectRaw(worker, other);
    holders.push(late);
    await subscribeRaw(late.sock, "many-110");
    const shown = await line(feed.lines, { kind: "subscribed", channel: "many-110", socket_id: late.socketId });
    assert.equal(shown.channel, "many-110");
    await feed.close();
  } finally {
    for (const h of holders) h.sock.close();
  }
});

test("past the first 1,000 occupied channels, the page's call tells the rest: a second subscriber there shows", async () => {
  // "aaa-" sorts first: 1,010 channels, of which the last 10 by name are past the first page
  // the console's opening tells (1,000 rooms); the page then asks for the next page.
  const names = Array.from({ length: 1010 }, (_, i) => `aaa-${String(i).padStart(4, "0")}`);
  const holders = await Promise.all(Array.from({ length: 11 }, () => connectRaw(worker, other)));
  try {
    await Promise.all(
      holders.map(async ({ sock }, h) => {
        for (const name of names.filter((_, i) => i % 11 === h)) await subscribeRaw(sock, name);
      }),
    );
    const occupied = async () =>
      (await (await dashboardGet(`/dashboard/api/apps/${other.id}/stats`, await session())).json()).occupied_channels;
    for (let tries = 0; (await occupied()) < 1010 && tries < 100; tries++) await sleep(100);
    const cookie = await session();
    const feed = await openConsole(cookie, other);
    const next = await fetch(`${base()}/dashboard/api/apps/${other.id}/console-rooms?from=1000`, {
      method: "POST",
      headers: { Cookie: cookie, Origin: base() },
    });
    assert.equal(next.status, 200);
    assert.deepEqual(await next.json(), { next: null }, "one page past the first");
    const late = await connectRaw(worker, other);
    holders.push(late);
    await subscribeRaw(late.sock, "aaa-1005");
    await line(feed.lines, { kind: "subscribed", channel: "aaa-1005", socket_id: late.socketId });
    await feed.close();
  } finally {
    for (const h of holders) h.sock.close();
  }
});

test("20 presence members joining in the seconds after the console opens each show", async () => {
  const feed = await openConsole(await session(), other);
  const members = [];
  try {
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const member = await pusherJs(
          worker,
          other,
          sdkAuth(worker, { app: other, presence: { user_id: `crowd-${i}` } }),
        );
        members.push(member);
        await subscribed(member, "presence-crowd");
      }),
    );
    const joined = () =>
      new Set(
        feed.lines.filter((l) => l.kind === "subscribed" && l.channel === "presence-crowd").map((l) => l.user_id),
      );
    await eventually(() => joined().size === 20, `20 subscribed lines (have ${joined().size})`, 15_000);
  } finally {
    for (const member of members) member.disconnect();
    await feed.close();
  }
});

test("a flood is cut and the console says how much it dropped", async () => {
  const cookie = await session();
  const feed = await openConsole(cookie);
  const client = await pusherJs(worker, watched);
  await subscribed(client, "flooded");
  await line(feed.lines, { kind: "subscribed", channel: "flooded" });
  const sdk = serverSdk(worker, watched);
  // 600 publishes within a few of the room's one-second reports: more than they carry.
  const batches = [];
  for (let b = 0; b < 60; b++) {
    batches.push(
      sdk.triggerBatch(
        Array.from({ length: 10 }, (_, i) => ({ channel: "flooded", name: `e${b * 10 + i}`, data: "x" })),
      ),
    );
  }
  await Promise.all(batches);
  const dropped = await line(feed.lines, { kind: "dropped" });
  assert.ok(dropped.count > 0, JSON.stringify(dropped));
  const shown = feed.lines.filter((l) => l.kind === "api_message" && l.channel === "flooded").length;
  assert.ok(shown < 600, `${shown} shown`);
  // Nothing is lost silently: every publish is shown or counted as dropped (the last
  // reports may still be on their way).
  const accounted = () =>
    feed.lines.filter((l) => l.kind === "api_message" && l.channel === "flooded").length +
    feed.lines.filter((l) => l.kind === "dropped").reduce((n, l) => n + l.count, 0);
  await eventually(() => accounted() >= 600, `every publish shown or counted (${accounted()})`);
  assert.equal(accounted(), 600);
  client.disconnect();
  await feed.close();
});

test("rooms forget the console once it closes (and keep no trace of it in storage)", async () => {
  // `other` has no webhooks, so its rooms hold no storage of their own while subscribed.
  const census = async (channel) =>
    (await objectFetch(worker, "CHANNELS", `${other.id}:${channel}`, "/storage")).json();
  const cookie = await session();
  const client = await pusherJs(worker, other);
  await subscribed(client, "watched-then-not");
  assert.equal((await census("watched-then-not")).keys, 0);
  const feed = await openConsole(cookie, other);
  // The room was told at the console's opening: its first publish is already shown.
  await serverSdk(worker, other).trigger("watched-then-not", "first", {});
  await line(feed.lines, { kind: "api_message", event: "first" });
  assert.equal((await census("watched-then-not")).keys, 1, "the lease, so a woken room still knows");
  await feed.close();
  // The next report's answer says nobody watches: the room deletes its lease.
  await serverSdk(worker, other).trigger("watched-then-not", "second", {});
  const deadline = Date.now() + 10_000;
  while ((await census("watched-then-not")).keys !== 0) {
    assert.ok(Date.now() < deadline, "the room still holds a console lease");
    await sleep(200);
  }
  client.disconnect();
});
