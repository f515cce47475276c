// The shim's debug mode (SYSALLOC_DEBUG, debug.enable()): while it is on, every
// block the table's entry points hand out is recorded with its caller's return
// address; a freed block is held (not reused) for a while, so that a second free
// of it is told from a free of another block at the same address; a double
// free, and a free or realloc of a pointer the shim never issued, is reported to
// stderr with the sites, then handled as without debug mode (counted, ignored
// or handed to the system allocator; never a crash). A held block is poisoned:
// a write into it, found when it leaves the hold, is reported and stops the
// process. Off, the entry points pay one relaxed load and a branch. No Node or
// V8 headers; thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sysalloc {
namespace shim {

// How many freed blocks, and bytes, are held at most before the oldest is reused.
constexpr size_t kHeldFrees = 1024;
constexpr size_t kHeldFreeBytes = size_t{64} << 20;
// A held block is filled with this byte; it is checked when the block leaves
// the hold, and a write found there is reported before the process stops.
constexpr unsigned char kPoison = 0xdd;

extern std::atomic<bool> g_tracking;
inline bool Tracking() { return g_tracking.load(std::memory_order_relaxed); }

// On: records from now on. Off: stops, gives the held blocks back and forgets
// every record (blocks recorded before are then ordinary blocks).
void SetTracking(bool on);

// Records a block the entry point made for caller (p may be null: nothing).
void* TrackAllocation(void* p, size_t size, const void* caller);

// free(p) from caller while tracking, p non-null. True when handled here (held,
// or reported and ignored); false: the caller goes on as without debug mode.
bool TrackFree(void* p, const void* caller);

// realloc(p, size) from caller while tracking, p non-null, size from 1 to
// kMaxRequest. Sets *handled false when the caller must go on as without debug
// mode (p not recorded) and track the result.
void* TrackRealloc(void* p, size_t size, const void* caller, bool* handled);

// Whether p is a freed block held back from reuse (usable_size answers 0 for it).
bool IsHeld(void* p);

// Live recorded blocks by allocation site (return address), and the held count.
struct SiteTotal {
  const void* site;
  uint64_t count;
  uint64_t bytes;
};
struct TrackingStats {
  uint64_t live_blocks;
  uint64_t live_bytes;
  uint64_t held_blocks;
  uint64_t reported;  // double frees and pointers never issued, since the process started
};
std::vector<SiteTotal> LiveSites();
TrackingStats GetTrackingStats();

// From api.cc: a block without counting it (size <= kMaxRequest; null when the
// OS refuses), and giving back a live block the shim issued, uncounted.
void* AllocateUncounted(size_t size);
void ReleaseUncounted(void* p);

}  // namespace shim
}  // namespace sysalloc
