// What people copy from recipes and hosted services' docs works unchanged: an auth route that
// passes presence data to authorizeChannel for every channel, and an SDK configured with the
// app key where it wants the app id.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, serverSdk, pusherJs, subscribed, nextEvent, makeApp } from "./support/harness.mjs";

let worker;
before(async () => {
  worker = await startWorker({ apps: [makeApp({ id: "4242" })] });
});
after(async () => {
  await worker?.stop();
});

test("a private channel authorised with presence data (as the common Next.js auth route does) subscribes", async () => {
  const sdk = serverSdk(worker);
  const presenceData = { user_id: "u1", user_info: { name: "Ada" } };
  // The route as people write it: the same call for every channel.
  const client = await pusherJs(worker, worker.app, {
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) =>
        callback(null, sdk.authorizeChannel(socketId, channelName, presenceData)),
    },
  });
  try {
    const channel = await subscribed(client, "private-orders");
    const got = nextEvent(channel, "created");
    await sdk.trigger("private-orders", "created", { id: 1 });
    assert.deepEqual(await got, { id: 1 });
    // The presence channel with the same route still gets its member data.
    const room = await subscribed(client, "presence-room");
    assert.equal(room.members.me.id, "u1");
    assert.deepEqual(room.members.me.info, { name: "Ada" });
  } finally {
    client.disconnect();
  }
});

test("a channel_data the signature does not cover is refused on a private channel", async () => {
  const sdk = serverSdk(worker);
  const client = await pusherJs(worker, worker.app, {
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        const signed = sdk.authorizeChannel(socketId, channelName, { user_id: "u1" });
        callback(null, { ...signed, channel_data: JSON.stringify({ user_id: "someone-else" }) });
      },
    },
  });
  try {
    await assert.rejects(subscribed(client, "private-forged"), /subscription_error/);
  } finally {
    client.disconnect();
  }
});

test("an SDK given the app key as its app id publishes and reads as that app", async () => {
  const byKey = serverSdk(worker, { ...worker.app, id: worker.app.key });
  const client = await pusherJs(worker);
  try {
    const channel = await subscribed(client, "keyed");
    const got = nextEvent(channel, "hello");
    const response = await byKey.trigger("keyed", "hello", { ok: true });
    assert.equal(response.status, 200);
    assert.deepEqual(await got, { ok: true });
    const info = await (await byKey.get({ path: "/channels/keyed", params: { info: "subscription_count" } })).json();
    assert.deepEqual(info, { occupied: true, subscription_count: 1 });
    // Another app's key in the path is still refused.
    const wrong = serverSdk(worker, { ...worker.app, id: "not-this-app" });
    await assert.rejects(wrong.trigger("keyed", "hello", {}), (e) => e.status === 401);
  } finally {
    client.disconnect();
  }
});
