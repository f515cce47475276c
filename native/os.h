// The OS contract: everything sysalloc asks of the operating system.
// One implementation per OS (os_posix.cc, os_windows.cc), picked by binding.gyp.
// No Node or V8 headers here: this layer builds and runs without Node.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sysalloc {
namespace os {

// The call that served a region. Stable numbers: they index per-source counters.
enum class Source : uint8_t {
  kPosixMemalign = 0,
  kMmap = 1,
  kAlignedMalloc = 2,
  kVirtualAlloc = 3,
};
constexpr int kSourceCount = 4;

struct Region {
  void* base = nullptr;   // what the OS returned; what Release gives back
  void* ptr = nullptr;    // aligned start handed to callers
  size_t size = 0;        // bytes asked for
  size_t reserved = 0;    // bytes the OS holds for this region (>= size)
  Source source = Source::kPosixMemalign;
  bool zeroed = false;    // every byte of [ptr, ptr + size) is known to be 0
};

size_t PageSize();
// The alignment every address VirtualAlloc returns has (64 KiB); the page size on POSIX.
size_t AllocationGranularity();

// The call Allocate uses for a region of this size and alignment.
Source SourceFor(size_t size, size_t align);

inline const char* SourceName(Source source) {
  switch (source) {
    case Source::kPosixMemalign: return "posix_memalign";
    case Source::kMmap: return "mmap";
    case Source::kAlignedMalloc: return "_aligned_malloc";
    case Source::kVirtualAlloc: return "VirtualAlloc";
  }
  return "unknown";
}

// Preconditions: size > 0; align is a power of two. Returns false, leaving *out
// untouched, when the OS refuses or size + align overflows.
bool Allocate(size_t size, size_t align, Region* out);

// Frees with the call matching region.source. Never fails.
void Release(const Region& region);

}  // namespace os
}  // namespace sysalloc
