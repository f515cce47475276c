#include "blocks.h"

#include <atomic>
#include <cstdint>
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
std::atomic<uint64_t> runtime_allocations{0};
std::atomic<uint64_t> runtime_releases{0};
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

// ---- page-backed blocks

#ifdef _WIN32
constexpr os::Source kPagesSource = os::Source::kVirtualAlloc;
#else
constexpr os::Source kPagesSource = os::Source::kMmap;
#endif

#ifdef SYSALLOC_FAULT_INJECTION
void (*g_pages_release_hook)(const os::Region&) = nullptr;
#endif

std::atomic<bool (*)(const os::Region&)> g_debug_take{nullptr};
std::atomic<void (*)(const os::Region&)> g_debug_forget{nullptr};

bool RoundUp(size_t size, size_t unit, size_t* out) {
  size_t sum;
  if (size > SIZE_MAX - (unit - 1)) return false;
  sum = size + unit - 1;
  *out = sum & ~(unit - 1);
  return true;
}

size_t TrailingGuard(const os::Region& region) { return (region.page_flags & kGuarded) ? os::PageSize() : 0; }

// Makes the pages readable and writable again and zeroes them, for a region with kWipe.
void WipePages(const os::Region& region) {
  if (!(region.page_flags & kWipe)) return;
  if (region.access != os::Access::kReadWrite) os::Protect(PagesStart(region), PagesLength(region), os::Access::kReadWrite);
  os::SecureZero(PagesStart(region), PagesLength(region));
}

void ReleasePagesToOs(const os::Region& region) {
#ifdef SYSALLOC_FAULT_INJECTION
  if (g_pages_release_hook != nullptr) g_pages_release_hook(region);
#endif
  if (region.page_flags & kLocked) os::Unlock(PagesStart(region), PagesLength(region));
  os::Unmap(region.base, region.reserved);
  os_releases[static_cast<int>(region.source)].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

char* PagesStart(const os::Region& region) { return static_cast<char*>(region.base) + region.pages_offset; }

size_t PagesLength(const os::Region& region) {
  return region.reserved - region.pages_offset - TrailingGuard(region);
}

PageStatus AllocatePages(size_t size, size_t align, const PageRequest& request, os::Region* out) {
  const size_t page = os::PageSize();
  const size_t granularity = os::AllocationGranularity();
  uint8_t flags = kPaged;
  char* base = nullptr;
  size_t length = 0;  // the pages, without guards
  size_t guard = 0;
#ifdef _WIN32
  // Large pages: committed and locked by the OS, in one piece: not with guards.
  const size_t large = os::HugePageSize();
  if (request.huge && !request.guard && large != 0 && align <= large && RoundUp(size, large, &length) &&
      !fault::Inject()) {
    base = static_cast<char*>(os::MapLargePages(length));
    if (base != nullptr) flags |= kHugePages;
  }
  const bool advise_huge = false;
#else
  const bool advise_huge = request.huge && os::HugePageSize() != 0;
#endif
  size_t lead = 0;  // the leading guard: a page, or as much as the pages' alignment
  if (base == nullptr) {
    const size_t unit = advise_huge ? os::HugePageSize() : page;
    if (!RoundUp(size, unit, &length)) return PageStatus::kNoMemory;
    const size_t at = align > unit ? align : unit;  // where the pages start
    guard = request.guard ? page : 0;
    lead = request.guard ? at : 0;
    // The mapping starts aligned and the pages a whole alignment later: no mapping
    // at an offset, which Windows would round down to its allocation granularity.
    if (length > SIZE_MAX - lead - guard) return PageStatus::kNoMemory;
    if (fault::Inject()) return PageStatus::kNoMemory;
    base = static_cast<char*>(os::MapAligned(lead + length + guard, at > granularity ? at : granularity, 0));
    if (base == nullptr) return PageStatus::kNoMemory;
  }
  os::Region region;
  region.base = base;
  region.reserved = lead + length + guard;
  region.pages_offset = lead;
  region.size = size;
  region.source = kPagesSource;
  region.zeroed = true;
  if (guard != 0) {
    flags |= kGuarded;
    if (fault::Inject() || !os::Protect(base, lead, os::Access::kNone) ||
        !os::Protect(base + lead + length, guard, os::Access::kNone)) {
      os::Unmap(base, region.reserved);
      return PageStatus::kNoMemory;
    }
  }
  char* pages = base + lead;
  if (advise_huge && !fault::Inject() && os::Advise(pages, length, os::Advice::kHugePage)) {
    flags |= kHugePages;
    // Fault every huge page in now, while the advice decides how it is backed.
    const size_t step = os::HugePageSize();
    for (size_t off = 0; off < length; off += step) static_cast<volatile char*>(pages)[off] = 0;
  }
  if (request.dont_dump && !fault::Inject() && os::Advise(pages, length, os::Advice::kNoDump)) flags |= kNoDump;
  if (request.lock) {
    if (fault::Inject() || !os::Lock(pages, length)) {
      os::Unmap(base, region.reserved);
      return PageStatus::kLockRefused;
    }
    flags |= kLocked;
  }
  if (request.wipe) flags |= kWipe;
  if (request.debug) flags |= kDebug;
  region.page_flags = flags;
  // As late as the alignment allows: the last byte against the trailing guard.
  region.ptr = guard != 0 ? pages + ((length - size) & ~(align - 1)) : pages;
  os_allocations[static_cast<int>(region.source)].fetch_add(1, std::memory_order_relaxed);
  live_blocks.fetch_add(1, std::memory_order_relaxed);
  live_bytes.fetch_add(size, std::memory_order_relaxed);
  *out = region;
  return PageStatus::kOk;
}

bool ProtectPages(os::Region* region, os::Access access) {
  if (fault::Inject() || !os::Protect(PagesStart(*region), PagesLength(*region), access)) return false;
  region->access = access;
  return true;
}

bool HugePagesBacked(const os::Region& region) {
  if (!(region.page_flags & kHugePages)) return false;
#ifdef _WIN32
  return true;
#else
  return os::HugePageBytes(PagesStart(region), PagesLength(region)) != 0;
#endif
}

void SetDebugHooks(bool (*take)(const os::Region&), void (*forget)(const os::Region&)) {
  g_debug_forget.store(forget);
  g_debug_take.store(take);
}

void ReleaseQuarantined(const os::Region& region) {
#ifdef SYSALLOC_FAULT_INJECTION
  // The release hook reads the pages: give back the access the quarantine took.
  if (g_pages_release_hook != nullptr) os::Protect(PagesStart(region), PagesLength(region), os::Access::kReadWrite);
#endif
  ReleasePagesToOs(region);
}

#ifdef SYSALLOC_FAULT_INJECTION
void SetPagesReleaseHook(void (*hook)(const os::Region& region)) { g_pages_release_hook = hook; }
#endif

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
  if (region.page_flags != 0) {
    if (region.page_flags & kDebug) {
      auto forget = g_debug_forget.load();
      if (forget != nullptr) forget(region);
    }
    WipePages(region);
    ReleasePagesToOs(region);
    return;
  }
  if (!Cache().Put(region)) RegionCache::ReleaseToOs(region);
}

