// The floor of the two-hop topology, in plain JavaScript: one Durable Object holds the channel's
// sockets (hibernation API) and sends each publish to them; the Worker holds each client socket
// and relays what the Durable Object sends. No protocol checks, no Wasm: what is left is what
// workerd charges for the hops themselves. Run by bench/floor.mjs and, split into one process
// per role, by bench/run.mjs (`floor-split`); its Miniflare options: start_worker.mjs
// `floorOptions`.
export class Room {
  constructor(ctx) {
    this.ctx = ctx;
  }
  async fetch(request) {
    if (request.headers.get("Upgrade") === "websocket") {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1]);
      pair[1].send(
        JSON.stringify({ event: "pusher_internal:subscription_succeeded", channel: "bench-fanout", data: "{}" }),
      );
      return new Response(null, { status: 101, webSocket: pair[0] });
    }
    const frame = await request.text();
    for (const ws of this.ctx.getWebSockets()) ws.send(frame);
    return new Response("{}");
  }
  webSocketMessage() {}
  webSocketClose(ws) {
    ws.close();
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const room = env.ROOMS.get(env.ROOMS.idFromName("bench-fanout"));
    if (url.pathname.startsWith("/apps/")) {
      const body = await request.json();
      const frame = JSON.stringify({ event: body.name, channel: body.channel, data: body.data });
      await room.fetch("https://room/publish", { method: "POST", body: frame });
      return new Response("{}");
    }
    const pair = new WebSocketPair();
    const client = pair[1];
    client.accept();
    client.send(
      JSON.stringify({
        event: "pusher:connection_established",
        data: JSON.stringify({ socket_id: "1.1", activity_timeout: 120 }),
      }),
    );
    client.addEventListener("message", async (event) => {
      if (!String(event.data).includes("pusher:subscribe")) return;
      const answer = await room.fetch("https://room/subscribe", { headers: { Upgrade: "websocket" } });
      const upstream = answer.webSocket;
      upstream.addEventListener("message", (e) => client.send(e.data));
      upstream.accept();
    });
    return new Response(null, { status: 101, webSocket: pair[0] });
  },
};
