// Publishes with the pusher server SDK: a post to the public feed (to everyone but the
// sender's own connection), or a note to one signed-in user (sendToUser).
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

// The demo's "session" (see app/api/pusher/auth/route.ts): a real app uses its own.
function currentUser(request: NextRequest): { id: string; name: string } | null {
  const name = request.cookies.get("demo_user")?.value ?? "";
  return /^[A-Za-z0-9_-]{1,32}$/.test(name) ? { id: name, name } : null;
}

type Body = { type: "post"; text: string; socket_id?: string } | { type: "note"; to: string; text: string };

export async function POST(request: NextRequest) {
  const user = currentUser(request);
  if (!user) return NextResponse.json({ error: "not signed in" }, { status: 403 });

  const body = (await request.json().catch(() => null)) as Body | null;
  const text = typeof body?.text === "string" ? body.text.trim().slice(0, 500) : "";
  if (!body || !text) return NextResponse.json({ error: "text is required" }, { status: 400 });

  try {
    if (body.type === "post") {
      // socket_id leaves out the sender's connection: the page shows its own post already.
      await pusher().trigger("feed", "post", { from: user.name, text }, { socket_id: body.socket_id });
    } else if (body.type === "note" && typeof body.to === "string" && body.to) {
      // Reaches every connection the user `to` has signed in with, and nobody else.
      await pusher().sendToUser(body.to, "note", { from: user.name, text });
    } else {
      return NextResponse.json({ error: "unknown type" }, { status: 400 });
    }
  } catch (e) {
    // The SDK's RequestError carries the server's status (e.g. 413, 403 over quota).
    const status = (e as { status?: number }).status ?? 502;
    return NextResponse.json({ error: (e as Error).message }, { status: status >= 400 ? status : 502 });
  }
  return NextResponse.json({ ok: true });
}
