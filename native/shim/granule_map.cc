#include "shim/granule_map.h"

namespace sysalloc {
namespace shim {

// 16 MiB of zero-initialised static storage, touched only where the shim maps.
std::atomic<uint64_t> g_codes[kCodeWords];

void SetCode(uintptr_t granule, unsigned code) {
  std::atomic<uint64_t>& word = g_codes[granule >> 5];
  const unsigned shift = (granule & 31) * 2;
  uint64_t old = word.load(std::memory_order_relaxed);
  while (!word.compare_exchange_weak(old, (old & ~(uint64_t{3} << shift)) | (uint64_t{code} << shift),
                                     std::memory_order_release, std::memory_order_relaxed)) {
  }
}

void MarkSpan(uintptr_t start, size_t n, bool live) {
  const uintptr_t g = start >> kGranuleShift;
  for (size_t i = 0; i < n; ++i) SetCode(g + i, live ? (i == 0 ? kHead : kCont) : kRetired);
}

}  // namespace shim
}  // namespace sysalloc
