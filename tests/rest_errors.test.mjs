// REST API: every refusal, with its status and a JSON body that says what was wrong.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { startWorker, signedFetch, signedQuery, makeApp, serverSdk } from "./support/harness.mjs";

let worker;
before(async () => {
  worker = await startWorker({ apps: [makeApp(), makeApp()] });
});
after(async () => {
  await worker?.stop();
});

const eventsPath = () => `/apps/${worker.app.id}/events`;
const goodBody = { name: "evt", channel: "c", data: "hello" };

async function expectError(response, status, needle) {
  assert.equal(response.status, status);
  assert.match(response.headers.get("content-type"), /application\/json/);
  const body = await response.json();
  assert.equal(typeof body.error, "string");
  if (needle) assert.ok(body.error.includes(needle), `"${body.error}" should contain "${needle}"`);
  return body.error;
}

test("a correctly signed trigger is answered 200 {}", async () => {
  const res = await signedFetch(worker, { path: eventsPath(), body: goodBody });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
});

test("401: missing key, unknown key, key of another app", async () => {
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, omit: ["auth_key"] }),
    401,
    "Authentication key required",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, app: makeApp() }),
    401,
    "Invalid authentication key",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, app: worker.apps[1] }),
    401,
    `does not belong to app ${worker.app.id}`,
  );
});

test("401: a bad signature is answered with the string that should have been signed", async () => {
  const message = await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, signature: "0".repeat(64) }),
    401,
    "Invalid signature: you should have sent HmacSHA256Hex(",
  );
  assert.ok(message.includes(`"POST\\n${eventsPath()}\\nauth_key=${worker.app.key}&auth_timestamp=`), message);
  assert.ok(!message.includes(worker.app.secret), "the secret must never be echoed");
  // Signed with the wrong secret.
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, app: { ...worker.app, secret: "wrong" } }),
    401,
    "Invalid signature",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, omit: ["auth_signature"] }),
    401,
    "Authentication signature required",
  );
});

test("a refused call leaves its keep-alive connection usable: the next call on it gets its answer", async () => {
  // An SDK keeps its connection alive; a refusal answered before the body was read made the
  // runtime close the connection under the next call ("fetch failed", one run in five).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const post = (query, body) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        `http://127.0.0.1:${worker.port}${eventsPath()}?${query}`,
        { method: "POST", agent, headers: { "Content-Type": "application/json" } },
        (res) => {
          const port = res.socket.localPort;
          let text = "";
          res.on("data", (chunk) => {
            text += chunk;
          });
          res.on("end", () => resolve({ status: res.statusCode, text, port }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  try {
    const body = JSON.stringify(goodBody);
    const wrong = await post(
      signedQuery({ app: worker.app, method: "POST", path: eventsPath(), body, secret: "wrong" }),
      body,
    );
    assert.equal(wrong.status, 401);
    const unknown = await post(
      signedQuery({ app: { ...worker.app, key: "no-such-key" }, method: "POST", path: eventsPath(), body }),
      body,
    );
    assert.equal(unknown.status, 401);
    const right = await post(signedQuery({ app: worker.app, method: "POST", path: eventsPath(), body }), body);
    assert.equal(right.status, 200, right.text);
    assert.equal(right.port, wrong.port, "the same connection served all three calls");
    assert.equal(unknown.port, wrong.port);
  } finally {
    agent.destroy();
  }
});

test("401: a timestamp 11 minutes old (or ahead) is refused", async () => {
  const now = Math.floor(Date.now() / 1000);
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, timestamp: now - 660 }),
    401,
    "Timestamp expired: Given timestamp (",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, timestamp: now + 660 }),
    401,
    "not within 600s of server time",
  );
});

test("401, never a crash: extreme and out-of-range auth_timestamp values", async () => {
  for (const timestamp of ["-9223372036854775808", "9223372036854775807", "-1", "0"]) {
    await expectError(
      await signedFetch(worker, { path: eventsPath(), body: goodBody, timestamp }),
      401,
      "Timestamp expired",
    );
  }
  for (const timestamp of ["9223372036854775808", "-9223372036854775809", "1e9", "1.5"]) {
    await expectError(
      await signedFetch(worker, { path: eventsPath(), body: goodBody, timestamp }),
      401,
      `Timestamp invalid: auth_timestamp=${timestamp}`,
    );
  }
});

