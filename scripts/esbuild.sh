#!/usr/bin/env bash
# esbuild as worker-build runs it (ESBUILD_BIN), quiet about one thing only: wasm-bindgen's
# generated imports object names relay.js's module once per imported function, which esbuild
# reports as duplicate keys. They all name the same module, so the last one winning changes
# nothing; every other warning still shows.
exec "$(dirname "$0")/../node_modules/.bin/esbuild" --log-override:duplicate-object-key=silent "$@"
