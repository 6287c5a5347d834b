// The official Python server SDK (PyPI `pusher`, installed by scripts/setup.sh into
// .tools/python) against the worker: a second, independent implementation of the REST
// signing must agree with ours on every endpoint.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  startWorker,
  makeApp,
  connectRaw,
  subscribeRaw,
  pusherJs,
  subscribed,
  sdkAuth,
  nextEvent,
  sleep,
} from "./support/harness.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const python = resolve(root, ".tools/python/bin/python");
// The Python SDK accepts numeric app ids only (as Pusher issues them).
const app = makeApp({ id: String(100000 + Math.floor(Math.random() * 900000)) });
let worker;

before(async () => {
  worker = await startWorker({ apps: [app] });
});
after(async () => {
  await worker?.stop();
});

/** Runs SDK calls in Python; returns one result per call. */
function py(calls, withApp = app) {
  const out = execFileSync(python, [resolve(root, "tests/python/sdk_calls.py")], {
    input: JSON.stringify({ app: withApp, port: worker.port, calls }),
    encoding: "utf8",
    timeout: 30_000,
  });
  return JSON.parse(out);
}

test("Python SDK: trigger, batch, channel info, users and channel lists", async () => {
  const { sock } = await connectRaw(worker);
  await subscribeRaw(sock, "py-news");
  const member = await pusherJs(worker, app, sdkAuth(worker, { presence: { user_id: "py-user" } }));
  await subscribed(member, "presence-py");

  const [trigger, batch, info, presenceInfo, users] = py([
    { call: "trigger", args: [["py-news", "presence-py"], "py-event", { hello: "python" }] },
    { call: "trigger_batch", args: [[{ channel: "py-news", name: "py-batch", data: "b" }]] },
    { call: "channel_info", args: ["py-news", ["subscription_count"]] },
    { call: "channel_info", args: ["presence-py", ["user_count"]] },
    { call: "users_info", args: ["presence-py"] },
  ]);
  assert.deepEqual(trigger, { ok: {} });
  assert.deepEqual(batch, { ok: {} });
  assert.deepEqual(info, { ok: { occupied: true, subscription_count: 1 } });
  assert.deepEqual(presenceInfo, { ok: { occupied: true, user_count: 1 } });
  assert.deepEqual(users, { ok: { users: [{ id: "py-user" }] } });
  const got = await sock.waitFor((f) => f.event === "py-event", "the Python SDK's event");
  assert.deepEqual(JSON.parse(got.data), { hello: "python" });
  await sock.waitFor((f) => f.event === "py-batch", "the Python SDK's batch event");

  // The channel index is fed in batches: poll until the presence channel is listed.
  let listed;
  for (let i = 0; i < 50; i++) {
    [listed] = py([{ call: "channels_info", args: ["presence-", ["user_count"]] }]);
    if (listed.ok?.channels?.["presence-py"]) break;
    await sleep(200);
  }
  assert.deepEqual(listed, { ok: { channels: { "presence-py": { user_count: 1 } } } });
  sock.close();
  member.disconnect();
});

test("Python SDK: terminate_user_connections and send_to_user reach signed-in users", async () => {
  const client = await pusherJs(worker, app, sdkAuth(worker, { user: { id: "py-signed" } }));
  client.signin();
  await client.user.signinDonePromise;
  await sleep(300);
  const received = nextEvent(client.user, "py-direct");
  const [sent] = py([{ call: "send_to_user", args: ["py-signed", "py-direct", { n: 1 }] }]);
  assert.deepEqual(sent, { ok: {} });
  assert.deepEqual(await received, { n: 1 });
  const closed = new Promise((resolvePromise) =>
    client.connection.bind("state_change", ({ current }) => {
      if (current === "disconnected" || current === "failed") resolvePromise(current);
    }),
  );
  // pusher 3.3.4 requests /users/{id}/terminate_connections without the /apps/{id} prefix;
  // the server accepts that path too, identifying the app by its auth_key.
  const [terminated] = py([{ call: "terminate_user_connections", args: ["py-signed"] }]);
  assert.deepEqual(terminated, { ok: {} });
  await closed;
  client.disconnect();
});

test("Python SDK: a wrong secret is refused with 401, a bad request with 400", async () => {
  const [badAuth] = py([{ call: "trigger", args: ["py-news", "e", "x"] }], { ...app, secret: "not-the-secret" });
  assert.equal(badAuth.error, "PusherBadAuth");
  assert.match(badAuth.message, /Invalid signature/);
  const [badInfo] = py([{ call: "channel_info", args: ["py-news", ["user_count"]] }]);
  assert.equal(badInfo.error, "PusherBadRequest");
  assert.match(badInfo.message, /only available for presence channels/);
  const [badList] = py([{ call: "channels_info", args: [null, ["user_count"]] }]);
  assert.equal(badList.error, "PusherBadRequest");
});
