// The operators' API (/admin): apps kept by the service's registry, created, read, changed,
// rotated and deleted without a redeploy; and what each change does to connected clients.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import http from "node:http";
import {
  startWorker,
  makeApp,
  serverSdk,
  sdkAuth,
  pusherJs,
  connectRaw,
  subscribeRaw,
  rawSocket,
  objectFetch,
  eventually,
  sleep,
} from "./support/harness.mjs";

const TOKEN = "operators-token-for-the-admin-tests";
const envApp = makeApp({ id: "4242", enable_client_messages: true });
let worker;

before(async () => {
  worker = await startWorker({
    apps: [envApp],
    bindings: { PUSHER_APPS: JSON.stringify([envApp]), DASHBOARD_TOKEN: TOKEN, METRICS_TOKEN: "metrics-token-1234567" },
  });
});
after(() => worker?.stop());

/** One API call: the status and the parsed JSON answer. */
async function admin(method, path, body, { token = TOKEN, raw } = {}) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`http://127.0.0.1:${worker.port}/admin${path}`, { method, headers, body: payload });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
}

/** A PATCH that declares a body of `length` bytes and sends none: refused before it is read. */
function declaredBody(path, length) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: "127.0.0.1",
      port: worker.port,
      path: `/admin${path}`,
      method: "PATCH",
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Length": length },
    });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (c) => {
        text += c;
      });
      res.on("end", () => {
        req.destroy();
        resolve({ status: res.statusCode, json: JSON.parse(text) });
      });
    });
    req.on("error", reject);
    req.flushHeaders();
  });
}

/** A webhook receiver on 127.0.0.1: each request's body and signature, in `received`. */
async function hookReceiver() {
  const received = [];
  const receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      received.push({ body, signature: req.headers["x-pusher-signature"] });
      res.end();
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  return { receiver, received, url: `http://127.0.0.1:${receiver.address().port}/hooks` };
}

/** An app as the SDKs and pusher-js take it, from a creation or rotation answer. */
const credentials = ({ id, key, secret }) => ({ id, key, secret });

async function create(body = {}) {
  const made = await admin("POST", "/apps", body);
  assert.equal(made.status, 201, JSON.stringify(made.json));
  return made.json.app;
}

function subscribeWith(client, name) {
  return new Promise((resolve, reject) => {
    const channel = client.subscribe(name);
    channel.bind("pusher:subscription_succeeded", () => resolve(channel));
    channel.bind("pusher:subscription_error", (e) => reject(Object.assign(new Error("subscription refused"), e)));
  });
}

