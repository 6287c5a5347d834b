// Laravel Echo (npm laravel-echo) over pusher-js: private channels, presence here/joining/
// leaving, and whispers (client events), as a Laravel app uses them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Echo from "laravel-echo";
import { startWorker, makeApp, pusherJs, sdkAuth, serverSdk, eventually, sleep } from "./support/harness.mjs";

let worker;
const app = makeApp({ enable_client_messages: true });
before(async () => {
  worker = await startWorker({ apps: [app] });
});
after(async () => {
  await worker?.stop();
});

async function echoAs(id, name) {
  const client = await pusherJs(
    worker,
    app,
    sdkAuth(worker, { app, presence: { user_id: id, user_info: { id, name } } }),
  );
  return new Echo({ broadcaster: "pusher", key: app.key, client });
}

test("Echo: private listen, presence here/joining/leaving, whisper", async () => {
  const ada = await echoAs("1", "Ada");
  const bob = await echoAs("2", "Bob");
  try {
    const orders = [];
    ada.private("orders.7").listen(".OrderShipped", (e) => orders.push(e));
    await sleep(300);
    await serverSdk(worker, app).trigger("private-orders.7", "OrderShipped", { id: 7 });
    await eventually(() => orders.length === 1, "private event through Echo");
    assert.deepEqual(orders, [{ id: 7 }]);

    let here = null;
    const joining = [];
    const leaving = [];
    const whispers = [];
    ada
      .join("room.1")
      .here((users) => (here = users))
      .joining((u) => joining.push(u))
      .leaving((u) => leaving.push(u))
      .listenForWhisper("typing", (e) => whispers.push(e));
    await eventually(() => here !== null, "here()");
    assert.deepEqual(here, [{ id: "1", name: "Ada" }]);

    const bobRoom = bob.join("room.1");
    await eventually(() => joining.length === 1, "joining()");
    assert.deepEqual(joining, [{ id: "2", name: "Bob" }]);
    await sleep(200);
    bobRoom.whisper("typing", { name: "Bob" });
    await eventually(() => whispers.length === 1, "whisper");
    assert.deepEqual(whispers, [{ name: "Bob" }]);

    bob.leave("room.1");
    await eventually(() => leaving.length === 1, "leaving()");
    assert.deepEqual(leaving, [{ id: "2", name: "Bob" }]);
  } finally {
    ada.disconnect();
    bob.disconnect();
  }
});
