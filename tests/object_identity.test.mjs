// A room knows who it is from its Durable Object name (`state.id().name()`, parsed by the
// inverse of the functions that build the names): before any request, after its sockets
// hibernated and it was evicted, and in an instance woken by its alarm. Observed through the
// room's internal `/identity` diagnostic, called on the Durable Object directly (Miniflare's
// namespace binding), not through any public route.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import {
  startWorker,
  makeApp,
  serverSdk,
  pusherJs,
  subscribed,
  connectRaw,
  subscribeRaw,
  sleep,
  eventually,
  objectFetch,
} from "./support/harness.mjs";

// A webhook receiver that answers 500 while `failing`, and records the events it accepted.
const hooks = { failing: true, events: [], tries: 0 };
let worker, hookServer, hookApp;
before(async () => {
  hookServer = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      hooks.tries++;
      if (!hooks.failing) hooks.events.push(...JSON.parse(body).events);
      res.writeHead(hooks.failing ? 500 : 200);
      res.end();
    });
  });
  await new Promise((resolve) => hookServer.listen(0, "127.0.0.1", resolve));
  hookApp = makeApp({ webhooks: [{ url: `http://127.0.0.1:${hookServer.address().port}/hooks` }] });
  const plain = makeApp();
  worker = await startWorker({ apps: [plain, hookApp] });
});
after(async () => {
  await worker?.stop();
  await new Promise((resolve) => hookServer?.close(resolve));
});

async function identity(name) {
  const res = await objectFetch(worker, "CHANNELS", name, "/identity");
  assert.equal(res.status, 200);
  return res.json();
}

test("a room knows its app, channel and leaf from its name before any request", async () => {
  const app = worker.app.id;
  assert.deepEqual(await identity(`${app}:news`), { app_id: app, channel: "news", leaf: null, from_name: true });
  assert.deepEqual(await identity(`${app}:presence-big#2`), {
    app_id: app,
    channel: "presence-big",
    leaf: 2,
    from_name: true,
  });
  assert.deepEqual(await identity(`${app}:#server-to-user-7`), {
    app_id: app,
    channel: "#server-to-user-7",
    leaf: null,
    from_name: true,
  });
});

test("the internal wire answers 405 for a known path with another method, 404 for an unknown one", async () => {
  const room = (path) => objectFetch(worker, "CHANNELS", `${worker.app.id}:wire`, path);
  assert.equal((await room("/publish")).status, 405, "GET of a POST route");
  assert.equal((await room("/nope")).status, 404);
  const shard = (path) => objectFetch(worker, "CONNECTIONS", `${worker.app.id}#connections#0`, path);
  // Before typed requests, a shard took any unknown path for a connect.
  assert.equal((await shard("/nope")).status, 404);
  const missing = await shard(`/connect?app=${worker.app.id}&index=0`);
  assert.equal(missing.status, 400);
  assert.match(await missing.text(), /cap/);
});

test("a room woken from hibernation knows who it is from its name", async () => {
  const client = await pusherJs(worker);
  try {
    const channel = await subscribed(client, "sleeper");
    const got = [];
    channel.bind("evt", (data) => got.push(data));
    const name = `${worker.app.id}:sleeper`;
    // Evicted with its socket hibernated: the new instance's first request is the diagnostic.
    await worker.mf.unsafeEvictDurableObject(worker.workerName, "ChannelRoom", { name, webSockets: "hibernate" });
    assert.deepEqual(await identity(name), { app_id: worker.app.id, channel: "sleeper", leaf: null, from_name: true });
    await serverSdk(worker).trigger("sleeper", "evt", "after the wake");
    await eventually(() => got.length === 1, "delivery after the wake");
    assert.equal(client.connection.state, "connected");
  } finally {
    client.disconnect();
  }
});

test("a room woken by its alarm, with no request and no socket, knows who it is from its name", async () => {
  // The first webhook fails: the room keeps it in its outbox and arms its alarm to retry.
  const c = await connectRaw(worker, hookApp);
  await subscribeRaw(c.sock, "alarmed");
  await eventually(() => hooks.tries >= 1, "a first, failed webhook delivery");
  c.sock.close();
  await sleep(300);
  // A new instance, with no socket left: only its alarm wakes it, and it must know its app to
  // find the webhook's URL.
  const name = `${hookApp.id}:alarmed`;
  await worker.mf.unsafeEvictDurableObject(worker.workerName, "ChannelRoom", { name, webSockets: "close" });
  hooks.failing = false;
  await eventually(
    () => hooks.events.some((e) => e.name === "channel_occupied" && e.channel === "alarmed"),
    "the webhook retried by the alarm-woken room",
    20_000,
  );
  assert.deepEqual(await identity(name), { app_id: hookApp.id, channel: "alarmed", leaf: null, from_name: true });
});
