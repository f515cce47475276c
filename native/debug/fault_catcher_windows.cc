#include <windows.h>

#include <cstdint>

#include "debug/fault_catcher.h"
#include "debug/held_slots.h"

namespace sysalloc {
namespace debug {
namespace {

LONG CALLBACK OnException(EXCEPTION_POINTERS* pointers) {
  const EXCEPTION_RECORD* record = pointers->ExceptionRecord;
  if (record->ExceptionCode != EXCEPTION_ACCESS_VIOLATION || record->NumberParameters < 2) {
    return EXCEPTION_CONTINUE_SEARCH;
  }
  const uintptr_t address = static_cast<uintptr_t>(record->ExceptionInformation[1]);
  const Slot* slot = FindSlot(address);
  if (slot != nullptr) {
    ReportTouch(*slot, address, GetCurrentThreadId(), 0, "a read or write of");
    // The access violation goes on to the next handler, and unhandled, stops the process.
  }
  return EXCEPTION_CONTINUE_SEARCH;
}

}  // namespace

Catcher InstallFaultCatcher(bool /*prefer_userfaultfd*/) {
  return AddVectoredExceptionHandler(1, OnException) != nullptr ? Catcher::kVectored : Catcher::kNone;
}

bool WatchMissingPages(void* /*p*/, size_t /*length*/) { return false; }
void UnwatchPages(void* /*p*/, size_t /*length*/) {}

}  // namespace debug
}  // namespace sysalloc
