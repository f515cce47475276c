#include "blocks.h"

#include <atomic>
#include <cstring>
#include <mutex>

#include "fault.h"

namespace sysalloc {
namespace blocks {
namespace {

std::atomic<uint64_t> live_blocks{0};
std::atomic<uint64_t> live_bytes{0};
std::atomic<uint64_t> os_allocations[os::kSourceCount];
std::atomic<uint64_t> os_releases[os::kSourceCount];
std::atomic<uint64_t> cache_hits{0};
std::atomic<uint64_t> quarantined_blocks{0};
std::atomic<uint64_t> quarantined_bytes{0};
std::atomic<uint64_t> abandoned_blocks{0};
std::atomic<uint64_t> abandoned_bytes{0};

// Regions the OS mapped for us (mmap, VirtualAlloc) cost page faults and zeroing
// on every fresh use; keeping a few released ones mapped makes a steady stream of
// large blocks as cheap as heap memory (policy: released_cache.h).
class RegionCache {
 public:
  bool Take(size_t size, size_t align, os::Region* out) {
    const os::Source source = os::SourceFor(size, align);
    if (!Cacheable(source)) return false;
    const size_t length = PageRound(size);
    Entry taken;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const bool found = cache_.Take(
          [&](const Entry& e) {
            return e.region.source == source && e.region.reserved == length &&
                   (reinterpret_cast<uintptr_t>(e.region.ptr) & (align - 1)) == 0;
          },
          &taken);
      if (!found) return false;
    }
    *out = taken.region;
    out->size = size;
    out->zeroed = false;
    return true;
  }

  // Keeps the region, or returns false when it is not worth keeping. Evicted
  // regions are released outside the lock.
  bool Put(const os::Region& region) {
    if (!Cacheable(region.source) || !Cache::Admits(region.reserved)) return false;
    Entry evicted[CachePolicy::kEntries];
    size_t evicted_count;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      evicted_count = cache_.Put(Entry{region}, evicted);
    }
    for (size_t i = 0; i < evicted_count; ++i) ReleaseToOs(evicted[i].region);
    return true;
  }

  void Trim() {
    Entry all[CachePolicy::kEntries];
    size_t n;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      n = cache_.TakeAll(all);
    }
    for (size_t i = 0; i < n; ++i) ReleaseToOs(all[i].region);
  }

  void Count(uint64_t* blocks, uint64_t* bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    *blocks = cache_.count();
    *bytes = cache_.bytes();
  }

  static void ReleaseToOs(const os::Region& region) {
    os::Release(region);
    os_releases[static_cast<int>(region.source)].fetch_add(1, std::memory_order_relaxed);
  }

 private:
  struct Entry {
    os::Region region;
    size_t Bytes() const { return region.reserved; }
  };
  using Cache = ReleasedCache<Entry>;

  static bool Cacheable(os::Source source) {
    return source == os::Source::kMmap || source == os::Source::kVirtualAlloc;
  }
  static size_t PageRound(size_t size) {
    const size_t page = os::PageSize();
    return (size + page - 1) & ~(page - 1);
  }

  std::mutex mutex_;
  Cache cache_;
};

RegionCache& Cache() {
  static RegionCache* cache = new RegionCache();  // never destroyed: finalizers may run at exit
  return *cache;
}

}  // namespace

bool Allocate(size_t size, size_t align, bool zero, os::Region* out) {
  os::Region region;
  if (Cache().Take(size, align, &region)) {
    cache_hits.fetch_add(1, std::memory_order_relaxed);
  } else {
    if (fault::Inject() || !os::Allocate(size, align, &region)) return false;
    os_allocations[static_cast<int>(region.source)].fetch_add(1, std::memory_order_relaxed);
  }
  if (zero && !region.zeroed) {
    std::memset(region.ptr, 0, size);
    region.zeroed = true;
  }
  live_blocks.fetch_add(1, std::memory_order_relaxed);
  live_bytes.fetch_add(size, std::memory_order_relaxed);
  *out = region;
  return true;
}

void Release(const os::Region& region) {
  live_blocks.fetch_sub(1, std::memory_order_relaxed);
  live_bytes.fetch_sub(region.size, std::memory_order_relaxed);
  if (!Cache().Put(region)) RegionCache::ReleaseToOs(region);
}

void Retire(const os::Region& region) {
  live_blocks.fetch_sub(1, std::memory_order_relaxed);
  live_bytes.fetch_sub(region.size, std::memory_order_relaxed);
  quarantined_blocks.fetch_add(1, std::memory_order_relaxed);
  quarantined_bytes.fetch_add(region.size, std::memory_order_relaxed);
}

void ReleaseRetired(const os::Region& region) {
  quarantined_blocks.fetch_sub(1, std::memory_order_relaxed);
  quarantined_bytes.fetch_sub(region.size, std::memory_order_relaxed);
  if (!Cache().Put(region)) RegionCache::ReleaseToOs(region);
}

void Abandon(const os::Region& region) {
  live_blocks.fetch_sub(1, std::memory_order_relaxed);
  live_bytes.fetch_sub(region.size, std::memory_order_relaxed);
  abandoned_blocks.fetch_add(1, std::memory_order_relaxed);
  abandoned_bytes.fetch_add(region.size, std::memory_order_relaxed);
}

void TrimCache() { Cache().Trim(); }

Stats GetStats() {
  Stats s{};
  s.live_blocks = live_blocks.load(std::memory_order_relaxed);
  s.live_bytes = live_bytes.load(std::memory_order_relaxed);
  for (int i = 0; i < os::kSourceCount; ++i) {
    s.os_allocations[i] = os_allocations[i].load(std::memory_order_relaxed);
    s.os_releases[i] = os_releases[i].load(std::memory_order_relaxed);
  }
  s.cache_hits = cache_hits.load(std::memory_order_relaxed);
  s.quarantined_blocks = quarantined_blocks.load(std::memory_order_relaxed);
  s.quarantined_bytes = quarantined_bytes.load(std::memory_order_relaxed);
  s.abandoned_blocks = abandoned_blocks.load(std::memory_order_relaxed);
  s.abandoned_bytes = abandoned_bytes.load(std::memory_order_relaxed);
  Cache().Count(&s.cached_blocks, &s.cached_bytes);
  return s;
}

}  // namespace blocks
}  // namespace sysalloc
