// Large blocks: a span of whole granules each, the Segment header at the span's
// colour, then the block's own header and the block.
#pragma once

#include <cstddef>
#include <cstdint>

#include "shim/granule_map.h"

namespace sysalloc {
namespace shim {

// Precondition: size <= kMaxRequest, align a power of two. nullptr when the OS refuses.
void* LargeAlloc(size_t size, size_t align, bool zero);

// Precondition: p is the live large block of span s.
void LargeFree(Segment* s, uintptr_t p);

// Resizes the live large block p of span s to size (> kSmallMax) in place, when
// the span can grow or shrink where it is; true if it did.
bool LargeResize(Segment* s, uintptr_t p, size_t size);

}  // namespace shim
}  // namespace sysalloc
