// Thread lists: per thread and class, a stack of free blocks in an array, so
// that taking or keeping a block touches the thread's array, not the block. A
// thread refills from, and flushes to, the segments (segments.h); its lists and
// counters go back when it ends (os::InitThreadExit).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "portability.h"
#include "shim/layout.h"
#include "shim/segments.h"
#include "shim/stats.h"

namespace sysalloc {
namespace shim {

// Free blocks a thread keeps per class (about 256 KiB, 2 to 64 blocks); when
// full, it gives the older half back to the segments.
constexpr uint32_t CacheCap(unsigned c) {
  const size_t n = (256 * 1024) / (ClassSize(c) + kHeader);
  return n < 2 ? 2 : n > 64 ? 64 : static_cast<uint32_t>(n);
}

// Where each class's slots start in a thread's array of free blocks.
struct CacheLayout {
  uint32_t offset[kClasses];
  uint32_t total;
};
constexpr CacheLayout MakeCacheLayout() {
  CacheLayout layout{};
  for (unsigned c = 0; c < kClasses; ++c) {
    layout.offset[c] = layout.total;
    layout.total += CacheCap(c);
  }
  return layout;
}
constexpr CacheLayout kCacheLayout = MakeCacheLayout();

struct ThreadCache {
  uint32_t count[kClasses];
  Counters counters;
  std::atomic<int64_t> pending{0};     // live bytes not yet in g_live_bytes
  std::atomic<uint64_t> peak_seen{0};  // the highest live bytes this thread saw
  ThreadCache* prev;
  ThreadCache* next;
  uintptr_t slots[kCacheLayout.total];

  uintptr_t* Slots(unsigned c) { return slots + kCacheLayout.offset[c]; }
};

// nullptr: no list yet; kDead: the thread is ending.
extern SYSALLOC_THREAD_LOCAL ThreadCache* t_cache;

// The calling thread's lists, made on first use; nullptr once the thread is
// ending (or when none can be made): the caller then goes to the segments directly.
ThreadCache* CacheSlow();

inline ThreadCache* Cache() {
  ThreadCache* tc = t_cache;
  if (SYSALLOC_LIKELY(reinterpret_cast<uintptr_t>(tc) > 1)) return tc;
  return CacheSlow();
}

// Gives all but the newest keep blocks of class c back to the segments.
void Flush(ThreadCache* tc, unsigned c, uint32_t keep);

// Sums every listed thread's counters into the arguments, under the registry lock.
void SumThreads(uint64_t* allocations, uint64_t* reallocations, uint64_t* frees, uint64_t* live, uint64_t* peak);

inline void Count(ThreadCache* tc, std::atomic<uint64_t> Counters::*which) {
  if (tc != nullptr) Bump(tc->counters.*which);
  else (g_other.*which).fetch_add(1, std::memory_order_relaxed);
}

// Live bytes change by delta (two's complement for a decrease). A locked add
// per call would cost more than the rest of malloc.
inline void Live(ThreadCache* tc, uint64_t delta) {
  if (tc == nullptr) {
    RaisePeak(g_live_bytes.fetch_add(delta, std::memory_order_relaxed) + delta);
    return;
  }
  int64_t pending = tc->pending.load(std::memory_order_relaxed) + static_cast<int64_t>(delta);
  uint64_t live;
  if (SYSALLOC_UNLIKELY(pending > kPublish || pending < -kPublish)) {
    live = g_live_bytes.fetch_add(static_cast<uint64_t>(pending), std::memory_order_relaxed) +
           static_cast<uint64_t>(pending);
    pending = 0;
  } else {
    live = g_live_bytes.load(std::memory_order_relaxed) + static_cast<uint64_t>(pending);
  }
  tc->pending.store(pending, std::memory_order_relaxed);
  if (static_cast<int64_t>(delta) > 0 && static_cast<int64_t>(live) > 0 &&
      live > tc->peak_seen.load(std::memory_order_relaxed)) {
    tc->peak_seen.store(live, std::memory_order_relaxed);
  }
}

// A free block of class c (its header's tag is kFree), or 0.
inline uintptr_t PopBlock(ThreadCache* tc, unsigned c) {
  if (tc == nullptr) {
    uintptr_t b = 0;
    return TakeBlocks(c, 1, &b) == 1 ? b : 0;
  }
  uint32_t n = tc->count[c];
  if (SYSALLOC_UNLIKELY(n == 0)) {
    n = static_cast<uint32_t>(TakeBlocks(c, (CacheCap(c) + 1) / 2, tc->Slots(c)));
    if (n == 0) return 0;
  }
  tc->count[c] = n - 1;
  return tc->Slots(c)[n - 1];
}

inline void PushBlock(ThreadCache* tc, unsigned c, uintptr_t b) {
  HeaderAt(b)->tag = kFree;
  if (tc == nullptr) {
    ReturnBlocks(c, &b, 1);
    return;
  }
  if (SYSALLOC_UNLIKELY(tc->count[c] == CacheCap(c))) Flush(tc, c, CacheCap(c) / 2);
  tc->Slots(c)[tc->count[c]++] = b;
}

}  // namespace shim
}  // namespace sysalloc
