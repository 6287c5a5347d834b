#!/usr/bin/env bash
# Builds the release before this one (tests/support/previous_release.txt) for
# tests/mixed_versions.test.mjs: a git worktree of that commit under target/previous-release/,
# built by its own scripts/build.sh with this checkout's tools and npm packages and a target
# directory of its own (never this checkout's). Prints the build directory. Idempotent: an
# existing build of that commit is reused (about 1.5 min on 2 cores otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
commit=$(grep -v '^#' tests/support/previous_release.txt | head -1 | tr -d '[:space:]')
out=target/previous-release/$commit
if [ -f "$out/build/index.js" ]; then
  echo "[previous] release $commit: built already" >&2
  echo "$root/$out/build"
  exit 0
fi
if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
  echo "[previous] commit $commit is not in this clone's history (a shallow clone?)" >&2
  exit 1
fi
echo "[previous] building release $commit" >&2
git worktree prune
rm -rf "$out"
mkdir -p target/previous-release
git worktree add --detach --force "$out" "$commit" >&2
ln -s "$root/.tools" "$out/.tools"
ln -s "$root/node_modules" "$out/node_modules"
(cd "$out" && CARGO_TARGET_DIR="$root/target/previous-release/target" bash scripts/build.sh) >&2
echo "$root/$out/build"
