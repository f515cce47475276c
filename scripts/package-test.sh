#!/usr/bin/env bash
# npm run test:package: what a user gets from the npm package. Packs the
# project (npm pack; prepack requires npm run prebuild's binaries), then installs
# the tarball into fresh projects, each with a PATH that holds no compiler (no
# gcc, g++, cc, make, python3), and runs test/package/smoke.js there:
#
#   1. npm 12 on Node 24: install scripts blocked (npm 12's default)
#   2. npm 11 on Node 24: install scripts run (npm 11's default): scripts/install.js
#      must find the packaged binary and compile nothing
#   3. npm 12 on Node 22
#   4. npm 11 on Node 24 with --build-from-source and a compiler: the source
#      fallback builds from the files the package ships
#
# Runtimes come from scripts/runtime.sh. Exit code 0 only if every case passes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { echo "test:package: $*" >&2; }

# Run as an npm script, this inherits npm's npm_config_* settings: the npm under
# test must see only its own.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -i '^npm_')

node24=$(scripts/runtime.sh node@24)
node22=$(scripts/runtime.sh node@22)
npm12=$(scripts/runtime.sh npm@12)
npm11=$(scripts/runtime.sh npm@11)

work=$(mktemp -d "${TMPDIR:-/tmp}/sysalloc-package.XXXXXX")
trap 'rm -rf "$work"' EXIT

say "packing"
npm pack --silent --pack-destination "$work" >/dev/null
tarball=$(ls "$work"/sysalloc-*.tgz)
say "$(basename "$tarball"): $(stat -c %s "$tarball") bytes"

# A bin folder with node and sh (npm runs scripts with sh from PATH) and nothing
# else; npm adds its own node-gyp wrapper to the PATH of scripts.
bare_path() { # node
  local bin=$work/bin-$(basename "$(dirname "$(dirname "$1")")")-$RANDOM
  mkdir -p "$bin"
  ln -s "$1" "$bin/node"
  ln -s "$(command -v sh)" "$bin/sh"
  for tool in gcc g++ cc c++ make python3; do
    if PATH=$bin command -v "$tool" >/dev/null 2>&1; then echo "a $tool on the bare PATH" >&2; exit 1; fi
  done
  echo "$bin"
}

# case NAME NODE NPM [npm install flags...]
run_case() {
  local name=$1 node=$2 npm=$3
  shift 3
  local dir=$work/$name
  mkdir -p "$dir"
  printf '{ "name": "consumer", "version": "1.0.0", "private": true }\n' >"$dir/package.json"
  cp "$root/test/package/smoke.js" "$dir/smoke.js"
  local path_for_install=${CASE_PATH:-$(bare_path "$node")}
  local what="no compiler on PATH"
  [ -n "${CASE_PATH:-}" ] && what="this machine's PATH"
  say "$name: npm $("$node" "$npm" --version) on Node $("$node" --version), $what"
  local started=$SECONDS
  (cd "$dir" && PATH=$path_for_install "$node" "$npm" install --no-audit --no-fund --foreground-scripts \
    "$@" "$tarball" >"$dir/install.log" 2>&1) || { cat "$dir/install.log" >&2; say "$name: install failed"; return 1; }
  (cd "$dir" && PATH=$path_for_install "$node" smoke.js) || { cat "$dir/install.log" >&2; say "$name: smoke failed"; return 1; }
  say "$name: ok in $((SECONDS - started)) s"
}

failed=0
run_case npm12-node24 "$node24" "$npm12" || failed=1
grep -q "install scripts blocked" "$work/npm12-node24/install.log" ||
  { say "npm12-node24: npm 12 did not block the install script"; failed=1; }

run_case npm11-node24 "$node24" "$npm11" || failed=1
grep -q "sysalloc: using the prebuilt binary prebuilds/linux-x64/sysalloc.node" "$work/npm11-node24/install.log" ||
  { say "npm11-node24: the install script did not report the prebuilt binary"; failed=1; }

run_case npm12-node22 "$node22" "$npm12" || failed=1

# The source fallback, with the compiler this machine has.
# node-gyp reads the headers that come with that Node (it downloads nothing).
export SMOKE_BUILT_FROM_SOURCE=1
CASE_PATH=$PATH run_case source-npm11-node24 "$node24" "$npm11" --build-from-source \
  --nodedir="$(dirname "$(dirname "$node24")")" || failed=1
grep -q "sysalloc: using the prebuilt binary" "$work/source-npm11-node24/install.log" &&
  { say "source-npm11-node24: --build-from-source used the prebuilt binary"; failed=1; }

exit $failed
