// The recipes of docs/local-development.md and docs/deploy.md, run as the pages print them.
// Each fenced block tagged `recipe=<name>` is read from the markdown at test time and run
// verbatim, with only its placeholders put in: the app's credentials (YOUR_APP_ID, ...), the
// host and the ports (8787 and 3001 locally; realtime.example.com and 443 for a deployment,
// which here is the built worker served over TLS with a throwaway certificate). Node scripts
// run in a child Node from the repository's root (so `pusher` and `pusher-js` resolve from its
// node_modules), the Python one with the SDK of .tools/python, shell lines with bash.
// `wrangler deploy --dry-run` runs in a scratch copy of the project whose build command is a
// no-op (the built worker is copied in), without network when `unshare` allows it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { getCACertificates, setDefaultCACertificates } from "node:tls";
import { fileURLToPath } from "node:url";
import { parseEnv } from "node:util";
import { Miniflare } from "miniflare";
import { parse } from "smol-toml";
import {
  startWorker,
  workerOptions,
  makeApp,
  serverSdk,
  pusherJs,
  newPusherJs,
  subscribed,
  nextEvent,
} from "./support/harness.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const python = resolve(root, ".tools/python/bin/python");
const wranglerJs = resolve(root, "node_modules/wrangler/bin/wrangler.js");
// `node` in the shell recipes is the Node running the tests, as node_modules/.bin gives it.
const PATH = `${dirname(process.execPath)}:${process.env.PATH}`;

/** The blocks of a docs page tagged `recipe=<name>`, by name, without their indentation. */
function recipes(page) {
  const text = readFileSync(resolve(root, "docs", page), "utf8");
  const found = new Map();
  for (const [, indent, name, body] of text.matchAll(/^( *)```\w+ recipe=([\w-]+)\n([\s\S]*?)^\1```$/gm)) {
    assert.ok(!found.has(name), `${page}: two recipes named ${name}`);
    const lines = body.split("\n").map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line));
    found.set(name, lines.join("\n"));
  }
  return { get: (name) => found.get(name) ?? assert.fail(`${page} has no recipe=${name} block`) };
}

/** `code` with each placeholder (a key of `values`, which must occur in it) replaced, in one pass. */
function fill(code, values) {
  for (const placeholder of Object.keys(values)) {
    assert.ok(code.includes(placeholder), `the recipe has no ${placeholder}:\n${code}`);
  }
  const any = new RegExp(
    Object.keys(values)
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join("|"),
    "g",
  );
  const out = code.replace(any, (placeholder) => values[placeholder]);
  assert.doesNotMatch(out, /YOUR_/, "a placeholder is left");
  return out;
}
const credentials = (app) => ({ YOUR_APP_ID: app.id, YOUR_APP_KEY: app.key, YOUR_APP_SECRET: app.secret });

/** Runs a program to its end: { code, stdout, stderr }. */
function run(command, args, { input = "", env = process.env, timeoutMs = 30_000, cwd = root } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} did not end; stdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}
/** A Node module, from the repository's root (where `pusher` and `pusher-js` resolve). */
const runModule = (code, env = {}) =>
  run(process.execPath, ["--input-type=module"], { input: code, env: { ...process.env, ...env } });
const runShell = (line, env = {}) => run("bash", ["-c", line], { env: { ...process.env, PATH, ...env } });
/** Asserts that a child ended well; answers its stdout. */
function ok({ code, stdout, stderr }, what) {
  assert.equal(code, 0, `${what} failed (${code}); stdout: ${stdout}\nstderr: ${stderr}`);
  return stdout;
}
/** Asserts that a child ended well and printed exactly `expected`. */
function printsExactly(result, expected, what) {
  assert.equal(ok(result, what), expected, `${what} printed something else; stderr: ${result.stderr}`);
}

const freePort = () =>
  new Promise((done) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });

const has = (command) => spawnSync("bash", ["-c", `command -v ${command}`]).status === 0;
const local = recipes("local-development.md");
const deploy = recipes("deploy.md");
const scratch = mkdtempSync(join(tmpdir(), "docs-recipes-"));

