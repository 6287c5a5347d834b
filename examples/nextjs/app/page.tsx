"use client";
// One page, four things pusher-edge does: a public feed (published by the server with
// `trigger`, leaving out the sender), a presence room with its members, a private chat of
// client events (browser to browser, never echoed to the sender), and notes sent to one
// signed-in user (`sendToUser`).
import { type FormEvent, useEffect, useState } from "react";
import type { PresenceChannel } from "pusher-js";
import { getPusherClient } from "@/lib/pusher-client";

type Line = { from: string; text: string; origin: "me" | "them" };
type Message = { from: string; text: string };
type Member = { id: string; name: string };

const line = (m: Message, origin: Line["origin"]): Line => ({ ...m, origin });

// The demo's stand-in for a session: a name kept in a cookie, which the API routes read.
// A real app has its own sign-in and session.
const COOKIE = "demo_user";
function readName(): string | null {
  const match = document.cookie.match(/(?:^|;\s*)demo_user=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : null;
}

export default function Page() {
  const [name, setName] = useState<string | null | undefined>(undefined);
  useEffect(() => setName(readName()), []);

  if (name === undefined) return null;
  if (name === null) return <NameForm onName={setName} />;
  return <Room name={name} />;
}

function NameForm({ onName }: { onName: (name: string) => void }) {
  const [value, setValue] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    // biome-ignore lint/suspicious/noDocumentCookie: the auth route reads the name from this cookie; the Cookie Store API is not in every browser
    document.cookie = `${COOKIE}=${encodeURIComponent(value)}; path=/; samesite=lax`;
    onName(value);
  };
  // Rendered only in the browser (the page renders nothing until it has read the cookie), so
  // the form is never on screen before React handles its submit.
  return (
    <form onSubmit={submit} aria-label="sign in">
      <p data-testid="about">
        A demo of pusher-edge: a public feed published by the server, a presence room, a private chat of client events
        and notes to one signed-in user. Pick a name (it is kept in a cookie, no password) and open a second window with
        another name to see both sides.
      </p>
      <input
        aria-label="your name"
        placeholder="Your name (letters, digits, - and _)"
        pattern="[A-Za-z0-9_\-]{1,32}"
        required
        value={value}
        onChange={(e) => setValue(e.target.value)}
      />
      <button type="submit">Join</button>
    </form>
  );
}

