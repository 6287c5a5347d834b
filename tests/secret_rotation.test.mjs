// Rotating an app's secret without a gap: the new secret goes in `secret`, the old one in
// `previous_secrets` with an expiry, and until then servers still signing with the old one
// keep working. Each of the three checks (REST signatures, channel auth, user auth) with the
// old secret before and after its expiry; webhooks are signed with the newest.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import http from "node:http";
import {
  startWorker,
  makeApp,
  serverSdk,
  sdkAuth,
  pusherJs,
  connectRaw,
  subscribeRaw,
  eventually,
} from "./support/harness.mjs";

const now = () => Math.floor(Date.now() / 1000);
// The webhook receiver: each request's body and signature.
const received = [];
let worker, receiver, rotating, expired;

before(async () => {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      received.push({ body, signature: req.headers["x-pusher-signature"] });
      res.writeHead(200);
      res.end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  rotating = makeApp({
    secret: "new-secret-of-the-rotating-app",
    previous_secrets: [{ secret: "old-secret-of-the-rotating-app", expires_at: now() + 3600 }],
    webhooks: [{ url: `http://127.0.0.1:${receiver.address().port}/hooks`, event_types: ["channel_occupied"] }],
  });
  expired = makeApp({
    secret: "new-secret-of-the-expired-app",
    previous_secrets: [{ secret: "old-secret-of-the-expired-app", expires_at: now() - 1 }],
  });
  worker = await startWorker({ apps: [rotating, expired] });
});
after(async () => {
  await worker?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});

const withSecret = (app, secret) => ({ ...app, secret });
const oldSecret = (app) => app.previous_secrets[0].secret;

test("REST: the old secret signs until its expiry, the new one always", async () => {
  for (const secret of [rotating.secret, oldSecret(rotating)]) {
    const res = await serverSdk(worker, withSecret(rotating, secret)).trigger("rest-rotation", "e", {});
    assert.equal(res.status, 200, secret);
  }
  assert.equal((await serverSdk(worker, expired).trigger("rest-rotation", "e", {})).status, 200);
  await assert.rejects(
    serverSdk(worker, withSecret(expired, oldSecret(expired))).trigger("rest-rotation", "e", {}),
    (e) => {
      assert.equal(e.status, 401);
      return true;
    },
  );
});

test("channel auth: a private channel signed with the old secret subscribes until its expiry", async () => {
  const ok = await pusherJs(worker, rotating, sdkAuth(worker, { app: withSecret(rotating, oldSecret(rotating)) }));
  try {
    await new Promise((resolve, reject) => {
      const channel = ok.subscribe("private-rotation");
      channel.bind("pusher:subscription_succeeded", resolve);
      channel.bind("pusher:subscription_error", (e) => reject(new Error(JSON.stringify(e))));
    });
  } finally {
    ok.disconnect();
  }
  const { sock, socketId } = await connectRaw(worker, expired);
  try {
    const auth = serverSdk(worker, withSecret(expired, oldSecret(expired))).authorizeChannel(
      socketId,
      "private-rotation",
    ).auth;
    const answer = await subscribeRaw(sock, "private-rotation", { auth });
    assert.equal(answer.event, "pusher:subscription_error");
    assert.equal(answer.data.status, 401);
    const fresh = serverSdk(worker, expired).authorizeChannel(socketId, "private-rotation").auth;
    assert.equal(
      (await subscribeRaw(sock, "private-rotation", { auth: fresh })).event,
      "pusher_internal:subscription_succeeded",
    );
  } finally {
    sock.close();
  }
});

test("user auth: a sign-in signed with the old secret succeeds until its expiry", async () => {
  const signIn = async (app, secret) => {
    const { sock, socketId } = await connectRaw(worker, app);
    try {
      const { auth, user_data } = serverSdk(worker, withSecret(app, secret)).authenticateUser(socketId, {
        id: "rotating-user",
      });
      sock.send({ event: "pusher:signin", data: { auth, user_data } });
      const answer = await sock.waitFor(
        (f) => f.event === "pusher:signin_success" || f.event === "pusher:error",
        "signin answer",
      );
      return answer.event === "pusher:signin_success" ? "signed in" : answer.data.code;
    } finally {
      sock.close();
    }
  };
  assert.equal(await signIn(rotating, oldSecret(rotating)), "signed in");
  assert.equal(await signIn(rotating, rotating.secret), "signed in");
  assert.equal(await signIn(expired, oldSecret(expired)), 4009);
  assert.equal(await signIn(expired, expired.secret), "signed in");
});

test("webhooks are signed with the newest secret only", async () => {
  const client = await pusherJs(worker, rotating);
  try {
    client.subscribe("hooked-rotation");
    await eventually(() => received.some((r) => r.body.includes("hooked-rotation")), "the channel_occupied webhook");
  } finally {
    client.disconnect();
  }
  const hook = received.find((r) => r.body.includes("hooked-rotation"));
  const sign = (secret) => createHmac("sha256", secret).update(hook.body).digest("hex");
  assert.equal(hook.signature, sign(rotating.secret));
  assert.notEqual(hook.signature, sign(oldSecret(rotating)));
});
