// The C API of include/sysalloc.h over the parts of the shim, and the table.
#include <cerrno>
#include <cstring>

#include "include/sysalloc.h"
#include "os.h"
#include "shim/granule_map.h"
#include "shim/large.h"
#include "shim/thread_cache.h"
#include "shim/tracking.h"

namespace sysalloc {
namespace shim {
namespace {

// Precondition: size <= kMaxRequest.
inline void* Allocate(ThreadCache* tc, size_t size, bool zero) {
  if (size > kSmallMax) return LargeAlloc(size, kHeader, zero);
  const unsigned c = ClassOf(size);
  const uintptr_t b = PopBlock(tc, c);
  if (b == 0) return nullptr;
  Header* h = HeaderAt(b);
  h->size = size;
  h->tag = kLive;
  void* p = reinterpret_cast<void*>(b + kHeader);
  if (zero) std::memset(p, 0, size);
  return p;
}

// Precondition: align a power of two above 16, size <= kMaxRequest.
void* AllocateAligned(ThreadCache* tc, size_t align, size_t size) {
  const size_t need = size + align - kHeader;
  if (align > kSmallMax || need > kSmallMax) return LargeAlloc(size, align, false);
  const unsigned c = ClassOf(need);
  const uintptr_t b = PopBlock(tc, c);
  if (b == 0) return nullptr;
  const uintptr_t user = b + kHeader;
  const uintptr_t p = (user + align - 1) & ~(static_cast<uintptr_t>(align) - 1);
  const uint64_t d = p - user;
  HeaderAt(b)->size = size;
  if (d == 0) {
    HeaderAt(b)->tag = kLive;
  } else {
    HeaderAt(b)->tag = kAligned | d;
    HeaderAt(p - kHeader)->size = size;
    HeaderAt(p - kHeader)->tag = kInner | d;
  }
  return reinterpret_cast<void*>(p);
}

inline void Release(ThreadCache* tc, Where where, const Found& f, uintptr_t p) {
  if (where == kSmall) PushBlock(tc, f.segment->cls, f.block);
  else LargeFree(f.segment, p);
}

// Resizes a live block in place when it can; true if it did.
bool ResizeInPlace(Where where, const Found& f, uintptr_t p, size_t size) {
  if (where == kSmall) {
    const uint64_t d = p - (f.block + kHeader);
    const unsigned c = f.segment->cls;
    if (size + d > ClassSize(c) || ClassOf(size + d) != c) return false;
    HeaderAt(p - kHeader)->size = size;
    HeaderAt(f.block)->size = size;
    return true;
  }
  return LargeResize(f.segment, p, size);
}

void ForeignFree(void* p) {
  os::SystemFree(p);
  g_foreign_frees.fetch_add(1, std::memory_order_relaxed);
}

void InvalidFree() { g_invalid_frees.fetch_add(1, std::memory_order_relaxed); }

// malloc and calloc: NULL with ENOMEM past kMaxRequest or when the OS refuses.
void* AllocateCounted(size_t size, bool zero) {
  if (size > kMaxRequest) {
    errno = ENOMEM;
    return nullptr;
  }
  ThreadCache* tc = Cache();
  void* p = Allocate(tc, size, zero);
  if (p == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  Count(tc, &Counters::allocations);
  Live(tc, size);
  return p;
}

// aligned_alloc past the checks: alignment a power of two above kHeader, the sum within kMaxRequest.
void* AllocateAlignedCounted(size_t alignment, size_t size) {
  ThreadCache* tc = Cache();
  void* p = AllocateAligned(tc, alignment, size);
  if (p == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  Count(tc, &Counters::allocations);
  Live(tc, size);
  return p;
}

inline void FreeUntracked(void* ptr) {
  const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  Found f{};
  const Where where = Locate(p, &f);
  if (where == kNotOurs) {
    ForeignFree(ptr);
    return;
  }
  if (where == kInvalid) {
    InvalidFree();
    return;
  }
  ThreadCache* tc = Cache();
  Release(tc, where, f, p);
  Count(tc, &Counters::frees);
  Live(tc, 0 - f.size);
}

inline void* ReallocUntracked(void* ptr, size_t size) {
  if (ptr == nullptr) return AllocateCounted(size, false);
  const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  Found f{};
  const Where where = Locate(p, &f);
  if (where == kInvalid) {
    InvalidFree();
    errno = EINVAL;
    return nullptr;
  }
  if (size == 0) {
    FreeUntracked(ptr);
    return nullptr;
  }
  if (size > kMaxRequest) {
    errno = ENOMEM;
    return nullptr;
  }
  ThreadCache* tc = Cache();
  if (where == kNotOurs) {
    // The block moves into the shim: copy what the system allocator says it holds.
    void* q = Allocate(tc, size, false);
    if (q == nullptr) {
      errno = ENOMEM;
      return nullptr;
    }
    const size_t old = sysalloc::os::SystemUsableSize(ptr);
    std::memcpy(q, ptr, old < size ? old : size);
    ForeignFree(ptr);
    Count(tc, &Counters::allocations);
    Live(tc, size);
    return q;
  }
  if (!ResizeInPlace(where, f, p, size)) {
    void* q = Allocate(tc, size, false);
    if (q == nullptr) {
      errno = ENOMEM;
      return nullptr;
    }
    std::memcpy(q, ptr, f.size < size ? f.size : size);
    Release(tc, where, f, p);
    ptr = q;
  }
  Count(tc, &Counters::reallocations);
  Live(tc, size - f.size);
  return ptr;
}

SYSALLOC_NOINLINE void* ReallocTracked(void* ptr, size_t size, const void* caller) {
  if (ptr == nullptr) return TrackAllocation(AllocateCounted(size, false), size, caller);
  if (size == 0 && TrackFree(ptr, caller)) return nullptr;
  if (size != 0 && size <= kMaxRequest) {
    bool handled = false;
    void* q = TrackRealloc(ptr, size, caller, &handled);
    if (handled) return q;
  }
  // Not recorded: a block from before debug mode, or the system allocator's.
  return TrackAllocation(ReallocUntracked(ptr, size), size, caller);
}

}  // namespace

void* AllocateUncounted(size_t size) { return Allocate(Cache(), size, false); }

void ReleaseUncounted(void* ptr) {
  const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  Found f{};
  const Where where = Locate(p, &f);
  if (where == kSmall || where == kLargeBlock) Release(Cache(), where, f, p);
}
}  // namespace shim
}  // namespace sysalloc

using namespace sysalloc::shim;

extern "C" {

void* sysalloc_malloc(size_t size) SYSALLOC_NOEXCEPT {
  if (SYSALLOC_UNLIKELY(Tracking())) return TrackAllocation(AllocateCounted(size, false), size, SYSALLOC_RETURN_ADDRESS());
  return AllocateCounted(size, false);
}

void* sysalloc_calloc(size_t count, size_t size) SYSALLOC_NOEXCEPT {
  size_t total;
  if (sysalloc::port::MulOverflows(count, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (SYSALLOC_UNLIKELY(Tracking())) return TrackAllocation(AllocateCounted(total, true), total, SYSALLOC_RETURN_ADDRESS());
  return AllocateCounted(total, true);
}

void* sysalloc_aligned_alloc(size_t alignment, size_t size) SYSALLOC_NOEXCEPT {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  void* p;
  if (alignment <= kHeader) {
    p = AllocateCounted(size, false);
  } else if (size > kMaxRequest || alignment > kMaxRequest - size) {
    errno = ENOMEM;
    return nullptr;
  } else {
    p = AllocateAlignedCounted(alignment, size);
  }
  if (SYSALLOC_UNLIKELY(Tracking())) return TrackAllocation(p, size, SYSALLOC_RETURN_ADDRESS());
  return p;
}

void sysalloc_free(void* ptr) SYSALLOC_NOEXCEPT {
  if (ptr == nullptr) return;
  if (SYSALLOC_UNLIKELY(Tracking()) && TrackFree(ptr, SYSALLOC_RETURN_ADDRESS())) return;
  FreeUntracked(ptr);
}

void* sysalloc_realloc(void* ptr, size_t size) SYSALLOC_NOEXCEPT {
  if (SYSALLOC_UNLIKELY(Tracking())) return ReallocTracked(ptr, size, SYSALLOC_RETURN_ADDRESS());
  return ReallocUntracked(ptr, size);
}

size_t sysalloc_usable_size(void* ptr) SYSALLOC_NOEXCEPT {
  if (ptr == nullptr) return 0;
  if (SYSALLOC_UNLIKELY(Tracking()) && IsHeld(ptr)) return 0;
  Found f{};
  switch (Locate(reinterpret_cast<uintptr_t>(ptr), &f)) {
    case kNotOurs: return sysalloc::os::SystemUsableSize(ptr);
    case kInvalid: return 0;
    default: return f.size;
  }
}

static const struct sysalloc_api kApi = {
    SYSALLOC_API_VERSION, sizeof(struct sysalloc_api), sysalloc_malloc,      sysalloc_calloc,    sysalloc_realloc,
    sysalloc_free,        sysalloc_aligned_alloc,      sysalloc_usable_size, sysalloc_get_stats,
};

const struct sysalloc_api* sysalloc_get_api(void) SYSALLOC_NOEXCEPT { return &kApi; }

}  // extern "C"
