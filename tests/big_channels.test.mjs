// Big channels: past `limits.channel_split_threshold` subscribers (50 here), new subscribers go
// to leaf rooms that the channel's room fans each publish out to. Presence channels never split.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, makeApp, serverSdk, connectRaw, subscribeRaw, sleep, objectFetch } from "./support/harness.mjs";

// Unlimited: its hundreds of clients all connect from one address (127.0.0.1).
const app = makeApp({
  enable_client_messages: true,
  rate_limit_tier: "unlimited",
  limits: { channel_split_threshold: 50 },
});
let worker;
before(async () => {
  worker = await startWorker({ apps: [app] });
});
after(async () => {
  await worker?.stop();
});

test("200 subscribers over several leaves each get every event exactly once, in order; counts stay right", async () => {
  const sdk = serverSdk(worker);
  const subscribers = [];
  for (let i = 0; i < 200; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const c = await connectRaw(worker);
        const result = await subscribeRaw(c.sock, "big-news");
        assert.equal(result.event, "pusher_internal:subscription_succeeded");
        return c;
      }),
    );
    subscribers.push(...batch);
  }
  const count = async () => {
    const res = await sdk.get({ path: "/channels/big-news", params: { info: "subscription_count" } });
    return (await res.json()).subscription_count;
  };
  assert.equal(await count(), 200);
  // The channel's room holds 50; the rest are in leaves of at most 50 each.
  const held = async (name, leaf) => {
    const query = `app=${app.id}&channel=big-news${leaf === undefined ? "" : `&leaf=${leaf}`}`;
    const res = await objectFetch(worker, "CHANNELS", name, `/info?${query}`);
    await res.arrayBuffer();
    return Number(res.headers.get("x-subscribers"));
  };
  assert.equal(await held(`${app.id}:big-news`), 200, "the root answers for the whole channel");
  const leaves = [];
  for (let leaf = 0; leaf < 3; leaf++) leaves.push(await held(`${app.id}:big-news#${leaf}`, leaf));
  assert.deepEqual(leaves, [50, 50, 50]);
  const rootAnswer = await sdk.trigger("big-news", "probe", "0", { info: "subscription_count" });
  assert.deepEqual(await rootAnswer.json(), { channels: { "big-news": { subscription_count: 200 } } });

  for (let n = 1; n <= 20; n++) await sdk.trigger("big-news", "seq", String(n));
  const sequences = () =>
    subscribers.map((c) => c.sock.frames.filter((f) => f.event === "seq").map((f) => Number(f.data)));
  const expected = Array.from({ length: 20 }, (_, i) => i + 1);
  const deadline = Date.now() + 20_000;
  while (sequences().some((s) => s.length < 20) && Date.now() < deadline) await sleep(100);
  await sleep(300); // anything duplicated would have arrived by now
  for (const [i, s] of sequences().entries()) assert.deepEqual(s, expected, `subscriber ${i}`);

  // Leaving: 30 close their connection, 20 unsubscribe; counts follow and they get nothing more.
  for (const c of subscribers.slice(0, 30)) c.sock.close();
  for (const c of subscribers.slice(30, 50))
    c.sock.send({ event: "pusher:unsubscribe", data: { channel: "big-news" } });
  const gone = subscribers.slice(0, 50);
  const left = subscribers.slice(50);
  let now = 0;
  for (let i = 0; i < 50 && now !== 150; i++) {
    now = await count();
    if (now !== 150) await sleep(100);
  }
  assert.equal(now, 150);
  await sdk.trigger("big-news", "seq", "21");
  while (
    left.some((c) => !c.sock.frames.some((f) => f.event === "seq" && f.data === "21")) &&
    Date.now() < deadline + 10_000
  ) {
    await sleep(100);
  }
  for (const c of left) assert.ok(c.sock.frames.some((f) => f.data === "21" && f.event === "seq"));
  for (const c of gone.slice(30))
    assert.ok(!c.sock.frames.some((f) => f.data === "21" && f.event === "seq"), "unsubscribed");

  // The channel is listed once, as occupied.
  const listed = await (await sdk.get({ path: "/channels", params: { filter_by_prefix: "big-" } })).json();
  assert.deepEqual(Object.keys(listed.channels), ["big-news"]);
  for (const c of subscribers) c.sock.close();
});

test("presence channels never split", async () => {
  const sdk = serverSdk(worker);
  const members = [];
  for (let i = 0; i < 60; i++) {
    const c = await connectRaw(worker);
    const channelData = JSON.stringify({ user_id: `u${i}` });
    const { auth } = sdk.authorizeChannel(c.socketId, "presence-crowd", { user_id: `u${i}` });
    const result = await subscribeRaw(c.sock, "presence-crowd", { auth, channel_data: channelData });
    assert.equal(result.event, "pusher_internal:subscription_succeeded");
    members.push(c);
  }
  const last = JSON.parse(
    members.at(-1).sock.frames.find((f) => f.event === "pusher_internal:subscription_succeeded").data,
  );
  assert.equal(last.presence.count, 60, "the last member sees all 60 in one room");
  for (const c of members) c.sock.close();
});

test("client events cross a split channel: from a leaf to the root and the other leaves, and back", async () => {
  const sdk = serverSdk(worker);
  const members = [];
  for (let i = 0; i < 110; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const c = await connectRaw(worker);
        const { auth } = sdk.authorizeChannel(c.socketId, "private-big");
        await subscribeRaw(c.sock, "private-big", { auth });
        return c;
      }),
    );
    members.push(...batch);
  }
  // members[0..50] are in the root room, [50..100] in leaf 0, [100..110] in leaf 1.
  const got = (c, n) => c.sock.frames.some((f) => f.event === "client-hi" && f.data?.n === n);
  const everyone = async (sender, n) => {
    sender.sock.send({ event: "client-hi", channel: "private-big", data: { n } });
    const others = members.filter((c) => c !== sender);
    const deadline = Date.now() + 10_000;
    while (others.some((c) => !got(c, n)) && Date.now() < deadline) await sleep(50);
    for (const [i, c] of others.entries()) assert.ok(got(c, n), `member ${i} missed client event ${n}`);
    assert.ok(!got(sender, n), "never echoed to the sender");
  };
  await everyone(members[60], 1); // from leaf 0
  await everyone(members[5], 2); // from the root room
  await everyone(members[105], 3); // from leaf 1
  for (const c of members) c.sock.close();
});