// The development app as `npm start` writes it: numeric id, random key and secret.
const devApp = makeApp({ id: String(1_000_000 + Math.floor(Math.random() * 9_000_000)) });
/** The apps of a `.dev.vars` PUSHER_APPS line, read as dotenv (wrangler dev) reads it. */
function devVarsApps(line) {
  assert.equal(line.trim().split("\n").length, 1, "one line");
  const vars = parseEnv(line);
  assert.deepEqual(Object.keys(vars), ["PUSHER_APPS"]);
  return { PUSHER_APPS: vars.PUSHER_APPS, apps: JSON.parse(vars.PUSHER_APPS) };
}
// npm start's line as the page shows it, and the development app as it writes it.
const startLine = readFileSync(resolve(root, "docs/local-development.md"), "utf8").match(
  /^PUSHER_APPS='.*dev-key-.*$/m,
);
const writtenApp = () =>
  devVarsApps(fill(startLine[0], { 1234567: devApp.id, "dev-key-...": devApp.key, "dev-secret-...": devApp.secret }))
    .apps[0];

let worker; // the second-app recipe's configuration: the development app and a second one
before(async () => {
  const { PUSHER_APPS, apps } = devVarsApps(fill(local.get("second-app"), credentials(devApp)));
  worker = await startWorker({ apps, bindings: { PUSHER_APPS } });
});
after(async () => {
  await worker?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

test("local: the page's npm start line is what scripts/start.sh writes", () => {
  assert.ok(startLine, "the page shows npm start's PUSHER_APPS line");
  const template = startLine[0]
    .replace('"1234567"', '"$1"')
    .replace('"dev-key-..."', '"$2"')
    .replace('"dev-secret-..."', '"$3"');
  assert.ok(readFileSync(resolve(root, "scripts/start.sh"), "utf8").includes(template), template);
});

test("local: a second app in .dev.vars connects and publishes beside the first, which stays as npm start wrote it", async () => {
  const { apps } = devVarsApps(fill(local.get("second-app"), credentials(devApp)));
  assert.equal(apps.length, 2);
  assert.deepEqual(apps[0], writtenApp(), "the first app as npm start writes it");
  assert.match(apps[1].id, /^\d+$/, "a numeric id");
  for (const app of apps) {
    const client = await pusherJs(worker, app);
    try {
      const channel = await subscribed(client, "second-app-check");
      const got = nextEvent(channel, "hello");
      await serverSdk(worker, app).trigger("second-app-check", "hello", { app: app.id });
      assert.deepEqual(await got, { app: app.id });
    } finally {
      client.disconnect();
    }
  }
});

test("local: the webhook receiver verifies the worker's signed webhooks and refuses forged ones", async () => {
  const port = String(await freePort());
  const { PUSHER_APPS, apps } = devVarsApps(
    fill(local.get("webhook-dev-vars"), { ...credentials(devApp), 3001: port }),
  );
  const { webhooks, ...rest } = apps[0];
  assert.deepEqual(rest, writtenApp(), "the development app as npm start writes it, with webhooks");
  assert.deepEqual(webhooks, [{ url: `http://127.0.0.1:${port}/pusher/webhooks` }]);
  const hooked = await startWorker({ apps, bindings: { PUSHER_APPS } });
  const receiver = spawn(process.execPath, ["--input-type=module"], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  receiver.stdout.on("data", (d) => (output += d));
  receiver.stderr.on("data", (d) => (output += d));
  receiver.stdin.end(fill(local.get("webhook-receiver"), { ...credentials(devApp), 3001: port }));
  const printed = async (pattern, what, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(output)) {
      if (Date.now() > deadline || receiver.exitCode !== null)
        assert.fail(`no ${what}; the receiver printed:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return output.match(pattern);
  };
  let client;
  try {
    await printed(/receiving on http:\/\/127\.0\.0\.1:\d+\/pusher\/webhooks/, "start line");
    client = await pusherJs(hooked, devApp);
    await subscribed(client, "my-channel");
    const [, occupied] = await printed(/^channel_occupied my-channel (\{.*\})$/m, "channel_occupied");
    assert.deepEqual({ ...JSON.parse(occupied), id: "" }, { name: "channel_occupied", channel: "my-channel", id: "" });
    client.disconnect();
    await printed(/^channel_vacated my-channel \{/m, "channel_vacated (3 s after the last client left)");

    const url = `http://127.0.0.1:${port}/pusher/webhooks`;
    const body = JSON.stringify({ time_ms: Date.now(), events: [{ name: "channel_occupied", channel: "forged" }] });
    const sign = (text, secret) => createHmac("sha256", secret).update(text).digest("hex");
    const send = (text, signature) =>
      fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Pusher-Key": devApp.key, "X-Pusher-Signature": signature },
        body: text,
      });
    const wrongSecret = await send(body, sign(body, "not-the-secret"));
    assert.equal(wrongSecret.status, 401);
    assert.equal(await wrongSecret.text(), "invalid signature\n");
    const edited = await send(body.replace("forged", "edited"), sign(body, devApp.secret));
    assert.equal(edited.status, 401);
    const signed = await send(body, sign(body, devApp.secret));
    assert.equal(signed.status, 200, "the same body, signed with the secret, is taken");
    await printed(/^channel_occupied forged /m, "the signed request's event");
    assert.doesNotMatch(output, /edited/);
  } finally {
    client?.disconnect();
    receiver.kill();
    await hooked.stop();
  }
});

test("local: the Python SDK recipe publishes and reads the channel", {
  skip: existsSync(python) ? false : "no .tools/python venv (scripts/setup.sh makes it; it needs python3)",
}, async () => {
  const client = await pusherJs(worker, devApp);
  try {
    const channel = await subscribed(client, "my-channel");
    const got = nextEvent(channel, "my-event");
    const out = await run(python, ["-"], {
      input: fill(local.get("python-sdk"), { ...credentials(devApp), 8787: String(worker.port) }),
    });
    printsExactly(out, "{'occupied': True, 'subscription_count': 1}\n", "publish.py");
    assert.deepEqual(await got, { message: "hello from Python" });
  } finally {
    client.disconnect();
  }
});

test("local: the pusher-js Node script signs its private channel with customHandler and gets the event", async () => {
  const code = fill(local.get("pusher-js-node"), { ...credentials(devApp), 8787: String(worker.port) });
  const out = await runModule(code);
  printsExactly(out, "created { id: 42 }\n", "private.mjs");
});

test("local: the feed post reaches a subscriber of the example's feed with the shape its page shows", async () => {
  // The example publishes a post as channel "feed", event "post", { from, text }, and its page
  // subscribes to "feed", binds "post" and shows `from: text`.
  const route = readFileSync(resolve(root, "examples/nextjs/app/api/events/route.ts"), "utf8");
  assert.match(route, /\.trigger\("feed", "post", \{ from: user\.name, text \}/);
  const page = readFileSync(resolve(root, "examples/nextjs/app/page.tsx"), "utf8");
  assert.match(page, /type Message = \{ from: string; text: string \}/);
  assert.match(page, /subscribe\("feed"\)/);
  assert.match(page, /\.bind\("post", onPost\)/);
  assert.match(page, /l\.from\}: \{l\.text\}/);

  const client = await pusherJs(worker, devApp);
  try {
    const feed = await subscribed(client, "feed");
    const got = nextEvent(feed, "post");
    const out = await runModule(fill(local.get("feed-post"), { ...credentials(devApp), 8787: String(worker.port) }));
    printsExactly(out, "posted\n", "feed-post.mjs");
    assert.deepEqual(await got, { from: "script", text: "Hello from a script" });
  } finally {
    client.disconnect();
  }
});

// --- deploy.md ---

const wranglerToml = readFileSync(resolve(root, "wrangler.toml"), "utf8");
/** TOML as plain objects (smol-toml's tables have no prototype). */
const parseToml = (text) => JSON.parse(JSON.stringify(parse(text)));
// Network namespaces without privileges, when the kernel allows them: the dry run then
// provably needs no network.
const offline = spawnSync("unshare", ["-rn", "true"]).status === 0;

/**
 * The page's dry-run command in a scratch copy of the project with `toml` as wrangler.toml:
 * the built worker and the dashboard's assets are copied in, and the build command
 * (scripts/build.sh) is a no-op there; no account (HOME and the config directory are empty).
 */
async function dryRun(toml, what, extraArgs = []) {
  assert.ok(existsSync(resolve(root, "build/index.js")), "build/ is missing: run scripts/build.sh first");
  const dir = mkdtempSync(join(scratch, "project-"));
  writeFileSync(join(dir, "wrangler.toml"), toml);
  cpSync(resolve(root, "build"), join(dir, "build"), { recursive: true });
  cpSync(resolve(root, "assets"), join(dir, "assets"), { recursive: true });
  mkdirSync(join(dir, "scripts"));
  writeFileSync(join(dir, "scripts/build.sh"), "# the worker is already built\nexit 0\n");
  mkdirSync(join(dir, "home"));
  const line = deploy.get("dry-run").trim();
  assert.match(line, /^npx wrangler deploy --dry-run --outdir \/tmp\/pusher-edge-dry-run$/);
  const args = [...line.replace("/tmp/pusher-edge-dry-run", join(dir, "out")).split(" ").slice(2), ...extraArgs];
  const env = { PATH, HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "home"), WRANGLER_SEND_METRICS: "false" };
  const command = offline
    ? ["unshare", ["-rn", process.execPath, wranglerJs, ...args]]
    : [process.execPath, [wranglerJs, ...args]];
  const out = ok(await run(...command, { cwd: dir, env, timeoutMs: 60_000 }), `the dry run (${what})`);
  assert.match(out, /--dry-run: exiting now\./);
  assert.equal(out.match(/Durable Object/g)?.length, 6, "the page says six Durable Objects");
  assert.match(out, /env\.DASHBOARD_LOGINS .*Rate Limit/);
  assert.match(out, /env\.ADMIN_CALLS .*Rate Limit/);
  assert.match(out, /env\.ASSETS/);
  const written = readdirSync(join(dir, "out"));
  assert.ok(written.includes("index.js") && written.some((f) => f.endsWith(".wasm")), written.join(", "));
  return out;
}

test(`deploy: the dry run builds the upload without an account${offline ? " or a network" : " (unshare unavailable: network not cut)"}`, async () => {
  await dryRun(wranglerToml, "as checked in");
});

test("deploy: the Free plan's edit removes wrangler.toml's [limits] section and nothing else, and still deploys", async () => {
  const block = deploy.get("free-plan");
  assert.ok(wranglerToml.includes(block), `wrangler.toml has these lines as the page shows them:\n${block}`);
  assert.deepEqual(parseToml(block), { limits: { cpu_ms: 300000 } });
  const parsed = parseToml(wranglerToml);
  assert.deepEqual(parsed.limits, { cpu_ms: 300000 });
  const edited = wranglerToml.replace(block, "");
  const { limits, ...rest } = parsed;
  assert.deepEqual(parseToml(edited), rest);
  await dryRun(edited, "Free plan");
});

test("deploy: the staging environment has its own objects and its own rate-limit counters", async () => {
  const { durable_objects, ratelimits, env } = parseToml(wranglerToml);
  const staging = env.staging;
  const byName = (list) => Object.fromEntries(list.map(({ name, ...rest }) => [name, rest]));
  assert.deepEqual(byName(staging.durable_objects.bindings), byName(durable_objects.bindings));
  assert.deepEqual(staging.durable_objects.code_update_strategy, durable_objects.code_update_strategy);
  const production = byName(ratelimits);
  const ours = byName(staging.ratelimits);
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(production).sort(), "every binding declared again");
  for (const [name, { simple }] of Object.entries(ours)) {
    assert.deepEqual(simple, production[name].simple, `${name}: the same limit`);
  }
  const productionIds = new Set(ratelimits.map((r) => r.namespace_id));
  const stagingIds = staging.ratelimits.map((r) => r.namespace_id);
  assert.equal(new Set(stagingIds).size, stagingIds.length, "staging's ids are distinct");
  assert.deepEqual(
    stagingIds.filter((id) => productionIds.has(id)),
    [],
    "no counter shared with production",
  );
  const out = await dryRun(wranglerToml, "--env staging", ["--env", "staging"]);
  assert.match(out, /env\.REST_STANDARD .*Rate Limit/);
});

