// Whose each 4 MiB granule of the address space is: two bits per granule
// (foreign, the head of a span, a granule after the head, or retired: released
// by the shim, still reserved by it), and the span header (Segment) that sits
// near each span's start. Locate finds a pointer's block from these alone.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "shim/layout.h"

namespace sysalloc {
namespace shim {

enum Code : unsigned { kForeign = 0, kHead = 1, kCont = 2, kRetired = 3 };

constexpr size_t kCodeWords = (size_t{1} << (kAddressBits - kGranuleShift)) / 32;
extern std::atomic<uint64_t> g_codes[kCodeWords];

inline unsigned CodeOf(uintptr_t granule) {
  return static_cast<unsigned>(g_codes[granule >> 5].load(std::memory_order_relaxed) >> ((granule & 31) * 2)) & 3;
}

void SetCode(uintptr_t granule, unsigned code);

// Marks [start, start + n granules): the first as head (or retired), the rest cont (or retired).
void MarkSpan(uintptr_t start, size_t n, bool live);

enum Kind : uint32_t { kSlab = 0x534c4142, kLarge = 0x4c415247 };

// A span's header. It does not sit at the span's start: at 4 MiB-aligned
// addresses every header would fall in the same cache set, and free reads one
// per call. Its offset, the span's colour, depends on the granule number.
struct Segment {
  // What free reads, on one cache line. Written before the span is marked, then
  // read-only, but for bumped, which only grows while the segment lives.
  uint32_t kind;
  uint32_t cls;
  uint32_t block_size;
  uint32_t count;
  uint64_t magic;  // floor(2^44 / block_size) + 1: offset * magic >> 44 == offset / block_size
  uint32_t first;  // slab: the first block's offset from the span's start
  std::atomic<uint32_t> bumped;  // slab: blocks carved so far
  size_t granules;  // large: span length (changes under realloc, by the owner of the block)
  size_t user_off;  // large: the block's pointer minus the span's start
  // Slab bookkeeping, under the class lock.
  alignas(64) uint64_t free_list;
  uint32_t used;  // blocks out of the segment: live or in a thread list
  Segment* prev;
  Segment* next;
  bool listed;  // on its class's list: it has a free or never-carved block
};

constexpr size_t kSegmentSize = 128;
static_assert(sizeof(Segment) <= kSegmentSize, "segment header");

inline size_t Colour(uintptr_t start) { return ((start >> kGranuleShift) & 31) * kSegmentSize; }
inline Segment* HeaderOf(uintptr_t start) { return reinterpret_cast<Segment*>(start + Colour(start)); }
inline uintptr_t StartOf(const Segment* s) { return reinterpret_cast<uintptr_t>(s) & ~(kGranule - 1); }
inline Segment* SegmentOf(uintptr_t p) { return HeaderOf(p & ~(kGranule - 1)); }

// The divisor trick is exact for offsets below 2^22 and divisors of 32 and up:
// with m = floor(2^44 / d) + 1, offset * (m * d - 2^44) < 2^22 * 2^22 = 2^44.
constexpr uint64_t Magic(size_t d) { return ((uint64_t{1} << 44) / d) + 1; }

enum Where { kNotOurs, kInvalid, kSmall, kLargeBlock };

struct Found {
  Segment* segment;
  uintptr_t block;  // small: the block's start (its own header)
  size_t size;
};

// Never reads memory outside the shim's own granules, and inside them only
// headers at offsets the segment's geometry allows.
inline Where Locate(uintptr_t p, Found* out) {
  if (p >> kAddressBits) return kNotOurs;
  const uintptr_t g = p >> kGranuleShift;
  const unsigned code = CodeOf(g);
  if (code == kForeign) return kNotOurs;
  // Every pointer the shim issues is a multiple of 16; reading a header in
  // front of any other would be a misaligned load (undefined behaviour, which
  // UBSan reported for a free of p + 1).
  if ((p & (kHeader - 1)) != 0) return kInvalid;
  uintptr_t start = g << kGranuleShift;
  if (code == kCont) {
    if (g == 0 || CodeOf(g - 1) != kHead) return kInvalid;
    start -= kGranule;
  } else if (code != kHead) {
    return kInvalid;
  }
  Segment* s = HeaderOf(start);
  out->segment = s;
  if (s->kind == kSlab && code == kHead) {
    const uint64_t off = p - (start + s->first + kHeader);
    if (off >= kGranule) return kInvalid;
    // p - 16 lies inside the segment, so it can be read before the arithmetic
    // below says whether it is a block's header: the load need not wait for it.
    const Header h = *HeaderAt(p - kHeader);
    const uint64_t q = (off * s->magic) >> 44;
    if (q >= s->bumped.load(std::memory_order_relaxed)) return kInvalid;
    const uintptr_t block = start + s->first + q * s->block_size;
    if (block == p - kHeader) {
      if (h.tag != kLive) return kInvalid;
    } else {
      const uint64_t d = p - (block + kHeader);
      if ((d & 15) != 0 || HeaderAt(block)->tag != (kAligned | d)) return kInvalid;
    }
    out->block = block;
    out->size = h.size;
    return kSmall;
  }
  if (s->kind == kLarge) {
    if (p != start + s->user_off || HeaderAt(p - kHeader)->tag != kLive) return kInvalid;
    out->size = HeaderAt(p - kHeader)->size;
    return kLargeBlock;
  }
  return kInvalid;
}

}  // namespace shim
}  // namespace sysalloc
