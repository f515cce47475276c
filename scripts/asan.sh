#!/usr/bin/env bash
# npm run test:asan: the whole jest suite against sysalloc built with
# AddressSanitizer and UBSan (-fsanitize=address,undefined), in a node with the
# ASan runtime preloaded. Fails on any test failure and on any sanitizer report,
# from any process the tests start (child processes and workers included).
#
# Every addon (the package's, test/consumers, test/faults, test/asan) is built
# in a stage, .asan/stage (ignored), a mirror of the project made by
# scripts/asan-stage.js, so build/Release stays the ordinary build npm test
# uses. The stage's objects are kept between runs; delete .asan/ for a cold run.
# ASan and LeakSanitizer reports, from whatever process, go to files under
# .asan/logs/ (log_path), printed at the end. gcc's UBSan runtime ignores
# log_path and writes to its process's stderr, but every UBSan check is fatal
# (-fno-sanitize-recover=all, exit status 87), so the test that ran the
# process fails. The options and the reason for each are in
# test/asan/options.js. Arguments go to jest.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/.asan
stage=$work/stage
logs=$work/logs

say() { echo "test:asan: $*" >&2; }

# g++ brings gcc's sanitizer runtimes (Debian: libasan8 and libubsan1 are
# dependencies of g++-12).
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
runtime=$(gcc -print-file-name=libasan.so)
if [ ! -f "$runtime" ]; then
  say "gcc has no ASan runtime ($runtime)"
  exit 1
fi

# dist/ is what the tests load; compile it only when it is stale.
if [ ! -f dist/index.js ] || [ -n "$(find lib tsconfig.json tsconfig.build.json -newer dist/index.js -print -quit)" ]; then
  npm run --silent build:ts
fi
node scripts/asan-stage.js "$stage"

# The headers installed beside this node, as test/consumers/build.js uses.
prefix=$(cd "$(dirname "$(command -v node)")/.." && pwd)
gyp_args=()
if [ -n "${npm_config_nodedir:-}" ]; then
  gyp_args+=("--nodedir=$npm_config_nodedir")
elif [ -f "$prefix/include/node/node_version.h" ]; then
  gyp_args+=("--nodedir=$prefix")
fi
node_gyp() { node "$root/node_modules/node-gyp/bin/node-gyp.js" "$@" "${gyp_args[@]}"; }

options=$(node -p "const o = require('$root/test/asan/options'); o.ASAN_OPTIONS")
ubsan_options=$(node -p "const o = require('$root/test/asan/options'); o.UBSAN_OPTIONS")
lsan_options=$(node -p "const o = require('$root/test/asan/options'); o.LSAN_OPTIONS")

# make reads CFLAGS, CXXFLAGS and LDFLAGS from the environment (gyp's Makefile:
# CXXFLAGS.target ?= $(CPPFLAGS) $(CXXFLAGS)), after the target's own flags.
flags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
build() {
  local dir=$1
  local log=$work/build.log
  say "building $(realpath --relative-to="$stage" "$dir") with $flags"
  if [ ! -f "$dir/build/Makefile" ] || [ "$dir/binding.gyp" -nt "$dir/build/Makefile" ]; then
    # test/consumers/binding.gyp asks require('../..') for includeDir, which
    # loads the stage's (instrumented) addon: that needs the runtime too.
    if ! (cd "$dir" && LD_PRELOAD=$runtime ASAN_OPTIONS=detect_leaks=0 node_gyp configure >"$log" 2>&1); then
      cat "$log" >&2
      say "node-gyp configure failed in $dir"
      exit 1
    fi
  fi
  if ! (cd "$dir" && CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" \
    node_gyp build --jobs max >"$log" 2>&1); then
    cat "$log" >&2
    say "node-gyp build failed in $dir"
    exit 1
  fi
  sed -n 's/^  \(CXX\|CC\|SOLINK_MODULE\)(target) /  \1 /p' "$log" >&2
}
build "$stage"
build "$stage/test/consumers"
build "$stage/test/faults"
build "$stage/test/asan"

rm -rf "$logs"
mkdir -p "$logs"
say "running jest with LD_PRELOAD=$runtime"
say "ASAN_OPTIONS=$options"
say "UBSAN_OPTIONS=$ubsan_options"
say "LSAN_OPTIONS=$lsan_options"
set +e
(
  cd "$stage"
  LD_PRELOAD=$runtime ASAN_OPTIONS="$options:log_path=$logs/asan" UBSAN_OPTIONS="$ubsan_options" LSAN_OPTIONS="$lsan_options" \
    node --expose-gc node_modules/jest/bin/jest.js "$@"
)
status=$?
set -e

reports=$(find "$logs" -type f | wc -l)
if [ "$reports" -ne 0 ]; then
  for f in "$logs"/*; do
    echo "---- $f" >&2
    cat "$f" >&2
  done
  say "$reports process(es) with sanitizer reports"
  exit 1
fi
say "no ASan or LeakSanitizer report from any process"
exit $status
