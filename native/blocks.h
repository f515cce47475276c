// Block allocation policy over the OS contract: exact counters, and a bounded
// cache that keeps recently released large regions mapped for reuse.
// Thread-safe; no Node or V8 headers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "os.h"
#include "released_cache.h"

namespace sysalloc {
namespace blocks {

// Bounds of the large-region cache: the shared policy of released_cache.h.
constexpr size_t kCacheEntries = CachePolicy::kEntries;
constexpr size_t kCacheBytes = CachePolicy::kBytes;
constexpr size_t kCacheLargestRegion = CachePolicy::kLargest;

// Preconditions: size > 0, align a power of two. With zero set, every byte of
// [out->ptr, out->ptr + size) is 0 on return. Returns false when the OS refuses.
bool Allocate(size_t size, size_t align, bool zero, os::Region* out);

// Takes back a region Allocate returned, exactly once.
void Release(const os::Region& region);

// Quarantine, for the binding: Retire counts a region as freed but keeps it out of
// the cache and mapped; ReleaseRetired then takes it back as Release would.
void Retire(const os::Region& region);
void ReleaseRetired(const os::Region& region);

// Counts a region as freed but never takes it back: memory whose owner cannot be
// proven when an environment ends (moved to an ArrayBuffer that may live on in
// another thread). It stays allocated for the life of the process.
void Abandon(const os::Region& region);

// Counts a block of size bytes in memory the JavaScript runtime allocated (the
// binding's fallback where external buffers are refused) as live, and as freed.
void CountRuntime(size_t size);
void UncountRuntime(size_t size);
// A freed runtime block held by the binding's quarantine until the turn ends:
// counted in quarantined_blocks/bytes meanwhile, as Retire counts a region.
void QuarantineRuntime(size_t size);
void ReleaseRuntimeQuarantined(size_t size);

// Returns every cached region to the OS.
void TrimCache();

// ---- page-backed blocks: a mapping of their own, never cached
//
// Layout: [leading guard][pages][guard page] with guards, [pages] without. The
// pages start at an address aligned to A = max(align, page size) (2 MiB with huge
// pages on Linux); the leading guard is A bytes of inaccessible address space (a
// page when align <= page size), never backed by memory. With guards the block is placed as late as its alignment allows, so
// that it ends at the trailing guard when size is a multiple of align, and starts
// at the leading guard too when size is also a multiple of the page size.

// What a page-backed region got (os::Region::page_flags).
enum PageFlags : uint8_t {
  kPaged = 1,      // set on every region AllocatePages returned
  kGuarded = 2,    // inaccessible guard pages on both sides
  kLocked = 4,     // Lock held on the pages
  kWipe = 8,       // zeroed (os::SecureZero) before release, and at Retire
  kNoDump = 16,    // Advise(kNoDump) accepted
  kHugePages = 32, // huge pages asked for and accepted (Linux: advised; Windows: large pages mapped)
  kDebug = 64,     // debug mode: its memory goes to the debug quarantine when freed from JavaScript
};

struct PageRequest {
  bool guard = false;
  bool lock = false;
  bool wipe = false;
  bool dont_dump = false;
  bool huge = false;
  bool debug = false;
};

enum class PageStatus { kOk, kNoMemory, kLockRefused };

// Preconditions: size > 0, align a power of two. The bytes read as zero. A refused
// guard or mapping is kNoMemory, a refused Lock kLockRefused (nothing is kept
// then); a refused dontDump or huge-page advice only leaves its flag unset.
PageStatus AllocatePages(size_t size, size_t align, const PageRequest& request, os::Region* out);

// The pages that hold a page-backed block (between its guards).
char* PagesStart(const os::Region& region);
size_t PagesLength(const os::Region& region);

// Sets the access of a page-backed block's pages; false when the OS refuses.
bool ProtectPages(os::Region* region, os::Access access);

// Whether the kernel backs a page-backed block with huge pages now.
bool HugePagesBacked(const os::Region& region);

// The debug quarantine (native/debug): a retired region with kDebug is offered to
// take(region) instead of being released; true means it keeps the region and
// gives it back later with ReleaseQuarantined. forget(region) is told when a
// kDebug region is released any other way (a finalizer). Set once, before use.
void SetDebugHooks(bool (*take)(const os::Region& region), void (*forget)(const os::Region& region));
void ReleaseQuarantined(const os::Region& region);

#ifdef SYSALLOC_FAULT_INJECTION
// Test builds: hook(region) runs just before a page-backed region is unlocked and
// unmapped, its pages still readable (wiped already when it had kWipe).
void SetPagesReleaseHook(void (*hook)(const os::Region& region));
#endif

struct Stats {
  uint64_t live_blocks;
  uint64_t live_bytes;                      // sum of the sizes asked for
  uint64_t os_allocations[os::kSourceCount];  // OS calls, per source
  uint64_t os_releases[os::kSourceCount];     // matching release calls, per source
  uint64_t runtime_allocations;  // CountRuntime: blocks in the runtime's memory
  uint64_t runtime_releases;
  uint64_t cache_hits;
  uint64_t cached_blocks;
  uint64_t cached_bytes;
  uint64_t quarantined_blocks;  // freed, not yet reusable (Retire)
  uint64_t quarantined_bytes;
  uint64_t abandoned_blocks;  // Abandon: kept for the life of the process
  uint64_t abandoned_bytes;
};
Stats GetStats();

}  // namespace blocks
}  // namespace sysalloc
