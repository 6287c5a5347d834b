// Signs pusher-js's requests: private/presence channel subscriptions (`channelAuthorization`)
// and the user sign-in (`userAuthentication`), both configured in lib/pusher-client.ts to POST
// here as a form with `socket_id` (and `channel_name` for a channel).
import Pusher from "pusher";
import { type NextRequest, NextResponse } from "next/server";

let server: Pusher | undefined;
function pusher(): Pusher {
  server ??= new Pusher({
    appId: process.env.PUSHER_APP_ID!,
    key: process.env.PUSHER_APP_KEY!,
    secret: process.env.PUSHER_APP_SECRET!,
    ...(process.env.PUSHER_HOST
      ? {
          host: process.env.PUSHER_HOST,
          port: process.env.PUSHER_PORT, // optional: 443 or 80 from useTLS
          useTLS: process.env.PUSHER_USE_TLS !== "false",
        }
      : { cluster: process.env.NEXT_PUBLIC_PUSHER_APP_CLUSTER || "mt1", useTLS: true }),
  });
  return server;
}

// This demo's "session": a name the page keeps in a cookie. A real app takes the user from its
// own session (NextAuth, a signed cookie, ...) and checks who may join which channel.
function currentUser(request: NextRequest): { id: string; name: string } | null {
  const name = request.cookies.get("demo_user")?.value ?? "";
  return /^[A-Za-z0-9_-]{1,32}$/.test(name) ? { id: name, name } : null;
}

export async function POST(request: NextRequest) {
  const user = currentUser(request);
  if (!user) return NextResponse.json({ error: "not signed in" }, { status: 403 });

  const form = await request.formData();
  const socketId = String(form.get("socket_id") ?? "");
  const channelName = form.get("channel_name");
  try {
    if (channelName === null) {
      // pusher.signin(): who this connection is, for sendToUser and terminate_connections.
      return NextResponse.json(pusher().authenticateUser(socketId, { id: user.id, user_info: { name: user.name } }));
    }
    // The same presence data for every channel; a private channel's auth ignores it.
    const presenceData = { user_id: user.id, user_info: { name: user.name } };
    return NextResponse.json(pusher().authorizeChannel(socketId, String(channelName), presenceData));
  } catch (e) {
    // The SDK refuses a malformed socket id or channel name.
    return NextResponse.json({ error: (e as Error).message }, { status: 400 });
  }
}
