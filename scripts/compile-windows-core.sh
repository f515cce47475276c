#!/usr/bin/env bash
# Compiles the Node-free native core for win32-x64 with mingw-w64, warnings as
# errors, so the Windows allocator code cannot rot between Windows test runs.
# Installs Debian's mingw-w64 (posix thread model) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

CXX=x86_64-w64-mingw32-g++-posix
if ! command -v "$CXX" >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++-mingw-w64-x86-64-posix >/dev/null
fi

out=build/windows-core
mkdir -p "$out"
for source in native/os_windows.cc native/blocks.cc; do
  "$CXX" -std=c++17 -O2 -Wall -Wextra -Werror -Inative -c "$source" -o "$out/$(basename "$source" .cc).o"
done
echo "win32-x64 core compiled: $(ls "$out")"
