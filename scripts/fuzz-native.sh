#!/usr/bin/env bash
# npm run fuzz:native [-- seconds]: the libFuzzer target for the shim's C API,
# test/fuzz/shim_fuzzer.cc, built with clang's -fsanitize=fuzzer,address,undefined
# and the fault switch, run for `seconds` (default 60) from the seed corpus in
# test/fuzz/corpus/. Installs clang and its runtimes (Debian: clang,
# libclang-rt-14-dev) when missing.
#
# New inputs go to test/fuzz/build/corpus/ (ignored), the seeds stay as they
# are; a failing input is written to test/fuzz/build/crash-* (or leak-*,
# timeout-*) and replays with: test/fuzz/build/shim_fuzzer <that file>.
# Exit status: the fuzzer's (0 when it ran out of time without a failure).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
case $seconds in
  '' | *[!0-9]*)
    echo "usage: npm run fuzz:native [-- seconds]" >&2
    exit 2
    ;;
esac
out=test/fuzz/build
say() { echo "fuzz:native: $*" >&2; }

runtime_dir() { clang++ -print-runtime-dir 2>/dev/null || true; }
if ! command -v clang++ >/dev/null || [ ! -f "$(runtime_dir)/libclang_rt.fuzzer-x86_64.a" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  say "installing clang and libclang-rt-14-dev"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
fi

mkdir -p "$out/corpus"
bin=$out/shim_fuzzer
sources=(native/shim/*.cc native/os_posix.cc test/fuzz/shim_fuzzer.cc)
if [ ! -f "$bin" ] || [ -n "$(find native test/fuzz/shim_fuzzer.cc -newer "$bin" -print -quit)" ]; then
  say "building $bin"
  clang++ -std=c++17 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -DSYSALLOC_FAULT_INJECTION -Inative "${sources[@]}" -o "$bin"
fi

say "running for $seconds s on test/fuzz/corpus ($(find test/fuzz/corpus -type f | wc -l) seeds)"
# libFuzzer prints a line per new input; keep the rest (stats, reports).
"$bin" -max_total_time="$seconds" -max_len=2048 -timeout=30 -rss_limit_mb=3072 \
  -artifact_prefix="$out/" -print_final_stats=1 "$out/corpus" test/fuzz/corpus 2>&1 |
  sed -u '/^#[0-9]*[[:space:]]*\(NEW\|REDUCE\)/d'
