// The dashboard in a real browser: Debian's Chromium (/usr/bin/chromium, driven by
// playwright-core from examples/nextjs, which never downloads a browser) logs in with the
// form, opens the debug console, and sees in the DOM what pusher-js and the pusher SDK do
// meanwhile; the charts draw today's counters; the channel inspector and the page's test
// publish work; the page logs no error (its Content-Security-Policy holds). With
// DASHBOARD_SCREENSHOTS=<dir> it also saves the screenshots docs/operations.md shows.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { resolve, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { mkdirSync } from "node:fs";
import { startWorker, makeApp, serverSdk, sdkAuth, pusherJs, subscribed, nextEvent } from "./support/harness.mjs";
import { launchChromium, watchProblems } from "./support/browser.mjs";
import { receiver, arrived } from "./support/webhook_receiver.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DASHBOARD_TOKEN = "dashboard-token-for-the-browser";
const app = makeApp({ id: "demo-app", enable_client_messages: true });
let worker, browser;
const clients = [];

before(async () => {
  worker = await startWorker({ apps: [app], bindings: { PUSHER_APPS: JSON.stringify([app]), DASHBOARD_TOKEN } });
  browser = await launchChromium();
});
after(async () => {
  for (const client of clients) client.disconnect();
  await browser?.close().catch(() => {});
  await worker?.stop();
});

