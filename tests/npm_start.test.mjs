// The README's first command, `npm start`, as a newcomer runs it: it writes a development app
// with a numeric id, serves it under wrangler dev, and prints the credentials after the
// worker is ready (wrangler's build output no longer buries them); the printed SDK settings
// work.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Pusher from "pusher";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const devVars = resolve(root, ".dev.vars");

const freePort = () =>
  new Promise((done) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });

test("npm start writes a development app with a numeric id and prints it once the worker is ready", {
  timeout: 300_000,
}, async () => {
  // A developer's own .dev.vars is set aside and put back.
  const kept = `${devVars}.kept-by-test`;
  if (existsSync(devVars)) renameSync(devVars, kept);
  const port = await freePort();
  const child = spawn("bash", ["scripts/start.sh"], {
    cwd: root,
    env: { ...process.env, PORT: String(port), CI: "1" },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  for (const stream of [child.stdout, child.stderr]) stream.on("data", (d) => (output += d));
  try {
    const deadline = Date.now() + 240_000;
    while (!output.includes("DEVELOPMENT token") && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.match(output, /DEVELOPMENT token: dev-dashboard-/, output.slice(-2000));
    // The banner comes after wrangler's build and startup lines.
    const banner = output.indexOf("DEVELOPMENT APP");
    assert.ok(banner > output.indexOf("[custom build]"), "after the build's output");
    assert.ok(banner > output.indexOf("Ready on"), "after wrangler says it is ready");
    const id = output.match(/app id: {2}(\S+)/)[1];
    assert.match(id, /^\d{7}$/, "a numeric id, as Pusher issues them");
    assert.match(readFileSync(devVars, "utf8"), new RegExp(`"id":"${id}"`));

    // The printed server settings publish.
    const key = output.match(/key: {5}(\S+)/)[1];
    const secret = output.match(/secret: {2}(\S+)/)[1];
    const sdk = new Pusher({ appId: id, key, secret, host: "127.0.0.1", port: String(port), useTLS: false });
    const res = await sdk.trigger("my-channel", "my-event", { hello: "world" });
    assert.equal(res.status, 200);
  } finally {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
    await new Promise((r) => setTimeout(r, 500));
    rmSync(devVars, { force: true });
    if (existsSync(kept)) renameSync(kept, devVars);
  }
});
