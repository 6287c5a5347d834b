// Presence channels with the real pusher-js and pusher SDK: rosters, multi-tab membership,
// limits, and rosters that stay right when the room is evicted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker,
  makeApp,
  pusherJs,
  subscribed,
  sdkAuth,
  nextEvent,
  eventually,
  connectRaw,
  subscribeRaw,
  serverSdk,
  sleep,
} from "./support/harness.mjs";

let worker;
const limited = makeApp({ limits: { max_presence_members: 2 } });
const graceful = makeApp({ limits: { presence_grace_secs: 3 } });
before(async () => {
  worker = await startWorker({ apps: [makeApp(), limited, graceful] });
});
after(async () => {
  await worker?.stop();
});

const as = (user_id, name, app) =>
  pusherJs(worker, app, sdkAuth(worker, { app, presence: { user_id, user_info: { name } } }));

test("roster, member_added on a user's first tab only, member_removed after the last", async () => {
  const ada1 = await as("ada", "Ada");
  const bob = await as("bob", "Bob");
  try {
    const adaChannel = await subscribed(ada1, "presence-room");
    assert.equal(adaChannel.members.count, 1);
    assert.deepEqual(adaChannel.members.me, { id: "ada", info: { name: "Ada" } });

    const added = [];
    const removed = [];
    adaChannel.bind("pusher:member_added", (m) => added.push(m.id));
    adaChannel.bind("pusher:member_removed", (m) => removed.push(m.id));

    const bobChannel = await subscribed(bob, "presence-room");
    assert.equal(bobChannel.members.count, 2);
    assert.deepEqual(bobChannel.members.get("ada"), { id: "ada", info: { name: "Ada" } });
    await eventually(() => added.length === 1, "member_added for bob");

    // Ada opens a second tab: one member, no member_added.
    const ada2 = await as("ada", "Ada");
    const ada2Channel = await subscribed(ada2, "presence-room");
    assert.equal(ada2Channel.members.count, 2);
    await sleep(200);
    assert.deepEqual(added, ["bob"]);

    const bobRemoved = [];
    bobChannel.bind("pusher:member_removed", (m) => bobRemoved.push(m.id));
    ada1.disconnect(); // one of two tabs: Ada stays
    await sleep(300);
    assert.deepEqual(bobRemoved, []);
    ada2.disconnect(); // the last tab
    await eventually(() => bobRemoved.length === 1, "member_removed for ada");
    assert.deepEqual(bobRemoved, ["ada"]);
    assert.equal(bobChannel.members.count, 1);
  } finally {
    ada1.disconnect();
    bob.disconnect();
  }
});

test("the roster on the wire lists every id in hash, with null for members without info", async () => {
  const sdk = serverSdk(worker);
  const a = await connectRaw(worker);
  const withInfo = JSON.stringify({ user_id: 7, user_info: { name: "Ada" } });
  const okA = await subscribeRaw(a.sock, "presence-wire", {
    auth: sdk.authorizeChannel(a.socketId, "presence-wire", { user_id: 7, user_info: { name: "Ada" } }).auth,
    channel_data: withInfo,
  });
  assert.deepEqual(JSON.parse(okA.data), { presence: { ids: ["7"], hash: { 7: { name: "Ada" } }, count: 1 } });

  const b = await connectRaw(worker);
  const noInfo = JSON.stringify({ user_id: "u9" });
  const okB = await subscribeRaw(b.sock, "presence-wire", {
    auth: sdk.authorizeChannel(b.socketId, "presence-wire", { user_id: "u9" }).auth,
    channel_data: noInfo,
  });
  assert.equal(typeof okB.data, "string");
  assert.deepEqual(JSON.parse(okB.data), {
    presence: { ids: ["7", "u9"], hash: { 7: { name: "Ada" }, u9: null }, count: 2 },
  });
  const added = await a.sock.waitFor((f) => f.event === "pusher_internal:member_added", "member_added");
  assert.equal(typeof added.data, "string");
  assert.deepEqual(JSON.parse(added.data), { user_id: "u9", user_info: null });
  b.sock.close();
  const removed = await a.sock.waitFor((f) => f.event === "pusher_internal:member_removed", "member_removed");
  assert.deepEqual(JSON.parse(removed.data), { user_id: "u9" });
  a.sock.close();
});

