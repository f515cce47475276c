#include "shim/tracking.h"

#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "os.h"
#include "shim/granule_map.h"
#include "shim/stats.h"
#include "shim/thread_cache.h"

namespace sysalloc {
namespace shim {

std::atomic<bool> g_tracking{false};

namespace {

struct Record {
  size_t size;
  const void* allocated_by;
};

// A held block's address (a type of sysalloc's own, so that the containers'
// code is hidden like the rest: scripts/check-exports.sh).
struct Held {
  uintptr_t p;
};

struct Freed {
  size_t size;
  const void* allocated_by;
  const void* freed_by;
};

// A held block on its way back to the allocator, its poison to be checked.
struct Evicted {
  uintptr_t p;
  Freed freed;
};

// Guarded by Lock().
struct State {
  std::unordered_map<uintptr_t, Record> live;
  std::unordered_map<uintptr_t, Freed> freed;  // held: not given back yet
  std::deque<Held> held;                       // oldest first
  size_t held_bytes = 0;
  uint64_t reported = 0;
};

std::mutex& Lock() {
  static std::mutex* mutex = new std::mutex();  // never destroyed: C libraries free at exit
  return *mutex;
}

State& S() {
  static State* state = new State();
  return *state;
}

// Moves held blocks past the bounds into out. Lock() held.
void Evict(std::vector<Evicted>* out, size_t keep_blocks, size_t keep_bytes) {
  State& s = S();
  while (!s.held.empty() && (s.held.size() > keep_blocks || s.held_bytes > keep_bytes)) {
    const uintptr_t p = s.held.front().p;
    s.held.pop_front();
    auto it = s.freed.find(p);
    if (it == s.freed.end()) continue;
    s.held_bytes -= it->second.size;
    out->push_back(Evicted{p, it->second});
    s.freed.erase(it);
  }
}

// Report lines go to stderr in one write each report (not from a signal handler).
struct Report {
  char text[2048];
  size_t length = 0;