test("401: body_md5 must match the body, and is required with a body", async () => {
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, params: { body_md5: "0".repeat(32) } }),
    401,
    "body_md5 does not match",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, omit: ["body_md5"] }),
    401,
    "body_md5 required",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: goodBody, params: { auth_version: "2.0" } }),
    401,
    "Version not supported",
  );
});

test("400: malformed bodies and invalid fields", async () => {
  const cases = [
    ["not json", "JSON object"],
    [{ channel: "c", data: "x" }, "name is required"],
    [{ name: "e", channel: "c" }, "data is required"],
    [{ name: "e", channel: "c", data: { a: 1 } }, "data must be a string"],
    [{ name: "e", data: "x" }, "channels is required"],
    [{ name: "e", channel: "bad channel", data: "x" }, "Invalid channel name"],
    [{ name: "e", channel: "#secret", data: "x" }, "reserved"],
    [{ name: "e", channels: Array.from({ length: 101 }, (_, i) => `c${i}`), data: "x" }, "Too many channels: 101"],
    [{ name: "n".repeat(201), channel: "c", data: "x" }, "Event name is too long"],
    [{ name: "e", channel: "c".repeat(201), data: "x" }, "201 characters"],
    [{ name: "e", channel: "c", data: "x", socket_id: "nope" }, "Invalid socket_id"],
  ];
  for (const [body, needle] of cases) {
    await expectError(await signedFetch(worker, { path: eventsPath(), body }), 400, needle);
  }
});

test("400: event names starting with pusher: or pusher_internal: are reserved", async () => {
  for (const name of ["pusher_internal:subscription_succeeded", "pusher_internal:member_added", "pusher:error"]) {
    const prefix = name.slice(0, name.indexOf(":") + 1);
    await expectError(
      await signedFetch(worker, { path: eventsPath(), body: { name, channel: "c", data: "{}" } }),
      400,
      `Event name "${name}" is reserved: names starting with ${prefix} are Pusher protocol events`,
    );
  }
  const batchPath = `/apps/${worker.app.id}/batch_events`;
  const batch = [
    { name: "fine", channel: "c", data: "x" },
    { name: "pusher_internal:subscription_count", channel: "c", data: "{}" },
  ];
  await expectError(
    await signedFetch(worker, { path: batchPath, body: { batch } }),
    400,
    'batch[1]: Event name "pusher_internal:subscription_count" is reserved',
  );
  // Through the real SDK too; names that only look alike are fine.
  const sdk = serverSdk(worker);
  await assert.rejects(sdk.trigger("c", "pusher:subscription_succeeded", {}), (err) => {
    assert.equal(err.status, 400);
    assert.match(err.body, /is reserved/);
    return true;
  });
  for (const name of ["client-x", "pusher-news", "my-pusher:x"]) {
    assert.equal((await sdk.trigger("c", name, {})).status, 200, name);
  }
});

test("413: data over 10 KB, and an oversized body", async () => {
  const ok = await signedFetch(worker, {
    path: eventsPath(),
    body: { name: "e", channel: "c", data: "x".repeat(10240) },
  });
  assert.equal(ok.status, 200);
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: { name: "e", channel: "c", data: "x".repeat(10241) } }),
    413,
    "The data content of this event exceeds the allowed maximum (10240 bytes)",
  );
  await expectError(
    await signedFetch(worker, { path: eventsPath(), body: { name: "e", channel: "c", data: "x".repeat(300_000) } }),
    413,
    "Request body exceeds",
  );
});

test("the pusher SDK surfaces the status and body of a refusal", async () => {
  const sdk = serverSdk(worker, { ...worker.app, secret: "not-the-secret" });
  await assert.rejects(sdk.trigger("c", "e", "x"), (err) => {
    assert.equal(err.status, 401);
    assert.match(err.body, /Invalid signature/);
    return true;
  });
});

test("unknown endpoints and wrong methods", async () => {
  await expectError(await signedFetch(worker, { method: "GET", path: eventsPath() }), 405, "POST");
  await expectError(
    await signedFetch(worker, { method: "GET", path: `/apps/${worker.app.id}/nothing` }),
    404,
    "Unknown REST endpoint",
  );
  const res = await fetch(`http://127.0.0.1:${worker.port}/elsewhere`);
  await expectError(res, 404, "No route");
});

