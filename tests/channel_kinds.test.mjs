// Encrypted channels pass through untouched; cache variants refuse bad signatures; client
// events are never cached; cached events expire.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
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
const app = makeApp({ enable_client_messages: true, limits: { cache_ttl_secs: 1 } });
before(async () => {
  worker = await startWorker({ apps: [app] });
});
after(async () => {
  await worker?.stop();
});

test("encrypted channels: the SDK encrypts, the server passes ciphertext through, pusher-js decrypts", async () => {
  const encryptionMasterKeyBase64 = randomBytes(32).toString("base64");
  const sdkOptions = { encryptionMasterKeyBase64 };
  const client = await pusherJs(worker, app, sdkAuth(worker, { app, sdkOptions }));
  const raw = await connectRaw(worker, app);
  try {
    const channel = await subscribed(client, "private-encrypted-vault");
    const auth = serverSdk(worker, app, sdkOptions).authorizeChannel(raw.socketId, "private-encrypted-vault").auth;
    await subscribeRaw(raw.sock, "private-encrypted-vault", { auth });
    const got = nextEvent(channel, "secret");
    await serverSdk(worker, app, sdkOptions).trigger("private-encrypted-vault", "secret", { pin: 1234 });
    assert.deepEqual(await got, { pin: 1234 });
    const onWire = await raw.sock.waitFor((f) => f.event === "secret", "ciphertext");
    const payload = JSON.parse(onWire.data);
    assert.deepEqual(Object.keys(payload).sort(), ["ciphertext", "nonce"]);
    assert.ok(!onWire.data.includes("1234"), "the server never sees the plaintext");
    // Client events on encrypted channels are refused.
    raw.sock.send({ event: "client-x", channel: "private-encrypted-vault", data: {} });
    const err = await raw.sock.waitFor((f) => f.event === "pusher:error", "refusal");
    assert.match(err.data.message, /only allowed on private and presence/);
  } finally {
    client.disconnect();
    raw.sock.close();
  }
});

test("private-cache- and presence-cache- channels refuse a bad signature", async () => {
  const { sock, socketId } = await connectRaw(worker, app);
  const sdk = serverSdk(worker, app);
  const forOther = sdk.authorizeChannel(socketId, "private-other").auth;
  for (const channel of ["private-cache-x", "private-encrypted-cache-x"]) {
    const refused = await subscribeRaw(sock, channel, { auth: forOther });
    assert.equal(refused.event, "pusher:subscription_error", channel);
    assert.equal(refused.data.status, 401);
  }
  const member = { user_id: "1" };
  const presenceForOther = sdk.authorizeChannel(socketId, "presence-other", member).auth;
  const refused = await subscribeRaw(sock, "presence-cache-x", {
    auth: presenceForOther,
    channel_data: JSON.stringify(member),
  });
  assert.equal(refused.event, "pusher:subscription_error");
  const ok = await subscribeRaw(sock, "presence-cache-x", {
    auth: sdk.authorizeChannel(socketId, "presence-cache-x", member).auth,
    channel_data: JSON.stringify(member),
  });
  assert.equal(ok.event, "pusher_internal:subscription_succeeded");
  sock.close();
});

test("client events are not cached, and a cached event expires after its TTL", async () => {
  const a = await connectRaw(worker, app);
  const auth = serverSdk(worker, app).authorizeChannel(a.socketId, "private-cache-room").auth;
  await subscribeRaw(a.sock, "private-cache-room", { auth });
  a.sock.send({ event: "client-note", channel: "private-cache-room", data: { n: 1 } });
  await sleep(200);
  const b = await connectRaw(worker, app);
  const from = b.sock.frames.length;
  const bAuth = serverSdk(worker, app).authorizeChannel(b.socketId, "private-cache-room").auth;
  await subscribeRaw(b.sock, "private-cache-room", { auth: bAuth });
  await b.sock.waitFrom(from, (f) => f.event === "pusher:cache_miss", "cache_miss despite the client event");

  await serverSdk(worker, app).trigger("cache-brief", "e", "short-lived");
  const c = await connectRaw(worker, app);
  await subscribeRaw(c.sock, "cache-brief");
  await c.sock.waitFor((f) => f.event === "e" && f.data === "short-lived", "fresh cached event");
  await sleep(1300); // cache_ttl_secs is 1 for this app
  const d = await connectRaw(worker, app);
  await subscribeRaw(d.sock, "cache-brief");
  await d.sock.waitFor((f) => f.event === "pusher:cache_miss", "expired");
  for (const x of [a, b, c, d]) x.sock.close();
});
