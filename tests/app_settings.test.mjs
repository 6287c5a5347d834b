// Per-app settings that refuse or end connections (enabled, enable_user_authentication),
// and the operational endpoints (/up, /metrics when no token is set).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker,
  makeApp,
  serverSdk,
  connectRaw,
  subscribeRaw,
  rawSocket,
  signedFetch,
  pusherJs,
  sdkAuth,
  sleep,
  subscribed,
  eventually,
} from "./support/harness.mjs";

const open = makeApp();
const disabled = makeApp({ enabled: false });
const strict = makeApp({ enable_user_authentication: true, limits: { user_authentication_timeout_secs: 1 } });
// Placed in western Europe: every object of the app is asked for with that hint. Local workerd
// ignores hints, so this shows that a hinted app works as any other and that its objects keep
// the names every app's objects have (the worker runs behind the test entry that records each
// object reached by its name); where they go is Cloudflare's to do (and a jurisdiction local
// workerd refuses: unit tests only).
const hinted = makeApp({ location_hint: "weur", enable_client_messages: true });
let worker;

before(async () => {
  worker = await startWorker({ apps: [open, disabled, strict, hinted], countObjectRequests: true });
});

test("an app with a location_hint works in full: connections, presence, REST events and reads, stats", async () => {
  const sdk = serverSdk(worker, hinted);
  const ada = await pusherJs(worker, hinted, sdkAuth(worker, { app: hinted, presence: { user_id: "ada" } }));
  const bob = await pusherJs(worker, hinted, sdkAuth(worker, { app: hinted, presence: { user_id: "bob" } }));
  try {
    const adaRoom = await subscribed(ada, "presence-placed");
    await subscribed(bob, "presence-placed");
    const got = new Promise((resolve) => adaRoom.bind("note", resolve));
    await sdk.trigger("presence-placed", "note", { n: 1 });
    assert.deepEqual(await got, { n: 1 });
    const { users } = await (await sdk.get({ path: "/channels/presence-placed/users" })).json();
    assert.deepEqual(users.map((u) => u.id).sort(), ["ada", "bob"]);
    await eventually(
      async () => (await (await sdk.get({ path: "/stats" })).json()).connections === 2,
      "the ledger counts both connections",
    );
    // Its objects have the names any app's objects have: `{app}:{channel}` for a room, the app
    // id for its ledger, `{app}#connections#{n}` for its connection shards; nothing else.
    const ofApp = (name) => name === hinted.id || name.startsWith(`${hinted.id}:`) || name.startsWith(`${hinted.id}#`);
    const ours = (await worker.objectsReached()).filter(({ name }) => ofApp(name));
    const named = (object) => ours.filter((o) => o.object === object).map((o) => o.name);
    assert.deepEqual(named("ChannelRoom"), [`${hinted.id}:presence-placed`]);
    assert.deepEqual(named("AppLedger"), [hinted.id]);
    const shards = named("ConnectionShard");
    assert.ok(shards.length >= 1, "a connection shard holds the connections");
    for (const name of shards) assert.match(name, new RegExp(`^${hinted.id}#connections#\\d+$`));
    assert.equal(ours.length, 2 + shards.length, JSON.stringify(ours));
  } finally {
    ada.disconnect();
    bob.disconnect();
  }
});
after(async () => {
  await worker?.stop();
});

test("a disabled app: connections get 4003, REST calls get 403", async () => {
  const sock = await rawSocket(worker, `/app/${disabled.key}?protocol=7`);
  assert.deepEqual(await sock.next(), {
    event: "pusher:error",
    data: { code: 4003, message: "Application disabled" },
  });
  assert.equal((await sock.closed()).code, 4003);

  const res = await signedFetch(worker, {
    app: disabled,
    path: `/apps/${disabled.id}/events`,
    body: { name: "e", channel: "c", data: "x" },
  });
  assert.equal(res.status, 403);
  assert.deepEqual(await res.json(), { error: "Application disabled" });
  // Signature first: an unsigned caller learns nothing about the app.
  const unsigned = await signedFetch(worker, {
    app: disabled,
    path: `/apps/${disabled.id}/events`,
    body: { name: "e", channel: "c", data: "x" },
    signature: "0".repeat(64),
  });
  assert.equal(unsigned.status, 401);
});

test("enable_user_authentication: connections that neither sign in nor pass a private auth in time get 4009", async () => {
  const sdk = serverSdk(worker, strict);
  const idle = await connectRaw(worker, strict);
  const publicOnly = await connectRaw(worker, strict);
  await subscribeRaw(publicOnly.sock, "public-chat");
  const privateOk = await connectRaw(worker, strict);
  const { auth } = sdk.authorizeChannel(privateOk.socketId, "private-ok");
  await subscribeRaw(privateOk.sock, "private-ok", { auth });
  const signedIn = await pusherJs(worker, strict, sdkAuth(worker, { app: strict, user: { id: "u1" } }));
  signedIn.signin();
  await signedIn.user.signinDonePromise;

  for (const c of [idle, publicOnly]) {
    const error = await c.sock.waitFor((f) => f.event === "pusher:error", "the 4009 error");
    assert.deepEqual(error.data, { code: 4009, message: "Connection not authorized within timeout" });
    assert.equal((await c.sock.closed()).code, 4009);
  }
  await sleep(1500);
  assert.equal(privateOk.sock.isClosed(), false, "a private channel's auth counts");
  assert.equal(signedIn.connection.state, "connected", "a signed-in connection stays");
  privateOk.sock.close();
  signedIn.disconnect();

  // Apps without the setting keep unauthenticated connections.
  const relaxed = await connectRaw(worker, open);
  await sleep(1500);
  assert.equal(relaxed.sock.isClosed(), false);
  relaxed.sock.close();
});

test("GET /up answers a health check; /metrics is off without a METRICS_TOKEN", async () => {
  const up = await fetch(`http://127.0.0.1:${worker.port}/up`);
  assert.equal(up.status, 200);
  assert.deepEqual(await up.json(), { status: "ok" });
  const metrics = await fetch(`http://127.0.0.1:${worker.port}/metrics`, { headers: { Authorization: "Bearer x" } });
  assert.equal(metrics.status, 404);
  assert.match((await metrics.json()).error, /METRICS_TOKEN/);
});
