// The dashboard's Apps section in a real browser (Debian's Chromium driven by playwright-core,
// as in dashboard_browser.test.mjs): an operator creates an app and is shown its id, key and
// secret once, with an .env.local block, which the real pusher SDK and pusher-js then use;
// changes a switch (only the change is sent, and the page says when it applies); sets the
// allowed origins, the rate-limit tier and require_origin (the summary line follows, and the
// refusals they cause reach the "refused today" card); disables the app (a connected client
// is closed with 4003) and enables it again; rotates its secret (the old one keeps working
// through the overlap); and deletes it after typing its id. The app of the environment shows
// no controls, and no secret reaches the page's storage or any URL.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, makeApp, serverSdk, pusherJs, rawSocket, eventually } from "./support/harness.mjs";
import { launchChromium, watchProblems } from "./support/browser.mjs";

const DASHBOARD_TOKEN = "dashboard-token-for-the-apps-section";
const envApp = makeApp({ id: "env-app" });
let worker, browser;

before(async () => {
  worker = await startWorker({
    apps: [envApp],
    bindings: { PUSHER_APPS: JSON.stringify([envApp]), DASHBOARD_TOKEN },
  });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close().catch(() => {});
  await worker?.stop();
});

/** The app as the operators' API reads it, outside the page: the status and the JSON. */
async function adminRead(id) {
  const res = await fetch(`http://127.0.0.1:${worker.port}/admin/apps/${encodeURIComponent(id)}`, {
    headers: { Authorization: `Bearer ${DASHBOARD_TOKEN}` },
  });
  return { status: res.status, json: await res.json() };
}

/** The status of a REST trigger signed with `app`'s id, key and secret by the real pusher SDK. */
function triggerStatus(app) {
  return serverSdk(worker, app)
    .trigger("apps-section", "check", { ok: true })
    .then(
      (res) => res.status,
      (e) => e.status,
    );
}

/** `NAME=value` lines (comments left out) as an object. */
function parseEnv(text) {
  const lines = text.split("\n").filter((line) => line && !line.startsWith("#"));
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
}

/** What the secret panel shows, once it is open. */
async function shownCredentials(page) {
  await page.waitForSelector("#secret-panel:not([hidden])");
  const [id, key, secret, env] = await Promise.all(
    ["#secret-app-id", "#secret-app-key", "#secret-app-secret", "#env-local"].map((s) => page.textContent(s)),
  );
  return { id, key, secret, env: parseEnv(env) };
}

/** No secret in the page's storage, its address, or any address it asked for. */
async function assertNotKept(page, urls, secrets) {
  const stored = await page.evaluate(() =>
    JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie]),
  );
  for (const secret of secrets) {
    assert.ok(!stored.includes(secret), "a secret in the page's storage");
    assert.ok(!page.url().includes(secret), "a secret in the page's URL");
    assert.deepEqual(
      urls.filter((url) => url.includes(secret)),
      [],
      "a secret in a requested URL",
    );
  }
}

/** Closes the secret panel and checks that the page no longer holds the secret. */
async function closeSecret(page, secret) {
  await page.click("#secret-close");
  await page.waitForSelector("#secret-panel", { state: "hidden" });
  assert.equal(await page.textContent("#secret-app-secret"), "");
  assert.equal(await page.textContent("#env-local"), "");
  assert.ok(!(await page.content()).includes(secret), "the closed panel keeps no secret");
}

