// Test-only fault injection at the OS contract. With SYSALLOC_FAULT_INJECTION
// defined (test builds only: test/faults/binding.gyp, test/native, test/fuzz),
// every call that asks the OS for memory asks Inject() first: blocks.cc before
// os::Allocate, shim/spans.cc before os::MapAligned, Commit and GrowInPlace.
// Without the macro Inject() is a constant false and nothing else here exists,
// so the published addon carries no switch (scripts/native-check.sh checks it
// with nm).
#pragma once

#ifdef SYSALLOC_FAULT_INJECTION
#include <cstdint>
#include <mutex>
#endif

namespace sysalloc {
namespace fault {

#ifdef SYSALLOC_FAULT_INJECTION

// Process-wide (for this copy of sysalloc), over every thread.
struct State {
  std::mutex lock;
  uint64_t skip = 0;      // calls still let through before failures begin
  uint64_t fail = 0;      // calls to fail after that; 0: nothing armed
  uint64_t calls = 0;     // calls seen
  uint64_t injected = 0;  // failures injected
};
inline State g_state;

// From the n-th OS allocation on (n >= 1), count of them fail; count 0 disarms.
inline void Arm(uint64_t n, uint64_t count) {
  std::lock_guard<std::mutex> guard(g_state.lock);
  g_state.skip = count == 0 || n == 0 ? 0 : n - 1;
  g_state.fail = count;
}

inline uint64_t Calls() {
  std::lock_guard<std::mutex> guard(g_state.lock);
  return g_state.calls;
}

inline uint64_t Injected() {
  std::lock_guard<std::mutex> guard(g_state.lock);
  return g_state.injected;
}

// True when this OS allocation must fail.
inline bool Inject() {
  std::lock_guard<std::mutex> guard(g_state.lock);
  ++g_state.calls;
  if (g_state.fail == 0) return false;
  if (g_state.skip != 0) {
    --g_state.skip;
    return false;
  }
  --g_state.fail;
  ++g_state.injected;
  return true;
}

#else

constexpr bool Inject() { return false; }

#endif

}  // namespace fault
}  // namespace sysalloc
