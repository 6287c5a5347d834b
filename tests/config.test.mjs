// App configuration from the environment: the single-app variables, PUSHER_APPS, and loud
// failures (that never echo a secret) when it is wrong.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startWorker, serverSdk, connectRaw, makeApp, rawSocket } from "./support/harness.mjs";

test("a single app from PUSHER_APP_ID / PUSHER_APP_KEY / PUSHER_APP_SECRET", async () => {
  const app = makeApp();
  const worker = await startWorker({
    apps: [app],
    bindings: { PUSHER_APP_ID: app.id, PUSHER_APP_KEY: app.key, PUSHER_APP_SECRET: app.secret },
  });
  try {
    const { sock } = await connectRaw(worker);
    sock.send({ event: "pusher:subscribe", data: { channel: "single", auth: "" } });
    await sock.waitFor((f) => f.event === "pusher_internal:subscription_succeeded", "subscribed");
    await serverSdk(worker).trigger("single", "e", "from-env-app");
    await sock.waitFor((f) => f.event === "e" && f.data === "from-env-app", "event");
    sock.close();
  } finally {
    await worker.stop();
  }
});

test("several apps from PUSHER_APPS are isolated from each other", async () => {
  const apps = [makeApp(), makeApp()];
  const worker = await startWorker({ apps });
  try {
    const a = await connectRaw(worker, apps[0]);
    const b = await connectRaw(worker, apps[1]);
    for (const { sock } of [a, b]) {
      sock.send({ event: "pusher:subscribe", data: { channel: "shared-name", auth: "" } });
      await sock.waitFor((f) => f.event === "pusher_internal:subscription_succeeded", "subscribed");
    }
    await serverSdk(worker, apps[1]).trigger("shared-name", "e", "for-b");
    await b.sock.waitFor((f) => f.event === "e", "event for b");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(a.sock.frames.filter((f) => f.event === "e").length, 0, "app A must not see app B's event");
    a.sock.close();
    b.sock.close();
  } finally {
    await worker.stop();
  }
});

test("no environment apps is a configuration: every app then comes from the registry", async () => {
  const worker = await startWorker({ bindings: {} });
  try {
    const sock = await rawSocket(worker, "/app/no-such-key?protocol=7");
    assert.equal((await sock.closed()).code, 4001);
    const rest = await serverSdk(worker, makeApp())
      .trigger("c", "e", {})
      .catch((e) => e);
    assert.equal(rest.status, 401);
  } finally {
    await worker.stop();
  }
});

const badConfigs = [
  [{ PUSHER_APPS: "[{not json" }, "PUSHER_APPS is not valid JSON"],
  [{ PUSHER_APPS: JSON.stringify([{ id: "1", key: "k", secret: 12345678 }]) }, "expected shape"],
  [{ PUSHER_APPS: JSON.stringify([{ id: "1", key: "k", secret: "s", colour: "red" }]) }, 'unknown setting "0.colour"'],
  [{ PUSHER_APP_ID: "1", PUSHER_APP_KEY: "k" }, "must all be set together"],
  [
    {
      PUSHER_APPS: JSON.stringify([
        { id: "1", key: "k", secret: "super-secret-value" },
        { id: "1", key: "k2", secret: "s" },
      ]),
    },
    "id is used by another app",
  ],
  // Malformed allowed_origins patterns: the message names the app, the setting and the pattern.
  [
    { PUSHER_APPS: JSON.stringify([{ id: "1", key: "k", secret: "s", allowed_origins: ["example.com"] }]) },
    'app #0 (id "1"): allowed_origins: "example.com": an origin needs its scheme (https://...)',
  ],
  [
    {
      PUSHER_APPS: JSON.stringify([
        { id: "1", key: "k", secret: "s", allowed_origins: ["https://ok.example", "https://*."] },
      ]),
    },
    'app #0 (id "1"): allowed_origins: "https://*.": a wildcard needs a domain after it (https://*.example.com)',
  ],
];

test("bad configuration fails loudly on every route, without echoing secrets", async () => {
  for (const [bindings, needle] of badConfigs) {
    const worker = await startWorker({ bindings });
    try {
      const rest = await fetch(`http://127.0.0.1:${worker.port}/apps/1/events`, { method: "POST", body: "{}" });
      assert.equal(rest.status, 500);
      const { error } = await rest.json();
      assert.ok(error.startsWith("Invalid app configuration: "), error);
      assert.ok(error.includes(needle), `${error} should mention ${needle}`);
      assert.ok(!error.includes("12345678") && !error.includes("super-secret-value"), error);
      await assert.rejects(rawSocket(worker, "/app/k?protocol=7"), /HTTP 500/);
    } finally {
      await worker.stop();
    }
  }
});
