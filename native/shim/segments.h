// Slab segments: one granule carved into blocks of one size class, shared by
// every thread under a per-class lock. Threads move blocks in and out in
// batches (thread_cache.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace sysalloc {
namespace shim {

// Moves up to want blocks of class c out of the segments into out[], each
// marked free. Returns how many (fewer when the OS refuses a new segment).
size_t TakeBlocks(unsigned c, size_t want, uintptr_t* out);

// Returns n free blocks of class c to their segments; retires segments left
// empty beyond one per class.
void ReturnBlocks(unsigned c, const uintptr_t* blocks, size_t n);

}  // namespace shim
}  // namespace sysalloc
