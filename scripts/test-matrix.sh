#!/usr/bin/env bash
# npm run test:matrix: the whole jest suite under each supported Node (20, 22,
# 24, 26: the newest of each, pinned in scripts/runtime.sh and cached there),
# against one build. The addon is built once, with the machine's node, and
# loaded unchanged by every version (Node-API); the pretest steps (TypeScript,
# typecheck, the test-only addons) run once. Each version's jest runs with that
# version's node, and so do the processes the tests start (process.execPath).
#
#   npm run test:matrix                       all four
#   npm run test:matrix -- test/pool.test.ts  arguments go to jest
#   SYSALLOC_MATRIX="22 26" npm run test:matrix
#
# Runs every version even when one fails; prints a line per version and exits
# non-zero when any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=${SYSALLOC_MATRIX:-20 22 24 26}

say() { echo "test:matrix: $*" >&2; }

# The addon, once: rebuilt only when it is missing or older than its sources.
if [ ! -f build/Release/sysalloc.node ] ||
  [ -n "$(find native binding.gyp -newer build/Release/sysalloc.node -print -quit)" ]; then
  say "building the addon with $(node -v)"
  npx --no-install node-gyp rebuild >/dev/null
fi
npm run --silent pretest >/dev/null

declare -a summary
failed=0
for v in $versions; do
  exe=$(scripts/runtime.sh "node@$v")
  say "jest under node $("$exe" -v) ($exe)"
  start=$(date +%s)
  if "$exe" --expose-gc node_modules/jest/bin/jest.js "$@"; then
    result=passed
  else
    result=FAILED
    failed=1
  fi
  summary+=("node $("$exe" -v): $result in $(($(date +%s) - start)) s")
done
for line in "${summary[@]}"; do say "$line"; done
exit $failed