test("deploy: the custom-domain line is a top-level routes entry where the page puts it (not at the end)", async () => {
  const line = deploy.get("custom-domain");
  const placed = wranglerToml.replace(/^compatibility_date = .*\n/m, (m) => m + line);
  assert.notEqual(placed, wranglerToml, "wrangler.toml has a compatibility_date line");
  assert.deepEqual(parseToml(placed).routes, [{ pattern: "realtime.example.com", custom_domain: true }]);
  assert.equal(parseToml(`${wranglerToml}\n${line}`).routes, undefined, "at the end it is not top-level");
  await dryRun(placed, "custom domain");
});

test("deploy: the secrets and the checks of steps 3-8, against the worker served over TLS", {
  skip: has("openssl") ? false : "no openssl to make the throwaway certificate",
}, async (t) => {
  // Step 3: the generated app and the example value, both in one PUSHER_APPS.
  const generated = JSON.parse(ok(await runShell(deploy.get("generate-app")), "the app generator"));
  assert.equal(generated.length, 1);
  assert.match(generated[0].id, /^\d{7}$/);
  assert.match(generated[0].key, /^[0-9a-f]{20}$/);
  assert.match(generated[0].secret, /^[0-9a-f]{32}$/);
  const example = JSON.parse(deploy.get("pusher-apps"));
  assert.match(example[0].id, /^\d+$/, "a numeric id");
  // Step 4: two tokens made by the page's command.
  const token = ok(await runShell(deploy.get("generate-token")), "the token generator").trim();
  const metricsToken = ok(await runShell(deploy.get("generate-token")), "the token generator").trim();
  assert.ok(token.length >= 16 && token !== metricsToken, token);

  const certDir = mkdtempSync(join(scratch, "tls-"));
  const key = join(certDir, "key.pem");
  const cert = join(certDir, "cert.pem");
  const made = spawnSync("openssl", [
    ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", key, "-out", cert],
    ...["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
  ]);
  assert.equal(made.status, 0, String(made.stderr));
  const apps = [...example, ...generated];
  const { options } = workerOptions({
    PUSHER_APPS: JSON.stringify(apps),
    DASHBOARD_TOKEN: token,
    METRICS_TOKEN: metricsToken,
  });
  const mf = new Miniflare({
    ...options,
    port: 0,
    https: true,
    httpsKey: readFileSync(key, "utf8"),
    httpsCert: readFileSync(cert, "utf8"),
  });
  const port = String((await mf.ready).port);
  const trusted = { NODE_EXTRA_CA_CERTS: cert };
  try {
    // Step 8's health check.
    if (has("curl")) {
      const up = await runShell(fill(deploy.get("check-up"), { "realtime.example.com": `localhost:${port}` }), {
        CURL_CA_BUNDLE: cert,
      });
      printsExactly(up, '{"status":"ok"}', "curl /up");
    } else {
      t.diagnostic("no curl: the /up recipe was not run");
    }
    // Steps 7-8: check.mjs, with the example's app and with the generated one.
    for (const app of apps) {
      const code = fill(deploy.get("deploy-check"), {
        ...credentials(app),
        "realtime.example.com": "localhost",
        443: port,
      });
      printsExactly(await runModule(code, trusted), "received { ok: true }\n", "check.mjs");
    }
    // Step 8 from the dashboard: the token logs in over https, and its test publish (the
    // form's request) reaches a subscriber; METRICS_TOKEN reads /metrics.
    setDefaultCACertificates([...getCACertificates("default"), readFileSync(cert, "utf8")]);
    const base = `https://localhost:${port}`;
    const login = await fetch(`${base}/dashboard/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token }).toString(),
    });
    assert.equal(login.status, 303);
    assert.match(login.headers.get("set-cookie"), /; Secure/);
    const cookie = login.headers.get("set-cookie").split(";")[0];
    const client = newPusherJs({ port: Number(port) }, example[0], {
      wsHost: "localhost",
      wssPort: Number(port),
      forceTLS: true,
    });
    try {
      const channel = await subscribed(client, "dashboard-check");
      const got = nextEvent(channel, "hello");
      const publish = await fetch(`${base}/dashboard/api/apps/${example[0].id}/events`, {
        method: "POST",
        headers: { Cookie: cookie, "Content-Type": "application/json", Origin: base },
        body: JSON.stringify({
          name: "hello",
          channel: "dashboard-check",
          data: JSON.stringify({ from: "dashboard" }),
        }),
      });
      assert.equal(publish.status, 200, await publish.clone().text());
      assert.deepEqual(await got, { from: "dashboard" });
    } finally {
      client.disconnect();
    }
    const metrics = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${metricsToken}` } });
    assert.equal(metrics.status, 200);
  } finally {
    await mf.dispose();
  }
});

test("the two pages' relative links resolve, headings included", () => {
  const slug = (heading) =>
    heading
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, "")
      .replace(/ /g, "-");
  const headings = (file) => [...readFileSync(file, "utf8").matchAll(/^#+ (.*)$/gm)].map((m) => slug(m[1]));
  for (const page of ["docs/local-development.md", "docs/deploy.md"]) {
    const file = resolve(root, page);
    for (const [, target] of readFileSync(file, "utf8").matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^https?:/.test(target)) continue;
      const [path, anchor] = target.split("#");
      const linked = path ? resolve(dirname(file), path) : file;
      assert.ok(existsSync(linked), `${page}: ${target} does not exist`);
      if (anchor) assert.ok(headings(linked).includes(anchor), `${page}: ${target} names no heading`);
    }
  }
});
