// Spans: runs of whole granules the shim maps from the OS (os.h). Released
// spans stay reserved and marked retired, never unmapped. A released span stays
// committed for reuse (the newest first) until the purge policy decommits it
// into a sorted, coalesced pool that later spans are cut from: when it has been
// released for the purge delay (checked at every span operation), when the
// committed spans would exceed the retain bound (oldest first: pressure), or on
// TrimSpans. docs/design.md, "The shim's purge policy".
#pragma once

#include <cstddef>
#include <cstdint>

namespace sysalloc {
namespace shim {

// Defaults, overridden once from SYSALLOC_SHIM_PURGE_DELAY_MS and
// SYSALLOC_SHIM_RETAIN_MB (decimal) at the first span operation.
constexpr uint64_t kDefaultPurgeDelayMs = 10000;
constexpr size_t kDefaultRetainBytes = size_t{128} << 20;

struct PurgeStats {
  uint64_t retained_spans;      // released, still committed
  uint64_t retained_bytes;
  uint64_t delay_spans;         // decommitted after the delay (totals since start)
  uint64_t delay_bytes;
  uint64_t pressure_spans;      // decommitted because the retain bound was reached
  uint64_t pressure_bytes;      //   (or the span alone is over a quarter of it)
  uint64_t trim_spans;          // decommitted by TrimSpans
  uint64_t trim_bytes;
  uint64_t delay_ms;            // the policy in force
  uint64_t retain_limit_bytes;
};

// Replaces the policy (and stops the environment from being read): spans stay
// committed delay_ms after release, at most retain_bytes of them (a span over a
// quarter of it is never kept; 0 keeps none). Spans over the new bounds are
// decommitted at once.
void SetPurgePolicy(uint64_t delay_ms, size_t retain_bytes);
void GetPurgeStats(PurgeStats* out);
// Decommits the spans whose delay has passed now; returns their bytes.
uint64_t PurgeExpiredSpans();
// Decommits every committed released span now; returns their bytes.
uint64_t TrimSpans();

// A span of at least n granules whose start X has (X + offset) % align == 0,
// its length in *got. *zeroed tells whether it reads as zero. Not yet marked.
// 0 when the OS refuses.
uintptr_t AcquireSpan(size_t n, size_t align, size_t offset, size_t* got, bool* zeroed);

// Takes back a span of the shim's that no block lives in, already marked
// retired. Keeps errno.
void ReleaseSpan(uintptr_t start, size_t n);

// Extends the span at start from n to m granules in place: with retired
// granules right after it, or fresh ones the OS maps there. Marks them.
bool GrowSpan(uintptr_t start, size_t n, size_t m);

}  // namespace shim
}  // namespace sysalloc
