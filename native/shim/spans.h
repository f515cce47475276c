// Spans: runs of whole granules the shim maps from the OS (os.h). Released
// spans stay reserved and marked retired, never unmapped: a few stay committed
// for quick reuse (released_cache.h), the rest are decommitted into a sorted,
// coalesced pool that later spans are cut from.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sysalloc {
namespace shim {

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
