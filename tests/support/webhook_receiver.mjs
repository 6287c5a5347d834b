// A real HTTP webhook receiver for the tests: records every request and answers 200, or 500
// while `failing`; with `delayMs`, it answers that much later (a slow receiver).
import assert from "node:assert/strict";
import http from "node:http";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function receiver() {
  const r = { requests: [], failing: false, delayMs: 0, server: null, port: 0 };
  const handler = (req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", async () => {
      const failed = r.failing;
      r.requests.push({ headers: req.headers, body, failed, at: Date.now() });
      if (r.delayMs) await sleep(r.delayMs);
      res.writeHead(failed ? 500 : 200);
      res.end(failed ? "receiver error" : "ok");
    });
  };
  r.start = () =>
    new Promise((resolve) => {
      r.server = http.createServer(handler);
      r.server.listen(r.port, "127.0.0.1", () => {
        r.port = r.server.address().port;
        resolve();
      });
    });
  r.stop = () =>
    new Promise((resolve) => {
      r.server.closeAllConnections();
      r.server.close(resolve);
    });
  /** Events of the requests answered 200, in arrival order (a retried one appears again). */
  r.events = () => r.requests.filter((q) => !q.failed).flatMap((q) => JSON.parse(q.body).events);
  /** Each event once, in arrival order (delivery is at-least-once: de-duplicated by id). */
  r.uniqueEvents = () => [...new Map(r.events().map((e) => [e.id, e])).values()];
  r.url = () => `http://127.0.0.1:${r.port}/pusher/webhooks`;
  await r.start();
  return r;
}

/** Waits until `predicate(events)` holds (`events`: `r.events()` by default). */
export async function arrived(r, predicate, what, timeoutMs = 20_000, events = r.events) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate(events())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; got ${JSON.stringify(events())}`);
    await sleep(50);
  }
}
