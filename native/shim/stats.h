// The shim's counters. Live bytes: g_live_bytes plus each thread's pending
// change, which a thread adds to g_live_bytes once it passes kPublish either
// way (and when it ends); the reasons and the error bounds are in
// docs/design.md ("The shim's counters") and include/sysalloc.h.
#pragma once

#include <atomic>
#include <cstdint>

namespace sysalloc {
namespace shim {

constexpr int64_t kPublish = 64 * 1024;

struct Counters {
  std::atomic<uint64_t> allocations{0};
  std::atomic<uint64_t> reallocations{0};
  std::atomic<uint64_t> frees{0};
};

extern std::atomic<uint64_t> g_live_bytes;
extern std::atomic<uint64_t> g_peak_bytes;
extern std::atomic<uint64_t> g_foreign_frees;
extern std::atomic<uint64_t> g_invalid_frees;
// Threads that ended, and calls from threads without a list, count here.
extern Counters g_other;

void RaisePeak(uint64_t value);

// Only its own thread writes a thread's counters; others read them.
inline void Bump(std::atomic<uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

}  // namespace shim
}  // namespace sysalloc