function Room({ name }: { name: string }) {
  const [state, setState] = useState("initialized");
  const [signedIn, setSignedIn] = useState(false);
  const [feed, setFeed] = useState<Line[]>([]);
  const [members, setMembers] = useState<Member[]>([]);
  const [chatReady, setChatReady] = useState(false);
  const [chat, setChat] = useState<Line[]>([]);
  const [notes, setNotes] = useState<Line[]>([]);
  const [error, setError] = useState("");

  useEffect(() => {
    const client = getPusherClient();

    setState(client.connection.state);
    const onState = ({ current }: { current: string }) => setState(current);
    client.connection.bind("state_change", onState);

    // Sign in (app/api/pusher/auth/route.ts signs it) so that sendToUser reaches this tab.
    client.signin();
    const onNote = (m: Message) => setNotes((l) => [...l, line(m, "them")]);
    client.user.bind("note", onNote);
    let live = true;
    const watchSignin = () =>
      client.user.signinDonePromise?.then(() => {
        // Signed in once pusher-js has subscribed to the user's own channel.
        const own = client.user.serverToUserChannel;
        if (!live || !own) return;
        if (own.subscribed) setSignedIn(true);
        else own.bind("pusher:subscription_succeeded", () => live && setSignedIn(true));
      });
    watchSignin();
    // pusher-js signs in again after every reconnect.
    const onSigninState = ({ current }: { current: string }) =>
      current === "connected" ? watchSignin() : setSignedIn(false);
    client.connection.bind("state_change", onSigninState);

    const feedChannel = client.subscribe("feed");
    const onPost = (m: Message) => setFeed((l) => [...l, line(m, "them")]);
    feedChannel.bind("post", onPost);

    const lobby = client.subscribe("presence-lobby") as PresenceChannel;
    const refreshMembers = () => {
      const list: Member[] = [];
      lobby.members.each((m: { id: string; info?: { name?: string } }) =>
        list.push({ id: m.id, name: m.info?.name ?? m.id }),
      );
      setMembers(list.sort((a, b) => a.name.localeCompare(b.name)));
    };
    lobby.bind("pusher:subscription_succeeded", refreshMembers);
    lobby.bind("pusher:member_added", refreshMembers);
    lobby.bind("pusher:member_removed", refreshMembers);
    if (lobby.subscribed) refreshMembers();

    const chatChannel = client.subscribe("private-chat");
    const onChatReady = () => setChatReady(true);
    const onChat = (m: Message) => setChat((l) => [...l, line(m, "them")]);
    chatChannel.bind("pusher:subscription_succeeded", onChatReady);
    chatChannel.bind("client-message", onChat);
    if (chatChannel.subscribed) onChatReady();

    const onSubscriptionError = (e: { status?: number; error?: string }) =>
      setError(`subscription refused: ${e.error ?? e.status}`);
    for (const c of [feedChannel, lobby, chatChannel]) c.bind("pusher:subscription_error", onSubscriptionError);

    return () => {
      live = false;
      client.connection.unbind("state_change", onState);
      client.connection.unbind("state_change", onSigninState);
      client.user.unbind("note", onNote);
      feedChannel.unbind("post", onPost);
      lobby.unbind("pusher:subscription_succeeded", refreshMembers);
      lobby.unbind("pusher:member_added", refreshMembers);
      lobby.unbind("pusher:member_removed", refreshMembers);
      chatChannel.unbind("pusher:subscription_succeeded", onChatReady);
      chatChannel.unbind("client-message", onChat);
      for (const c of [feedChannel, lobby, chatChannel]) c.unbind("pusher:subscription_error", onSubscriptionError);
      client.unsubscribe("feed");
      client.unsubscribe("presence-lobby");
      client.unsubscribe("private-chat");
    };
  }, []);

  const post = async (text: string) => {
    setFeed((l) => [...l, line({ from: name, text }, "me")]);
    await publish({ type: "post", text, socket_id: getPusherClient().connection.socket_id });
  };
  const sendNote = (to: string, text: string) => publish({ type: "note", to, text });
  const say = (text: string) => {
    // A client event: straight from this browser to the others on the channel.
    const sent = getPusherClient().channel("private-chat")?.trigger("client-message", { from: name, text });
    if (sent) setChat((l) => [...l, line({ from: name, text }, "me")]);
    else setError("the chat is not connected");
  };
  const publish = async (body: object) => {
    const res = await fetch("/api/events", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) setError(`publish failed: ${res.status} ${await res.text()}`);
  };
  const signOut = () => {
    // biome-ignore lint/suspicious/noDocumentCookie: see NameForm
    document.cookie = `${COOKIE}=; path=/; max-age=0`;
    location.reload();
  };

  const others = members.filter((m) => m.id !== name);
  return (
    <>
      <header>
        <h1>Hello, {name}</h1>
        <span>
          connection:{" "}
          <span className="state" data-testid="state">
            {state}
          </span>
        </span>
        <span data-testid="signed-in">{signedIn ? "signed in" : "signing in…"}</span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      {error && (
        <p role="alert" data-testid="error">
          {error}
        </p>
      )}
      <main>
        <section>
          <h2>Feed</h2>
          <p>
            Public channel <code>feed</code>; posts go through <code>/api/events</code>.
          </p>
          <Lines testId="feed" lines={feed} />
          <TextForm label="post" button="Post" onSend={post} />
        </section>
        <section>
          <h2>Who is here</h2>
          <p>
            Presence channel <code>presence-lobby</code>.
          </p>
          <ul data-testid="members">
            {members.map((m) => (
              <li key={m.id} data-testid="member">
                {m.name}
                {m.id === name ? " (you)" : ""}
              </li>
            ))}
          </ul>
        </section>
        <section>
          <h2>Chat</h2>
          <p>
            Client events on the private channel <code>private-chat</code>.
          </p>
          <Lines testId="chat" lines={chat} />
          <TextForm label="chat message" button="Say" disabled={!chatReady} onSend={say} />
        </section>
        <section>
          <h2>Notes</h2>
          <p>
            <code>sendToUser</code>: only the chosen user&apos;s signed-in tabs get it.
          </p>
          <Lines testId="notes" lines={notes} />
          <NoteForm to={others} onSend={sendNote} />
        </section>
      </main>
    </>
  );
}

function Lines({ testId, lines }: { testId: string; lines: Line[] }) {
  return (
    <ul data-testid={testId}>
      {lines.map((l, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: lists only grow, so a line's index is its identity
        <li key={i} data-origin={l.origin}>
          {l.origin === "me" ? "you" : l.from}: {l.text}
        </li>
      ))}
    </ul>
  );
}

function TextForm(props: { label: string; button: string; disabled?: boolean; onSend: (text: string) => void }) {
  const [text, setText] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim()) return;
    props.onSend(text.trim());
    setText("");
  };
  return (
    <form onSubmit={submit}>
      <input aria-label={props.label} value={text} onChange={(e) => setText(e.target.value)} />
      <button type="submit" disabled={props.disabled}>
        {props.button}
      </button>
    </form>
  );
}

function NoteForm({ to, onSend }: { to: Member[]; onSend: (to: string, text: string) => void }) {
  const [recipient, setRecipient] = useState("");
  const [text, setText] = useState("");
  const chosen = to.some((m) => m.id === recipient) ? recipient : (to[0]?.id ?? "");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!chosen || !text.trim()) return;
    onSend(chosen, text.trim());
    setText("");
  };
  return (
    <form onSubmit={submit}>
      <select aria-label="note to" value={chosen} onChange={(e) => setRecipient(e.target.value)}>
        {to.length === 0 && <option value="">nobody else is here</option>}
        {to.map((m) => (
          <option key={m.id} value={m.id}>
            {m.name}
          </option>
        ))}
      </select>
      <input aria-label="note" value={text} onChange={(e) => setText(e.target.value)} />
      <button type="submit" disabled={!chosen}>
        Send
      </button>
    </form>
  );
}
