#include "shim/segments.h"

#include <mutex>

#include "shim/granule_map.h"
#include "shim/spans.h"

namespace sysalloc {
namespace shim {
namespace {

struct alignas(64) ClassState {
  std::mutex lock;
  Segment* list = nullptr;  // segments with a free or never-carved block
  uint32_t empties = 0;     // listed segments with no block out
};
ClassState g_classes[kClasses];

void Link(ClassState& cs, Segment* s) {
  s->prev = nullptr;
  s->next = cs.list;
  if (cs.list != nullptr) cs.list->prev = s;
  cs.list = s;
  s->listed = true;
}

void Unlink(ClassState& cs, Segment* s) {
  if (s->prev != nullptr) s->prev->next = s->next;
  else cs.list = s->next;
  if (s->next != nullptr) s->next->prev = s->prev;
  s->listed = false;
}

Segment* NewSlab(unsigned c) {
  size_t got = 0;
  bool zeroed = false;
  const uintptr_t start = AcquireSpan(1, kGranule, 0, &got, &zeroed);
  if (start == 0) return nullptr;
  if (got != 1) {
    // A larger cached span: keep the first granule, retire the rest.
    ReleaseSpan(start + kGranule, got - 1);
  }
  Segment* s = HeaderOf(start);
  const size_t block_size = ClassSize(c) + kHeader;
  const size_t first = Colour(start) + kSegmentSize;
  s->kind = kSlab;
  s->cls = c;
  s->block_size = static_cast<uint32_t>(block_size);
  s->count = static_cast<uint32_t>((kGranule - first) / block_size);
  s->magic = Magic(block_size);
  s->first = static_cast<uint32_t>(first);
  s->granules = 1;
  s->user_off = 0;
  s->free_list = 0;
  s->used = 0;
  s->bumped.store(0, std::memory_order_relaxed);
  MarkSpan(start, 1, true);
  return s;
}

}  // namespace

// Free lists in segments link through Header::size.
size_t TakeBlocks(unsigned c, size_t want, uintptr_t* out) {
  ClassState& cs = g_classes[c];
  std::lock_guard<std::mutex> lock(cs.lock);
  size_t got = 0;
  while (got < want) {
    Segment* s = cs.list;
    if (s == nullptr) {
      s = NewSlab(c);
      if (s == nullptr) break;
      Link(cs, s);
      ++cs.empties;
    }
    if (s->used == 0) --cs.empties;
    while (got < want && s->free_list != 0) {
      const uint64_t b = s->free_list;
      s->free_list = HeaderAt(b)->size;
      out[got++] = b;
      ++s->used;
    }
    uint32_t bumped = s->bumped.load(std::memory_order_relaxed);
    const uintptr_t first = StartOf(s) + s->first;
    while (got < want && bumped < s->count) {
      const uintptr_t b = first + static_cast<uintptr_t>(bumped) * s->block_size;
      HeaderAt(b)->tag = kFree;
      out[got++] = b;
      ++bumped;
      ++s->used;
    }
    s->bumped.store(bumped, std::memory_order_relaxed);
    if (s->free_list == 0 && bumped == s->count) Unlink(cs, s);
  }
  return got;
}

void ReturnBlocks(unsigned c, const uintptr_t* blocks, size_t n) {
  ClassState& cs = g_classes[c];
  Segment* retire[4];
  size_t retiring = 0;
  {
    std::lock_guard<std::mutex> lock(cs.lock);
    for (size_t i = 0; i < n; ++i) {
      const uintptr_t b = blocks[i];
      Segment* s = SegmentOf(b);
      HeaderAt(b)->size = s->free_list;
      s->free_list = b;
      if (!s->listed) Link(cs, s);
      if (--s->used == 0) {
        if (cs.empties >= 1 && retiring < 4) {
          Unlink(cs, s);
          retire[retiring++] = s;
        } else {
          ++cs.empties;
        }
      }
    }
  }
  for (size_t i = 0; i < retiring; ++i) {
    const uintptr_t start = StartOf(retire[i]);
    MarkSpan(start, 1, false);
    ReleaseSpan(start, 1);
  }
}

}  // namespace shim
}  // namespace sysalloc
