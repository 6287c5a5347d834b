// The floor of the two-hop topology, in plain JavaScript: one Durable Object holds the channel's
// sockets (hibernation API) and sends each publish to them; the Worker holds each client socket
// and relays what the Durable Object sends. No protocol checks, no Wasm: what is left is what
// workerd charges for the hops themselves. Run by bench/floor.mjs and, split into one process
// per role, by bench/run.mjs (`floor-split`); its Miniflare options: start_worker.mjs
// `floorOptions`. Each channel is its own Durable Object (the subscribe frame's channel). With
// the FLOOR_SHARD binding set (`floorOptions({ shardSocket: true })`, bench/memory.mjs) each
// connection also holds a socket to a "shard" object, as ours holds one to its connection
// shard, so memory per connection compares like with like.
export class Room {
  constructor(ctx) {
    this.ctx = ctx;
  }
  async fetch(request) {
    if (request.headers.get("Upgrade") === "websocket") {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1]);
      const channel = new URL(request.url).searchParams.get("channel") ?? "bench-fanout";
      pair[1].send(JSON.stringify({ event: "pusher_internal:subscription_succeeded", channel, data: "{}" }));
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
    const room = (name) => env.ROOMS.get(env.ROOMS.idFromName(name));
    // bench/memory.mjs enters the isolate so that an inspector's GC runs.
    if (url.pathname === "/__test/poke") return Response.json({});
    if (url.pathname.startsWith("/apps/")) {
      const body = await request.json();
      const channels = body.channels ?? [body.channel ?? "bench-fanout"];
      await Promise.all(
        channels.map((channel) => {
          const frame = JSON.stringify({ event: body.name, channel, data: body.data });
          return room(channel).fetch("https://room/publish", { method: "POST", body: frame });
        }),
      );
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
    if (env.FLOOR_SHARD) {
      // Taken after the answer, as ours takes the connection's place.
      room("shard")
        .fetch("https://room/subscribe?channel=shard", { headers: { Upgrade: "websocket" } })
        .then((answer) => answer.webSocket.accept());
    }
    client.addEventListener("message", async (event) => {
      if (!String(event.data).includes("pusher:subscribe")) return;
      const channel = JSON.parse(event.data).data?.channel ?? "bench-fanout";
      const answer = await room(channel).fetch(`https://room/subscribe?channel=${encodeURIComponent(channel)}`, {
        headers: { Upgrade: "websocket" },
      });
      const upstream = answer.webSocket;
      upstream.addEventListener("message", (e) => client.send(e.data));
      upstream.accept();
    });
    return new Response(null, { status: 101, webSocket: pair[0] });
  },
};