test("only DASHBOARD_TOKEN opens the API (not METRICS_TOKEN, not a wrong or missing one)", async () => {
  for (const token of [null, "wrong-token-of-enough-length", "metrics-token-1234567"]) {
    const refused = await admin("GET", "/apps", undefined, { token });
    assert.equal(refused.status, 401, String(token));
    assert.equal(refused.headers.get("www-authenticate"), "Bearer");
    assert.match(refused.json.error, /Authorization: Bearer/);
  }
  const off = await startWorker({ apps: [makeApp()] });
  try {
    const res = await fetch(`http://127.0.0.1:${off.port}/admin/apps`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(res.status, 404);
    assert.match((await res.json()).error, /operators' API is off/);
  } finally {
    await off.stop();
  }
});

test("create: a numeric id, a key and a secret shown once; the app works at once with pusher-js and the SDK", async () => {
  const app = await create({ enable_client_messages: true });
  assert.match(app.id, /^\d{7,}$/);
  assert.ok(Number(app.id) > 1_000_000);
  assert.match(app.key, /^[0-9a-f]{20}$/);
  assert.match(app.secret, /^[0-9a-f]{32}$/);
  assert.equal(app.source, "registry");
  assert.equal(app.enable_client_messages, true);

  const read = await admin("GET", `/apps/${app.id}`);
  assert.equal(read.status, 200);
  assert.equal(read.json.app.key, app.key);
  assert.ok(!("secret" in read.json.app), "a secret is shown only at creation and rotation");
  const list = await admin("GET", "/apps");
  assert.deepEqual(
    list.json.apps.filter((a) => [envApp.id, app.id].includes(a.id)).map((a) => [a.id, a.source]),
    [
      [envApp.id, "environment"],
      [app.id, "registry"],
    ],
  );
  assert.ok(!JSON.stringify(list.json).includes(app.secret) && !JSON.stringify(list.json).includes(envApp.secret));

  const client = await pusherJs(worker, credentials(app), sdkAuth(worker, { app: credentials(app) }));
  try {
    const channel = await subscribeWith(client, "private-made-live");
    const got = new Promise((resolve) => channel.bind("hello", resolve));
    const res = await serverSdk(worker, credentials(app)).trigger("private-made-live", "hello", { n: 1 });
    assert.equal(res.status, 200);
    assert.deepEqual(await got, { n: 1 });
  } finally {
    client.disconnect();
  }
  const second = await create();
  assert.equal(Number(second.id), Number(app.id) + 1, "ids count up");
});

test("given values, and ids or keys already taken (by any app, even a deleted one) get 409", async () => {
  const given = await create({ id: "my-app", key: "my-app-key", secret: "my-app-secret" });
  assert.deepEqual([given.id, given.key, given.secret], ["my-app", "my-app-key", "my-app-secret"]);
  for (const [body, why] of [
    [{ id: "my-app" }, /id my-app is taken/],
    [{ id: envApp.id }, /is taken/],
    [{ key: "my-app-key" }, /key is taken/],
    [{ key: envApp.key }, /key is taken/],
  ]) {
    const refused = await admin("POST", "/apps", body);
    assert.equal(refused.status, 409, JSON.stringify(body));
    assert.match(refused.json.error, why);
  }
  assert.equal((await admin("DELETE", "/apps/my-app")).status, 200);
  assert.equal((await admin("GET", "/apps/my-app")).status, 404);
  const again = await admin("POST", "/apps", { id: "my-app" });
  assert.equal(again.status, 409, "a deleted app's id never comes back");
  const sock = await rawSocket(worker, "/app/my-app-key?protocol=7");
  assert.equal((await sock.closed()).code, 4001, "nor does its key connect");
});

test("bad input gets a clear 4xx and changes nothing", async () => {
  const app = await create();
  const before = await admin("GET", `/apps/${app.id}`);
  const cases = [
    ["POST", "/apps", { raw: "{not json" }, 400, /not valid JSON/],
    ["POST", "/apps", { body: [1] }, 400, /JSON object/],
    ["POST", "/apps", { body: { colour: "red" } }, 400, /Unknown setting "colour"/],
    ["POST", "/apps", { body: { id: "a b" } }, 400, /id must be/],
    ["POST", "/apps", { body: { previous_secrets: [] } }, 400, /rotate/],
    ["PATCH", `/apps/${app.id}`, { body: { limits: { max_conections: 5 } } }, 400, /"limits.max_conections"/],
    ["PATCH", `/apps/${app.id}`, { body: { enabled: "no" } }, 400, /wrong type/],
    ["PATCH", `/apps/${app.id}`, { body: { secret: "x" } }, 400, /rotate/],
    ["PATCH", `/apps/${app.id}`, { body: { jurisdiction: "eu" } }, 400, /fixed when the app is created/],
    ["POST", "/apps", { body: { jurisdiction: "mars" } }, 400, /jurisdiction "mars" is not one of eu, fedramp/],
    ["PATCH", `/apps/${app.id}`, { body: { location_hint: "moon" } }, 400, /location_hint "moon"/],
    ["PATCH", `/apps/${app.id}`, { body: { webhooks: [{ url: "ftp://x" }] } }, 400, /webhooks\[0\]/],
    [
      "PATCH",
      `/apps/${app.id}`,
      { body: { webhooks: [{ url: "https://x.example", headers: { "X-Pusher-Signature": "forged" } }] } },
      400,
      /headers "X-Pusher-Signature": is set by the service/,
    ],
    [
      "PATCH",
      `/apps/${app.id}`,
      { body: { webhooks: [{ url: "https://x.example", headers: { Host: "elsewhere" } }] } },
      400,
      /headers "Host"/,
    ],
    ["POST", `/apps/${app.id}/rotate`, { body: { previous_secret_expires_in_secs: -1 } }, 400, /from 0/],
    ["POST", `/apps/${app.id}/rotate`, { body: { overlap: 1 } }, 400, /Unknown field/],
    ["PATCH", "/apps/no-such-app", { body: {} }, 404, /No app with id no-such-app/],
    ["DELETE", "/apps/no-such-app", {}, 404, /No app/],
    ["PATCH", `/apps/${envApp.id}`, { body: { enabled: false } }, 403, /environment/],
    ["DELETE", `/apps/${envApp.id}`, {}, 403, /read-only/],
    ["POST", `/apps/${envApp.id}/rotate`, { body: {} }, 403, /read-only/],
    ["PUT", `/apps/${app.id}`, { body: {} }, 405, /use GET, PATCH, DELETE/],
    ["GET", "/nothing", {}, 404, /No route/],
  ];
  for (const [method, path, { body, raw }, status, why] of cases) {
    const res = await admin(method, path, body, { raw });
    assert.equal(res.status, status, `${method} ${path} ${raw?.slice(0, 20) ?? JSON.stringify(body)}`);
    assert.match(res.json.error, why);
  }
  const huge = await declaredBody(`/apps/${app.id}`, 70 * 1024);
  assert.equal(huge.status, 413);
  assert.match(huge.json.error, /over 65536 bytes/);
  assert.deepEqual((await admin("GET", `/apps/${app.id}`)).json, before.json, "nothing changed");
  assert.equal((await admin("GET", `/apps/${envApp.id}`)).json.app.enabled, true);
});

test("webhook headers are write-only: the API names them and never shows a value", async () => {
  const app = await create();
  const webhooks = [
    {
      url: "https://gateway.example/pusher",
      event_types: ["channel_occupied"],
      filter: { channel_name_starts_with: "presence-" },
      headers: { "X-Api-Key": "gateway-key-value" },
    },
  ];
  const patched = await admin("PATCH", `/apps/${app.id}`, { webhooks });
  assert.equal(patched.status, 200);
  for (const answer of [patched.json, (await admin("GET", `/apps/${app.id}`)).json]) {
    assert.ok(!JSON.stringify(answer).includes("gateway-key-value"), "a header's value never comes back");
    assert.deepEqual(answer.app.webhooks, [
      {
        url: "https://gateway.example/pusher",
        event_types: ["channel_occupied"],
        filter: { channel_name_starts_with: "presence-" },
        header_names: ["X-Api-Key"],
      },
    ]);
  }
  const listed = (await admin("GET", "/apps")).json.apps.find((a) => a.id === app.id);
  assert.ok(!JSON.stringify(listed).includes("gateway-key-value"));
  // Sent back as shown, the view is refused rather than taken for headers removed.
  const echoed = await admin("PATCH", `/apps/${app.id}`, { webhooks: patched.json.app.webhooks });
  assert.equal(echoed.status, 400);
  assert.match(echoed.json.error, /header_names/);
});

test("a patch says when each change applies", async () => {
  const app = await create();
  const patched = await admin("PATCH", `/apps/${app.id}`, {
    enable_client_messages: true,
    limits: { max_connections: 100, activity_timeout_secs: 60, max_event_payload_bytes: 20480 },
  });
  assert.equal(patched.status, 200);
  assert.deepEqual(patched.json.changes, [
    { setting: "enable_client_messages", applies: "live" },
    { setting: "limits.activity_timeout_secs", applies: "new_connections" },
    { setting: "limits.max_connections", applies: "reconnect" },
    { setting: "limits.max_event_payload_bytes", applies: "live" },
  ]);
  assert.equal(patched.json.app.limits.max_connections, 100);
  const reset = await admin("PATCH", `/apps/${app.id}`, { limits: { max_connections: null } });
  assert.equal(reset.json.app.limits.max_connections, null);
  assert.equal(reset.json.app.limits.activity_timeout_secs, 60, "other limits kept");
  const same = await admin("PATCH", `/apps/${app.id}`, { enable_client_messages: true });
  assert.deepEqual(same.json.changes, []);
});

test("disabling an app closes its connections with 4003 at once and refuses its REST calls; enabling lets it back", async () => {
  const app = credentials(await create());
  const { sock } = await connectRaw(worker, app);
  assert.equal((await subscribeRaw(sock, "live-news")).event, "pusher_internal:subscription_succeeded");
  const started = Date.now();
  assert.equal((await admin("PATCH", `/apps/${app.id}`, { enabled: false })).status, 200);
  const closed = await sock.closed("the 4003 close");
  assert.equal(closed.code, 4003);
  assert.ok(sock.frames.some((f) => f.event === "pusher:error" && f.data.code === 4003));
  console.log(`# disabled → client closed in ${Date.now() - started} ms`);
  await assert.rejects(serverSdk(worker, app).trigger("live-news", "e", {}), (e) => e.status === 403);
  const refused = await rawSocket(worker, `/app/${app.key}?protocol=7`);
  assert.equal((await refused.closed()).code, 4003);
  await admin("PATCH", `/apps/${app.id}`, { enabled: true });
  const back = await connectRaw(worker, app);
  assert.equal((await subscribeRaw(back.sock, "live-news")).event, "pusher_internal:subscription_succeeded");
  back.sock.close();
});

test("deleting an app closes its connections with 4003; its key is then unknown (4001)", async () => {
  const app = credentials(await create());
  const { sock } = await connectRaw(worker, app);
  assert.equal((await admin("DELETE", `/apps/${app.id}`)).json.deleted, true);
  assert.equal((await sock.closed("the 4003 close")).code, 4003);
  const unknown = await rawSocket(worker, `/app/${app.key}?protocol=7`);
  assert.equal((await unknown.closed()).code, 4001);
  await assert.rejects(serverSdk(worker, app).trigger("c", "e", {}), (e) => e.status === 401);
});

test("a switch changed live applies to connected sessions without reconnecting anyone", async () => {
  const app = credentials(await create());
  const auth = sdkAuth(worker, { app });
  const sender = await pusherJs(worker, app, auth);
  const receiver = await pusherJs(worker, app, auth);
  try {
    const sending = await subscribeWith(sender, "private-switch");
    const receiving = await subscribeWith(receiver, "private-switch");
    const errors = [];
    sender.connection.bind("error", (e) => errors.push(e));
    sending.trigger("client-before", { n: 0 });
    await eventually(() => errors.length > 0, "the refusal of a client event while they are off");
    const states = [];
    sender.connection.bind("state_change", (s) => states.push(s.current));
    assert.equal((await admin("PATCH", `/apps/${app.id}`, { enable_client_messages: true })).status, 200);
    const got = new Promise((resolve) => receiving.bind("client-after", resolve));
    await eventually(async () => {
      sending.trigger("client-after", { n: 1 });
      return Promise.race([got.then(() => true), sleep(300).then(() => false)]);
    }, "a client event once they are on");
    assert.deepEqual(await got, { n: 1 });
    assert.deepEqual(states, [], "no reconnect");
    assert.equal(sender.connection.state, "connected");
  } finally {
    sender.disconnect();
    receiver.disconnect();
  }
});

test("rotate: the new secret is shown once; the old one signs REST, channel and user auth until the overlap ends; webhooks use the new one", async () => {
  const { receiver, received, url } = await hookReceiver();
  try {
    const original = credentials(
      await create({
        webhooks: [{ url, event_types: ["channel_occupied"] }],
      }),
    );
    const rotated = await admin("POST", `/apps/${original.id}/rotate`, { previous_secret_expires_in_secs: 4 });
    assert.equal(rotated.status, 200);
    const fresh = credentials(rotated.json.app);
    assert.notEqual(fresh.secret, original.secret);
    assert.match(fresh.secret, /^[0-9a-f]{32}$/);
    const expiresAt = rotated.json.previous_secret_expires_at;
    assert.ok(Math.abs(expiresAt - (Date.now() / 1000 + 4)) < 2);
    assert.deepEqual(rotated.json.app.previous_secrets, [{ expires_at: expiresAt }]);
    assert.ok(!JSON.stringify(rotated.json).includes(original.secret), "the old secret is never shown");
    assert.ok(!("secret" in (await admin("GET", `/apps/${original.id}`)).json.app));

    const checks = async (secret) => {
      const signer = { ...original, secret };
      const rest = await serverSdk(worker, signer)
        .trigger("rotation", "e", {})
        .then(
          (r) => r.status,
          (e) => e.status,
        );
      const client = await pusherJs(worker, original, sdkAuth(worker, { app: signer }));
      const channel = await subscribeWith(client, "private-rotation").then(
        () => "ok",
        () => "refused",
      );
      client.disconnect();
      const { sock, socketId } = await connectRaw(worker, original);
      const { auth, user_data } = serverSdk(worker, signer).authenticateUser(socketId, { id: "u1" });
      sock.send({ event: "pusher:signin", data: { auth, user_data } });
      const answer = await sock.waitFor(
        (f) => f.event === "pusher:signin_success" || f.event === "pusher:error",
        "signin answer",
      );
      sock.close();
      return { rest, channel, signin: answer.event === "pusher:signin_success" ? "ok" : "refused" };
    };
    assert.deepEqual(await checks(fresh.secret), { rest: 200, channel: "ok", signin: "ok" });
    assert.deepEqual(await checks(original.secret), { rest: 200, channel: "ok", signin: "ok" }, "within the overlap");
    await sleep(Math.max(0, expiresAt * 1000 - Date.now()) + 1200);
    assert.deepEqual(await checks(original.secret), { rest: 401, channel: "refused", signin: "refused" }, "past it");
    assert.deepEqual(await checks(fresh.secret), { rest: 200, channel: "ok", signin: "ok" });

    const { sock } = await connectRaw(worker, fresh);
    await subscribeRaw(sock, "rotation-hooked");
    const hooked = () => received.find((r) => r.body.includes("rotation-hooked"));
    await eventually(hooked, "the webhook");
    const hook = hooked();
    assert.equal(hook.signature, createHmac("sha256", fresh.secret).update(hook.body).digest("hex"));
    sock.close();
  } finally {
    await new Promise((r) => receiver.close(r));
  }
});

test("a connected session learns a rotation: a subscription signed with the expired secret is refused without reconnecting", async () => {
  const original = credentials(await create());
  const { sock, socketId } = await connectRaw(worker, original);
  const rotated = await admin("POST", `/apps/${original.id}/rotate`, { previous_secret_expires_in_secs: 0 });
  assert.equal(rotated.json.previous_secret_expires_at, null, "no overlap asked");
  const fresh = credentials(rotated.json.app);
  const sign = (secret, channel) =>
    `${original.key}:${createHmac("sha256", secret).update(`${socketId}:${channel}`).digest("hex")}`;
  let tries = 0;
  await eventually(async () => {
    // A fresh channel each try: a second subscribe to one that succeeded is a double subscribe.
    const channel = `private-old-signed-${++tries}`;
    const answer = await subscribeRaw(sock, channel, { auth: sign(original.secret, channel) });
    return answer.event === "pusher:subscription_error";
  }, "the old secret refused in the live session");
  const ok = await subscribeRaw(sock, "private-new-signed", { auth: sign(fresh.secret, "private-new-signed") });
  assert.equal(ok.event, "pusher_internal:subscription_succeeded");
  assert.ok(!sock.isClosed());
  sock.close();
});

test("unknown keys are refused (4001) and the metrics list registry apps", async () => {
  for (let i = 0; i < 5; i++) {
    const sock = await rawSocket(worker, `/app/random-key-${i}?protocol=7`);
    assert.equal((await sock.closed()).code, 4001);
  }
  const app = await create();
  await serverSdk(worker, credentials(app)).trigger("metered", "e", {});
  const metrics = await fetch(`http://127.0.0.1:${worker.port}/metrics`, {
    headers: { Authorization: "Bearer metrics-token-1234567" },
  });
  const text = await metrics.text();
  assert.ok(text.includes(`app_id="${app.id}"`), "a registry app has metrics");
  assert.ok(text.includes(`app_id="${envApp.id}"`));
});

test("calls are rate-limited per address before the token is read (429)", async () => {
  const limited = await startWorker({ apps: [makeApp()], bindings: { PUSHER_APPS: "[]", DASHBOARD_TOKEN: TOKEN } });
  try {
    const call = (token) =>
      fetch(`http://127.0.0.1:${limited.port}/admin/apps`, { headers: { Authorization: `Bearer ${token}` } });
    // The binding counts in fixed 60 s windows: 600 calls may straddle a window's end, so the
    // first refusal comes after at most 1,200 (two windows' worth), and never before 600.
    const statuses = [];
    let refused = null;
    for (let i = 0; i < 1201 && !refused; i++) {
      const res = await call(i % 2 ? TOKEN : "a-wrong-token-guess");
      if (res.status === 429) refused = res;
      else {
        await res.text();
        statuses.push(res.status);
      }
    }
    assert.ok(statuses.length >= 600, `refused after ${statuses.length} calls`);
    assert.deepEqual(new Set(statuses), new Set([200, 401]));
    assert.ok(refused, "no 429 within 1,201 calls");
    assert.match((await refused.json()).error, /Too many calls/);
    assert.equal((await call(TOKEN)).status, 429, "even the right token, once over the limit");
  } finally {
    await limited.stop();
  }
});

test("rooms apply a change live: a webhook added and subscription counts switched on, with nobody reconnecting", async () => {
  const { receiver, received, url } = await hookReceiver();
  try {
    const app = credentials(await create());
    const first = await connectRaw(worker, app);
    const second = await connectRaw(worker, app);
    await subscribeRaw(first.sock, "before-hooks");
    const patched = await admin("PATCH", `/apps/${app.id}`, {
      webhooks: [{ url, event_types: ["channel_occupied"] }],
      enable_subscription_count: true,
    });
    assert.deepEqual(
      patched.json.changes.map((c) => c.applies),
      ["live", "live"],
    );
    await subscribeRaw(first.sock, "after-hooks");
    await eventually(
      () =>
        received.some((r) =>
          JSON.parse(r.body).events.some((e) => e.name === "channel_occupied" && e.channel === "after-hooks"),
        ),
      "channel_occupied for a channel occupied after the change",
    );
    await subscribeRaw(second.sock, "after-hooks");
    await first.sock.waitFor(
      (f) => f.event === "pusher_internal:subscription_count" && f.channel === "after-hooks",
      "a subscription count from the room, for sessions connected before the change",
    );
    assert.ok(!first.sock.isClosed() && !second.sock.isClosed());
    first.sock.close();
    second.sock.close();
  } finally {
    await new Promise((r) => receiver.close(r));
  }
});

test("a session whose lookup predates the newest change gets it from its connection shard at once", async () => {
  const app = await create();
  // What a shard holds after a change that this isolate's cache has not seen yet: a newer
  // record (a higher revision) disabling the app, told to every one of its shards.
  const disabled = JSON.stringify({ rev: 1_000_000_000, app: { ...app, enabled: false } });
  for (let index = 0; index < 8; index++) {
    const told = await objectFetch(
      worker,
      "CONNECTIONS",
      `${app.id}#connections#${index}`,
      `/app-changed?v=1&app=${app.id}&index=${index}`,
      {
        method: "POST",
        body: disabled,
      },
    );
    assert.equal(told.status, 200);
  }
  const sock = await rawSocket(worker, `/app/${app.key}?protocol=7`);
  await sock.waitFor((f) => f.event === "pusher:connection_established", "the handshake (the lookup said enabled)");
  assert.equal((await sock.closed("4003 from the shard's newer record")).code, 4003);
});

test("thousands of apps: each is found by key and by id, and the list pages through them", async () => {
  const many = await startWorker({ apps: [makeApp()], bindings: { PUSHER_APPS: "[]", DASHBOARD_TOKEN: TOKEN } });
  try {
    const COUNT = 2000;
    const created = [];
    // Straight to the catalog (the API's rate limit is per address and would take minutes).
    for (let i = 0; i < COUNT; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, COUNT - i) }, () =>
          objectFetch(many, "REGISTRY", "catalog", "/create?v=1", { method: "POST", body: "{}" }).then((r) => r.json()),
        ),
      );
      created.push(...batch.map((b) => b.app));
    }
    assert.equal(new Set(created.map((a) => a.id)).size, COUNT);
    const list = async (after) => {
      const query = after ? `?after=${after}&limit=1000` : "?limit=1000";
      const res = await fetch(`http://127.0.0.1:${many.port}/admin/apps${query}`, {
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
      return res.json();
    };
    const seen = [];
    let page = await list();
    for (;;) {
      seen.push(...page.apps.map((a) => a.id));
      if (!page.next) break;
      page = await list(page.next);
    }
    assert.equal(seen.length, COUNT);
    assert.deepEqual(new Set(seen), new Set(created.map((a) => a.id)));
    for (const app of [created[0], created[COUNT / 2], created[COUNT - 1]]) {
      const { sock } = await connectRaw(many, credentials(app));
      sock.close();
      assert.equal((await serverSdk(many, credentials(app)).trigger("c", "e", {})).status, 200);
    }
  } finally {
    await many.stop();
  }
});

test("an environment app's sessions ignore registry records for its id (the environment wins)", async () => {
  // A record the registry could hold for the same id (an app deleted there, or shadowed).
  const deleted = JSON.stringify({ rev: 1_000_000_000, app: null });
  for (let index = 0; index < 8; index++) {
    const path = `/app-changed?v=1&app=${envApp.id}&index=${index}`;
    const told = await objectFetch(worker, "CONNECTIONS", `${envApp.id}#connections#${index}`, path, {
      method: "POST",
      body: deleted,
    });
    assert.equal(told.status, 200);
  }
  const { sock } = await connectRaw(worker, envApp);
  assert.equal((await subscribeRaw(sock, "env-still-here")).event, "pusher_internal:subscription_succeeded");
  await serverSdk(worker, envApp).trigger("env-still-here", "e", { ok: true });
  await sock.waitFor((f) => f.event === "e", "the event");
  assert.ok(!sock.isClosed(), "not closed by a registry record");
  sock.close();
});
