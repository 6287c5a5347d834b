// The occupied-channel index behind GET /apps/{id}/channels is exact at the moments a client
// can observe: a channel is listed (with its presence user_count) as soon as pusher-js has
// subscription_succeeded or member_added, and leaves the list promptly once vacated.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker,
  makeApp,
  serverSdk,
  pusherJs,
  subscribed,
  sdkAuth,
  nextEvent,
  connectRaw,
  subscribeRaw,
} from "./support/harness.mjs";

let worker;
let sdk;
const app = makeApp({ enable_client_messages: true });
const clients = [];

before(async () => {
  worker = await startWorker({ apps: [app] });
  sdk = serverSdk(worker);
});
after(async () => {
  for (const c of clients) c.disconnect();
  await worker?.stop();
});

async function client(presence) {
  const c = await pusherJs(worker, app, sdkAuth(worker, { presence }));
  clients.push(c);
  return c;
}

async function listed(params) {
  const res = await sdk.get({ path: "/channels", params });
  assert.equal(res.status, 200);
  return (await res.json()).channels;
}

/** Polls the list until `predicate` holds; answers how long it took (docs/operations.md's promise). */
async function pollList(params, predicate, what, timeoutMs = 3_000) {
  const start = Date.now();
  for (;;) {
    const channels = await listed(params);
    if (predicate(channels)) return Date.now() - start;
    if (Date.now() - start > timeoutMs) {
      assert.fail(`${what} not seen within ${timeoutMs} ms: ${JSON.stringify(channels)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

test("a channel is listed as soon as its first subscriber has subscription_succeeded", async () => {
  const c = await client();
  // Several channels in a row, each checked at once: a batched index (about a second behind)
  // could not list them.
  for (const name of ["live-a", "live-b", "private-live-c"]) {
    await subscribed(c, name);
    const channels = await listed({ filter_by_prefix: name });
    assert.deepEqual(channels, { [name]: {} }, `${name} listed right after subscription_succeeded`);
  }

  c.unsubscribe("live-a");
  const took = await pollList({ filter_by_prefix: "live-" }, (ch) => !("live-a" in ch), "live-a vacated");
  assert.ok("live-b" in (await listed({ filter_by_prefix: "live-" })), "the others stay listed");
  console.log(`vacated channel left the list after ${took} ms`);

  c.disconnect();
  await pollList(
    { filter_by_prefix: "" },
    (ch) => !("live-b" in ch) && !("private-live-c" in ch),
    "disconnect vacates",
  );
});

test("presence user_count is right after subscription_succeeded, member_added and member_removed", async () => {
  const channel = "presence-live";
  const params = { filter_by_prefix: "presence-live", info: "user_count" };
  const count = async () => (await listed(params))[channel]?.user_count;

  const first = await client({ user_id: "u1" });
  const firstChannel = await subscribed(first, channel);
  assert.equal(await count(), 1, "after the first member's subscription_succeeded");

  const second = await client({ user_id: "u2" });
  await subscribed(second, channel);
  assert.equal(await count(), 2, "after the second member's subscription_succeeded");

  // The first member's member_added for a third user: checked before anything else happens.
  const added = nextEvent(firstChannel, "pusher:member_added");
  const third = await client({ user_id: "u3" });
  third.subscribe(channel);
  const member = await added;
  assert.equal(member.id, "u3");
  assert.equal(await count(), 3, "right after member_added");

  // A second tab of a present user does not change the count.
  const thirdAgain = await client({ user_id: "u3" });
  await subscribed(thirdAgain, channel);
  assert.equal(await count(), 3, "same user, another connection");

  // member_removed goes out once the ledger has the smaller count.
  const removed = nextEvent(firstChannel, "pusher:member_removed");
  second.disconnect();
  assert.equal((await removed).id, "u2");
  assert.equal(await count(), 2, "right after member_removed");

  for (const c of [first, third, thirdAgain]) c.disconnect();
  await pollList(params, (ch) => !(channel in ch), "presence channel vacated");
});

test("client events must be named client-: a pusher_internal: event from a client is refused, not relayed", async () => {
  const sender = await connectRaw(worker);
  const other = await connectRaw(worker);
  for (const { sock, socketId } of [sender, other]) {
    const auth = sdk.authorizeChannel(socketId, "private-whisper").auth;
    assert.equal(
      (await subscribeRaw(sock, "private-whisper", { auth })).event,
      "pusher_internal:subscription_succeeded",
    );
  }
  try {
    for (const event of ["pusher_internal:member_added", "pusher:subscription_succeeded", "whisper"]) {
      const from = sender.sock.frames.length;
      sender.sock.send({ event, channel: "private-whisper", data: { user_id: "x" } });
      const err = await sender.sock.waitFrom(from, (f) => f.event === "pusher:error", `refusal of ${event}`);
      assert.match(err.data.message, new RegExp(`^Unsupported event received: ${event}`));
    }
    // A client- event still goes through, and is the only thing the other subscriber got.
    sender.sock.send({ event: "client-ok", channel: "private-whisper", data: {} });
    await other.sock.waitFor((f) => f.event === "client-ok", "the client- event");
    const seen = other.sock.frames.filter((f) => f.channel === "private-whisper").map((f) => f.event);
    assert.deepEqual(seen, ["pusher_internal:subscription_succeeded", "client-ok"]);
  } finally {
    sender.sock.close();
    other.sock.close();
  }
});
