// Cache channels with the real pusher-js and pusher SDK: the last REST event after
// subscription_succeeded, else pusher:cache_miss.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, makeApp, connectRaw, subscribeRaw, serverSdk } from "./support/harness.mjs";

let worker;
const chatty = makeApp({ enable_client_messages: true });
before(async () => {
  worker = await startWorker({ apps: [chatty, makeApp()] });
});
after(async () => {
  await worker?.stop();
});

test("cache channels: the last REST event after subscription_succeeded, else pusher:cache_miss", async () => {
  const first = await connectRaw(worker, chatty);
  await subscribeRaw(first.sock, "cache-news");
  const miss = await first.sock.waitFor((f) => f.event === "pusher:cache_miss", "cache_miss");
  assert.deepEqual(miss, { event: "pusher:cache_miss", channel: "cache-news" });
  first.sock.close();

  await serverSdk(worker, chatty).trigger("cache-news", "headline", "one");
  await serverSdk(worker, chatty).trigger("cache-news", "headline", "two");
  await worker.mf.unsafeEvictDurableObject(worker.workerName, "ChannelRoom", {
    name: `${chatty.id}:cache-news`,
    webSockets: "hibernate",
  });
  const late = await connectRaw(worker, chatty);
  const from = late.sock.frames.length;
  await subscribeRaw(late.sock, "cache-news");
  const cached = await late.sock.waitFrom(from, (f) => f.event === "headline", "cached event");
  assert.deepEqual(cached, { event: "headline", channel: "cache-news", data: "two" });
  const order = late.sock.frames.slice(from).map((f) => f.event);
  assert.deepEqual(order.slice(0, 2), ["pusher_internal:subscription_succeeded", "headline"]);
  late.sock.close();
});