test("an operator logs in, watches the console fill with live activity, reads the charts, inspects a channel and publishes", async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems = watchProblems(page);
  const base = `http://127.0.0.1:${worker.port}`;
  const shots = process.env.DASHBOARD_SCREENSHOTS ? resolve(root, process.env.DASHBOARD_SCREENSHOTS) : null;
  if (shots) mkdirSync(shots, { recursive: true });

  // Some history for the charts: publishes and connections before the page opens.
  const sdk = serverSdk(worker, app);
  const client = await pusherJs(
    worker,
    app,
    sdkAuth(worker, { app, presence: { user_id: "ada", user_info: { name: "Ada" } } }),
  );
  clients.push(client);
  const news = await subscribed(client, "news");
  for (let i = 0; i < 5; i++) await sdk.trigger("news", "headline", { n: i });

  await page.goto(`${base}/dashboard`);
  await page.fill("#token", "a-wrong-token-of-some-length");
  await page.click("button[type=submit]");
  await page.waitForSelector("#refused:not([hidden])");
  // The refused login is the only failure the page may have seen.
  assert.ok(problems.splice(0).every((p) => p.includes("401")));
  await page.fill("#token", DASHBOARD_TOKEN);
  await page.click("button[type=submit]");
  await page.waitForSelector("#app-select option[value='demo-app']", { state: "attached" });
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "pusher_edge_dashboard");
  assert.ok(session.httpOnly && session.sameSite === "Strict", JSON.stringify(session));
  assert.equal(await page.evaluate(() => document.cookie), "", "the session cookie is not readable by scripts");

  // The counters and today's bar (the ledger has them within a second; the page refreshes every 5 s).
  await page.waitForFunction(() => Number(document.querySelector("#stat-broadcasts-today").textContent) >= 5, null, {
    timeout: 15_000,
  });
  const today = await page.$eval("#chart-broadcasts rect.bar.today", (bar) => Number(bar.dataset.value));
  assert.ok(today >= 5, `today's broadcasts bar: ${today}`);
  assert.equal(await page.$$eval("#chart-messages_delivered rect.bar", (bars) => bars.length), 62);
  assert.equal(await page.textContent("#stat-connections"), "1");

  // The debug console, live.
  await page.click("#console-toggle");
  await page.waitForSelector("#console-state.live");
  const watcher = await pusherJs(
    worker,
    app,
    sdkAuth(worker, { app, presence: { user_id: "grace", user_info: { name: "Grace" } } }),
  );
  clients.push(watcher);
  const room = await subscribed(watcher, "presence-lobby");
  const lobby = await subscribed(client, "presence-lobby");
  await sdk.trigger("news", "breaking", { text: "seen in the console" });
  const heard = nextEvent(lobby, "client-wave");
  room.trigger("client-wave", { from: "grace" });
  await heard;
  for (const kind of ["connected", "subscribed", "api_message", "client_event"]) {
    await page.waitForSelector(`#console-lines li[data-kind="${kind}"]`, { timeout: 15_000 });
  }
  const consoleText = await page.textContent("#console-lines");
  assert.match(consoleText, /presence-lobby · socket [\d.]+ · user grace/);
  assert.match(consoleText, /news · breaking · \d+ B · .*seen in the console/);
  assert.match(consoleText, /client-wave/);
  if (shots) await page.screenshot({ path: join(shots, "dashboard.png"), fullPage: true });

  // The filter: lines that don't match disappear, new lines respect it, clearing brings all back.
  const shown = () =>
    page.$$eval("#console-lines li", (items) =>
      items.filter((li) => li.offsetParent !== null).map((li) => li.textContent),
    );
  const total = (await page.$$("#console-lines li")).length;
  await page.fill("#console-filter", "breaking");
  const filtered = await shown();
  assert.ok(filtered.length >= 1 && filtered.length < total, `${filtered.length} of ${total} lines shown`);
  assert.ok(
    filtered.every((text) => text.includes("breaking")),
    JSON.stringify(filtered),
  );
  await sdk.trigger("news", "ignored-by-the-filter", {});
  await sdk.trigger("news", "breaking-again", {});
  await page.waitForSelector("#console-lines li >> text=breaking-again", { timeout: 15_000 });
  await page.waitForSelector("#console-lines li[hidden] >> text=ignored-by-the-filter", {
    state: "attached",
    timeout: 15_000,
  });
  assert.ok((await shown()).every((text) => text.includes("breaking")));
  await page.fill("#console-filter", "");
  assert.equal((await shown()).length, (await page.$$("#console-lines li")).length, "all lines back");

  // The channel list keeps itself fresh (no click on Refresh), then the channel inspector,
  // then the page's own test publish reaching pusher-js.
  await page.waitForSelector("tr.channel[data-channel='presence-lobby']", { timeout: 15_000 });
  assert.match(await page.textContent("#channels-updated"), /updated/);
  await page.click("tr.channel[data-channel='presence-lobby']");
  await page.waitForSelector("#inspector:not([hidden]) dd[data-fact='members']");
  assert.equal(await page.textContent("dd[data-fact='users']"), "2");
  assert.match(await page.textContent("dd[data-fact='members']"), /ada/);
  const published = nextEvent(news, "from-the-page");
  await page.fill("#publish-form input[name=channel]", "news");
  await page.fill("#publish-form input[name=event]", "from-the-page");
  await page.fill("#publish-form textarea[name=data]", '{"hello":"pusher-js"}');
  await page.click("#publish-form button[type=submit]");
  assert.deepEqual(await published, { hello: "pusher-js" });
  await page.waitForSelector("#console-lines li[data-kind='api_message'] >> text=from-the-page", { timeout: 15_000 });
  if (shots)
    await page
      .locator("section", { has: page.locator("#inspector") })
      .screenshot({ path: join(shots, "dashboard-inspector.png") });

  // A visitor comes and goes: the list shows the channel and then drops it, and the open
  // inspector follows the presence room's members, all without a click.
  const visitor = await pusherJs(worker, app);
  clients.push(visitor);
  await subscribed(visitor, "brief-visit");
  await page.waitForSelector("tr.channel[data-channel='brief-visit']", { timeout: 15_000 });
  await page.click("tr.channel[data-channel='presence-lobby']");
  await page.waitForFunction(() => /grace/.test(document.querySelector("dd[data-fact='members']")?.textContent), null, {
    timeout: 15_000,
  });
  visitor.disconnect();
  watcher.disconnect();
  await page.waitForSelector("tr.channel[data-channel='brief-visit']", { state: "detached", timeout: 20_000 });
  // The members come from the room, the user count from the channel's info: each refresh
  // reads both, and the test waits until both show grace gone.
  await page.waitForFunction(
    () => {
      const members = document.querySelector("dd[data-fact='members']")?.textContent ?? "";
      const users = document.querySelector("dd[data-fact='users']")?.textContent;
      return members.includes("ada") && !members.includes("grace") && users === "1";
    },
    null,
    { timeout: 20_000 },
  );
  assert.equal(await page.textContent("dd[data-fact='users']"), "1");

  assert.deepEqual(problems, []);
  // Logging out ends the session (a refresh in flight may then meet a 401: not counted).
  await page.click("header button[type=submit]");
  await page.waitForSelector("#token");
  const after = await (await page.context().request.get(`${base}/dashboard/api/apps`)).status();
  assert.equal(after, 401);
  await page.close();
});

