// Client events with the real pusher-js and pusher SDK: delivered to the other subscribers
// (never the sender, with user_id on presence channels), refused where Pusher refuses them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker,
  makeApp,
  pusherJs,
  subscribed,
  sdkAuth,
  nextEvent,
  connectRaw,
  subscribeRaw,
  serverSdk,
  sleep,
} from "./support/harness.mjs";

let worker;
const chatty = makeApp({ enable_client_messages: true });
before(async () => {
  worker = await startWorker({ apps: [chatty, makeApp()] });
});
after(async () => {
  await worker?.stop();
});

test("client events reach the other subscribers, never the sender; presence adds user_id", async () => {
  const a = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, presence: { user_id: "a" } }));
  const b = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, presence: { user_id: "b" } }));
  try {
    const aPriv = await subscribed(a, "private-chat");
    const bPriv = await subscribed(b, "private-chat");
    const aGot = [];
    aPriv.bind("client-typing", (d) => aGot.push(d));
    const bGot = nextEvent(bPriv, "client-typing");
    assert.equal(aPriv.trigger("client-typing", { who: "a" }), true);
    assert.deepEqual(await bGot, { who: "a" });
    await sleep(200);
    assert.deepEqual(aGot, [], "no echo to the sender");

    const aPres = await subscribed(a, "presence-chat");
    const bPres = await subscribed(b, "presence-chat");
    const meta = new Promise((r) => bPres.bind("client-hi", (_data, metadata) => r(metadata)));
    aPres.trigger("client-hi", {});
    assert.equal((await meta).user_id, "a");
  } finally {
    a.disconnect();
    b.disconnect();
  }
});

test("client events are refused on public channels, when disabled, and past 10 per second", async () => {
  const { sock, socketId } = await connectRaw(worker, chatty);
  await subscribeRaw(sock, "public-x");
  const errors = () => sock.frames.filter((f) => f.event === "pusher:error");
  sock.send({ event: "client-x", channel: "public-x", data: {} });
  await sock.waitFor(() => errors().length === 1, "refusal");
  assert.match(errors()[0].data.message, /only allowed on private and presence/);

  const auth = serverSdk(worker, chatty).authorizeChannel(socketId, "private-r").auth;
  await subscribeRaw(sock, "private-r", { auth });
  for (let i = 0; i < 12; i++) sock.send({ event: "client-x", channel: "private-r", data: { i } });
  await sock.waitFor(() => errors().length >= 3, "rate-limit errors");
  assert.equal(errors()[1].data.code, 4301);
  assert.match(errors()[1].data.message, /rate limit/);
  sock.close();

  const off = await connectRaw(worker, worker.apps[1]);
  const offAuth = serverSdk(worker, worker.apps[1]).authorizeChannel(off.socketId, "private-r").auth;
  await subscribeRaw(off.sock, "private-r", { auth: offAuth });
  off.sock.send({ event: "client-x", channel: "private-r", data: {} });
  const err = await off.sock.waitFor((f) => f.event === "pusher:error", "disabled");
  assert.equal(err.data.code, 4301);
  assert.match(err.data.message, /not have client messaging enabled/);
  off.sock.close();
});