  void Add(const char* format, ...) {
    if (length >= sizeof text - 1) return;
    va_list args;
    va_start(args, format);
    const int n = std::vsnprintf(text + length, sizeof text - length, format, args);
    va_end(args);
    if (n > 0) length += static_cast<size_t>(n) < sizeof text - length ? static_cast<size_t>(n) : sizeof text - 1 - length;
  }
  void AddSite(const char* label, const void* site) {
    char where[512];
    os::DescribeCode(site, where, sizeof where);
    Add("  %s%s\n", label, where);
  }
  void Write() {
    std::fwrite(text, 1, length, stderr);
    std::fflush(stderr);
  }
};

void ReportFreedAgain(const char* what, uintptr_t p, const Freed& f, const void* caller) {
  Report r;
  r.Add("\nsysalloc debug: %s of shim block 0x%" PRIxPTR " (%zu bytes), already freed; ignored\n", what, p, f.size);
  r.AddSite("allocated by: ", f.allocated_by);
  r.AddSite("freed by:     ", f.freed_by);
  r.AddSite("again by:     ", caller);
  r.Write();
}

// A held block whose poison was overwritten: reported, then the process stops,
// as a touch of the debug quarantine's pages does.
[[noreturn]] void ReportBrokenPoison(const Evicted& e, size_t at) {
  const unsigned char value = reinterpret_cast<const unsigned char*>(e.p)[at];
  Report r;
  r.Add("\nsysalloc debug: use after free: byte %zu of freed shim block 0x%" PRIxPTR
        " (%zu bytes) was written: it holds 0x%02x, not the poison 0x%02x; found when the block left the hold\n",
        at, e.p, e.freed.size, value, kPoison);
  r.AddSite("allocated by: ", e.freed.allocated_by);
  r.AddSite("freed by:     ", e.freed.freed_by);
  r.Write();
  std::abort();
}

// Checks each block's poison, then returns it to the allocator.
void GiveBack(const std::vector<Evicted>& blocks) {
  for (const Evicted& e : blocks) {
    const unsigned char* bytes = reinterpret_cast<const unsigned char*>(e.p);
    for (size_t i = 0; i < e.freed.size; ++i) {
      if (bytes[i] != kPoison) ReportBrokenPoison(e, i);
    }
    ReleaseUncounted(reinterpret_cast<void*>(e.p));
  }
}

void ReportNeverIssued(const char* what, uintptr_t p, const void* caller) {
  Report r;
  r.Add("\nsysalloc debug: %s of 0x%" PRIxPTR
        ", a pointer the shim never issued (inside its memory, not a live block's start; ignored)\n",
        what, p);
  r.AddSite("by: ", caller);
  r.Write();
}

// A pointer without a record: reported when it lies inside the shim's memory
// but is no block's start. Not reported: a block of the shim's from before
// debug mode was on, and a pointer outside the shim's memory, which is handed
// to the system allocator as always: C libraries free memory they had from
// before the shim was plugged in (libuv does), and such a pointer cannot be
// told from a wild one.
void ReportIfNeverIssued(const char* what, uintptr_t p, const void* caller) {
  Found f{};
  if (Locate(p, &f) != kInvalid) return;
  {
    std::lock_guard<std::mutex> guard(Lock());
    ++S().reported;
  }
  ReportNeverIssued(what, p, caller);
}

// Holds the recorded block p, filled with the poison (lock held; counters as a
// free). Evicted blocks go to out.
void Hold(uintptr_t p, const Record& r, const void* caller, std::vector<Evicted>* out) {
  State& s = S();
  std::memset(reinterpret_cast<void*>(p), kPoison, r.size);
  s.freed[p] = Freed{r.size, r.allocated_by, caller};
  s.held.push_back(Held{p});
  s.held_bytes += r.size;
  Evict(out, kHeldFrees, kHeldFreeBytes);
}

}  // namespace

void SetTracking(bool on) {
  std::vector<Evicted> out;
  {
    std::lock_guard<std::mutex> guard(Lock());
    g_tracking.store(on, std::memory_order_relaxed);
    if (!on) {
      Evict(&out, 0, 0);
      S().live.clear();
    }
  }
  GiveBack(out);
}

void* TrackAllocation(void* p, size_t size, const void* caller) {
  if (p == nullptr) return p;
  std::lock_guard<std::mutex> guard(Lock());
  S().live[reinterpret_cast<uintptr_t>(p)] = Record{size, caller};
  return p;
}

bool TrackFree(void* ptr, const void* caller) {
  const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  std::vector<Evicted> out;
  bool recorded = true;
  bool again = false;
  Freed first{};
  {
    std::lock_guard<std::mutex> guard(Lock());
    State& s = S();
    auto live = s.live.find(p);
    auto freed = live == s.live.end() ? s.freed.find(p) : s.freed.end();
    if (live != s.live.end()) {
      const Record r = live->second;
      s.live.erase(live);
      Hold(p, r, caller, &out);
      ThreadCache* tc = Cache();
      Count(tc, &Counters::frees);
      Live(tc, 0 - r.size);
    } else if (freed != s.freed.end()) {
      ++s.reported;
      g_invalid_frees.fetch_add(1, std::memory_order_relaxed);
      again = true;
      first = freed->second;
    } else {
      recorded = false;
    }
  }
  GiveBack(out);
  if (again) ReportFreedAgain("double free", p, first, caller);
  if (recorded) return true;
  ReportIfNeverIssued("free", p, caller);
  return false;  // counted and handled as without debug mode
}

void* TrackRealloc(void* ptr, size_t size, const void* caller, bool* handled) {
  const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  *handled = true;
  Record r{};
  bool again = false;
  Freed first{};
  {
    std::lock_guard<std::mutex> guard(Lock());
    State& s = S();
    auto live = s.live.find(p);
    if (live == s.live.end()) {
      auto freed = s.freed.find(p);
      if (freed != s.freed.end()) {
        ++s.reported;
        g_invalid_frees.fetch_add(1, std::memory_order_relaxed);
        again = true;
        first = freed->second;
      } else {
        *handled = false;
      }
    } else {
      r = live->second;
    }
  }
  if (again) {
    ReportFreedAgain("realloc", p, first, caller);
    errno = EINVAL;
    return nullptr;
  }
  if (!*handled) {
    ReportIfNeverIssued("realloc", p, caller);
    return nullptr;
  }
  // Always moves, so that the old address is held and a use of it stays a
  // stale pointer that a second free or realloc reports.
  void* q = AllocateUncounted(size);
  if (q == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  std::memcpy(q, ptr, r.size < size ? r.size : size);
  std::vector<Evicted> out;
  {
    std::lock_guard<std::mutex> guard(Lock());
    State& s = S();
    s.live.erase(p);
    s.live[reinterpret_cast<uintptr_t>(q)] = Record{size, caller};
    Hold(p, r, caller, &out);
  }
  ThreadCache* tc = Cache();
  Count(tc, &Counters::reallocations);
  Live(tc, size - r.size);
  GiveBack(out);
  return q;
}

bool IsHeld(void* p) {
  std::lock_guard<std::mutex> guard(Lock());
  return S().freed.count(reinterpret_cast<uintptr_t>(p)) != 0;
}

std::vector<SiteTotal> LiveSites() {
  std::unordered_map<const void*, SiteTotal> by_site;
  {
    std::lock_guard<std::mutex> guard(Lock());
    for (const auto& entry : S().live) {
      SiteTotal& t = by_site[entry.second.allocated_by];
      t.site = entry.second.allocated_by;
      ++t.count;
      t.bytes += entry.second.size;
    }
  }
  std::vector<SiteTotal> out;
  out.reserve(by_site.size());
  for (const auto& entry : by_site) out.push_back(entry.second);
  return out;
}

TrackingStats GetTrackingStats() {
  std::lock_guard<std::mutex> guard(Lock());
  const State& s = S();
  uint64_t bytes = 0;
  for (const auto& entry : s.live) bytes += entry.second.size;
  return TrackingStats{s.live.size(), bytes, s.held.size(), s.reported};
}

}  // namespace shim
}  // namespace sysalloc