test("the webhooks panel: a signed test request the receiver's SDK verifies, and the delivery log of real requests", async () => {
  const hooks = await receiver();
  const hooked = makeApp({
    id: "hooked-app",
    webhooks: [{ url: hooks.url(), event_types: ["channel_occupied"], headers: { "X-Api-Key": "gateway-key" } }],
  });
  const w = await startWorker({
    apps: [hooked],
    bindings: { PUSHER_APPS: JSON.stringify([hooked]), DASHBOARD_TOKEN },
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems = watchProblems(page);
  try {
    await page.goto(`http://127.0.0.1:${w.port}/dashboard`);
    await page.fill("#token", DASHBOARD_TOKEN);
    await page.click("button[type=submit]");
    await page.waitForSelector("#hooks button[data-hook='0']");
    const row = await page.textContent("#hooks tr");
    assert.match(row, /127\.0\.0\.1/);
    assert.match(row, /X-Api-Key/);
    assert.ok(!(await page.content()).includes("gateway-key"), "a header's value never reaches the page");

    // The test request: one webhook_test event, no channel, signed and with the headers.
    await page.click("#hooks button[data-hook='0']");
    await page.waitForFunction(() => /answered 200/.test(document.querySelector("#hook-test-result").textContent));
    const [request] = hooks.requests;
    const { events } = JSON.parse(request.body);
    assert.equal(events.length, 1);
    assert.equal(events[0].name, "webhook_test");
    assert.equal(events[0].channel, undefined);
    assert.equal(request.headers["x-api-key"], "gateway-key");
    assert.ok(serverSdk(w, hooked).webhook({ headers: request.headers, rawBody: request.body }).isValid());

    // Real deliveries: one taken, then one refused (with the tries it still gets).
    const client = await pusherJs(w, hooked);
    await subscribed(client, "taken");
    await arrived(hooks, (e) => e.some((x) => x.channel === "taken"), "the taken one");
    hooks.failing = true;
    await subscribed(client, "refused");
    await page.waitForFunction(
      () => [...document.querySelectorAll("#hook-log tr")].some((r) => r.dataset.status === "500"),
      null,
      { timeout: 20_000 },
    );
    const log = await page.$$eval("#hook-log tr", (rows) => rows.map((r) => r.textContent));
    assert.ok(
      log.some((r) => /webhook_test \(test\)/.test(r) && /200/.test(r)),
      JSON.stringify(log),
    );
    assert.ok(
      log.some((r) => /channel_occupied/.test(r) && /200/.test(r)),
      JSON.stringify(log),
    );
    const failed = log.find((r) => /500/.test(r));
    assert.match(failed, /channel_occupied.*500.*ms\d+$/, "a failed request says how many tries are left");

    // Each row's time and host: when the receiver got that request (to the second, in the
    // page's own clock format), and the receiver's host and port without the URL's path.
    const cells = await page.$$eval("#hook-log tr", (rows) =>
      rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)),
    );
    // The times the page may show for requests that reached the receiver at `ats` (a retried
    // one reached it more than once).
    const shownAround = (ats) =>
      page.evaluate((ats) => {
        const shown = new Set();
        for (const at of ats) {
          for (let t = at - 2_000; t <= at + 1_000; t += 100) shown.add(new Date(t).toLocaleTimeString());
        }
        return [...shown];
      }, ats);
    const received = (kind) => hooks.requests.filter((q) => kind(JSON.parse(q.body).events)).map((q) => q.at);
    for (const [events, status, ats] of [
      ["webhook_test (test)", "200", received((e) => e[0].name === "webhook_test")],
      ["channel_occupied", "200", received((e) => e.some((x) => x.channel === "taken"))],
      ["channel_occupied", "500", received((e) => e.some((x) => x.channel === "refused"))],
    ]) {
      const row = cells.find((c) => c[2] === events && c[3] === status);
      assert.ok(row, `${events} ${status} in ${JSON.stringify(cells)}`);
      assert.equal(row[1], `127.0.0.1:${hooks.port}`, JSON.stringify(row));
      const times = await shownAround(ats);
      assert.ok(times.includes(row[0]), `${row[0]} is not one of ${JSON.stringify(times)}`);
    }
    client.disconnect();
    // The refused deliveries are the receiver's answers, not the page's.
    assert.deepEqual(problems, []);
  } finally {
    hooks.failing = false;
    await page.close();
    await w.stop();
    await hooks.stop();
  }
});