test("an operator creates, edits, disables, rotates and deletes an app in the dashboard; the environment's app stays read-only", async () => {
  const context = await browser.newContext({
    viewport: { width: 1400, height: 1100 },
    permissions: ["clipboard-read", "clipboard-write"],
  });
  const page = await context.newPage();
  const problems = watchProblems(page);
  const urls = [];
  page.on("request", (r) => urls.push(r.url()));
  page.on("framenavigated", (frame) => urls.push(frame.url()));

  await page.goto(`http://127.0.0.1:${worker.port}/dashboard`);
  await page.fill("#token", DASHBOARD_TOKEN);
  await page.click("button[type=submit]");
  const envRow = `#apps-rows tr[data-app-id='${envApp.id}']`;
  await page.waitForSelector(envRow);

  // The environment's app is listed, read-only, without a single control.
  assert.equal(await page.getAttribute(envRow, "data-source"), "environment");
  assert.equal(await page.$$eval(`${envRow} button`, (buttons) => buttons.length), 0);
  assert.match(await page.textContent(envRow), /read-only/);

  // A refused creation shows the API's error in the section, and no secret panel.
  await page.fill("#create-id", envApp.id);
  await page.click("#create-submit");
  await page.waitForSelector("#apps-error:not([hidden])");
  assert.match(await page.textContent("#apps-error"), /is taken/);
  assert.ok(await page.isHidden("#secret-panel"));
  assert.ok(
    problems.splice(0).every((p) => p.includes("409")),
    "the refused creation is the only failure so far",
  );

  // Creation: a generated id, a switch and a limit; the id, key and secret shown once.
  await page.fill("#create-id", "");
  await page.check("#create-enable-subscription-count");
  await page.fill("#create-max-connections", "50");
  await page.click("#create-submit");
  const made = await shownCredentials(page);
  assert.ok(await page.isHidden("#apps-error"));
  assert.match(made.id, /^\d{7,}$/);
  assert.match(made.key, /^[0-9a-f]{20}$/);
  assert.match(made.secret, /^[0-9a-f]{32}$/);
  const app = { id: made.id, key: made.key, secret: made.secret };
  const port = String(worker.port);
  assert.deepEqual(made.env, {
    NEXT_PUBLIC_PUSHER_APP_KEY: app.key,
    NEXT_PUBLIC_PUSHER_HOST: "127.0.0.1",
    NEXT_PUBLIC_PUSHER_PORT: port,
    NEXT_PUBLIC_PUSHER_FORCE_TLS: "false",
    NEXT_PUBLIC_PUSHER_APP_CLUSTER: "mt1",
    PUSHER_APP_ID: app.id,
    PUSHER_APP_KEY: app.key,
    PUSHER_APP_SECRET: app.secret,
    PUSHER_HOST: "127.0.0.1",
    PUSHER_PORT: port,
    PUSHER_USE_TLS: "false",
  });
  const row = `#apps-rows tr[data-app-id='${app.id}']`;
  await page.waitForSelector(row);
  await page.waitForSelector(`#app-select option[value='${app.id}']`, { state: "attached" });
  assert.equal(await page.getAttribute(row, "data-source"), "registry");
  assert.deepEqual(await page.$$eval(`${row} button[data-action]`, (buttons) => buttons.map((b) => b.dataset.action)), [
    "edit",
    "toggle",
    "rotate",
    "delete",
  ]);
  const created = (await adminRead(app.id)).json.app;
  assert.equal(created.enable_subscription_count, true);
  assert.equal(created.enable_client_messages, false);
  assert.equal(created.limits.max_connections, 50);

  // A copy button puts the secret on the clipboard.
  await page.click("#copy-app-secret");
  await page.waitForFunction(() => document.querySelector("#copy-result").textContent.startsWith("Copied"));
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), app.secret);

  // The shown credentials work: the SDK publishes, pusher-js connects with the key.
  assert.equal(await triggerStatus(app), 200);
  const client = await pusherJs(worker, app);
  client.disconnect();
  await assertNotKept(page, urls, [app.secret]);
  await closeSecret(page, app.secret);

  // Settings: the form starts from the app's settings and sends only what changed.
  await page.click(`${row} button[data-action='edit']`);
  await page.waitForSelector("#app-editor:not([hidden])");
  assert.equal(await page.textContent("#edit-app-id"), app.id);
  assert.equal(await page.isChecked("#edit-enable-client-messages"), false);
  assert.equal(await page.isChecked("#edit-enable-subscription-count"), true);
  assert.equal(await page.inputValue("#edit-max-connections"), "50");
  await page.check("#edit-enable-client-messages");
  await page.fill("#edit-max-client-events-per-second", "5");
  const patchSent = page.waitForRequest((r) => r.method() === "PATCH");
  await page.click("#edit-save");
  assert.deepEqual((await patchSent).postDataJSON(), {
    enable_client_messages: true,
    limits: { max_client_events_per_second: 5 },
  });
  const change = (setting) => `#edit-changes li[data-setting='${setting}']`;
  await page.waitForSelector(change("enable_client_messages"));
  assert.equal(await page.getAttribute(change("enable_client_messages"), "data-applies"), "live");
  assert.equal(await page.getAttribute(change("limits.max_client_events_per_second"), "data-applies"), "live");
  assert.match(await page.textContent(change("enable_client_messages")), /at once/);
  const edited = (await adminRead(app.id)).json.app;
  assert.equal(edited.enable_client_messages, true);
  assert.equal(edited.limits.max_client_events_per_second, 5);
  assert.equal(edited.limits.max_connections, 50, "a limit not changed is not sent");

  // Which pages may connect, and the rate-limit tier: the same form, checked by the API. The
  // summary line above the cards is the chosen app's: this one from now on.
  assert.equal(await page.inputValue("#edit-allowed-origins"), "");
  assert.equal(await page.inputValue("#edit-rate-limit-tier"), "standard");
  assert.equal(await page.isChecked("#edit-require-origin"), false);
  await page.selectOption("#app-select", app.id);
  await page.waitForFunction(
    (key) => document.querySelector("#settings").textContent.startsWith(`key ${key} `),
    app.key,
  );
  assert.match(await page.textContent("#settings"), / · origins: any · rate limits: standard · /);
  await page.fill("#edit-allowed-origins", "shop.example.com");
  await page.click("#edit-save");
  await page.waitForSelector("#apps-error:not([hidden])");
  assert.match(await page.textContent("#apps-error"), /"shop\.example\.com": an origin needs its scheme/);
  assert.ok(
    problems.splice(0).every((p) => p.includes("400")),
    "the refused origin is the only failure so far",
  );
  await page.fill("#edit-allowed-origins", "https://shop.example.com\n\n  https://*.example.org ");
  await page.selectOption("#edit-rate-limit-tier", "high");
  const originsSent = page.waitForRequest((r) => r.method() === "PATCH");
  await page.click("#edit-save");
  assert.deepEqual((await originsSent).postDataJSON(), {
    allowed_origins: ["https://shop.example.com", "https://*.example.org"],
    rate_limit_tier: "high",
  });
  await page.waitForSelector(change("allowed_origins"));
  assert.equal(await page.getAttribute(change("allowed_origins"), "data-applies"), "new_connections");
  assert.equal(await page.getAttribute(change("rate_limit_tier"), "data-applies"), "live");
  assert.match(
    await page.textContent("#settings"),
    / · origins: https:\/\/shop\.example\.com, https:\/\/\*\.example\.org · rate limits: high · /,
  );
  // `origin` undefined: no Origin header, as a server-side client.
  const connectFrom = async (origin) => {
    const headers = origin === undefined ? {} : { Origin: origin };
    const sock = await rawSocket(worker, `/app/${app.key}?protocol=7`, { headers });
    const first = await sock.next();
    sock.close();
    return first;
  };
  // New connections follow once this isolate's copy of the app is refreshed (seconds).
  await eventually(
    async () => (await connectFrom("https://elsewhere.example")).event === "pusher:error",
    "a page of another origin refused",
  );
  assert.deepEqual((await connectFrom("https://elsewhere.example")).data, {
    code: 4009,
    message: "Origin not allowed",
  });
  assert.equal((await connectFrom("https://a.example.org")).event, "pusher:connection_established");
  assert.equal((await connectFrom(undefined)).event, "pusher:connection_established", "no Origin, none required");

  // Requiring an Origin: the checkbox, its change alone sent, the summary line, and clients
  // that send none refused from then on.
  await page.check("#edit-require-origin");
  const requireSent = page.waitForRequest((r) => r.method() === "PATCH");
  await page.click("#edit-save");
  assert.deepEqual((await requireSent).postDataJSON(), { require_origin: true });
  await page.waitForSelector(change("require_origin"));
  assert.equal(await page.getAttribute(change("require_origin"), "data-applies"), "new_connections");
  assert.match(await page.textContent("#settings"), /\.example\.org \(Origin required\) · rate limits: high · /);
  assert.equal((await adminRead(app.id)).json.app.require_origin, true);
  await eventually(
    async () => (await connectFrom(undefined)).event === "pusher:error",
    "a client without Origin refused",
  );
  await page.click("#edit-cancel");
  await page.waitForSelector("#app-editor", { state: "hidden" });
  // The form opens again from the app as it now is.
  await page.click(`${row} button[data-action='edit']`);
  await page.waitForSelector("#app-editor:not([hidden])");
  assert.equal(await page.isChecked("#edit-require-origin"), true);
  assert.equal(await page.inputValue("#edit-rate-limit-tier"), "high");
  await page.click("#edit-cancel");
  await page.waitForSelector("#app-editor", { state: "hidden" });

  // The three refusals (two pages of another origin, one client without Origin) reach the
  // app's ledger in batches (each about 5 s after its first refusal), and the card at the
  // page's next refresh (every 5 s): polled, not waited for.
  const refusedCard = () => page.textContent("#stat-refused-today");
  await eventually(async () => (await refusedCard()) === "3", "3 refusals on the card", 30_000).catch((e) =>
    refusedCard().then((shown) => assert.fail(`${e.message}; the card shows ${shown}`)),
  );
  assert.equal(
    await page.getAttribute("#stat-refused-today", "title"),
    "0 connection attempts and 0 REST calls rate-limited, 3 pages of other origins",
  );
  // Back to the environment's app: a refresh of this one's cards once it is deleted below
  // would be a 404 in the page.
  await page.selectOption("#app-select", envApp.id);

  // Disable: a connected client is closed with 4003. Enable: clients connect again. (A page
  // of a listed origin: the app now requires an Origin.)
  const connectListed = async () => {
    const sock = await rawSocket(worker, `/app/${app.key}?protocol=7`, {
      headers: { Origin: "https://shop.example.com" },
    });
    const first = await sock.next();
    assert.equal(first.event, "pusher:connection_established", JSON.stringify(first));
    return sock;
  };
  const sock = await connectListed();
  await page.click(`${row} button[data-action='toggle']`);
  assert.equal((await sock.closed("the 4003 close")).code, 4003);
  await page.waitForSelector(`${row}[data-enabled='false']`);
  assert.equal(await page.textContent(`${row} button[data-action='toggle']`), "Enable");
  assert.match(await page.textContent(`#app-select option[value='${app.id}']`), /disabled/);
  assert.equal((await adminRead(app.id)).json.app.enabled, false);
  await page.click(`${row} button[data-action='toggle']`);
  await page.waitForSelector(`${row}[data-enabled='true']`);
  assert.equal((await adminRead(app.id)).json.app.enabled, true);
  (await connectListed()).close();

  // Rotation with the default overlap (24 hours): the new secret shown once, the old one still
  // signs until the time the page gives.
  await page.click(`${row} button[data-action='rotate']`);
  await page.waitForSelector("#app-rotate:not([hidden])");
  assert.equal(await page.textContent("#rotate-app-id"), app.id);
  assert.equal(await page.inputValue("#rotate-hours"), "24");
  const rotationSent = page.waitForRequest((r) => r.method() === "POST" && r.url().endsWith("/rotate"));
  await page.click("#rotate-submit");
  assert.deepEqual((await rotationSent).postDataJSON(), { previous_secret_expires_in_secs: 86_400 });
  const rotated = await shownCredentials(page);
  assert.equal(rotated.id, app.id);
  assert.equal(rotated.key, app.key);
  assert.match(rotated.secret, /^[0-9a-f]{32}$/);
  assert.notEqual(rotated.secret, app.secret);
  assert.equal(rotated.env.PUSHER_APP_SECRET, rotated.secret);
  assert.equal(rotated.env.PUSHER_APP_KEY, app.key);
  assert.ok(await page.isHidden("#app-rotate"));
  const expiresAt = Number(await page.getAttribute("#secret-expiry", "data-expires-at"));
  assert.ok(Math.abs(expiresAt - (Date.now() / 1000 + 86_400)) < 60, `old secret expires at ${expiresAt}`);
  assert.match(await page.textContent("#secret-expiry"), /keeps working until/);
  const fresh = { ...app, secret: rotated.secret };
  assert.equal(await triggerStatus(fresh), 200);
  assert.equal(await triggerStatus(app), 200, "the old secret, within the overlap");
  await assertNotKept(page, urls, [app.secret, fresh.secret]);
  await closeSecret(page, fresh.secret);

  // Deletion, after typing the app's id (a wrong one does not confirm).
  await page.click(`${row} button[data-action='delete']`);
  await page.waitForSelector("#app-delete:not([hidden])");
  assert.equal(await page.textContent("#delete-app-id"), app.id);
  assert.ok(await page.isDisabled("#delete-submit"));
  await page.fill("#delete-confirm", `${app.id}0`);
  assert.ok(await page.isDisabled("#delete-submit"), "a wrong id does not confirm");
  await page.fill("#delete-confirm", app.id);
  await page.click("#delete-submit");
  await page.waitForSelector(row, { state: "detached" });
  await page.waitForSelector(`#app-select option[value='${app.id}']`, { state: "detached" });
  assert.ok(await page.isHidden("#app-delete"));
  assert.equal((await adminRead(app.id)).status, 404);
  assert.equal(await page.$$eval(`${envRow} button`, (buttons) => buttons.length), 0);

  await assertNotKept(page, urls, [app.secret, fresh.secret]);
  assert.deepEqual(problems, []);
  await context.close();
});
