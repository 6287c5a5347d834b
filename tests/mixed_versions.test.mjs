// A deploy rolls the Worker (the sessions) and the Durable Objects over at different times:
// objects take the new code when they next hibernate, or are reset at the code update strategy's
// max_delay (wrangler.toml), so for a while sessions of one release talk to objects of the
// other. This runs the release before this one (tests/support/previous_release.txt, built by
// scripts/build_previous.sh) as the sessions against this release's objects, and the reverse,
// each role its own workerd process (Miniflare's dev registry between them, as the split
// benchmarks run it: bench/lib/split_processes.mjs), and drives them with pusher-js and the
// pusher SDK: subscriptions, presence, client events, REST publishes and reads, a sign-in with
// a watchlist, then a reset of every room and directory shard, which the sessions must absorb
// as they do within one release: no client sees it.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeApp, serverSdk, sdkAuth, subscribed, eventually, sleep } from "./support/harness.mjs";
import { assertUnseen, signedInWatching } from "./support/delivery_watch.mjs";
import { benchWorkerOptions } from "../bench/lib/start_worker.mjs";
import { startRoles } from "../bench/lib/split_processes.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROLES = {
  state: ["AppLedger", "ConnectionShard", "UserDirectory", "AppRegistry", "OperatorSessions"],
  rooms: ["ChannelRoom"],
  sessions: [],
};
/** Built once (about 1.5 min); `npm test` builds it before the integration tests. */
const previousBuild = execFileSync("bash", [resolve(root, "scripts/build_previous.sh")], {
  cwd: root,
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
}).trim();
const open = [];
after(async () => {
  for (const stop of open) await stop();
});

/** This release's and the previous one's bundles, as a role's Miniflare options. */
function builds(apps) {
  const current = benchWorkerOptions({ apps }).options;
  const previous = benchWorkerOptions({ apps, buildDir: previousBuild }).options;
  const bundle = ({ modulesRoot, scriptPath }) => ({ modulesRoot, scriptPath });
  return { current, bundles: { current: bundle(current), previous: bundle(previous) } };
}

/** Resets every instance of `classes` in the role that owns them: their sockets close. */
async function resetAll(proc, classes) {
  let reset = 0;
  for (const className of classes) {
    for (const id of await proc.mf.listDurableObjectIds(className)) {
      for (let tries = 1; ; tries++) {
        try {
          await proc.mf.unsafeEvictDurableObject(proc.scriptName, className, { id, webSockets: "close" });
          reset++;
          break;
        } catch (e) {
          if (/not currently running/.test(e.message)) break;
          if (!/active references/.test(e.message) || tries >= 20) throw e;
          await sleep(50);
        }
      }
    }
  }
  return reset;
}

for (const [sessions, objects] of [
  ["previous", "current"],
  ["current", "previous"],
]) {
  test(`sessions of the ${sessions} release, objects of the ${objects} one: every feature, and a reset unseen`, async (t) => {
    const app = makeApp({ enable_client_messages: true });
    const { current, bundles } = builds([app]);
    const split = await startRoles({
      name: `mixed-${sessions}`,
      options: current,
      roles: ROLES,
      roleOptions: { sessions: bundles[sessions], state: bundles[objects], rooms: bundles[objects] },
    });
    open.push(split.stop);
    const worker = { port: split.processes.sessions.port, app };
    const member = (id, watchlist) =>
      signedInWatching(worker, app, sdkAuth(worker, { presence: { user_id: id }, user: { id, watchlist } }), id);
    const ada = await member("ada", ["bob"]);
    const bob = await member("bob", []);
    try {
      const chans = {};
      for (const m of [ada, bob]) {
        chans[m.w.name] = {
          news: await subscribed(m.client, "news"),
          lobby: await subscribed(m.client, "presence-lobby"),
        };
      }
      await eventually(() => ada.events.includes("online bob"), "bob online for ada");
      const sdk = serverSdk(worker, app);
      const got = { ada: [], bob: [] };
      for (const name of ["ada", "bob"]) {
        chans[name].news.bind("n", (d) => got[name].push(d.n));
        chans[name].lobby.bind("client-note", (d) => got[name].push(`note ${d.n}`));
      }
      await sdk.trigger("news", "n", { n: 1 });
      chans.ada.lobby.trigger("client-note", { n: 1 });
      await eventually(() => got.ada.includes(1) && got.bob.includes(1) && got.bob.includes("note 1"), "delivered");
      for (const name of ["ada", "bob"]) assert.equal(chans[name].lobby.members.count, 2, name);
      const users = async () => (await (await sdk.get({ path: "/channels/presence-lobby/users" })).json()).users;
      assert.deepEqual((await users()).map((u) => u.id).sort(), ["ada", "bob"]);
      await sdk.sendToUser("bob", "hello", { n: 1 });
      const hellos = () => bob.w.frames.filter((f) => f.event === "hello").length;
      await eventually(() => hellos() === 1, "the user event");

      const since = Date.now();
      const watchlistBefore = ada.events.length;
      const resetRooms = await resetAll(split.processes.rooms, ["ChannelRoom"]);
      const resetShards = await resetAll(split.processes.state, ["UserDirectory"]);
      t.diagnostic(`reset ${resetRooms} rooms and ${resetShards} directory shards`);
      assert.ok(resetRooms >= 2 && resetShards >= 1, "the objects were running");
      await sleep(2_500); // the sessions' rejoins (1 s jitter)
      await sdk.trigger("news", "n", { n: 2 });
      chans.bob.lobby.trigger("client-note", { n: 2 });
      await eventually(
        () => got.ada.includes(2) && got.bob.includes(2) && got.ada.includes("note 2"),
        "after the reset",
      );
      await sleep(300);
      const apart = (list) => [list.filter((x) => typeof x === "number"), list.filter((x) => typeof x === "string")];
      assert.deepEqual(apart(got.ada), [[1, 2], ["note 2"]], "each once, in order");
      assert.deepEqual(apart(got.bob), [[1, 2], ["note 1"]], "each once, in order");
      assert.deepEqual((await users()).map((u) => u.id).sort(), ["ada", "bob"]);
      for (const name of ["ada", "bob"]) assert.equal(chans[name].lobby.members.count, 2, name);
      assert.deepEqual(ada.events.slice(watchlistBefore), [], "no watchlist event from the reset");
      for (const m of [ada, bob]) assertUnseen(m.w, since, ["n", "client-note"]);
      assert.equal(hellos(), 1, "the user event once");
    } finally {
      ada.client.disconnect();
      bob.client.disconnect();
    }
  });
}
