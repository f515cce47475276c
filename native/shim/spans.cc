#include "shim/spans.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
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
  uint64_t released_ms;  // when it entered the committed cache
  size_t Bytes() const { return granules * kGranule; }
};

constexpr size_t kPoolCapacity = 1024;  // decommitted spans, sorted, coalesced
constexpr size_t kCacheCapacity = 64;   // committed spans kept at most
using Cache = ReleasedCache<Span, kCacheCapacity>;

std::mutex g_span_lock;
Span g_pool[kPoolCapacity];
size_t g_pool_size = 0;
Cache g_cache;  // committed spans, released_ms ascending

// The purge policy (docs/design.md, "The shim's purge policy"); read from the
// environment at the first span operation unless SetPurgePolicy came first.
bool g_policy_set = false;
uint64_t g_delay_ms = kDefaultPurgeDelayMs;
PurgeStats g_purged{};  // the purged_* members; under g_span_lock

uint64_t NowMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// A non-negative decimal below 2^40, or fallback.
uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  uint64_t n = 0;
  for (const char* c = v; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9' || n >= (uint64_t{1} << 40) / 10) return fallback;
    n = n * 10 + static_cast<uint64_t>(*c - '0');
  }
  return n;
}

void ApplyPolicyLocked(uint64_t delay_ms, size_t retain_bytes) {
  g_policy_set = true;
  g_delay_ms = delay_ms;
  g_cache.SetLimits(kCacheCapacity, retain_bytes);
}

void ReadPolicyLocked() {
  if (SYSALLOC_LIKELY(g_policy_set)) return;
  const uint64_t mib = EnvNumber("SYSALLOC_SHIM_RETAIN_MB", kDefaultRetainBytes >> 20);
  ApplyPolicyLocked(EnvNumber("SYSALLOC_SHIM_PURGE_DELAY_MS", kDefaultPurgeDelayMs), static_cast<size_t>(mib) << 20);
}

// Whether a released span of this many bytes is kept committed at all.
bool AdmitsLocked(size_t bytes) { return bytes <= g_cache.max_bytes() / 4; }

// Moves the cached spans released delay_ms or more before now into out[]
// (room for kCacheCapacity); returns how many.
size_t TakeExpiredLocked(uint64_t now, Span* out) {
  const uint64_t delay = g_delay_ms;
  return g_cache.TakeOldest([now, delay](const Span& s) { return now - s.released_ms >= delay; }, out);
}

void Count(uint64_t* spans, uint64_t* bytes, const Span* list, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    ++*spans;
    *bytes += list[i].Bytes();
  }
}

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
    g_pool[lo] = Span{start, n, 0};
    ++g_pool_size;
  }
  // A full pool forgets the span: it stays reserved and retired, never reused.
}

// Decommits spans taken out of the cache and puts them in the pool. Called
// without the lock.
void Purge(const Span* list, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    Decommit(list[i].start, list[i].granules);
    std::lock_guard<std::mutex> lock(g_span_lock);
    PoolInsert(list[i].start, list[i].granules);
  }
}

}  // namespace

void SetPurgePolicy(uint64_t delay_ms, size_t retain_bytes) {
  Span out[kCacheCapacity];
  size_t n = 0;
  {
    std::lock_guard<std::mutex> lock(g_span_lock);
    ApplyPolicyLocked(delay_ms, retain_bytes);
    // Spans the new bounds no longer admit go now.
    const size_t max = g_cache.max_bytes();
    size_t bytes = g_cache.bytes();
    n = g_cache.TakeOldest([&bytes, max](const Span& s) {
      if (bytes <= max && s.Bytes() <= max / 4) return false;
      bytes -= s.Bytes();
      return true;
    }, out);
    Count(&g_purged.pressure_spans, &g_purged.pressure_bytes, out, n);
  }
  Purge(out, n);
}

void GetPurgeStats(PurgeStats* out) {
  std::lock_guard<std::mutex> lock(g_span_lock);
  ReadPolicyLocked();
  *out = g_purged;
  out->retained_spans = g_cache.count();
  out->retained_bytes = g_cache.bytes();
  out->delay_ms = g_delay_ms;
  out->retain_limit_bytes = g_cache.max_bytes();
}

uint64_t PurgeExpiredSpans() {
  const uint64_t now = NowMs();
  Span out[kCacheCapacity];
  size_t n = 0;
  uint64_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(g_span_lock);
    ReadPolicyLocked();
    if (g_cache.count() == 0 || now - g_cache.oldest().released_ms < g_delay_ms) return 0;
    n = TakeExpiredLocked(now, out);
    const uint64_t before = g_purged.delay_bytes;
    Count(&g_purged.delay_spans, &g_purged.delay_bytes, out, n);
    bytes = g_purged.delay_bytes - before;
  }
  Purge(out, n);
  return bytes;
}

uint64_t TrimSpans() {
  Span out[kCacheCapacity];
  size_t n = 0;
  uint64_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(g_span_lock);
    n = g_cache.TakeAll(out);
    const uint64_t before = g_purged.trim_bytes;
    Count(&g_purged.trim_spans, &g_purged.trim_bytes, out, n);
    bytes = g_purged.trim_bytes - before;
  }
  Purge(out, n);
  return bytes;
}

uintptr_t AcquireSpan(size_t n, size_t align, size_t offset, size_t* got, bool* zeroed) {
  if (n > (SIZE_MAX >> kGranuleShift) / 2) return 0;
  PurgeExpiredSpans();
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
  const uint64_t now = NowMs();
  Span purged[2 * kCacheCapacity + 1];
  size_t count = 0;
  {
    std::lock_guard<std::mutex> lock(g_span_lock);
    ReadPolicyLocked();
    const size_t expired = TakeExpiredLocked(now, purged);
    Count(&g_purged.delay_spans, &g_purged.delay_bytes, purged, expired);
    count = expired;
    const Span span{start, n, now};
    if (AdmitsLocked(span.Bytes())) {
      count += g_cache.Put(span, purged + count);
    } else {
      purged[count++] = span;
    }
    Count(&g_purged.pressure_spans, &g_purged.pressure_bytes, purged + expired, count - expired);
  }
  Purge(purged, count);
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
