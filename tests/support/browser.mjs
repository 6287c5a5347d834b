// Debian's Chromium for the browser tests, driven by the example's playwright-core (which
// downloads no browser of its own): one launch, with the flags a headless run here needs.
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The Chromium binary: `CHROMIUM_PATH`, or Debian's. */
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** Launches headless Chromium (playwright-core starts it with a fresh, temporary user-data-dir). */
export async function launchChromium() {
  const { chromium } = createRequire(resolve(root, "examples/nextjs/package.json"))("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * Collects what goes wrong on `page`: uncaught errors, console errors and HTTP answers of 400 or
 * more, as lines; a test asserts the list is empty (or holds only what it caused on purpose).
 */
export function watchProblems(page) {
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on(
    "response",
    (r) => r.status() >= 400 && problems.push(`${r.request().method()} ${new URL(r.url()).pathname}: ${r.status()}`),
  );
  return problems;
}
