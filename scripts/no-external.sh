#!/usr/bin/env bash
# npm run test:no-external: the whole jest suite against sysalloc built for a
# runtime that refuses external buffers (Electron, a V8 sandbox): every addon
# compiled with NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED, so node-api's headers hide
# napi_create_external_buffer and napi_create_external_arraybuffer and every
# block is memory the runtime allocates (README "Runtimes without external
# buffers"). The tests that are about external memory assert what the fallback
# documents instead (test/helpers.ts: runtimeMemory).
#
# Every addon (the package's, test/consumers, test/faults, test/asan) is built in
# a stage, .no-external/stage (ignored), a mirror of the project made by
# scripts/asan-stage.js, so build/Release stays the ordinary build npm test uses.
# The stage's objects are kept between runs; delete .no-external/ for a cold run.
# Arguments go to jest.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/.no-external
stage=$work/stage
define=-DNODE_API_NO_EXTERNAL_BUFFERS_ALLOWED

say() { echo "test:no-external: $*" >&2; }

missing=()
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  say "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# dist/ is what the tests load; compile it only when it is stale.
if [ ! -f dist/index.js ] || [ -n "$(find lib tsconfig.json tsconfig.build.json -newer dist/index.js -print -quit)" ]; then
  npm run --silent build:ts
fi
mkdir -p "$work"
node scripts/asan-stage.js "$stage"

prefix=$(cd "$(dirname "$(command -v node)")/.." && pwd)
gyp_args=()
if [ -n "${npm_config_nodedir:-}" ]; then
  gyp_args+=("--nodedir=$npm_config_nodedir")
elif [ -f "$prefix/include/node/node_version.h" ]; then
  gyp_args+=("--nodedir=$prefix")
fi
node_gyp() { node "$root/node_modules/node-gyp/bin/node-gyp.js" "$@" "${gyp_args[@]}"; }

# make reads CXXFLAGS from the environment after the target's own flags
# (gyp's Makefile: CXXFLAGS.target ?= $(CPPFLAGS) $(CXXFLAGS)); the define is
# also in CFLAGS for the C sources of test/consumers (SQLite).
build() {
  local dir=$1
  local log=$work/build.log
  say "building $(realpath --relative-to="$stage" "$dir") with $define"
  if [ ! -f "$dir/build/Makefile" ] || [ "$dir/binding.gyp" -nt "$dir/build/Makefile" ]; then
    if ! (cd "$dir" && node_gyp configure >"$log" 2>&1); then
      cat "$log" >&2
      say "node-gyp configure failed in $dir"
      exit 1
    fi
  fi
  if ! (cd "$dir" && CFLAGS="$define" CXXFLAGS="$define" node_gyp build --jobs max >"$log" 2>&1); then
    cat "$log" >&2
    say "node-gyp build failed in $dir"
    exit 1
  fi
}
build "$stage"
build "$stage/test/consumers"
build "$stage/test/faults"
[ "$(uname -s)" = Linux ] && build "$stage/test/asan"

# The define must have reached the package's addon: it reports runtime memory.
source=$(cd "$stage" && node -p "require('./dist').blockSource()")
if [ "$source" != runtime ]; then
  say "the staged addon serves blocks from '$source', not 'runtime': the define did not reach it"
  exit 1
fi
say "running jest against the staged addons (blockSource() is '$source')"
cd "$stage"
exec node --expose-gc node_modules/jest/bin/jest.js "$@"
