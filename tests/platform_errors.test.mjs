// What the runtime's own errors do to a REST publish. A Durable Object request can throw
// before the object runs it: `overloaded`, or `retryable` without `durableObjectReset` (the
// object never saw it), and a publish is then tried once more after 100 ms; `retryable` with
// `durableObjectReset` may have run, so it is not repeated, and the caller gets 500. Local
// workerd never raises these, so the test entry (tests/support/counting_entry.mjs) throws
// them, flags as the runtime sets them, from the Worker's stubs before the room sees the
// request; what runs is the built worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, makeApp, serverSdk, pusherJs, subscribed, sleep } from "./support/harness.mjs";

const app = makeApp();
let worker;
let client;
let sdk;

before(async () => {
  worker = await startWorker({ apps: [app], countObjectRequests: true });
  sdk = serverSdk(worker, app);
  client = await pusherJs(worker, app);
});
after(async () => {
  client?.disconnect();
  await worker?.stop();
});

/** Publishes event `n` with the next CHANNELS request failing as `flags` (`times` times). */
async function publishThrough(channel, n, flags, times = 1) {
  await worker.failNext("CHANNELS", flags, { times });
  const answer = await sdk.trigger(channel.name, "n", { n }).catch((e) => e);
  const { armed, thrown } = await worker.faults();
  assert.equal(armed, 0, "every fault armed was met");
  return { status: answer.status, body: answer.body, thrown };
}

test("a publish the runtime refused before it ran is retried once and delivered once", async () => {
  const channel = await subscribed(client, "retried");
  const got = [];
  channel.bind("n", (data) => got.push(data.n));
  let thrown = 0;
  for (const [n, flags] of [
    [1, { overloaded: true, retryable: false }],
    [2, { retryable: true }],
    [3, { retryable: true, durableObjectReset: false }],
  ]) {
    const answer = await publishThrough(channel, n, flags);
    assert.equal(answer.status, 200, `${JSON.stringify(flags)}: ${answer.body}`);
    assert.equal(answer.thrown, ++thrown);
  }
  await sdk.trigger("retried", "n", { n: 4 });
  await sleep(300);
  assert.deepEqual(got, [1, 2, 3, 4], "each once, in order");
});

test("a publish that may have run, or is refused twice, is not repeated: 500 with Pusher's JSON error", async () => {
  const channel = await subscribed(client, "not-retried");
  const got = [];
  channel.bind("n", (data) => got.push(data.n));
  const before = (await worker.faults()).thrown;
  const reset = await publishThrough(channel, 1, { retryable: true, durableObjectReset: true });
  assert.equal(reset.status, 500);
  assert.ok(JSON.parse(reset.body).error, reset.body);
  assert.equal(reset.thrown, before + 1, "tried once");
  const twice = await publishThrough(channel, 2, { overloaded: true }, 2);
  assert.equal(twice.status, 500);
  assert.equal(twice.thrown, before + 3, "tried twice, then given up");
  const plain = await publishThrough(channel, 3, {});
  assert.equal(plain.status, 500, "an error without the runtime's flags is not retried");
  await sdk.trigger("not-retried", "n", { n: 4 });
  await sleep(300);
  // The injected errors were thrown before the room saw the requests: nothing else arrived.
  assert.deepEqual(got, [4]);
});
