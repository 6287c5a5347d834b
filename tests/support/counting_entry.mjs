// A test entry around the built worker (build/index.js) that counts the requests its Durable
// Objects receive, whoever sends them (the Worker, another object), and answers the count at
// /__test/object-requests. Only the tests use it (startWorker's countObjectRequests): what
// runs is the built worker itself, each object class subclassed to count its fetches.
import Worker, * as built from "../../build/index.js";

let objectRequests = 0;

function counted(ObjectClass) {
  return class extends ObjectClass {
    fetch(request) {
      objectRequests++;
      return super.fetch(request);
    }
  };
}

export const AppLedger = counted(built.AppLedger);
export const AppRegistry = counted(built.AppRegistry);
export const ChannelRoom = counted(built.ChannelRoom);
export const ConnectionShard = counted(built.ConnectionShard);
export const OperatorSessions = counted(built.OperatorSessions);
export const UserDirectory = counted(built.UserDirectory);

export default class extends Worker {
  fetch(request) {
    if (new URL(request.url).pathname === "/__test/object-requests") {
      return Response.json({ objectRequests });
    }
    return super.fetch(request);
  }
}
