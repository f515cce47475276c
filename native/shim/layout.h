// What every part of the shim agrees on: the granule, the block header and its
// state words, the size classes. The contract is in include/sysalloc.h, the
// design in docs/design.md ("The shim"). No Node or V8 headers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "portability.h"

namespace sysalloc {
namespace shim {

// The unit in which the shim maps, marks and releases memory.
constexpr unsigned kGranuleShift = 22;
constexpr size_t kGranule = size_t{1} << kGranuleShift;
// User addresses below 2^48 (x86-64, arm64, Windows); anything above is not ours.
constexpr unsigned kAddressBits = 48;

// Bytes in front of every pointer the shim returns: 16 = alignof(max_align_t)
// on x86-64 and arm64, so pointers keep malloc's alignment.
constexpr size_t kHeader = 16;
// The largest request served from size classes; larger ones get granules.
constexpr size_t kSmallMax = size_t{1} << 20;
// The largest size accepted; leaves room for the header, any alignment up to
// a granule, and rounding up to whole granules without overflow.
constexpr size_t kMaxRequest = static_cast<size_t>(PTRDIFF_MAX) - 4 * kGranule;

// State words at p - 8. Values no size, pointer or zero page can have by chance
// are not needed for safety (blocks are found by arithmetic, not by these), only
// to tell live from freed.
constexpr uint64_t kLive = 0x5359534c4c495645ull;  // "SYSLLIVE"
constexpr uint64_t kFree = 0x5359534c46524545ull;  // "SYSLFREE"
// A small block holding an aligned pointer p at offset d past its usual user
// start: the block's own state word is kAligned | d, and p - 8 is kInner | d.
constexpr uint64_t kAligned = 0x414c4eull << 40;
constexpr uint64_t kInner = 0x494e4eull << 40;

struct Header {
  uint64_t size;  // bytes asked for; in a free block, the next free block
  uint64_t tag;
};

inline Header* HeaderAt(uintptr_t block) { return reinterpret_cast<Header*>(block); }

inline size_t GranulesFor(size_t bytes) { return (bytes + kGranule - 1) >> kGranuleShift; }

// ---- size classes: 16..128 in steps of 16, then four per power of two to 1 MiB

constexpr unsigned kClasses = 8 + 13 * 4;

constexpr size_t ClassSize(unsigned c) {
  if (c < 8) return (c + 1) * 16;
  const unsigned k = 7 + (c - 8) / 4;
  return (size_t{1} << k) + ((c - 8) % 4 + 1) * (size_t{1} << (k - 2));
}
static_assert(ClassSize(kClasses - 1) == kSmallMax, "classes end at kSmallMax");

inline unsigned ClassOf(size_t n) {
  if (n <= 128) return n == 0 ? 0 : static_cast<unsigned>((n - 1) >> 4);
  const size_t m = n - 1;
  const unsigned k = port::HighestBit(m);
  return 8 + (k - 7) * 4 + static_cast<unsigned>((m >> (k - 2)) & 3);
}

}  // namespace shim
}  // namespace sysalloc
