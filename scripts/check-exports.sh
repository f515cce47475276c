#!/usr/bin/env bash
# scripts/check-exports.sh ADDON...: each addon (ELF) exports only what Node
# looks up, napi_register_module_v1 and node_api_module_get_api_version_v1, plus
# the typeinfo of standard-library types that libstdc++'s headers give default
# visibility (_ZTISt*, _ZTSSt*: exceptions are matched by them across modules).
# Nothing of sysalloc's own: no C function of include/sysalloc.h (other addons
# get the table at run time), no sysalloc:: symbol, no GNU unique symbol (which
# every copy of sysalloc in a process would share, RTLD_LOCAL or not).
# Run by npm run test:native; needs nm (binutils).
# --allow REGEX (first): names matching it are allowed too, in every addon
# named after it (the testing addon's sysalloc_testing_* callers).
set -euo pipefail
say() { echo "check-exports: $*" >&2; }
allow='$^'
if [ "${1:-}" = --allow ]; then
  allow=$2
  shift 2
fi
[ $# -gt 0 ] || { say "usage: scripts/check-exports.sh [--allow REGEX] ADDON..."; exit 2; }
status=0
for addon in "$@"; do
  symbols=$(nm -D --defined-only "$addon")
  names=$(awk '{ print $3 }' <<<"$symbols")
  # The check must see the two symbols Node needs, or it reads nothing.
  for need in napi_register_module_v1 node_api_module_get_api_version_v1; do
    grep -qx "$need" <<<"$names" || { say "$addon: $need is not exported (is this an addon?)"; status=1; }
  done
  extra=$(grep -vxE 'napi_register_module_v1|node_api_module_get_api_version_v1|_ZT[IS]St[0-9A-Za-z_]+' <<<"$names" |
    grep -vxE "$allow" || true)
  unique=$(awk '$2 == "u"' <<<"$symbols")
  if [ -n "$extra" ]; then
    say "$addon exports more than Node needs:"
    c++filt <<<"$extra" | sed 's/^/  /' >&2
    status=1
  fi
  if [ -n "$unique" ]; then
    say "$addon has GNU unique symbols: every copy of sysalloc in a process would share them"
    echo "$unique" >&2
    status=1
  fi
  [ $status -ne 0 ] || say "$addon: exports $(tr '\n' ' ' <<<"$names")"
done
exit $status