test("presence stays right after the room is evicted", async () => {
  const ada = await as("ada", "Ada");
  const bob = await as("bob", "Bob");
  try {
    await subscribed(ada, "presence-sleepy");
    const bobChannel = await subscribed(bob, "presence-sleepy");
    await worker.mf.unsafeEvictDurableObject(worker.workerName, "ChannelRoom", {
      name: `${worker.app.id}:presence-sleepy`,
      webSockets: "hibernate",
    });
    const cyd = await as("cyd", "Cyd");
    const cydChannel = await subscribed(cyd, "presence-sleepy");
    assert.equal(cydChannel.members.count, 3);
    assert.deepEqual(Object.keys(cydChannel.members.members).sort(), ["ada", "bob", "cyd"]);

    await worker.mf.unsafeEvictDurableObject(worker.workerName, "ChannelRoom", {
      name: `${worker.app.id}:presence-sleepy`,
      webSockets: "hibernate",
    });
    const gone = nextEvent(bobChannel, "pusher:member_removed");
    ada.disconnect();
    assert.equal((await gone).id, "ada");
    cyd.disconnect();
  } finally {
    ada.disconnect();
    bob.disconnect();
  }
});

test("the member limit refuses a new user with a clear error, but not another tab of a member", async () => {
  const one = await as("one", "One", limited);
  const two = await as("two", "Two", limited);
  const three = await as("three", "Three", limited);
  const oneAgain = await as("one", "One", limited);
  try {
    await subscribed(one, "presence-small");
    await subscribed(two, "presence-small");
    const refused = three.subscribe("presence-small");
    const error = await nextEvent(refused, "pusher:subscription_error");
    assert.equal(error.status, 4100);
    assert.equal(error.type, "LimitReached");
    assert.match(error.error, /full \(2 members\)/);
    const again = await subscribed(oneAgain, "presence-small");
    assert.equal(again.members.count, 2);
  } finally {
    for (const c of [one, two, three, oneAgain]) c.disconnect();
  }
});

test("channel_data is validated and covered by the signature", async () => {
  const sdk = serverSdk(worker);
  const { sock, socketId } = await connectRaw(worker);
  const longId = { user_id: "x".repeat(129) };
  const tooLong = await subscribeRaw(sock, "presence-v", {
    auth: sdk.authorizeChannel(socketId, "presence-v", longId).auth,
    channel_data: JSON.stringify(longId),
  });
  assert.equal(tooLong.event, "pusher:subscription_error");
  assert.match(tooLong.data.error, /longer than 128/);

  const bigInfo = { user_id: "1", user_info: { blob: "x".repeat(1100) } };
  const tooBig = await subscribeRaw(sock, "presence-v", {
    auth: sdk.authorizeChannel(socketId, "presence-v", bigInfo).auth,
    channel_data: JSON.stringify(bigInfo),
  });
  assert.match(tooBig.data.error, /maximum is 1024 bytes/);

  // Valid auth for one member, channel_data claiming another.
  const forged = await subscribeRaw(sock, "presence-v", {
    auth: sdk.authorizeChannel(socketId, "presence-v", { user_id: "1" }).auth,
    channel_data: JSON.stringify({ user_id: "admin" }),
  });
  assert.equal(forged.event, "pusher:subscription_error");
  assert.match(sock.frames.filter((f) => f.event === "pusher:error").at(-1).data.message, /^Invalid signature/);
  sock.close();
});