/** Sends a raw HTTP/1.1 request; answers the status line and headers, and the body. */
function rawHttp(request) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(worker.port, "127.0.0.1", () => socket.write(request));
    let data = "";
    const finish = () => {
      socket.destroy();
      clearTimeout(timer);
      const [head, ...rest] = data.split("\r\n\r\n");
      resolve({ status: Number(head.split(" ")[1]), head, body: rest.join("\r\n\r\n") });
    };
    const timer = setTimeout(finish, 5_000);
    socket.on("data", (chunk) => {
      data += chunk.toString();
      const [head, ...rest] = data.split("\r\n\r\n");
      const length = /content-length: (\d+)/i.exec(head);
      if (rest.length && (length ? rest.join("\r\n\r\n").length >= Number(length[1]) : true)) finish();
    });
    socket.on("close", finish);
    socket.on("error", reject);
  });
}

const rawRequest = (method, target) =>
  rawHttp(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`);

test("every method gets a clear answer: 405 with Allow, 204 to OPTIONS, never a 500 from the Worker", async () => {
  for (const method of ["PUT", "PATCH", "DELETE"]) {
    const res = await signedFetch(worker, { method, path: eventsPath(), body: goodBody });
    await expectError(res, 405, `${method} is not allowed on ${eventsPath()}: use POST`);
    assert.equal(res.headers.get("allow"), "POST");
  }
  const channels = await signedFetch(worker, { method: "POST", path: `/apps/${worker.app.id}/channels`, body: {} });
  await expectError(channels, 405, "use GET");
  assert.equal(channels.headers.get("allow"), "GET");

  const options = await fetch(`http://127.0.0.1:${worker.port}${eventsPath()}`, { method: "OPTIONS" });
  assert.equal(options.status, 204);
  assert.equal(options.headers.get("allow"), "POST");
  const optionsRoot = await fetch(`http://127.0.0.1:${worker.port}/`, { method: "OPTIONS" });
  assert.equal(optionsRoot.status, 204);
  assert.equal(optionsRoot.headers.get("allow"), "GET, HEAD");

  // TRACE cannot be sent with fetch(); PROPFIND is a method workers-rs would read as GET.
  for (const method of ["TRACE", "PROPFIND", "PURGE"]) {
    const res = await rawRequest(method, eventsPath());
    assert.equal(res.status, 405, `${method}: ${res.head}`);
    assert.match(res.head, /^allow: POST$/im);
    assert.equal(JSON.parse(res.body).error, `${method} is not allowed on ${eventsPath()}: use POST`);
    const ws = await rawRequest(method, `/app/${worker.app.key}`);
    assert.equal(ws.status, 405, `${method} on the WebSocket path`);
    assert.match(ws.head, /^allow: GET$/im);
  }
  const nowhere = await rawRequest("TRACE", "/nowhere");
  assert.equal(nowhere.status, 404);

  // Methods workerd's HTTP parser does not know never reach the Worker: 501 from workerd.
  for (const method of ["BREW", "get"]) {
    const res = await rawRequest(method, eventsPath());
    assert.equal(res.status, 501, `${method}: ${res.head}`);
  }
  // CONNECT never reaches the Worker either: workerd refuses a path target with 400; an
  // authority target is refused by the local runtime's own entry (see docs/rest-api.md).
  assert.equal((await rawRequest("CONNECT", eventsPath())).status, 400);
  const authority = await rawHttp("CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n");
  assert.ok(authority.status >= 400, `CONNECT host:port answered ${authority.head}`);
  // And the Worker serves on.
  const up = await fetch(`http://127.0.0.1:${worker.port}/up`);
  assert.equal(up.status, 200);
});

test("GET / reports the service and its build", async () => {
  const res = await fetch(`http://127.0.0.1:${worker.port}/`);
  assert.equal(res.status, 200);
  const info = await res.json();
  assert.equal(info.service, "pusher-edge");
  assert.match(info.version, /^\d+\.\d+\.\d+$/);
  assert.equal(typeof info.commit, "string");
});
