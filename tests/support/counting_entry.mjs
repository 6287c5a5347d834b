// A test entry around the built worker (build/index.js) that counts the requests its Durable
// Objects receive, whoever sends them (the Worker, another object), and can hold them at a
// gate, so a test counts the round trips a path makes before its answer (one round: release
// every request waiting at the gate). Only the tests use it (startWorker's countObjectRequests):
// what runs is the built worker itself, each object class subclassed to count its fetches.
//
//   GET  /__test/object-requests  {"objectRequests": n}: fetches received so far
//   POST /__test/gate/close       requests from now on wait at the gate
//   GET  /__test/gate             {"pending": [{"object", "path"}]}: those waiting
//   POST /__test/gate/release     lets those waiting through; answers them as above
//        ?path=POST%20/terminate  only those with this method and path
//   POST /__test/gate/open        lets everything through, now and later
//   GET  /__test/memory           {"wasmBytes": n}: the isolate's Wasm linear memory
//   GET  /__test/objects          {"reached": [{"object", "name"}]}: each object that received a
//                                 request, by class and the name its id was made from
//   POST /__test/fail             {"binding", "method", "times", "flags"}: the Worker's next
//                                 `times` requests with `method` to an object of `binding`
//                                 throw, as the runtime's do, an Error carrying `flags`
//                                 (`overloaded`, `retryable`, `durableObjectReset`), before
//                                 the object sees them; answers {"armed": n}
//   GET  /__test/fail             {"armed": n, "thrown": n}
//   POST /__test/links            {"binding"}: from now on the sockets the Worker's sessions
//                                 open to objects of `binding` pass through a pair of sockets
//                                 here (a link), which the test can break
//   POST /__test/links/break      {"binding"}: breaks every open link to `binding`'s objects as
//                                 a network does, the object and the session both living on:
//                                 the object's side closes with 1011, what the object sent
//                                 before it saw that still reaches the session, then the
//                                 session's side closes with 1011; answers {"broken": n}
import { wasmMemoryBytes } from "./wasm_memory_probe.mjs";
import Worker, * as built from "../../build/index.js";

let objectRequests = 0;
let gateClosed = false;
/** Requests waiting at the gate, in arrival order: { object, path, released }. */
let waiting = [];

// Polled rather than awaited across requests: a promise resolved from another request's
// context is not one workerd promises to wake.
const tick = () => new Promise((resolve) => setTimeout(resolve, 2));

async function gate(object, request) {
  if (!gateClosed) return;
  const url = new URL(request.url);
  const held = { object, path: `${request.method} ${url.pathname}`, released: false };
  waiting.push(held);
  while (gateClosed && !held.released) await tick();
}

/** "Class name" of every object that received a request, in order of first request. */
const reached = new Set();

function counted(object, ObjectClass) {
  return class extends ObjectClass {
    constructor(state, env) {
      super(state, env);
      this.testName = `${object}\u0000${state.id.name}`;
    }

    async fetch(request) {
      objectRequests++;
      reached.add(this.testName);
      await gate(object, request);
      return super.fetch(request);
    }
  };
}

export const AppLedger = counted("AppLedger", built.AppLedger);
export const AppRegistry = counted("AppRegistry", built.AppRegistry);
export const ChannelRoom = counted("ChannelRoom", built.ChannelRoom);
export const ConnectionShard = counted("ConnectionShard", built.ConnectionShard);
export const OperatorSessions = counted("OperatorSessions", built.OperatorSessions);
export const UserDirectory = counted("UserDirectory", built.UserDirectory);

/** Requests to fail: { binding, method, times, flags }; and how many were thrown. */
const faults = [];
let thrown = 0;

/** The fault armed for a request to `binding`, used up by one. */
function takeFault(binding, request) {
  const fault = faults.find((f) => f.binding === binding && f.method === request.method && f.times > 0);
  if (fault) {
    fault.times--;
    thrown++;
  }
  return fault;
}

/** `target`'s property, its methods bound to it (the runtime's refuse another `this`). */
const own = (target, prop) => {
  const value = Reflect.get(target, prop);
  return typeof value === "function" && prop !== "constructor" ? value.bind(target) : value;
};

/** Bindings whose sockets pass through links; the open links: { binding, inner, outer }. */
const linked = new Set();
let links = [];