test("with presence_grace_secs, a member whose connection drops uncleanly and comes back in time is never removed", async () => {
  const sdk = serverSdk(worker, graceful);
  const join = async (userId) => {
    const c = await connectRaw(worker, graceful);
    const channel_data = JSON.stringify({ user_id: userId });
    const { auth } = sdk.authorizeChannel(c.socketId, "presence-grace", { user_id: userId });
    await subscribeRaw(c.sock, "presence-grace", { auth, channel_data });
    return c;
  };
  const stay = await join("stay");
  const drop = await join("drop");
  const from = stay.sock.frames.length;
  const memberEvents = () =>
    stay.sock.frames
      .slice(from)
      .filter((f) => f.event?.startsWith("pusher_internal:member_"))
      .map((f) => [f.event, JSON.parse(f.data).user_id]);
  // No close frame: the connection is lost, not closed (as a network drop is).
  drop.sock.ws.terminate();
  await sleep(1_000);
  const back = await join("drop");
  await sleep(3_500);
  assert.deepEqual(memberEvents(), [], "back within the grace: no member_removed, no member_added");
  assert.equal(
    (await (await sdk.get({ path: "/channels/presence-grace", params: { info: "user_count" } })).json()).user_count,
    2,
  );
  // Lost again, for good: removed once the grace is over, not before.
  back.sock.ws.terminate();
  await sleep(1_500);
  assert.deepEqual(memberEvents(), [], "still within the grace");
  const removed = await stay.sock.waitFrom(from, (f) => f.event === "pusher_internal:member_removed", "removal");
  assert.equal(JSON.parse(removed.data).user_id, "drop");
  // A clean close (pusher-js disconnect()) is no drop: removed at once.
  const clean = await join("clean");
  const before = stay.sock.frames.length;
  clean.sock.close();
  const gone = await stay.sock.waitFrom(before, (f) => f.event === "pusher_internal:member_removed", "clean removal");
  assert.equal(JSON.parse(gone.data).user_id, "clean");
  assert.deepEqual(
    memberEvents().map(([event, id]) => `${event.slice("pusher_internal:".length)} ${id}`),
    ["member_removed drop", "member_added clean", "member_removed clean"],
  );
  stay.sock.close();
});

test("a signed-in connection joins presence channels as its user: the auth signs no channel_data, the member is the sign-in's id and user_info", async () => {
  // The auth route of Pusher's "presence for authenticated users": authorizeChannel(socketId,
  // channel) with no presence data; pusher-js waits for signin_success before subscribing.
  const app = worker.apps[0];
  const signedIn = (id, name) =>
    pusherJs(worker, app, sdkAuth(worker, { app, user: { id, user_info: { name }, watchlist: ["zed"] } }));
  const ada = await signedIn("ada-signed", "Ada");
  const bob = await signedIn("bob-signed", "Bob");
  try {
    ada.signin();
    bob.signin();
    const adaChannel = await subscribed(ada, "presence-signed");
    assert.deepEqual(adaChannel.members.me, { id: "ada-signed", info: { name: "Ada" } });
    const added = nextEvent(adaChannel, "pusher:member_added");
    const bobChannel = await subscribed(bob, "presence-signed");
    assert.deepEqual(await added, { id: "bob-signed", info: { name: "Bob" } });
    assert.equal(bobChannel.members.count, 2);
    assert.deepEqual(bobChannel.members.get("ada-signed"), { id: "ada-signed", info: { name: "Ada" } });
    const { users } = await (await serverSdk(worker, app).get({ path: "/channels/presence-signed/users" })).json();
    assert.deepEqual(users.map((u) => u.id).sort(), ["ada-signed", "bob-signed"]);
  } finally {
    ada.disconnect();
    bob.disconnect();
  }
});

