#include "shim/large.h"

#include <cstring>

#include "shim/spans.h"

namespace sysalloc {
namespace shim {

void* LargeAlloc(size_t size, size_t align, bool zero) {
  // Room for the header at any colour; the pointer's offset is fixed before the
  // span (and so its colour) is known.
  const size_t least = 31 * kSegmentSize + kSegmentSize + kHeader;
  size_t user_off = least;
  size_t offset = 0;
  if (align > kGranule) {
    user_off = kGranule;
    offset = kGranule;
  } else if (align > kHeader) {
    user_off = (least + align - 1) & ~(align - 1);
  }
  // At least one byte past p, so that p lies inside the span even for size 0.
  const size_t n = GranulesFor(user_off + (size != 0 ? size : 1));
  size_t got = 0;
  bool zeroed = false;
  const uintptr_t start = AcquireSpan(n, align, offset, &got, &zeroed);
  if (start == 0) return nullptr;
  Segment* s = HeaderOf(start);
  s->kind = kLarge;
  s->cls = 0;
  s->block_size = 0;
  s->count = 0;
  s->magic = 0;
  s->first = 0;
  s->granules = got;
  s->user_off = user_off;
  const uintptr_t p = start + user_off;
  Header* h = HeaderAt(p - kHeader);
  h->size = size;
  h->tag = kLive;
  if (zero && !zeroed) std::memset(reinterpret_cast<void*>(p), 0, size);
  MarkSpan(start, got, true);
  return reinterpret_cast<void*>(p);
}

void LargeFree(Segment* s, uintptr_t p) {
  HeaderAt(p - kHeader)->tag = kFree;
  const uintptr_t start = StartOf(s);
  const size_t n = s->granules;
  MarkSpan(start, n, false);
  ReleaseSpan(start, n);
}

bool LargeResize(Segment* s, uintptr_t p, size_t size) {
  if (size <= kSmallMax) return false;  // moving to a class gives the granules back
  const uintptr_t start = StartOf(s);
  const size_t n = s->granules;
  const size_t m = GranulesFor(s->user_off + size);
  if (m > n && !GrowSpan(start, n, m)) return false;
  if (m < n) {
    MarkSpan(start + m * kGranule, n - m, false);
    ReleaseSpan(start + m * kGranule, n - m);
  }
  s->granules = m;
  HeaderAt(p - kHeader)->size = size;
  return true;
}

}  // namespace shim
}  // namespace sysalloc
