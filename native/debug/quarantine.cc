#include "debug/quarantine.h"

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "blocks.h"
#include "debug/fault_catcher.h"
#include "debug/held_slots.h"

namespace sysalloc {
namespace debug {
namespace {

struct Held {
  os::Region region;
  size_t slot;
};

std::atomic<Catcher> g_catcher{Catcher::kNone};

std::mutex& Lock() {
  static std::mutex* mutex = new std::mutex();  // never destroyed: finalizers may run at exit
  return *mutex;
}

// A report text waiting for its region (a type of sysalloc's own, so that the
// map's code is hidden like the rest: scripts/check-exports.sh).
struct Text {
  std::string value;
};

// Guarded by Lock().
struct State {
  Bounds bounds{kDefaultBlocks, kDefaultBytes};
  std::deque<Held> held;  // oldest first
  size_t free_slots[kMaxBlocks];  // a stack of slot indices
  size_t free_count = 0;
  size_t bytes = 0;
  uint64_t entered = 0;
  uint64_t released = 0;
  std::unordered_map<uintptr_t, Text> texts;  // described at free(), not yet held
};
State& S() {
  static State* state = new State();
  return *state;
}

size_t Length(const os::Region& region) { return blocks::PagesLength(region); }

// Makes a region's pages inaccessible (or, under userfaultfd, missing and
// watched). Called with Lock() held, before its slot is published.
void Seal(const os::Region& region) {
  char* pages = blocks::PagesStart(region);
  const size_t length = Length(region);
  if (region.page_flags & blocks::kLocked) os::Unlock(pages, length);
  if (g_catcher.load() == Catcher::kUserfaultfd) {
    if (region.access != os::Access::kReadWrite) os::Protect(pages, length, os::Access::kReadWrite);
    os::Decommit(pages, length);  // missing again: the next touch is a userfaultfd event
    if (WatchMissingPages(pages, length)) return;
  }
  os::Decommit(pages, length);
  os::Protect(pages, length, os::Access::kNone);
}

void Unseal(const os::Region& region) {
  if (g_catcher.load() == Catcher::kUserfaultfd) UnwatchPages(blocks::PagesStart(region), Length(region));
}

// Ends the oldest held region's slot; its region goes to out. Lock() held.
void WithdrawOldest(std::vector<os::Region>* out) {
  State& s = S();
  const Held& held = s.held.front();
  Withdraw(SlotAt(held.slot));
  s.free_slots[s.free_count++] = held.slot;
  s.bytes -= Length(held.region);
  ++s.released;
  out->push_back(held.region);
  s.held.pop_front();
}

void Give(std::vector<os::Region>* regions) {
  for (const os::Region& region : *regions) {
    Unseal(region);
    blocks::ReleaseQuarantined(region);
  }
}

bool Take(const os::Region& region) {
  if (!SlotsMade()) return false;
  std::vector<os::Region> out;
  bool taken = false;
  {
    std::lock_guard<std::mutex> guard(Lock());
    State& s = S();
    const size_t length = Length(region);
    while (!s.held.empty() && (s.held.size() >= s.bounds.blocks || s.bytes + length > s.bounds.bytes)) {
      WithdrawOldest(&out);
    }
    auto text = s.texts.find(reinterpret_cast<uintptr_t>(region.ptr));
    if (s.free_count != 0 && s.bounds.blocks != 0) {
      const size_t index = s.free_slots[--s.free_count];
      Seal(region);
      static const char kUnknown[] = "a block freed without a description (its free() site was not recorded)";
      const bool described = text != s.texts.end();
      const uintptr_t base = reinterpret_cast<uintptr_t>(region.base);
      Publish(SlotAt(index), base, base + region.reserved, described ? text->second.value.data() : kUnknown,
              described ? text->second.value.size() : sizeof kUnknown - 1);
      s.held.push_back(Held{region, index});
      s.bytes += length;
      ++s.entered;
      taken = true;
    }
    if (text != s.texts.end()) s.texts.erase(text);
  }
  Give(&out);
  return taken;
}

void Forget(const os::Region& region) {
  std::lock_guard<std::mutex> guard(Lock());
  S().texts.erase(reinterpret_cast<uintptr_t>(region.ptr));
}

}  // namespace

const char* CatcherName(Catcher catcher) {
  switch (catcher) {
    case Catcher::kNone: return "none";
    case Catcher::kSignal: return "signal";
    case Catcher::kUserfaultfd: return "userfaultfd";
    case Catcher::kVectored: return "vectored";
  }
  return "none";
}

Catcher Enable(const Bounds& bounds, bool prefer_userfaultfd) {
  std::vector<os::Region> out;
  {
    std::lock_guard<std::mutex> guard(Lock());
    State& s = S();
    s.bounds.blocks = bounds.blocks < kMaxBlocks ? bounds.blocks : kMaxBlocks;
    s.bounds.bytes = bounds.bytes;
    if (!SlotsMade()) {
      if (!MakeSlots()) return Catcher::kNone;
      for (size_t i = kMaxBlocks; i > 0; --i) s.free_slots[s.free_count++] = i - 1;
      g_catcher.store(InstallFaultCatcher(prefer_userfaultfd));
      blocks::SetDebugHooks(Take, Forget);
    }
    while (!s.held.empty() && (s.held.size() > s.bounds.blocks || s.bytes > s.bounds.bytes)) WithdrawOldest(&out);
  }
  Give(&out);
  return g_catcher.load();
}

Catcher Current() { return g_catcher.load(); }

void Describe(uintptr_t ptr, const char* text, size_t length) {
  std::lock_guard<std::mutex> guard(Lock());
  S().texts[ptr].value.assign(text, length);
}

Stats GetStats() {
  std::lock_guard<std::mutex> guard(Lock());
  const State& s = S();
  return Stats{s.held.size(), s.bytes, s.entered, s.released};
}

void Flush() {
  std::vector<os::Region> out;
  {
    std::lock_guard<std::mutex> guard(Lock());
    while (!S().held.empty()) WithdrawOldest(&out);
  }
  Give(&out);
}

}  // namespace debug
}  // namespace sysalloc
