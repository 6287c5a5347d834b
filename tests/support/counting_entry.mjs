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

function counted(object, ObjectClass) {
  return class extends ObjectClass {
    async fetch(request) {
      objectRequests++;
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

const describe = (list) => list.map(({ object, path }) => ({ object, path }));

export default class extends Worker {
  fetch(request) {
    const { pathname } = new URL(request.url);
    switch (pathname) {
      case "/__test/object-requests":
        return Response.json({ objectRequests });
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
        return super.fetch(request);
    }
  }
}
