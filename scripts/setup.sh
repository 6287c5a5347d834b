#!/usr/bin/env bash
# Installs what the build and the tests need, and nothing that is already there:
# the wasm32 target, worker-build and the exact wasm-bindgen-cli (into .tools/), and the npm
# packages (including a Node 22 binary for wrangler/miniflare); with --tests also what only the
# tests need (below). Idempotent: a warm run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="$PWD/.tools"
WORKER_BUILD_VERSION=0.8.7

say() { printf '[setup] %s\n' "$*"; }

# wasm-bindgen-cli must be exactly the wasm-bindgen that Cargo.toml pins.
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' Cargo.toml)
[ -n "$WASM_BINDGEN_VERSION" ] || { echo "setup: cannot read the wasm-bindgen pin from Cargo.toml" >&2; exit 1; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

installed_version() { # binary -> version printed by --version, or nothing
  [ -x "$TOOLS/bin/$1" ] && "$TOOLS/bin/$1" --version 2>/dev/null | awk '{print $NF}' || true
}

# A matching binary already on PATH (e.g. in ~/.cargo/bin) is linked instead of rebuilt.
link_from_path() { # binary version
  local found
  found=$(command -v "$1" 2>/dev/null) || return 1
  [ "$("$found" --version 2>/dev/null | awk '{print $NF}')" = "$2" ] || return 1
  mkdir -p "$TOOLS/bin" && ln -sf "$found" "$TOOLS/bin/$1"
  say "using $1 $2 from $found"
}

if [ "$(installed_version wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ] \
  && ! link_from_path wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION into .tools (a few minutes)"
  # Not --locked: its lockfile names a crate version the registry does not serve.
  cargo install --quiet --root "$TOOLS" wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ "$(installed_version worker-build)" != "$WORKER_BUILD_VERSION" ] \
  && ! link_from_path worker-build "$WORKER_BUILD_VERSION"; then
  say "installing worker-build $WORKER_BUILD_VERSION into .tools (a few minutes)"
  cargo install --quiet --root "$TOOLS" worker-build --version "$WORKER_BUILD_VERSION" --force
fi

# npm packages: reinstall only when package-lock.json changed since the last install.
stamp=node_modules/.setup-stamp
lock_sum=$(md5sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > "$stamp"
fi

# The official Python server SDK (PyPI `pusher`), for the tests that check a second,
# independent implementation of the REST signing against ours: a venv in .tools/python,
# rebuilt only when tests/python/requirements.txt changed.
PY_VENV="$TOOLS/python"
py_stamp="$PY_VENV/.setup-stamp"
req_sum=$(md5sum tests/python/requirements.txt | cut -d' ' -f1)
if [ ! -f "$py_stamp" ] || [ "$(cat "$py_stamp")" != "$req_sum" ]; then
  command -v python3 >/dev/null || { echo "setup: python3 is needed for the Python SDK tests" >&2; exit 1; }
  say "installing the Python pusher SDK into .tools/python"
  rm -rf "$PY_VENV"
  python3 -m venv "$PY_VENV"
  "$PY_VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  echo "$req_sum" > "$py_stamp"
fi

# What only the tests need (scripts/test.sh passes --tests): for the browser tests (examples/nextjs
# and the dashboard), Debian's Chromium (/usr/bin/chromium), and the example's npm packages, among
# them playwright-core, which drives that Chromium (nothing downloads a browser of its own).
if [ "${1:-}" = --tests ]; then
  if [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null; then
    command -v apt-get >/dev/null || { echo "setup: the browser test needs Chromium at /usr/bin/chromium (Debian's chromium package)" >&2; exit 1; }
    say "installing Chromium (Debian's chromium package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
  fi
  bash scripts/build-example.sh install
fi
