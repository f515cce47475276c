// POSIX: posix_memalign for small regions, mmap for large ones.
//
// Why large regions bypass posix_memalign: glibc serves a request whose size
// plus alignment passes its mmap threshold (128 KiB by default, mallopt(3)) with
// a fresh mmap and unmaps it on free, so every such block faults in and zeroes
// its pages again. An aligned request keeps passing the threshold even after
// glibc raises it, because the alignment slack is added to the size. Measured
// with `npm run bench:os-large`, 1 MiB with every page touched: 360 us through
// posix_memalign, 320 us through mmap, 0.8 us for a region that stays mapped
// (17 us with a memset to zero it). Mapping ourselves gives exact alignment with
// nothing wasted (we unmap the slack), pages known to be zero, and memory that
// goes back to the kernel on release; blocks.cc keeps recently released large
// regions mapped for reuse, which is where the speed comes from.
#include "os.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace sysalloc {
namespace os {
namespace {

constexpr size_t kMmapFrom = 128 * 1024;

size_t QueryPageSize() {
  long page = sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<size_t>(page) : 4096;
}

bool AddOverflows(size_t a, size_t b, size_t* sum) { return __builtin_add_overflow(a, b, sum); }

bool MapAligned(size_t size, size_t align, Region* out) {
  const size_t page = PageSize();
  size_t length;
  if (AddOverflows(size, page - 1, &length)) return false;
  length &= ~(page - 1);
  const size_t slack = align > page ? align - page : 0;
  size_t mapped;
  if (AddOverflows(length, slack, &mapped)) return false;

  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return false;

  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + align - 1) & ~(static_cast<uintptr_t>(align) - 1);
  const size_t head = aligned - start;
  const size_t tail = mapped - head - length;
  if (head != 0) munmap(raw, head);
  if (tail != 0) munmap(reinterpret_cast<void*>(aligned + length), tail);

  out->base = reinterpret_cast<void*>(aligned);
  out->ptr = out->base;
  out->size = size;
  out->reserved = length;
  out->source = Source::kMmap;
  out->zeroed = true;  // anonymous mappings are zero-filled (mmap(2))
  return true;
}

}  // namespace

size_t PageSize() {
  static const size_t page = QueryPageSize();
  return page;
}

size_t AllocationGranularity() { return PageSize(); }

Source SourceFor(size_t size, size_t align) {
  size_t total;
  if (AddOverflows(size, align, &total) || total >= kMmapFrom) return Source::kMmap;
  return Source::kPosixMemalign;
}

bool Allocate(size_t size, size_t align, Region* out) {
  if (SourceFor(size, align) == Source::kMmap) return MapAligned(size, align, out);

  // posix_memalign(3) wants a power-of-two multiple of sizeof(void*).
  const size_t effective = align < sizeof(void*) ? sizeof(void*) : align;
  void* p = nullptr;
  if (posix_memalign(&p, effective, size) != 0) return false;
  out->base = p;
  out->ptr = p;
  out->size = size;
  out->reserved = size;
  out->source = Source::kPosixMemalign;
  out->zeroed = false;
  return true;
}

void Release(const Region& region) {
  if (region.source == Source::kMmap) {
    munmap(region.base, region.reserved);
  } else {
    free(region.base);
  }
}

}  // namespace os
}  // namespace sysalloc
