// One shim per process: every copy of sysalloc in the process (two versions in
// node_modules, each loaded RTLD_LOCAL with its own shim compiled in) hands out
// the table of the copy that asked first, through os::Rendezvous.
#pragma once

#include "include/sysalloc.h"

namespace sysalloc {
namespace shim {

// The process's table: the first one any copy published, when its version and
// size are at least this copy's; otherwise this copy's own (then blocks of the
// two shims must not cross, which docs/design.md records). Thread-safe; decided
// on the first call and fixed after.
const sysalloc_api* SharedApi();

}  // namespace shim
}  // namespace sysalloc
