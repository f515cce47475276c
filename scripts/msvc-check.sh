#!/usr/bin/env bash
# scripts/msvc-check.sh: how far the native code compiles for MSVC on this
# machine, which has no MSVC, no clang-cl and no Windows SDK. clang in MSVC mode
# (--target=x86_64-pc-windows-msvc -fms-extensions -fms-compatibility, so
# _MSC_VER is defined and portability.h takes its MSVC branch) parses, in
# syntax-only mode:
#   1. the native core, every file of it but the Node binding: os_windows.cc,
#      blocks.cc, shared_blocks.cc, shim/*.cc, debug/*.cc but debug_binding.cc and the
#      POSIX fault catcher, with -Wall -Wextra -Werror;
#   2. portability.h's MSVC branch is really the one taken (the preprocessed
#      shim calls _BitScanReverse64, _umul128 and __declspec(thread));
#   3. include/sysalloc.h as cl.exe would see it (__clang__ and __GNUC__
#      undefined: __declspec(restrict), [[nodiscard]]), in C and in C++.
# Stand-ins, since no MSVC headers exist here: mingw-w64's Windows and CRT
# headers and its libstdc++ (told the GNU macros they test for, and told which
# intrinsics clang's own <intrin.h> already defines). So this checks our code
# against MSVC's language mode and intrinsics, not against MSVC's STL or SDK.
# Installs clang and mingw-w64 when missing. Exit status 0 when all passed.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "msvc-check: $*" >&2; }

gxx=x86_64-w64-mingw32-g++-posix
if ! command -v clang++ >/dev/null || ! command -v $gxx >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  say "installing clang and g++-mingw-w64-x86-64-posix"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang g++-mingw-w64-x86-64-posix >/dev/null
fi

resource=$(clang++ -print-resource-dir)/include
sysroot=$($gxx -print-sysroot 2>/dev/null || true)
mingw=/usr/x86_64-w64-mingw32/include
cxx=$(dirname "$($gxx -print-libgcc-file-name)")/include/c++
[ -d "$cxx" ] || { say "no mingw-w64 libstdc++ headers at $cxx"; exit 1; }
: "$sysroot"

# The GNU macros libstdc++'s headers test for, as clang defines them for mingw.
gnu=()
while read -r _ name value; do gnu+=("-D$name=$value"); done < <(
  clang++ --target=x86_64-w64-mingw32 -dM -E -x c++ /dev/null | grep -E '#define __GCC_(ATOMIC|HAVE_SYNC)')

msvc=(--target=x86_64-pc-windows-msvc -fms-extensions -fms-compatibility -fms-compatibility-version=19.38
  -fsyntax-only -ffreestanding -nostdinc)
stand_ins=("${gnu[@]}" -D__GNUC__=12 -D__GNUC_MINOR__=2 -D__GNUC_PATCHLEVEL__=0 "-D__declspec(x)=__declspec(x)"
  -D__INTRINSIC_DEFINED___stosb -D__INTRINSIC_DEFINED___stosw -D__INTRINSIC_DEFINED___stosd
  -D__INTRINSIC_DEFINED___stosq -D__INTRINSIC_DEFINED___movsb -D__INTRINSIC_DEFINED___movsw
  -D__INTRINSIC_DEFINED___movsd -D__INTRINSIC_DEFINED___movsq
  -isystem "$resource" -isystem "$cxx" -isystem "$cxx/x86_64-w64-mingw32" -isystem "$mingw")
flags=("${msvc[@]}" -std=c++17 "${stand_ins[@]}" -Inative -Wall -Wextra -Werror -Wno-#warnings)

status=0
files=(native/os_windows.cc native/blocks.cc native/shared_blocks.cc native/shim/*.cc native/debug/quarantine.cc
  native/debug/held_slots.cc native/debug/stderr_writer.cc native/debug/fault_catcher_windows.cc)
for f in "${files[@]}"; do
  if clang++ "${flags[@]}" "$f"; then say "ok    $f"; else say "FAIL  $f"; status=1; fi
done

pre=$(clang++ "${flags[@]/-fsyntax-only/-E}" native/shim/api.cc native/shim/thread_cache.cc 2>/dev/null || true)
for want in '_BitScanReverse64(' '_umul128(' '__declspec(thread)'; do
  if grep -qF "$want" <<<"$pre"; then say "ok    the MSVC branch uses $want"; else say "FAIL  no $want: the MSVC branch was not taken"; status=1; fi
done

# clang accepts GCC's builtins and attributes in MSVC mode too, so the parse
# above cannot catch them: they may appear in portability.h (its GCC branch)
# and in the public header's attribute macros only.
stray=$(grep -nE '__builtin_|__attribute__|__declspec|__assume|__thread\b' native/*.h native/*.cc native/shim/* native/debug/* |
  grep -vE '^native/portability\.h:' || true)
if [ -n "$stray" ]; then
  echo "$stray" >&2
  say "FAIL  compiler-specific code outside native/portability.h"
  status=1
else
  say "ok    no compiler builtin or attribute outside native/portability.h (and include/sysalloc.h's macros)"
fi

for lang in c c++; do
  if printf '#include "sysalloc.h"\nint main(void) { return sysalloc_api_at(0) == 0 ? 0 : 1; }\n' |
    clang "${msvc[@]}" -x "$lang" -U__clang__ -U__GNUC__ -Wno-builtin-macro-redefined -isystem "$resource" \
      -isystem "$mingw" -Inative/include -Wall -Wextra -Werror - ; then
    say "ok    include/sysalloc.h as cl.exe sees it ($lang)"
  else
    say "FAIL  include/sysalloc.h as cl.exe sees it ($lang)"
    status=1
  fi
done
[ $status -eq 0 ] && say "passed" || say "failed"
exit $status
