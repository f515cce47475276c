#!/usr/bin/env bash
# npm run test:runtimes: the runtime-neutral behaviour suite (test/runtimes/suite.cjs)
# under Node (this machine's), Bun and Deno (pinned in scripts/runtime.sh),
# over one build of dist/, the addon and the test-only shim consumer.
#
#   npm run test:runtimes                 node, bun and deno
#   npm run test:runtimes -- bun deno     the ones named
#
# Each runtime runs the whole suite in one process; the run passes when it
# prints its closing line "N passed, 0 failed" and exits 0. When a runtime
# crashes before that line (an abort, a signal), every test is run again on
# its own in that runtime, to say which pass, which fail and which crash.
# Logs go to .runtimes/ (ignored). Exits non-zero when any runtime failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
logs=$root/.runtimes
suite=test/runtimes/suite.cjs
runtimes=("$@")
[ ${#runtimes[@]} -gt 0 ] || runtimes=(node bun deno)

say() { echo "test:runtimes: $*" >&2; }

# One build for every runtime: the addon (Node-API), dist/, the shim consumer.
if [ ! -f build/Release/sysalloc.node ] ||
  [ -n "$(find native binding.gyp -newer build/Release/sysalloc.node -print -quit)" ]; then
  say "building the addon"
  npx --no-install node-gyp rebuild >/dev/null
fi
if [ ! -f dist/index.js ] || [ -n "$(find lib tsconfig.json tsconfig.build.json -newer dist/index.js -print -quit)" ]; then
  npm run --silent build:ts
fi
npm run --silent build:consumers >/dev/null

# The command line of each runtime. Deno: a .cjs file is CommonJS; loading an
# addon needs --allow-ffi, and the `bindings` loader reads files (--allow-read),
# the environment (--allow-env) and, through fs.accessSync, the user id
# (--allow-sys). Bun needs no flag (its collector is Bun.gc).
command_of() {
  case "$1" in
    node) echo "node --expose-gc" ;;
    bun) echo "$(scripts/runtime.sh bun)" ;;
    deno) echo "$(scripts/runtime.sh deno) run --allow-read --allow-env --allow-sys --allow-ffi --v8-flags=--expose-gc" ;;
    *) say "unknown runtime $1 (node, bun, deno)"; exit 2 ;;
  esac
}

mkdir -p "$logs"
declare -a summary
failed=0
for name in "${runtimes[@]}"; do
  read -r -a cmd <<<"$(command_of "$name")"
  log=$logs/$name.log
  say "$name: ${cmd[*]} $suite"
  set +e
  NO_COLOR=1 "${cmd[@]}" "$suite" >"$log" 2>&1
  status=$?
  set -e
  cat "$log"
  closing=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
  if [ -n "$closing" ] && [ $status -eq 0 ] && [[ $closing == *" 0 failed" ]]; then
    summary+=("$name: $closing")
    continue
  fi
  failed=1
  if [ -n "$closing" ]; then
    summary+=("$name: $closing (exit $status)")
    continue
  fi
  last=$(grep -E '^(ok|not ok) - ' "$log" | tail -n 1 | sed -E 's/^(ok|not ok) - //')
  summary+=("$name: CRASHED (exit $status) after \"${last:-no test}\"; each test on its own:")
  mapfile -t names < <(NO_COLOR=1 "${cmd[@]}" "$suite" --list 2>/dev/null)
  for test in "${names[@]}"; do
    set +e
    NO_COLOR=1 "${cmd[@]}" "$suite" --only "$test" >"$log.one" 2>&1
    one=$?
    set -e
    if grep -qx '1 passed, 0 failed' "$log.one" && [ $one -eq 0 ]; then
      summary+=("    ok       $test")
    elif grep -qx '0 passed, 1 failed' "$log.one"; then
      summary+=("    FAILED   $test: $(sed -n '3p' "$log.one" | sed -E 's/^ +//')")
    else
      summary+=("    CRASHED  $test (exit $one): $(grep -m1 -iE 'corrupted|malloc|panic|abort|error' "$log.one" || tail -n 1 "$log.one")")
    fi
  done
  rm -f "$log.one"
done
for line in "${summary[@]}"; do say "$line"; done
exit $failed
