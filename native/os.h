// The OS contract: everything sysalloc asks of the operating system, for the
// block allocator (blocks.cc) and the shim (shim/). One file per OS implements
// it: os_posix.cc, os_windows.cc, picked by binding.gyp. No Node or V8 headers:
// the shim calls this from any thread, before and after JavaScript runs.
//
// Terms. A mapping is a range MapAligned or Reserve returned; its pages are
// reserved (address space only), and committed pages are backed by memory on
// first touch and read as zero then. "Page-aligned" means p and size are
// multiples of PageSize(). Nothing here sets errno for its caller to read, and
// every function is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sysalloc {
namespace os {

// The page size: the unit of Commit, Decommit, Protect, Lock and Advise.
size_t PageSize();
// The alignment of every address a fresh mapping starts at: 64 KiB on Windows
// (GetSystemInfo), the page size on POSIX.
size_t AllocationGranularity();

// ---- regions: memory for one block, from the system allocator or a mapping

// The call that served a region. Stable numbers: they index per-source counters.
enum class Source : uint8_t {
  kPosixMemalign = 0,
  kMmap = 1,
  kAlignedMalloc = 2,
  kVirtualAlloc = 3,
};
constexpr int kSourceCount = 4;

enum class Access : uint8_t { kNone, kRead, kReadWrite };

struct Region {
  void* base = nullptr;   // what the OS returned; what Release gives back
  void* ptr = nullptr;    // aligned start handed to callers
  size_t size = 0;        // bytes asked for
  size_t reserved = 0;    // bytes the OS holds for this region (>= size)
  Source source = Source::kPosixMemalign;
  bool zeroed = false;    // every byte of [ptr, ptr + size) is known to be 0
  // A page-backed block of blocks::AllocatePages: its blocks::PageFlags, and the
  // access its pages have now. 0 for every other region.
  uint8_t page_flags = 0;
  Access access = Access::kReadWrite;
  size_t pages_offset = 0;  // page-backed: where its pages start, from base (the leading guard's length)
};

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

// Preconditions: size > 0; align a power of two. Returns false, leaving *out
// untouched, when the OS refuses or size + align overflows. A mapped region
// (kMmap, kVirtualAlloc) is a mapping: the calls below apply to it.
bool Allocate(size_t size, size_t align, Region* out);

// Frees with the call matching region.source. Precondition: region came from
// Allocate and is released once. Never fails.
void Release(const Region& region);

// ---- mappings: address space and pages

// size bytes, readable and writable, committed, at an address X with
// (X + offset) % align == 0. Preconditions: size > 0 and page-aligned; align a
// power of two, at least AllocationGranularity(); offset < align, page-aligned.
// nullptr when the OS refuses or the sizes overflow.
void* MapAligned(size_t size, size_t align, size_t offset);

// size bytes of address space, inaccessible and uncommitted, at an address
// aligned to AllocationGranularity(). Precondition: size > 0, page-aligned.
// nullptr when the OS refuses.
void* Reserve(size_t size);

// Gives a mapping back. Precondition: [p, p + size) is exactly one range
// MapAligned or Reserve returned (Windows releases whole reservations only).
void Unmap(void* p, size_t size);

// Makes [p, p + size) committed, readable and writable; pages decommitted
// before read as zero. Preconditions: page-aligned, inside one mapping. false
// when the OS refuses (commit charge); the range is then unchanged.
bool Commit(void* p, size_t size);

// Gives the memory behind [p, p + size) back to the OS, keeping the addresses
// reserved; Commit must succeed before the range is touched again. Never fails.
// Preconditions: page-aligned, inside one mapping.
void Decommit(void* p, size_t size);

// Extends the mapping that ends at p + old_size to end at p + new_size without
// moving it, when the addresses after it are free; the new pages are committed
// and zero. Preconditions: p + old_size ends a mapping; both sizes page-aligned,
// new_size > old_size. false otherwise (always on Windows and macOS).
bool GrowInPlace(void* p, size_t old_size, size_t new_size);

// Sets the access of committed pages. Preconditions: page-aligned, inside one
// mapping, committed. false when the OS refuses.
bool Protect(void* p, size_t size, Access access);

// Keeps committed pages in memory (never paged out) until Unlock. Preconditions:
// page-aligned, inside one mapping, committed. false when the OS refuses, most
// often past RLIMIT_MEMLOCK (POSIX) or the working-set minimum (Windows).
bool Lock(void* p, size_t size);
bool Unlock(void* p, size_t size);

enum class Advice : uint8_t {
  kWillNeed,  // read the pages in ahead of use (MADV_WILLNEED, PrefetchVirtualMemory)
  kNoDump,    // leave the pages out of core dumps (Linux MADV_DONTDUMP)
  kDump,      // undo kNoDump (Linux MADV_DODUMP)
  kHugePage,  // back the range with transparent huge pages (Linux MADV_HUGEPAGE)
};

// A hint about committed pages; their contents stay. Preconditions: page-aligned,
// inside one mapping, committed. false when the OS refuses or has no such
// advice (kNoDump, kDump and kHugePage outside Linux): the caller decides whether that matters.
bool Advise(void* p, size_t size, Advice advice);

// Zeroes [p, p + size) with stores the compiler may not remove as dead
// (RtlSecureZeroMemory; memset behind a compiler barrier elsewhere).
void SecureZero(void* p, size_t size);

// The size of one huge (large) page: 2 MiB on x86-64 Linux, GetLargePageMinimum()
// on Windows (0 when the OS has none).
size_t HugePageSize();

// Windows only: size bytes (a multiple of HugePageSize()) of committed, locked
// large pages (VirtualAlloc MEM_LARGE_PAGES), which needs SeLockMemoryPrivilege;
// Unmap gives them back. nullptr when the privilege is not held, the OS refuses,
// or on POSIX, where transparent huge pages come from Advise(kHugePage) instead.
void* MapLargePages(size_t size);

// Bytes of [p, p + size) the kernel backs with huge pages now: on Linux the
// AnonHugePages of the mapping (VMA) holding p in /proc/self/smaps (all of it
// when the VMA is larger than the range: the kernel accounts per VMA); 0 when it
// cannot be read, and elsewhere.
size_t HugePageBytes(void* p, size_t size);

// The most bytes Lock may hold: RLIMIT_MEMLOCK's soft limit (POSIX; -1 when
// unlimited), the process's minimum working-set size (Windows, where VirtualLock
// is bounded by it).
int64_t LockLimit();

// ---- the system allocator, for pointers sysalloc did not issue

// free(3), and the usable size the system allocator reports (malloc_usable_size,
// malloc_size, _msize). Precondition: p is a live block of the C runtime's malloc.
void SystemFree(void* p);
size_t SystemUsableSize(void* p);

// ---- code addresses

// Names the code at address for a report: "module(symbol+0xoffset)" where the
// OS knows an exported symbol covering it, else "module+0xoffset" (module: the
// file's base name), else "0xaddress". Writes at most size bytes, NUL included;
// returns the length written. Takes the loader's lock: not for signal handlers.
size_t DescribeCode(const void* address, char* out, size_t size);

// ---- threads

// Makes on_exit(value) run when a thread ends whose SetThreadValue gave a
// non-null value. Call once before the first SetThreadValue; false when the OS
// has no slot left (then SetThreadValue must not be called).
bool InitThreadExit(void (*on_exit)(void*));
void SetThreadValue(void* value);

// ---- the process

// Process-wide agreement on one pointer under a name, across every copy of
// sysalloc loaded in the process (each with hidden symbols, loaded RTLD_LOCAL):
// the first call in the process with a name publishes candidate, and every
// call with that name, from any copy and any thread, returns the pointer
// published first. Precondition: candidate lives as long as the process and
// lies inside a loaded module. Returns candidate when no agreement is possible.
const void* Rendezvous(const char* name, const void* candidate);

}  // namespace os
}  // namespace sysalloc