/** The object's socket `inner` passed to the session through a pair of sockets here. */
function link(binding, answer) {
  const inner = answer.webSocket;
  const [session, outer] = Object.values(new WebSocketPair());
  const entry = { binding, inner, outer, broken: false };
  inner.accept();
  outer.accept();
  const end = (socket, code, reason) => {
    try {
      socket.close(code, reason);
    } catch {
      // Already closed.
    }
  };
  inner.addEventListener("message", (event) => {
    try {
      outer.send(event.data);
    } catch {
      // The session's side is closed.
    }
  });
  outer.addEventListener("message", (event) => {
    if (!entry.broken) inner.send(event.data);
  });
  inner.addEventListener("close", (event) => {
    links = links.filter((l) => l !== entry);
    end(outer, entry.broken ? 1011 : event.code, entry.broken ? "link broke" : event.reason);
  });
  outer.addEventListener("close", (event) => {
    links = links.filter((l) => l !== entry);
    if (!entry.broken) end(inner, event.code, event.reason);
  });
  links.push(entry);
  watchForBreak(entry);
  return new Response(null, { status: 101, webSocket: session, headers: answer.headers });
}

/** Breaks asked for, by binding: each link breaks in its own request's context (a socket
 * belongs to the request that made it), when its watch sees a newer break than its own. */
const breaks = new Map();

/** Asks every open link to `binding` to break; answers how many will. */
function breakLinks(binding) {
  breaks.set(binding, (breaks.get(binding) ?? 0) + 1);
  return links.filter((l) => l.binding === binding && !l.broken).length;
}

/** The link's watch: the object sees 1011; the session, once the object's close is seen. */
function watchForBreak(entry) {
  const seen = breaks.get(entry.binding) ?? 0;
  const timer = setInterval(() => {
    if (!links.includes(entry)) return clearInterval(timer);
    if ((breaks.get(entry.binding) ?? 0) === seen) return;
    clearInterval(timer);
    entry.broken = true;
    entry.inner.close(1011, "link broke");
  }, 5);
}

/** A stub whose `fetch` throws as a fault says, links sockets, and is the real stub otherwise. */
const faultyStub = (stub, binding) =>
  new Proxy(stub, {
    get(target, prop) {
      if (prop !== "fetch") return own(target, prop);
      return async (request, init) => {
        const req = new Request(request, init);
        const fault = takeFault(binding, req);
        if (fault) throw Object.assign(new Error(`injected by the test: ${JSON.stringify(fault.flags)}`), fault.flags);
        const answer = await target.fetch(req);
        return linked.has(binding) && answer.webSocket ? link(binding, answer) : answer;
      };
    },
  });

/** The Worker's environment with every Durable Object namespace's stubs made faulty. */
const faultyEnv = (env) =>
  new Proxy(env, {
    get(target, binding) {
      const namespace = Reflect.get(target, binding);
      if (typeof namespace?.idFromName !== "function") return namespace;
      return new Proxy(namespace, {
        get(ns, prop) {
          if (prop === "get") return (...args) => faultyStub(ns.get(...args), binding);
          if (prop === "jurisdiction") return (...args) => faultyEnv({ [binding]: ns.jurisdiction(...args) })[binding];
          return own(ns, prop);
        },
      });
    },
  });

const describe = (list) => list.map(({ object, path }) => ({ object, path }));

export default class extends Worker {
  fetch(request) {
    const { pathname } = new URL(request.url);
    switch (pathname) {
      case "/__test/object-requests":
        return Response.json({ objectRequests });
      case "/__test/objects":
        return Response.json({
          reached: [...reached].map((entry) => {
            const [object, name] = entry.split("\u0000");
            return { object, name };
          }),
        });
      case "/__test/fail":
        if (request.method === "POST") {
          return request.json().then(({ binding, method = "POST", times = 1, flags }) => {
            faults.push({ binding, method, times, flags });
            return Response.json({ armed: faults.reduce((n, f) => n + f.times, 0) });
          });
        }
        return Response.json({ armed: faults.reduce((n, f) => n + f.times, 0), thrown });
      case "/__test/links":
        return request.json().then(({ binding }) => {
          linked.add(binding);
          return Response.json({ linked: [...linked] });
        });
      case "/__test/links/break":
        return request.json().then(({ binding }) => Response.json({ broken: breakLinks(binding) }));
      case "/__test/memory":
        return Response.json({ wasmBytes: wasmMemoryBytes() });
      case "/__test/gate":
        return Response.json({ pending: describe(waiting) });
      case "/__test/gate/close":
        gateClosed = true;
        return Response.json({ pending: describe(waiting) });
      case "/__test/gate/release": {
        const only = new URL(request.url).searchParams.get("path");
        const released = waiting.filter((held) => only === null || held.path === only);
        waiting = waiting.filter((held) => !released.includes(held));
        for (const held of released) held.released = true;
        return Response.json({ pending: describe(released) });
      }
      case "/__test/gate/open": {
        gateClosed = false;
        const released = waiting;
        waiting = [];
        for (const held of released) held.released = true;
        return Response.json({ pending: describe(released) });
      }
      default:
        if (linked.size > 0 || faults.some((f) => f.times > 0)) {
          // The built worker's entry reads only `env` and `ctx` from `this`.
          return Worker.prototype.fetch.call({ env: faultyEnv(this.env), ctx: this.ctx }, request);
        }
        return super.fetch(request);
    }
  }
}