void Retire(const os::Region& region) {
  live_blocks.fetch_sub(1, std::memory_order_relaxed);
  live_bytes.fetch_sub(region.size, std::memory_order_relaxed);
  quarantined_blocks.fetch_add(1, std::memory_order_relaxed);
  quarantined_bytes.fetch_add(region.size, std::memory_order_relaxed);
  WipePages(region);  // now: the quarantine keeps the memory mapped a while longer
}

void ReleaseRetired(const os::Region& region) {
  quarantined_blocks.fetch_sub(1, std::memory_order_relaxed);
  quarantined_bytes.fetch_sub(region.size, std::memory_order_relaxed);
  if (region.page_flags != 0) {
    if (region.page_flags & kDebug) {
      auto take = g_debug_take.load();
      if (take != nullptr && take(region)) return;
    }
    ReleasePagesToOs(region);  // wiped by Retire
    return;
  }
  if (!Cache().Put(region)) RegionCache::ReleaseToOs(region);
}

void Abandon(const os::Region& region) {
  live_blocks.fetch_sub(1, std::memory_order_relaxed);
  live_bytes.fetch_sub(region.size, std::memory_order_relaxed);
  abandoned_blocks.fetch_add(1, std::memory_order_relaxed);
  abandoned_bytes.fetch_add(region.size, std::memory_order_relaxed);
}

void CountRuntime(size_t size) {
  runtime_allocations.fetch_add(1, std::memory_order_relaxed);
  live_blocks.fetch_add(1, std::memory_order_relaxed);
  live_bytes.fetch_add(size, std::memory_order_relaxed);
}

void UncountRuntime(size_t size) {
  runtime_releases.fetch_add(1, std::memory_order_relaxed);
  live_blocks.fetch_sub(1, std::memory_order_relaxed);
  live_bytes.fetch_sub(size, std::memory_order_relaxed);
}

void QuarantineRuntime(size_t size) {
  quarantined_blocks.fetch_add(1, std::memory_order_relaxed);
  quarantined_bytes.fetch_add(size, std::memory_order_relaxed);
}

void ReleaseRuntimeQuarantined(size_t size) {
  quarantined_blocks.fetch_sub(1, std::memory_order_relaxed);
  quarantined_bytes.fetch_sub(size, std::memory_order_relaxed);
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
  s.runtime_allocations = runtime_allocations.load(std::memory_order_relaxed);
  s.runtime_releases = runtime_releases.load(std::memory_order_relaxed);
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