test("presence auth without channel_data: refused before a sign-in with a clear subscription_error, the sign-in's member after; a second sign-in cannot change it", async () => {
  const app = worker.apps[0];
  const sdk = serverSdk(worker, app);
  const { sock, socketId } = await connectRaw(worker, app);
  const { auth } = sdk.authorizeChannel(socketId, "presence-raw");
  const refused = await subscribeRaw(sock, "presence-raw", { auth });
  assert.equal(refused.event, "pusher:subscription_error");
  assert.equal(refused.data.status, 401);
  assert.match(refused.data.error, /or a connection signed in first \(pusher:signin\)/);

  const signin = sdk.authenticateUser(socketId, { id: "raw-user", user_info: { n: 1 } });
  sock.send({ event: "pusher:signin", data: signin });
  await sock.waitFor((f) => f.event === "pusher:signin_success", "signin_success");
  const ok = await subscribeRaw(sock, "presence-raw", { auth });
  assert.equal(ok.event, "pusher_internal:subscription_succeeded");
  assert.deepEqual(JSON.parse(ok.data), { presence: { ids: ["raw-user"], hash: { "raw-user": { n: 1 } }, count: 1 } });

  // Validly signed, other data: refused, and the session keeps the member it holds.
  const other = sdk.authenticateUser(socketId, { id: "raw-user", user_info: { n: 2 } });
  sock.send({ event: "pusher:signin", data: other });
  const answer = await sock.waitFor((f) => f.event === "pusher:error" && f.data?.code === 4009, "the refusal");
  assert.match(answer.data.message, /reconnect to sign in with other user data/);
  assert.equal(sock.frames.filter((f) => f.event === "pusher:signin_success").length, 1);
  const { users } = await (await sdk.get({ path: "/channels/presence-raw/users" })).json();
  assert.deepEqual(users, [{ id: "raw-user" }]);
  sock.close();
});

test("a signed-in pusher-js client that reconnects signs in again and comes back as the same member of a presence channel without channel_data", async (t) => {
  const app = worker.apps[0];
  const signedIn = (id, name) => pusherJs(worker, app, sdkAuth(worker, { app, user: { id, user_info: { name } } }));
  const ada = await signedIn("ada-again", "Ada");
  const bob = await signedIn("bob-watching", "Bob");
  const signins = [];
  ada.connection.bind("message", (m) => {
    if (m.event === "pusher:signin_success") signins.push(JSON.parse(m.data.user_data).id);
  });
  try {
    ada.signin();
    bob.signin();
    const adaChannel = await subscribed(ada, "presence-again");
    const bobChannel = await subscribed(bob, "presence-again");
    await eventually(() => adaChannel.members.count === 2, "ada sees bob");
    const seen = [];
    bobChannel.bind("pusher:member_added", (m) => seen.push(`added ${m.id}`));
    bobChannel.bind("pusher:member_removed", (m) => seen.push(`removed ${m.id}`));
    const rounds = [
      [
        "disconnect() then connect()",
        async () => {
          ada.disconnect();
          await eventually(() => ada.connection.state === "disconnected", "ada disconnected");
          ada.connect();
        },
      ],
      // pusher-js 8.6 in Node runs on faye-websocket: ending its TCP stream is a network drop
      // (close 1006), after which pusher-js reconnects by itself in a second.
      ["a dropped socket", async () => ada.connection.connection.transport.socket._stream.destroy()],
    ];
    for (const [how, cut] of rounds) {
      const before = { socketId: ada.connection.socket_id, signins: signins.length, seen: seen.length };
      const back = nextEvent(adaChannel, "pusher:subscription_succeeded", 15_000);
      await cut();
      await back;
      assert.notEqual(ada.connection.socket_id, before.socketId, how);
      assert.deepEqual(signins.slice(before.signins), ["ada-again"], `${how}: signed in again, once`);
      assert.deepEqual(adaChannel.members.me, { id: "ada-again", info: { name: "Ada" } }, how);
      assert.equal(adaChannel.members.count, 2, how);
      assert.deepEqual(adaChannel.members.get("bob-watching"), { id: "bob-watching", info: { name: "Bob" } }, how);
      // Bob sees ada come back only if he saw her go; either way she is a member again.
      await eventually(() => bobChannel.members.get("ada-again") !== null, `${how}: ada among bob's members`);
      await sleep(300);
      const events = seen.slice(before.seen);
      t.diagnostic(`${how}: bob saw ${JSON.stringify(events)}`);
      assert.ok(
        events.length === 0 || JSON.stringify(events) === JSON.stringify(["removed ada-again", "added ada-again"]),
        `${how}: ${JSON.stringify(events)}`,
      );
      assert.deepEqual(bobChannel.members.get("ada-again"), { id: "ada-again", info: { name: "Ada" } }, how);
      assert.equal(bobChannel.members.count, 2, how);
      const { users } = await (await serverSdk(worker, app).get({ path: "/channels/presence-again/users" })).json();
      assert.deepEqual(users.map((u) => u.id).sort(), ["ada-again", "bob-watching"], how);
    }
  } finally {
    ada.disconnect();
    bob.disconnect();
  }
});

