#include "shim/thread_cache.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "os.h"

namespace sysalloc {
namespace shim {

SYSALLOC_THREAD_LOCAL ThreadCache* t_cache = nullptr;

namespace {

ThreadCache* const kDead = reinterpret_cast<ThreadCache*>(uintptr_t{1});

std::mutex g_registry_lock;
ThreadCache* g_threads = nullptr;
bool g_thread_exit_ready = false;
bool g_thread_exit_failed = false;

void OnThreadExit(void* value) {
  ThreadCache* tc = static_cast<ThreadCache*>(value);
  t_cache = kDead;
  for (unsigned c = 0; c < kClasses; ++c) Flush(tc, c, 0);
  {
    std::lock_guard<std::mutex> lock(g_registry_lock);
    g_other.allocations.fetch_add(tc->counters.allocations.load(std::memory_order_relaxed), std::memory_order_relaxed);
    g_other.reallocations.fetch_add(tc->counters.reallocations.load(std::memory_order_relaxed),
                                    std::memory_order_relaxed);
    g_other.frees.fetch_add(tc->counters.frees.load(std::memory_order_relaxed), std::memory_order_relaxed);
    g_live_bytes.fetch_add(static_cast<uint64_t>(tc->pending.load(std::memory_order_relaxed)),
                           std::memory_order_relaxed);
    RaisePeak(tc->peak_seen.load(std::memory_order_relaxed));
    if (tc->prev != nullptr) tc->prev->next = tc->next;
    else g_threads = tc->next;
    if (tc->next != nullptr) tc->next->prev = tc->prev;
  }
  tc->~ThreadCache();
  std::free(tc);
}

}  // namespace

SYSALLOC_NOINLINE ThreadCache* CacheSlow() {
  if (t_cache == kDead) return nullptr;
  void* memory = std::calloc(1, sizeof(ThreadCache));
  if (memory == nullptr) return nullptr;
  ThreadCache* tc = new (memory) ThreadCache();
  {
    std::lock_guard<std::mutex> lock(g_registry_lock);
    if (!g_thread_exit_ready && !g_thread_exit_failed) {
      g_thread_exit_ready = os::InitThreadExit(OnThreadExit);
      g_thread_exit_failed = !g_thread_exit_ready;
    }
    if (!g_thread_exit_ready) {
      tc->~ThreadCache();
      std::free(memory);
      return nullptr;
    }
    tc->next = g_threads;
    if (g_threads != nullptr) g_threads->prev = tc;
    g_threads = tc;
  }
  os::SetThreadValue(tc);
  t_cache = tc;
  return tc;
}

void Flush(ThreadCache* tc, unsigned c, uint32_t keep) {
  const uint32_t n = tc->count[c];
  if (n <= keep) return;
  uintptr_t* slots = tc->Slots(c);
  ReturnBlocks(c, slots, n - keep);
  std::memmove(slots, slots + (n - keep), keep * sizeof(uintptr_t));
  tc->count[c] = keep;
}

void SumThreads(uint64_t* allocations, uint64_t* reallocations, uint64_t* frees, uint64_t* live, uint64_t* peak) {
  std::lock_guard<std::mutex> lock(g_registry_lock);
  *allocations = g_other.allocations.load(std::memory_order_relaxed);
  *reallocations = g_other.reallocations.load(std::memory_order_relaxed);
  *frees = g_other.frees.load(std::memory_order_relaxed);
  *live = g_live_bytes.load(std::memory_order_relaxed);
  *peak = g_peak_bytes.load(std::memory_order_relaxed);
  for (ThreadCache* tc = g_threads; tc != nullptr; tc = tc->next) {
    *allocations += tc->counters.allocations.load(std::memory_order_relaxed);
    *reallocations += tc->counters.reallocations.load(std::memory_order_relaxed);
    *frees += tc->counters.frees.load(std::memory_order_relaxed);
    *live += static_cast<uint64_t>(tc->pending.load(std::memory_order_relaxed));
    const uint64_t seen = tc->peak_seen.load(std::memory_order_relaxed);
    if (seen > *peak) *peak = seen;
  }
  // Read while other threads allocate and free, the sum can be torn, even
  // below zero; it is exact once they are out of the shim.
  if (static_cast<int64_t>(*live) < 0) *live = 0;
  if (*live > *peak) *peak = *live;
  RaisePeak(*peak);
}

}  // namespace shim
}  // namespace sysalloc
