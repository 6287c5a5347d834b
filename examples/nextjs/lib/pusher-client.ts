// One pusher-js client for the whole app, created on first use in the browser.
//
// The same code talks to pusher-edge (a Worker, or `npm start` locally) and to a hosted
// Pusher-protocol service: with NEXT_PUBLIC_PUSHER_HOST set it connects there, without it
// pusher-js uses NEXT_PUBLIC_PUSHER_APP_CLUSTER's hosted endpoint. Switching is a .env change.
// NEXT_PUBLIC_* values are inlined when the app is built (`next build`, or `next dev` on start).
import Pusher from "pusher-js";

const host = process.env.NEXT_PUBLIC_PUSHER_HOST;
const port = Number(process.env.NEXT_PUBLIC_PUSHER_PORT || 443);
// TLS unless told otherwise: `false` for http://127.0.0.1:8787, always on for a deployed Worker.
const forceTLS = process.env.NEXT_PUBLIC_PUSHER_FORCE_TLS !== "false";

// Kept on globalThis so that hot reload, which re-runs this module, does not open a second
// connection next to the first.
const globalForPusher = globalThis as unknown as { pusherClient?: Pusher };

export function getPusherClient(): Pusher {
  if (typeof window === "undefined") {
    throw new Error("getPusherClient() is for the browser: call it in an effect or an event handler");
  }
  if (!globalForPusher.pusherClient) {
    globalForPusher.pusherClient = new Pusher(process.env.NEXT_PUBLIC_PUSHER_APP_KEY!, {
      cluster: process.env.NEXT_PUBLIC_PUSHER_APP_CLUSTER || "mt1", // required by pusher-js
      ...(host ? { wsHost: host, wsPort: port, wssPort: port } : {}),
      forceTLS,
      enabledTransports: ["ws", "wss"], // WebSocket only, no HTTP fallbacks
      disableStats: true,
      // Both signed by app/api/pusher/auth/route.ts, which knows the user from its session.
      channelAuthorization: { endpoint: "/api/pusher/auth", transport: "ajax" },
      userAuthentication: { endpoint: "/api/pusher/auth", transport: "ajax" },
    });
  }
  return globalForPusher.pusherClient;
}
