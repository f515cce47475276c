// Windows: _aligned_malloc for small regions, VirtualAlloc for large ones.
//
// VirtualAlloc hands out whole pages at addresses aligned to the allocation
// granularity (64 KiB, GetSystemInfo), so it wastes up to 60 KiB of address space
// on a small block but serves large ones exactly and returns them to the system on
// VirtualFree. _aligned_malloc(3) sits on the CRT heap and must be released with
// _aligned_free, never free(). A region is large when its size or its alignment
// reaches the granularity.
#include "os.h"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <malloc.h>

namespace sysalloc {
namespace os {
namespace {

SYSTEM_INFO QuerySystemInfo() {
  SYSTEM_INFO info;
  GetSystemInfo(&info);
  return info;
}

const SYSTEM_INFO& Info() {
  static const SYSTEM_INFO info = QuerySystemInfo();
  return info;
}

bool AddOverflows(size_t a, size_t b, size_t* sum) { return __builtin_add_overflow(a, b, sum); }

void* ReserveCommit(void* at, size_t length) {
  return VirtualAlloc(at, length, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}

// Alignment beyond the granularity: find a free range large enough, release it
// and claim the aligned address inside it. Another thread can take that range in
// between, so retry a few times (the classic pre-VirtualAlloc2 technique).
void* ReserveCommitAligned(size_t length, size_t align) {
  size_t probe_length;
  if (AddOverflows(length, align, &probe_length)) return nullptr;
  for (int attempt = 0; attempt < 16; ++attempt) {
    void* probe = VirtualAlloc(nullptr, probe_length, MEM_RESERVE, PAGE_NOACCESS);
    if (probe == nullptr) return nullptr;
    const uintptr_t aligned =
        (reinterpret_cast<uintptr_t>(probe) + align - 1) & ~(static_cast<uintptr_t>(align) - 1);
    VirtualFree(probe, 0, MEM_RELEASE);
    void* p = ReserveCommit(reinterpret_cast<void*>(aligned), length);
    if (p != nullptr) return p;
  }
  return nullptr;
}

bool VirtualAllocate(size_t size, size_t align, Region* out) {
  const size_t page = PageSize();
  size_t length;
  if (AddOverflows(size, page - 1, &length)) return false;
  length &= ~(page - 1);
  void* p = align <= AllocationGranularity() ? ReserveCommit(nullptr, length)
                                             : ReserveCommitAligned(length, align);
  if (p == nullptr) return false;
  out->base = p;
  out->ptr = p;
  out->size = size;
  out->reserved = length;
  out->source = Source::kVirtualAlloc;
  out->zeroed = true;  // committed pages are zero-initialized (VirtualAlloc docs)
  return true;
}

}  // namespace

size_t PageSize() { return Info().dwPageSize; }

size_t AllocationGranularity() { return Info().dwAllocationGranularity; }

Source SourceFor(size_t size, size_t align) {
  const size_t granularity = AllocationGranularity();
  return size >= granularity || align >= granularity ? Source::kVirtualAlloc
                                                     : Source::kAlignedMalloc;
}

bool Allocate(size_t size, size_t align, Region* out) {
  if (SourceFor(size, align) == Source::kVirtualAlloc) return VirtualAllocate(size, align, out);

  void* p = _aligned_malloc(size, align < sizeof(void*) ? sizeof(void*) : align);
  if (p == nullptr) return false;
  out->base = p;
  out->ptr = p;
  out->size = size;
  out->reserved = size;
  out->source = Source::kAlignedMalloc;
  out->zeroed = false;
  return true;
}

void Release(const Region& region) {
  if (region.source == Source::kVirtualAlloc) {
    VirtualFree(region.base, 0, MEM_RELEASE);
  } else {
    _aligned_free(region.base);
  }
}

}  // namespace os
}  // namespace sysalloc
