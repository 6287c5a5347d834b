// Sign-in with server-to-user events and terminate_connections, and watchlist events, with
// the real pusher-js and pusher SDK.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker,
  makeApp,
  pusherJs,
  sdkAuth,
  eventually,
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

test("sign-in, events to the user, nobody else's user channel, and terminate_connections", async () => {
  const sdk = serverSdk(worker, chatty);
  const ada = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, user: { id: "ada" } }));
  const ada2 = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, user: { id: "ada" } }));
  const bob = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, user: { id: "bob" } }));
  try {
    for (const c of [ada, ada2, bob]) {
      c.signin();
      await c.user.signinDonePromise;
    }
    await sleep(300); // the user-channel rooms are joined after signin_success
    const got = { ada: [], ada2: [], bob: [] };
    ada.user.bind("note", (d) => got.ada.push(d));
    ada2.user.bind("note", (d) => got.ada2.push(d));
    bob.user.bind("note", (d) => got.bob.push(d));
    await sdk.sendToUser("ada", "note", { for: "ada" });
    await eventually(() => got.ada.length === 1 && got.ada2.length === 1, "both of ada's connections");
    await sleep(200);
    assert.deepEqual(got.bob, []);

    // A raw client cannot listen in on ada's channel.
    const spy = await connectRaw(worker, chatty);
    const refused = await subscribeRaw(spy.sock, "#server-to-user-ada");
    assert.equal(refused.event, "pusher:subscription_error");
    assert.equal(refused.data.status, 403);
    await sdk.sendToUser("ada", "note", { for: "ada", n: 2 });
    await sleep(300);
    assert.equal(spy.sock.frames.filter((f) => f.event === "note").length, 0);
    spy.sock.close();

    const closeCode = new Promise((r) => ada.connection.bind("error", (e) => r(e.data?.code ?? e.error?.data?.code)));
    const response = await sdk.terminateUserConnections("ada");
    assert.equal(response.status, 200);
    await eventually(() => ada.connection.state !== "connected" && ada2.connection.state !== "connected", "ada closed");
    assert.equal(await closeCode, 4009);
    await sleep(1200); // 4009: pusher-js does not reconnect
    assert.equal(ada.connection.state, "disconnected");
    assert.equal(bob.connection.state, "connected");
  } finally {
    for (const c of [ada, ada2, bob]) c.disconnect();
  }
});

test("watchlist: the current state first, then online and offline as users come and go", async () => {
  const carl = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, user: { id: "carl" } }));
  carl.signin();
  await carl.user.signinDonePromise;
  await sleep(200);
  const watcher = await pusherJs(
    worker,
    chatty,
    sdkAuth(worker, { app: chatty, user: { id: "w", watchlist: ["carl", "dora"] } }),
  );
  const online = [];
  const offline = [];
  watcher.user.watchlist.bind("online", (e) => online.push(...e.user_ids));
  watcher.user.watchlist.bind("offline", (e) => offline.push(...e.user_ids));
  watcher.signin();
  try {
    await eventually(() => online.includes("carl") && offline.includes("dora"), "initial state");
    const dora = await pusherJs(worker, chatty, sdkAuth(worker, { app: chatty, user: { id: "dora" } }));
    dora.signin();
    await eventually(() => online.includes("dora"), "dora online");
    dora.disconnect();
    await eventually(() => offline.filter((id) => id === "dora").length === 2, "dora offline");
  } finally {
    carl.disconnect();
    watcher.disconnect();
  }
});

test("every user id that can sign in can be terminated through the Node SDK; ids a URL path would rewrite cannot sign in", async () => {
  const sdk = serverSdk(worker, chatty);
  const signIn = async (id) => {
    const { sock, socketId } = await connectRaw(worker, chatty);
    const { auth, user_data } = sdk.authenticateUser(socketId, { id });
    sock.send({ event: "pusher:signin", data: { auth, user_data } });
    return { sock, answer: await sock.next(`the answer to signing in as ${id}`) };
  };
  // Every character a user id may hold (those of a channel name), where a URL path could
  // mistake it: dots alone or at either end, the longest id.
  const ids = ["...", ".a", "a.", "a..b", "-", "_", "=", "@", ",", ";", "a=b@c,d;e-f_g.h", "0", "u".repeat(184)];
  const signedIn = [];
  for (const id of ids) {
    const { sock, answer } = await signIn(id);
    assert.equal(answer.event, "pusher:signin_success", `${id}: ${JSON.stringify(answer)}`);
    signedIn.push({ id, sock });
  }
  await sleep(300); // the user-channel rooms are joined after signin_success
  for (const { id, sock } of signedIn) {
    const response = await sdk.terminateUserConnections(id);
    assert.equal(response.status, 200, id);
    assert.equal((await sock.closed(`${id} terminated`)).code, 4009, id);
  }
  // `/users/../terminate_connections` is `/terminate_connections` once a URL parser reads it.
  for (const id of [".", ".."]) {
    const { sock, answer } = await signIn(id);
    assert.equal(answer.event, "pusher:error", id);
    assert.equal(answer.data.code, 4009);
    assert.equal(answer.data.message, 'Invalid user_data.id cannot be "." or "..": a URL path drops it', id);
    sock.close();
  }
  // Ids a URL parser would decode, split or cut (a percent-encoded dot, a path separator, a
  // query, a fragment) are refused by the channel-name character set of `#server-to-user-{id}`,
  // with the character named as Rust's `{:?}` prints it.
  const refusedFor = [
    ["%2e", "'%'"],
    [".%2e", "'%'"],
    ["%2E%2e", "'%'"],
    ["a/b", "'/'"],
    ["a\\b", "'\\\\'"],
    ["a?b", "'?'"],
    ["a#b", "'#'"],
  ];
  for (const [id, shown] of refusedFor) {
    const { sock, answer } = await signIn(id);
    assert.equal(answer.event, "pusher:error", `${id}: ${JSON.stringify(answer)}`);
    assert.equal(answer.data.code, 4009, id);
    assert.equal(
      answer.data.message,
      `Invalid user_data.id cannot name a user channel: channel name contains ${shown}; only A-Z a-z 0-9 _ - = @ , . ; are allowed`,
      id,
    );
    assert.equal(sock.frames.filter((f) => f.event === "pusher:signin_success").length, 0, id);
    sock.close();
  }
});
