#!/usr/bin/env bash
# Builds the worker into build/ with the project-local tools (no downloads from GitHub),
# then prints the bundle's gzipped size.
set -euo pipefail
cd "$(dirname "$0")/.."

export WASM_BINDGEN_BIN="$PWD/.tools/bin/wasm-bindgen"
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"

"$PWD/.tools/bin/worker-build" --release >&2

wasm=build/index_bg.wasm
raw=$(wc -c < "$wasm")
gz=$(cat build/index.js "$wasm" | gzip -9 | wc -c)
printf '[build] worker: %s KiB wasm, %s KiB gzipped (index.js + wasm)\n' $((raw / 1024)) $((gz / 1024)) >&2
