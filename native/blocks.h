// Block allocation policy over the OS contract: exact counters, and a bounded
// cache that keeps recently released large regions mapped for reuse.
// Thread-safe; no Node or V8 headers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "os.h"

namespace sysalloc {
namespace blocks {

// Bounds of the large-region cache.
constexpr size_t kCacheEntries = 16;
constexpr size_t kCacheBytes = 64u << 20;
constexpr size_t kCacheLargestRegion = kCacheBytes / 4;

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

// Returns every cached region to the OS.
void TrimCache();

struct Stats {
  uint64_t live_blocks;
  uint64_t live_bytes;                      // sum of the sizes asked for
  uint64_t os_allocations[os::kSourceCount];  // OS calls, per source
  uint64_t os_releases[os::kSourceCount];     // matching release calls, per source
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
