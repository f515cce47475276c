// The status numbers every Node binding file returns to JavaScript when it
// hands out no value (binding*.cc, shared_binding.cc). Mirrored by lib/native.ts
// (NativeStatus); binding.cc exports the table as `status`. No Node header.
#pragma once

#include <cstdint>

namespace sysalloc {

// kRuntimeThrew: the runtime threw while making the Buffer (its message is kept
// for lastError()); kRuntimeRefused: it returned another Node-API failure (the
// status is kept for lastError(); shared views: the runtime refused the view).
enum Status : int32_t {
  kOk = 0,
  kInvalidParam = 1,
  kNoMemory = 2,
  kNotAllocated = 3,
  kRuntimeThrew = 4,
  kRuntimeRefused = 5,
  // Page-level blocks (BlockAllocPages, BlockProtect) from 16 on.
  kLockRefused = 16,  // the OS refused to lock the pages (RLIMIT_MEMLOCK, working set)
  kNotPaged = 17,     // the block is not page-backed
  kProtectRefused = 18,
  // The runtime refuses external buffers (napi_no_external_buffers_allowed): what
  // needs memory of sysalloc's own (page-level blocks, sharing) cannot be made.
  kExternalRefused = 19,
};

}  // namespace sysalloc
