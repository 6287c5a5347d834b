// REST API: every refusal, with its status and a JSON body that says what was wrong.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, signedFetch, makeApp, serverSdk } from "./support/harness.mjs";

let worker;
before(async () => {
  worker = await startWorker({ apps: [makeApp(), makeApp()] });
});
after(async () => {
  await worker?.stop();
});

const eventsPath = () => `/apps/${worker.app.id}/events`;
const goodBody = { name: "evt", channel: "c", data: "hello" };

async function expectError(response, status, needle) {
  assert.equal(response.status, status);
  assert.match(response.headers.get("content-type"), /application\/json/);
  const body = await response.json();
  assert.equal(typeof body.error, "string");
  if (needle) assert.ok(body.error.includes(needle), `"${body.error}" should contain "${needle}"`);
  return body.error;
}

test("a correctly signed trigger is answered 200 {}", async () => {
  const res = await signedFetch(worker, { path: eventsPath(), body: goodBody });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
});

test("401: missing key, unknown key, key of another app", async () => {
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, omit: ["auth_key"] }),
    401,
    "Authentication key required",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, app: makeApp() }),
    401,
    "Invalid authentication key",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, app: worker.apps[1] }),
    401,
    `does not belong to app ${worker.app.id}`,
  );
});

test("401: a bad signature is answered with the string that should have been signed", async () => {
  const message = await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, signature: "0".repeat(64) }),
    401,
    "Invalid signature: you should have sent HmacSHA256Hex(",
  );
  assert.ok(message.includes(`"POST\\n${eventsPath()}\\nauth_key=${worker.app.key}&auth_timestamp=`), message);
  assert.ok(!message.includes(worker.app.secret), "the secret must never be echoed");
  // Signed with the wrong secret.
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, app: { ...worker.app, secret: "wrong" } }),
    401,
    "Invalid signature",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, omit: ["auth_signature"] }),
    401,
    "Authentication signature required",
  );
});

test("401: a timestamp 11 minutes old (or ahead) is refused", async () => {
  const now = Math.floor(Date.now() / 1000);
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, timestamp: now - 660 }),
    401,
    "Timestamp expired: Given timestamp (",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, timestamp: now + 660 }),
    401,
    "not within 600s of server time",
  );
});

test("401: body_md5 must match the body, and is required with a body", async () => {
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, params: { body_md5: "0".repeat(32) } }),
    401,
    "body_md5 does not match",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, omit: ["body_md5"] }),
    401,
    "body_md5 required",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, params: { auth_version: "2.0" } }),
    401,
    "Version not supported",
  );
});

test("400: malformed bodies and invalid fields", async () => {
  const cases = [
    ["not json", "JSON object"],
    [{ channel: "c", data: "x" }, "name is required"],
    [{ name: "e", channel: "c" }, "data is required"],
    [{ name: "e", channel: "c", data: { a: 1 } }, "data must be a string"],
    [{ name: "e", data: "x" }, "channels is required"],
    [{ name: "e", channel: "bad channel", data: "x" }, "Invalid channel name"],
    [{ name: "e", channel: "#secret", data: "x" }, "reserved"],
    [{ name: "e", channels: Array.from({ length: 101 }, (_, i) => `c${i}`), data: "x" }, "Too many channels: 101"],
    [{ name: "n".repeat(201), channel: "c", data: "x" }, "Event name is too long"],
    [{ name: "e", channel: "c".repeat(201), data: "x" }, "201 characters"],
    [{ name: "e", channel: "c", data: "x", socket_id: "nope" }, "Invalid socket_id"],
  ];
  for (const [body, needle] of cases) {
    await expectError(await signedFetch(worker, { path: eventsPath(), body }), 400, needle);
  }
});

test("413: data over 10 KB, and an oversized body", async () => {
  const ok = await signedFetch(worker, {
    path: eventsPath(),
    body: { name: "e", channel: "c", data: "x".repeat(10240) },
  });
  assert.equal(ok.status, 200);
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: { name: "e", channel: "c", data: "x".repeat(10241) } }),
    413,
    "The data content of this event exceeds the allowed maximum (10240 bytes)",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: { name: "e", channel: "c", data: "x".repeat(300_000) } }),
    413,
    "Request body exceeds",
  );
});

test("the pusher SDK surfaces the status and body of a refusal", async () => {
  const sdk = serverSdk(worker, { ...worker.app, secret: "not-the-secret" });
  await assert.rejects(sdk.trigger("c", "e", "x"), (err) => {
    assert.equal(err.status, 401);
    assert.match(err.body, /Invalid signature/);
    return true;
  });
});

test("unknown endpoints and wrong methods", async () => {
  await expectError(await signedFetch(worker, { method: "GET", path: eventsPath() }), 405, "POST");
  await expectError(await signedFetch(worker, { method: "GET", path: `/apps/${worker.app.id}/nothing` }), 404, "Unknown REST endpoint");
  const res = await fetch(`http://127.0.0.1:${worker.port}/elsewhere`);
  await expectError(res, 404, "No route");
});

test("GET / reports the service and its build", async () => {
  const res = await fetch(`http://127.0.0.1:${worker.port}/`);
  assert.equal(res.status, 200);
  const info = await res.json();
  assert.equal(info.service, "pusher-edge");
  assert.match(info.version, /^\d+\.\d+\.\d+$/);
  assert.equal(typeof info.commit, "string");
});
