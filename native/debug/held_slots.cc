#include "debug/held_slots.h"

#include <cstdlib>
#include <cstring>

#include "debug/stderr_writer.h"

namespace sysalloc {
namespace debug {
namespace {

Slot* g_slots = nullptr;  // kMaxBlocks of them
char* g_texts = nullptr;  // kMaxBlocks * kTextMax bytes (calloc: pages backed only once used)

}  // namespace

bool MakeSlots() {
  if (g_slots != nullptr) return true;
  g_texts = static_cast<char*>(std::calloc(kMaxBlocks, kTextMax));
  if (g_texts == nullptr) return false;
  Slot* slots = new Slot[kMaxBlocks];
  for (size_t i = 0; i < kMaxBlocks; ++i) slots[i].text = g_texts + i * kTextMax;
  g_slots = slots;
  return true;
}

bool SlotsMade() { return g_slots != nullptr; }

Slot& SlotAt(size_t index) { return g_slots[index]; }

void Publish(Slot& slot, uintptr_t begin, uintptr_t end, const char* text, size_t length) {
  slot.length = length < kTextMax ? length : kTextMax;
  std::memcpy(slot.text, text, slot.length);
  slot.begin.store(begin, std::memory_order_release);
  slot.end.store(end, std::memory_order_release);
}

void Withdraw(Slot& slot) {
  slot.begin.store(0, std::memory_order_release);
  slot.end.store(0, std::memory_order_release);
}

const Slot* FindSlot(uintptr_t address) {
  Slot* slots = g_slots;
  if (slots == nullptr) return nullptr;
  for (size_t i = 0; i < kMaxBlocks; ++i) {
    const uintptr_t end = slots[i].end.load(std::memory_order_acquire);
    const uintptr_t begin = slots[i].begin.load(std::memory_order_acquire);
    if (begin != 0 && address >= begin && address < end) return &slots[i];
  }
  return nullptr;
}

void ReportTouch(const Slot& slot, uintptr_t address, uint64_t thread, uint64_t main_thread, const char* how) {
  WriteText("\nsysalloc debug: use after free: ");
  WriteText(how);
  WriteText(" ");
  WriteHex(address);
  WriteText(" by thread ");
  WriteDecimal(thread);
  WriteText(thread == main_thread ? " (the main thread)\n" : " (not the main thread: a worker or the thread pool)\n");
  WriteAll(slot.text, slot.length);
  WriteText("\n");
}

}  // namespace debug
}  // namespace sysalloc
