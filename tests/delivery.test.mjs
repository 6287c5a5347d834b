// End to end: the real pusher-js client and the real pusher SDK against the built worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker,
  serverSdk,
  pusherJs,
  subscribed,
  connectRaw,
  subscribeRaw,
  sleep,
  eventually,
} from "./support/harness.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(async () => {
  await worker?.stop();
});

function collect(channel, event) {
  const got = [];
  channel.bind(event, (data) => got.push(data));
  return got;
}

test("pusher-js receives an event triggered by the pusher SDK on a public channel", async () => {
  const client = await pusherJs(worker);
  try {
    assert.match(client.connection.socket_id, /^\d+\.\d+$/);
    const channel = await subscribed(client, "public-news");
    const got = collect(channel, "headline");
    const response = await serverSdk(worker).trigger("public-news", "headline", { title: "Hello" });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {});
    await eventually(() => got.length === 1, "event delivery");
    assert.deepEqual(got, [{ title: "Hello" }]);
  } finally {
    client.disconnect();
  }
});

test("several connections each receive every event exactly once, on every channel named", async () => {
  const clients = await Promise.all([1, 2, 3, 4].map(() => pusherJs(worker)));
  try {
    const got = [];
    for (const client of clients) {
      const a = await subscribed(client, "fanout-a");
      const b = await subscribed(client, "fanout-b");
      got.push(collect(a, "tick"), collect(b, "tick"));
    }
    const sdk = serverSdk(worker);
    for (let i = 0; i < 5; i++) {
      await sdk.trigger(["fanout-a", "fanout-b"], "tick", { i });
    }
    await eventually(() => got.every((g) => g.length >= 5), "all deliveries");
    await sleep(200); // anything extra would have arrived by now
    for (const g of got)
      assert.deepEqual(
        g,
        [0, 1, 2, 3, 4].map((i) => ({ i })),
      );
  } finally {
    for (const c of clients) c.disconnect();
  }
});

test("socket_id exclusion leaves out exactly the sender's connection", async () => {
  const [sender, other] = await Promise.all([pusherJs(worker), pusherJs(worker)]);
  try {
    const senderGot = collect(await subscribed(sender, "excl"), "msg");
    const otherGot = collect(await subscribed(other, "excl"), "msg");
    await serverSdk(worker).trigger("excl", "msg", "first", { socket_id: sender.connection.socket_id });
    await serverSdk(worker).trigger("excl", "msg", "second");
    await eventually(() => otherGot.length === 2 && senderGot.length === 1, "deliveries");
    await sleep(200);
    assert.deepEqual(otherGot, ["first", "second"]);
    assert.deepEqual(senderGot, ["second"]);
  } finally {
    sender.disconnect();
    other.disconnect();
  }
});

test("the wire frame of a delivered event carries the data string exactly as published", async () => {
  const { sock } = await connectRaw(worker);
  try {
    const ok = await subscribeRaw(sock, "wire");
    assert.deepEqual(ok, {
      event: "pusher_internal:subscription_succeeded",
      channel: "wire",
      data: "{}",
    });
    await serverSdk(worker).trigger("wire", "evt", { a: [1, "two"], é: "ü" });
    const frame = await sock.waitFor((f) => f.event === "evt", "event");
    assert.deepEqual(frame, { event: "evt", channel: "wire", data: '{"a":[1,"two"],"é":"ü"}' });
  } finally {
    sock.close();
  }
});

test("unsubscribing stops delivery; the channel can be joined again", async () => {
  const { sock } = await connectRaw(worker);
  try {
    await subscribeRaw(sock, "churn");
    sock.send({ event: "pusher:unsubscribe", data: { channel: "churn" } });
    await sleep(200);
    await serverSdk(worker).trigger("churn", "evt", "while-away");
    await subscribeRaw(sock, "churn");
    await serverSdk(worker).trigger("churn", "evt", "back");
    await sock.waitFor((f) => f.event === "evt" && f.data === "back", "event after resubscribe");
    assert.equal(sock.frames.filter((f) => f.event === "evt").length, 1);
  } finally {
    sock.close();
  }
});

test("a hibernated (evicted) channel room still delivers to the connected client", async () => {
  const client = await pusherJs(worker);
  try {
    const channel = await subscribed(client, "sleepy");
    const got = collect(channel, "wake");
    await serverSdk(worker).trigger("sleepy", "wake", "before");
    await eventually(() => got.length === 1, "first delivery");

    await worker.mf.unsafeEvictDurableObject(worker.workerName, "ChannelRoom", {
      name: `${worker.app.id}:sleepy`,
      webSockets: "hibernate",
    });

    await serverSdk(worker).trigger("sleepy", "wake", "after");
    await eventually(() => got.length === 2, "delivery after eviction");
    assert.deepEqual(got, ["before", "after"]);
    assert.equal(client.connection.state, "connected");
  } finally {
    client.disconnect();
  }
});

test("a room that drops its sockets (a reset) is rejoined quietly: the client sees nothing, and what the new room sent meanwhile arrives once", async () => {
  const evict = () =>
    worker.mf.unsafeEvictDurableObject(worker.workerName, "ChannelRoom", {
      name: `${worker.app.id}:fragile`,
      webSockets: "close",
    });
  const { sock } = await connectRaw(worker);
  await subscribeRaw(sock, "fragile");
  const from = sock.frames.length;
  await evict();
  // Published at once: the new instance takes it before the session is back (the rejoin
  // waits up to 1 s of jitter), and replays it when it is.
  const sdk = serverSdk(worker);
  await sdk.trigger("fragile", "evt", "during");
  await sleep(1_500);
  await sdk.trigger("fragile", "evt", "after");
  await sock.waitFrom(from, (f) => f.event === "evt" && f.data === "after", "the event after the rejoin");
  await sleep(200);
  assert.equal(sock.isClosed(), false, "the client stays connected");
  assert.deepEqual(
    sock.frames.slice(from).map((f) => [f.event, f.data]),
    [
      ["evt", "during"],
      ["evt", "after"],
    ],
    "nothing but the two events: no second subscription_succeeded, nothing doubled",
  );

  const client = await pusherJs(worker);
  try {
    const firstId = client.connection.socket_id;
    const states = [];
    client.connection.bind("state_change", ({ current }) => states.push(current));
    const channel = await subscribed(client, "fragile");
    let succeeded = 0;
    channel.bind("pusher:subscription_succeeded", () => succeeded++);
    const got = collect(channel, "evt");
    await evict();
    await sleep(1_500);
    await serverSdk(worker).trigger("fragile", "evt", "after-reset");
    await eventually(() => got.length === 1, "delivery after the reset");
    assert.equal(client.connection.socket_id, firstId, "the same connection");
    assert.deepEqual(states, [], "pusher-js never left the connected state");
    assert.equal(succeeded, 0, "no second subscription_succeeded");
  } finally {
    client.disconnect();
  }
});
