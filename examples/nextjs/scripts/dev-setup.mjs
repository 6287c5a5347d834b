// `npm run dev` runs this first: it installs the packages when package-lock.json changed (npm ci),
// and writes .env.local for the development app that `npm start` in the repository root
// serves (read from the root's .dev.vars). An .env.local you wrote yourself (to point at a
// deployed Worker) is left alone: only one that starts with MARKER is rewritten.
import { createHash } from "node:crypto";
import { execSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const MARKER = "# Written by `npm run dev` from ../../.dev.vars";

// Packages: like the repository's scripts/setup.sh, reinstall only when the lockfile changed.
const stamp = resolve(here, "node_modules/.install-stamp");
const lockSum = createHash("md5")
  .update(readFileSync(resolve(here, "package-lock.json")))
  .digest("hex");
if (!existsSync(stamp) || readFileSync(stamp, "utf8").trim() !== lockSum) {
  console.log("[example] installing npm packages (npm ci)");
  execSync("npm ci --no-audit --no-fund --loglevel=error", { cwd: here, stdio: "inherit" });
  writeFileSync(stamp, `${lockSum}\n`);
}

const envLocal = resolve(here, ".env.local");
if (existsSync(envLocal) && !readFileSync(envLocal, "utf8").startsWith(MARKER)) {
  console.log("[example] using your own .env.local");
  process.exit(0);
}

const devVars = resolve(here, "../../.dev.vars");
if (!existsSync(devVars)) {
  console.error(
    "[example] no development app yet: run `npm start` in the repository root first\n" +
      "          (it writes one to .dev.vars), or write .env.local yourself (see README.md).",
  );
  process.exit(1);
}
const app = readDevApp(readFileSync(devVars, "utf8"));
const port = process.env.PUSHER_EDGE_PORT || "8787"; // the root's PORT, if you changed it

writeFileSync(
  envLocal,
  `${MARKER}
# (npm start's development app); rewritten on every \`npm run dev\` while this first line stays.
NEXT_PUBLIC_PUSHER_APP_KEY=${app.key}
NEXT_PUBLIC_PUSHER_HOST=127.0.0.1
NEXT_PUBLIC_PUSHER_PORT=${port}
NEXT_PUBLIC_PUSHER_FORCE_TLS=false
NEXT_PUBLIC_PUSHER_APP_CLUSTER=mt1
PUSHER_APP_ID=${app.id}
PUSHER_APP_KEY=${app.key}
PUSHER_APP_SECRET=${app.secret}
PUSHER_HOST=127.0.0.1
PUSHER_PORT=${port}
PUSHER_USE_TLS=false
`,
);
console.log(`[example] .env.local: development app ${app.id} on 127.0.0.1:${port}`);

/** The first app of .dev.vars: PUSHER_APPS (JSON) or PUSHER_APP_ID / _KEY / _SECRET. */
function readDevApp(text) {
  const vars = {};
  for (const raw of text.split("\n")) {
    const m = raw.match(/^\s*([A-Z_]+)\s*=\s*(.*?)\s*$/);
    if (m) vars[m[1]] = m[2].replace(/^(["'])(.*)\1$/, "$2");
  }
  if (vars.PUSHER_APPS) {
    const [first] = JSON.parse(vars.PUSHER_APPS);
    return { id: first.id, key: first.key, secret: first.secret };
  }
  if (vars.PUSHER_APP_ID && vars.PUSHER_APP_KEY && vars.PUSHER_APP_SECRET) {
    return { id: vars.PUSHER_APP_ID, key: vars.PUSHER_APP_KEY, secret: vars.PUSHER_APP_SECRET };
  }
  throw new Error("../../.dev.vars names no app (PUSHER_APPS or PUSHER_APP_ID/_KEY/_SECRET)");
}
