#include "shim/stats.h"

#include "include/sysalloc.h"
#include "shim/thread_cache.h"

namespace sysalloc {
namespace shim {

alignas(64) std::atomic<uint64_t> g_live_bytes{0};
std::atomic<uint64_t> g_peak_bytes{0};
alignas(64) std::atomic<uint64_t> g_foreign_frees{0};
std::atomic<uint64_t> g_invalid_frees{0};
Counters g_other;

void RaisePeak(uint64_t value) {
  uint64_t peak = g_peak_bytes.load(std::memory_order_relaxed);
  while (value > peak && !g_peak_bytes.compare_exchange_weak(peak, value, std::memory_order_relaxed)) {
  }
}

}  // namespace shim
}  // namespace sysalloc

extern "C" void sysalloc_get_stats(struct sysalloc_stats* out) SYSALLOC_NOEXCEPT {
  using namespace sysalloc::shim;
  uint64_t allocations;
  uint64_t reallocations;
  uint64_t frees;
  uint64_t live;
  uint64_t peak;
  SumThreads(&allocations, &reallocations, &frees, &live, &peak);
  out->allocations = allocations;
  out->reallocations = reallocations;
  out->frees = frees;
  out->live_blocks = allocations - frees;
  out->live_bytes = live;
  out->peak_bytes = peak;
  out->foreign_frees = g_foreign_frees.load(std::memory_order_relaxed);
  out->invalid_frees = g_invalid_frees.load(std::memory_order_relaxed);
}
