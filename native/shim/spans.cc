#include "shim/spans.h"

#include <cerrno>
#include <cstring>
#include <mutex>

#include "fault.h"
#include "os.h"
#include "released_cache.h"
#include "shim/granule_map.h"

namespace sysalloc {
namespace shim {
namespace {

struct Span {
  uintptr_t start;
  size_t granules;
  size_t Bytes() const { return granules * kGranule; }
};

constexpr size_t kPoolCapacity = 1024;  // decommitted spans, sorted, coalesced

std::mutex g_span_lock;
Span g_pool[kPoolCapacity];
size_t g_pool_size = 0;
ReleasedCache<Span> g_cache;  // committed spans

// os::Commit and os::Decommit work inside one mapping, and a span may join
// several (every mapping is whole granules), so go granule by granule.
bool Commit(uintptr_t start, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (!os::Commit(reinterpret_cast<void*>(start + i * kGranule), kGranule)) return false;
  }
  return true;
}

void Decommit(uintptr_t start, size_t n) {
  for (size_t i = 0; i < n; ++i) os::Decommit(reinterpret_cast<void*>(start + i * kGranule), kGranule);
}

void PoolRemoveAt(size_t i) {
  std::memmove(&g_pool[i], &g_pool[i + 1], (g_pool_size - i - 1) * sizeof(Span));
  --g_pool_size;
}

void PoolInsert(uintptr_t start, size_t n) {
  size_t lo = 0;
  size_t hi = g_pool_size;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (g_pool[mid].start < start) lo = mid + 1;
    else hi = mid;
  }
  const bool joins_prev = lo > 0 && g_pool[lo - 1].start + g_pool[lo - 1].granules * kGranule == start;
  const bool joins_next = lo < g_pool_size && start + n * kGranule == g_pool[lo].start;
  if (joins_prev && joins_next) {
    g_pool[lo - 1].granules += n + g_pool[lo].granules;
    PoolRemoveAt(lo);
  } else if (joins_prev) {
    g_pool[lo - 1].granules += n;
  } else if (joins_next) {
    g_pool[lo].start = start;
    g_pool[lo].granules += n;
  } else if (g_pool_size < kPoolCapacity) {
    std::memmove(&g_pool[lo + 1], &g_pool[lo], (g_pool_size - lo) * sizeof(Span));
    g_pool[lo] = Span{start, n};
    ++g_pool_size;
  }
  // A full pool forgets the span: it stays reserved and retired, never reused.
}

}  // namespace

uintptr_t AcquireSpan(size_t n, size_t align, size_t offset, size_t* got, bool* zeroed) {
  if (n > (SIZE_MAX >> kGranuleShift) / 2) return 0;
  if (align <= kGranule) {
    std::unique_lock<std::mutex> lock(g_span_lock);
    Span cached;
    if (g_cache.Take([n](const Span& s) { return s.granules >= n && s.granules <= 2 * n; }, &cached)) {
      *got = cached.granules;
      *zeroed = false;
      return cached.start;
    }
    for (size_t i = 0; i < g_pool_size; ++i) {
      Span& s = g_pool[i];
      if (s.granules < n) continue;
      const uintptr_t start = s.start;
      s.start += n * kGranule;
      s.granules -= n;
      if (s.granules == 0) PoolRemoveAt(i);
      lock.unlock();
      if (fault::Inject() || !Commit(start, n)) {
        lock.lock();
        PoolInsert(start, n);
        return 0;
      }
      *got = n;
      *zeroed = true;
      return start;
    }
  }
  if (fault::Inject()) return 0;
  const uintptr_t start = reinterpret_cast<uintptr_t>(
      os::MapAligned(n * kGranule, align > kGranule ? align : kGranule, align > kGranule ? offset : 0));
  if (start == 0) return 0;
  if ((start + n * kGranule - 1) >> kAddressBits) {
    // Beyond the address bits the granule table covers: keep it, unused.
    return 0;
  }
  *got = n;
  *zeroed = true;
  return start;
}

void ReleaseSpan(uintptr_t start, size_t n) {
  const int saved_errno = errno;
  Span evicted[CachePolicy::kEntries + 1];
  size_t evicted_count = 0;
  {
    std::lock_guard<std::mutex> lock(g_span_lock);
    if (ReleasedCache<Span>::Admits(n * kGranule)) {
      evicted_count = g_cache.Put(Span{start, n}, evicted);
    } else {
      evicted[evicted_count++] = Span{start, n};
    }
  }
  for (size_t i = 0; i < evicted_count; ++i) {
    Decommit(evicted[i].start, evicted[i].granules);
    std::lock_guard<std::mutex> lock(g_span_lock);
    PoolInsert(evicted[i].start, evicted[i].granules);
  }
  errno = saved_errno;
}

bool GrowSpan(uintptr_t start, size_t n, size_t m) {
  const uintptr_t end = start + n * kGranule;
  const size_t extra = m - n;
  {
    std::unique_lock<std::mutex> lock(g_span_lock);
    for (size_t i = 0; i < g_pool_size; ++i) {
      Span& s = g_pool[i];
      if (s.start != end) continue;
      if (s.granules < extra) break;
      s.start += extra * kGranule;
      s.granules -= extra;
      if (s.granules == 0) PoolRemoveAt(i);
      lock.unlock();
      if (fault::Inject() || !Commit(end, extra)) {
        lock.lock();
        PoolInsert(end, extra);
        return false;
      }
      for (size_t g = 0; g < extra; ++g) SetCode((end >> kGranuleShift) + g, kCont);
      return true;
    }
  }
  if ((start + m * kGranule - 1) >> kAddressBits) return false;
  if (fault::Inject() || !os::GrowInPlace(reinterpret_cast<void*>(start), n * kGranule, m * kGranule)) {
    return false;
  }
  for (size_t g = 0; g < extra; ++g) SetCode((end >> kGranuleShift) + g, kCont);
  return true;
}

}  // namespace shim
}  // namespace sysalloc
