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
// large blocks as cheap as heap memory. Oldest first; taken newest first.
class RegionCache {
 public:
  bool Take(size_t size, size_t align, os::Region* out) {
    const os::Source source = os::SourceFor(size, align);
    if (!Cacheable(source)) return false;
    const size_t length = PageRound(size);
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = count_; i-- > 0;) {
      const os::Region& r = entries_[i];
      if (r.source == source && r.reserved == length &&
          (reinterpret_cast<uintptr_t>(r.ptr) & (align - 1)) == 0) {
        *out = r;
        out->size = size;
        out->zeroed = false;
        bytes_ -= r.reserved;
        RemoveAt(i);
        return true;
      }
    }
    return false;
  }

  // Keeps the region, or returns false when it is not worth keeping. Evicted
  // regions are released outside the lock.
  bool Put(const os::Region& region) {
    if (!Cacheable(region.source) || region.reserved > kCacheLargestRegion) return false;
    os::Region evicted[kCacheEntries];
    size_t evicted_count = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (count_ > 0 && (count_ == kCacheEntries || bytes_ + region.reserved > kCacheBytes)) {
        evicted[evicted_count++] = entries_[0];
        bytes_ -= entries_[0].reserved;
        RemoveAt(0);
      }
      entries_[count_++] = region;
      bytes_ += region.reserved;
    }
    for (size_t i = 0; i < evicted_count; ++i) ReleaseToOs(evicted[i]);
    return true;
  }

  void Trim() {
    os::Region all[kCacheEntries];
    size_t n;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      n = count_;
      for (size_t i = 0; i < n; ++i) all[i] = entries_[i];
      count_ = 0;
      bytes_ = 0;
    }
    for (size_t i = 0; i < n; ++i) ReleaseToOs(all[i]);
  }

  void Count(uint64_t* blocks, uint64_t* bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    *blocks = count_;
    *bytes = bytes_;
  }

  static void ReleaseToOs(const os::Region& region) {
    os::Release(region);
    os_releases[static_cast<int>(region.source)].fetch_add(1, std::memory_order_relaxed);
  }

 private:
  static bool Cacheable(os::Source source) {
    return source == os::Source::kMmap || source == os::Source::kVirtualAlloc;
  }
  static size_t PageRound(size_t size) {
    const size_t page = os::PageSize();
    return (size + page - 1) & ~(page - 1);
  }
  void RemoveAt(size_t i) {
    for (; i + 1 < count_; ++i) entries_[i] = entries_[i + 1];
    --count_;
  }

  std::mutex mutex_;
  os::Region entries_[kCacheEntries];
  size_t count_ = 0;
  size_t bytes_ = 0;
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
