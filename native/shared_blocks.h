// Shared regions: block memory that several environments (threads) use at once,
// released when the last reference is dropped, whichever thread drops it.
// Process-wide (per copy of the addon), thread-safe; no Node or V8 headers.
//
// A region is named across threads by an id (never reused) and a random 64-bit
// key; Open accepts only the pair of a region still alive, so a handle cannot be
// forged into memory: no address ever comes back from JavaScript.
#pragma once

#include <cstddef>
#include <cstdint>

#include "os.h"

namespace sysalloc {
namespace shared {

struct Region;

struct Name {
  uint64_t id;   // < 2^53: exact as a JavaScript number
  uint64_t key;  // random
};

// What a region holds; Open finds a region only under its own kind.
constexpr uint32_t kAnyKind = 0;
constexpr uint32_t kBlock = 1;  // Block.share()
constexpr uint32_t kPool = 2;   // a shared pool (lib/shared-pool.ts)

// Takes over a region from blocks::Allocate (still counted live there) with one
// reference, held by the caller. nullptr when the table cannot grow.
Region* Adopt(const os::Region& region, size_t align, uint32_t kind);

Name NameOf(const Region* r);
void* Data(const Region* r);
size_t Size(const Region* r);
size_t Align(const Region* r);

// One more reference to the live region named (id, key) of that kind (kAnyKind:
// any); nullptr for anything else.
Region* Open(uint64_t id, uint64_t key, uint32_t kind);
// One more reference to a region the caller already holds a reference to.
void Retain(Region* r);
// Drops one reference. When it was the last, the region leaves the table and
// *out is the memory for the caller to return (blocks::Release or the
// quarantine); returns true then.
bool Drop(Region* r, os::Region* out);

// Regions alive, and references held over all of them.
void Count(uint64_t* regions, uint64_t* references);

}  // namespace shared
}  // namespace sysalloc
