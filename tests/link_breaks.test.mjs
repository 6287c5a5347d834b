// An internal socket that breaks while both its ends live on (the link between the machine that
// runs a session and a room's machine failing): the room sees its session go silent, holds the
// member and keeps what it sends from then on; the session rejoins the same instance, which
// sends it exactly that. The client sees nothing: no state change, no event lost or doubled,
// no member event, no webhook. The worker runs behind the test entry, whose links
// (tests/support/counting_entry.mjs) carry the sockets sessions open to rooms and can break
// them: the room sees 1011, what it sent before it saw that still reaches the session, then the
// session sees 1011.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker,
  makeApp,
  serverSdk,
  pusherJs,
  sdkAuth,
  subscribed,
  eventually,
  sleep,
} from "./support/harness.mjs";
import { receiver } from "./support/webhook_receiver.mjs";
import { watch, assertUnseen, publisher, ticks, signedInWatching } from "./support/delivery_watch.mjs";

let worker;
let hooks;
let app;
let signedApp;
const open = new Set();

before(async () => {
  hooks = await receiver();
  app = makeApp({ enable_client_messages: true, webhooks: [{ url: hooks.url() }] });
  signedApp = makeApp();
  worker = await startWorker({ apps: [app, signedApp], countObjectRequests: true });
  await worker.linkSockets("CHANNELS");
  await worker.linkSockets("DIRECTORY");
});
after(async () => {
  for (const client of open) client.disconnect();
  await worker?.stop();
  await hooks?.stop().catch(() => {});
});

async function member(userId) {
  const client = await pusherJs(worker, app, sdkAuth(worker, { app, presence: { user_id: userId } }));
  open.add(client);
  return watch(client, userId);
}

/** Waits until no webhook has arrived for a second; answers the ids had so far. */
async function settled() {
  let count = -1;
  for (;;) {
    const now = hooks.uniqueEvents().length;
    if (now === count) return new Set(hooks.uniqueEvents().map((e) => e.id));
    count = now;
    await sleep(1000);
  }
}

test("a broken link to a room is rejoined: nothing lost, doubled or seen; presence holds still; no webhook", async (t) => {
  const channels = ["presence-linked", "linked"];
  const [ada, bob] = [await member("ada"), await member("bob")];
  for (const w of [ada, bob]) for (const name of channels) await subscribed(w.client, name);
  const hooksBefore = await settled();
  const pub = publisher(worker, app, channels);
  const since = Date.now();
  try {
    await sleep(600);
    assert.equal(await worker.breakLinks("CHANNELS"), 4, "two sessions, two rooms each");
    // The rejoins come within the 1 s jitter; the publisher goes on meanwhile.
    await sleep(2_500);
  } finally {
    await pub.stop();
  }
  const sent = [...pub.accepted.keys()];
  assert.deepEqual(pub.refused, [], "the rooms lived on: no publish refused");
  assert.ok(sent.length > 100, `${sent.length} events published`);
  await eventually(
    () => [ada, bob].every((w) => channels.every((c) => ticks(w, c).at(-1) === sent.at(-1))),
    "the last event everywhere",
  );
  await sleep(300);
  for (const w of [ada, bob]) {
    for (const channel of channels) {
      assert.deepEqual(ticks(w, channel), sent, `${w.name} on ${channel}: every event once, in order`);
    }
    assertUnseen(w, since, ["tick"]);
  }
  const users = await (await serverSdk(worker, app).get({ path: "/channels/presence-linked/users" })).json();
  assert.deepEqual(users.users.map((u) => u.id).sort(), ["ada", "bob"]);
  // The members were held for the rejoin window (10 s): their departures, due at its end, were
  // cancelled when they came back; nothing reaches the receiver.
  await sleep(11_000);
  await settled();
  const extra = hooks.uniqueEvents().filter((e) => !hooksBefore.has(e.id));
  assert.deepEqual(extra, [], "no webhook for a broken link");
  t.diagnostic(`${sent.length} events through a broken link, each delivered once to 4 subscriptions`);
});

/** A pusher-js connection of the signed-in app, signed in as `id`, recording its watchlist events. */
async function signedIn(id, watchlist) {
  const user = watchlist ? { id, watchlist } : { id };
  const signed = await signedInWatching(worker, signedApp, sdkAuth(worker, { app: signedApp, user }), id);
  open.add(signed.client);
  return signed;
}

test("a broken link to a directory shard: watchers miss no online or offline; a user whose session ends meanwhile goes offline once", async (t) => {
  // Carl's session rejoins after a random jitter of up to 1 s; when it is back before his client
  // leaves (a tenth of runs), his leaving is a clean one, seen at once: that round proves
  // nothing about a silent session, and runs again with other users.
  for (let round = 1; ; round++) {
    const [wat, bob, carl, dan] = ["wat", "bob", "carl", "dan"].map((u) => `${u}-${round}`);
    const watcher = await signedIn(wat, [bob, carl, dan]);
    const bobs = await signedIn(bob);
    const carls = await signedIn(carl);
    await eventually(
      () => [bob, carl].every((u) => watcher.events.includes(`online ${u}`)),
      "bob and carl online for the watcher",
    );
    const seen = watcher.events.length;
    const since = Date.now();
    assert.ok((await worker.breakLinks("DIRECTORY")) >= 3, "each session has sockets there");
    await sleep(100);
    // Carl's session ends while its link is broken: the shard only saw it go silent.
    carls.client.disconnect();
    // Dan signs in meanwhile: the watcher hears it live or, rejoining later, in its replay.
    const dans = await signedIn(dan);
    await eventually(() => watcher.events.slice(seen).includes(`offline ${carl}`), "carl offline", 20_000);
    const offlineAfter = Date.now() - since;
    await sleep(500);
    assert.deepEqual(watcher.events.slice(seen).sort(), [`offline ${carl}`, `online ${dan}`], "each once");
    if (offlineAfter < 9_000 && round < 3) {
      t.diagnostic(`round ${round}: carl's session was back before he left (offline after ${offlineAfter} ms)`);
      for (const c of [watcher, bobs, dans]) c.client.disconnect();
      continue;
    }
    assert.ok(offlineAfter >= 9_000, `carl offline after ${offlineAfter} ms: held for the rejoin window first`);
    assertUnseen(watcher.w, since, ["pusher_internal:watchlist_events"]);
    assertUnseen(bobs.w, since);
    for (const c of [watcher, bobs, dans]) c.client.disconnect();
    break;
  }
});