test("a signed-in user over the presence limits is refused a presence channel without channel_data, with the limit named", async () => {
  const app = worker.apps[0];
  const sdk = serverSdk(worker, app);
  const signedIn = async (user) => {
    const { sock, socketId } = await connectRaw(worker, app);
    sock.send({ event: "pusher:signin", data: sdk.authenticateUser(socketId, user) });
    // Sign-in itself bounds neither: only a presence member must fit the presence limits.
    await sock.waitFor((f) => f.event === "pusher:signin_success", "signin_success");
    return { sock, socketId };
  };
  const user_info = { blob: "x".repeat(1100) };
  const cases = [
    [
      { id: "big-info", user_info },
      `Invalid user_data.user_info is ${JSON.stringify(user_info).length} bytes, the maximum is 1024 bytes`,
    ],
    [
      { id: "y".repeat(150) },
      "Invalid user_data.id is longer than 128 characters, the longest a presence member's id may be",
    ],
  ];
  for (const [user, message] of cases) {
    const { sock, socketId } = await signedIn(user);
    const refused = await subscribeRaw(sock, "presence-over", {
      auth: sdk.authorizeChannel(socketId, "presence-over").auth,
    });
    assert.equal(refused.event, "pusher:subscription_error", user.id);
    assert.deepEqual(refused.data, { type: "AuthError", error: message, status: 400 });
    const error = sock.frames.find((f) => f.event === "pusher:error");
    assert.deepEqual(error, { event: "pusher:error", data: { code: null, message }, channel: "presence-over" });
    // Nothing was joined; the connection stays, and a member from channel_data still joins.
    const member = { user_id: "from-channel-data" };
    const ok = await subscribeRaw(sock, "presence-over", {
      auth: sdk.authorizeChannel(socketId, "presence-over", member).auth,
      channel_data: JSON.stringify(member),
    });
    assert.equal(ok.event, "pusher_internal:subscription_succeeded", JSON.stringify(ok));
    assert.deepEqual(JSON.parse(ok.data).presence.ids, ["from-channel-data"]);
    sock.close();
    await eventually(
      async () =>
        (await (await sdk.get({ path: "/channels/presence-over", params: { info: "user_count" } })).json()).occupied ===
        false,
      "presence-over vacated",
    );
  }
});

test("with presence_grace_secs, a signed-in pusher-js member whose socket drops is back (signed in again) before anyone sees it leave", async () => {
  const signedIn = (id) => pusherJs(worker, graceful, sdkAuth(worker, { app: graceful, user: { id } }));
  const ada = await signedIn("ada-graced");
  const bob = await signedIn("bob-graced");
  try {
    ada.signin();
    bob.signin();
    const adaChannel = await subscribed(ada, "presence-graced");
    const bobChannel = await subscribed(bob, "presence-graced");
    await eventually(() => adaChannel.members.count === 2, "ada sees bob");
    const seen = [];
    bobChannel.bind("pusher:member_added", (m) => seen.push(`added ${m.id}`));
    bobChannel.bind("pusher:member_removed", (m) => seen.push(`removed ${m.id}`));
    const socketId = ada.connection.socket_id;
    const back = nextEvent(adaChannel, "pusher:subscription_succeeded", 15_000);
    ada.connection.connection.transport.socket._stream.destroy(); // a network drop (see above)
    await back;
    assert.notEqual(ada.connection.socket_id, socketId);
    assert.equal(adaChannel.members.me.id, "ada-graced");
    await sleep(3_500); // past the grace the drop started
    assert.deepEqual(seen, [], "back within the grace: neither removed nor added");
    assert.equal(bobChannel.members.count, 2);
  } finally {
    ada.disconnect();
    bob.disconnect();
  }
});
