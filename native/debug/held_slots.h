// The table the fault catchers read: one slot per region the debug quarantine
// holds, with the address range it covers and the report text prepared at
// free(). Readers take no lock (a signal handler may take none): a slot is
// published by storing its end last and withdrawn by clearing its begin first.
// Writers (Publish, Withdraw) are serialized by the quarantine's lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "debug/quarantine.h"

namespace sysalloc {
namespace debug {

struct Slot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  size_t length = 0;
  char* text = nullptr;  // kTextMax bytes
};

// Makes the kMaxBlocks slots (once, never freed). False when memory ran out.
bool MakeSlots();
bool SlotsMade();
Slot& SlotAt(size_t index);

// Copies text (cut at kTextMax) into the slot, then publishes [begin, end).
void Publish(Slot& slot, uintptr_t begin, uintptr_t end, const char* text, size_t length);
void Withdraw(Slot& slot);

// The published slot whose range holds address, or nullptr. Async-signal-safe.
const Slot* FindSlot(uintptr_t address);

// Writes the report for a touch of quarantined memory to stderr; thread is the
// OS's thread id, main_thread the main thread's (0 where unknown). how: "a read
// or write of", ... Async-signal-safe.
void ReportTouch(const Slot& slot, uintptr_t address, uint64_t thread, uint64_t main_thread, const char* how);

}  // namespace debug
}  // namespace sysalloc
