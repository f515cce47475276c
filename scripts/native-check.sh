#!/usr/bin/env bash
# npm run test:native: the native core (os, blocks) and the shim without Node,
# test/native/core_test.cc, built with the fault switch, under
#   1. valgrind memcheck: zero errors, no definitely or indirectly lost block;
#   2. AddressSanitizer + LeakSanitizer + UBSan: zero reports;
#   3. ThreadSanitizer, on its threads part (two rounds of 4 threads mixing
#      malloc/calloc/realloc/aligned_alloc/free, handing blocks to each other):
#      zero reports.
# Each tool first runs a deliberate bug (core_test leak / race) and must fail
# on it, so a silent tool cannot pass. Then checks that the published addon
# (build/Release/sysalloc.node) has no fault switch, no testing export, and
# exports only what Node looks up (scripts/check-exports.sh: no GNU unique
# symbol either, which two copies of sysalloc in one process would share).
# Arguments: none. Objects go to test/native/build/ (ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
out=test/native/build
say() { echo "test:native: $*" >&2; }

missing=()
command -v g++ >/dev/null || missing+=(g++)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v nm >/dev/null || missing+=(binutils)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  say "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$out"
src=(native/os_posix.cc native/blocks.cc native/shim/*.cc test/native/core_test.cc)
common=(-std=c++17 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -pthread -DSYSALLOC_FAULT_INJECTION -Inative)
say "building core_test (plain, asan+ubsan, tsan)"
start=$SECONDS
g++ "${common[@]}" "${src[@]}" -o "$out/core_test" &
g++ "${common[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all "${src[@]}" -o "$out/core_test_asan" &
g++ "${common[@]}" -fsanitize=thread "${src[@]}" -o "$out/core_test_tsan" &
for job in $(jobs -p); do wait "$job"; done
say "built in $((SECONDS - start)) s"

# Runs a command that must fail and print what names the tool's report.
expect_caught() {
  local what=$1 pattern=$2
  shift 2
  local log=$out/selftest.log
  if "$@" >"$log" 2>&1; then
    cat "$log" >&2
    say "the deliberate $what passed: the tool is not checking"
    exit 1
  fi
  if ! grep -q "$pattern" "$log"; then
    cat "$log" >&2
    say "the deliberate $what failed without the expected report ($pattern)"
    exit 1
  fi
  say "deliberate $what: caught ($pattern)"
}

valgrind_opts=(--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
  --show-leak-kinds=definite,indirect)
asan_env=(ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
tsan_env=(TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1)

expect_caught "leak under valgrind" "definitely lost: 4,000 bytes in 1 blocks" \
  valgrind "${valgrind_opts[@]}" "$out/core_test" leak
expect_caught "leak under LeakSanitizer" "Direct leak of 4000 byte(s)" env "${asan_env[@]}" "$out/core_test_asan" leak
expect_caught "race under ThreadSanitizer" "WARNING: ThreadSanitizer: data race" env "${tsan_env[@]}" "$out/core_test_tsan" race

# valgrind runs everything about 30 times slower: fewer thread operations.
start=$SECONDS
say "valgrind memcheck: core_test all 2000"
valgrind "${valgrind_opts[@]}" "$out/core_test" all 2000 2>"$out/valgrind.log" || {
  cat "$out/valgrind.log" >&2
  say "valgrind reported errors"
  exit 1
}
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|All heap blocks" "$out/valgrind.log" | sed 's/^==[0-9]*== */  /' >&2
say "valgrind: $((SECONDS - start)) s"

start=$SECONDS
say "AddressSanitizer + LeakSanitizer + UBSan: core_test all 20000"
env "${asan_env[@]}" "$out/core_test_asan" all 20000
say "asan: $((SECONDS - start)) s"

start=$SECONDS
say "ThreadSanitizer: core_test threads 5000"
env "${tsan_env[@]}" "$out/core_test_tsan" threads 5000
say "tsan: $((SECONDS - start)) s"

# The published addon: built from the root binding.gyp without the test macros.
addon=build/Release/sysalloc.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp -newer "$addon" -print -quit)" ]; then
  say "building the published addon"
  node node_modules/node-gyp/bin/node-gyp.js rebuild >/dev/null
fi
testing=test/faults/build/Release/sysalloc_testing.node
[ -f "$testing" ] || node test/faults/build.js >/dev/null
switch='sysalloc::(fault|testing)::'
published_symbols=$(nm -C "$addon")
testing_symbols=$(nm -C "$testing")
# The patterns find the switch where it is, so finding nothing in the published addon means something.
if ! grep -qE "$switch" <<<"$testing_symbols" || ! grep -qa faultArm "$testing"; then
  say "the checks below find no switch even in $testing"
  exit 1
fi
if grep -E "$switch" <<<"$published_symbols" || grep -qa faultArm "$addon"; then
  say "$addon carries the fault switch or testing exports"
  exit 1
fi
say "$addon: no fault switch, no testing exports"
scripts/check-exports.sh "$addon"
# The testing addon exports the shim callers its debug reports must name.
scripts/check-exports.sh --allow 'sysalloc_testing_shim_[a-z]+' "$testing"
say "passed"
