// The shim: malloc/realloc/free for C libraries, over memory the shim maps
// itself. The contract and the design are in include/sysalloc.h. No Node or V8
// headers: drivers call this from their own threads.
//
// Memory is mapped in 4 MiB granules (shim_os::kGranule). A span of granules
// is either a slab segment (one granule: a Segment header, then blocks of one
// size class) or a large block (a Segment header, the block's header, the
// block). Two bits per granule of the address space say whose it is:
// foreign, the head of a span, a granule after the head, or retired (released
// by the shim, still reserved by it).
//
// Each thread keeps up to 64 free blocks per class in an array; it refills
// from, and flushes to, the segments under a per-class lock. Blocks carry their
// header from the moment they are carved: size (in a segment's free list, the
// link) and a state word.
#include "include/sysalloc.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>

#include "fault.h"
#include "shim_os.h"

namespace sysalloc {
namespace shim {
namespace {

using shim_os::kGranule;

constexpr unsigned kGranuleShift = 22;
static_assert(kGranule == size_t{1} << kGranuleShift, "granule");
// User addresses below 2^48 (x86-64, arm64, Windows); anything above is not ours.
constexpr unsigned kAddressBits = 48;
constexpr size_t kCodeWords = (size_t{1} << (kAddressBits - kGranuleShift)) / 32;

constexpr size_t kHeader = SYSALLOC_HEADER_SIZE;
constexpr size_t kSmallMax = SYSALLOC_SMALL_MAX;
// The largest size accepted; leaves room for the header, any alignment up to
// a granule, and rounding up to whole granules without overflow.
constexpr size_t kMaxRequest = static_cast<size_t>(PTRDIFF_MAX) - 4 * kGranule;

// State words at p - 8. Values no size, pointer or zero page can have by chance
// are not needed for safety (blocks are found by arithmetic, not by these), only
// to tell live from freed.
constexpr uint64_t kLive = 0x5359534c4c495645ull;     // "SYSLLIVE"
constexpr uint64_t kFree = 0x5359534c46524545ull;     // "SYSLFREE"
// A small block holding an aligned pointer p at offset d past its usual user
// start: the block's own state word is kAligned | d, and p - 8 is kInner | d.
constexpr uint64_t kAligned = 0x414c4eull << 40;
constexpr uint64_t kInner = 0x494e4eull << 40;

struct Header {
  uint64_t size;  // bytes asked for; in a free block, the next free block
  uint64_t tag;
};

inline Header* HeaderAt(uintptr_t block) { return reinterpret_cast<Header*>(block); }

enum Code : unsigned { kForeign = 0, kHead = 1, kCont = 2, kRetired = 3 };

std::atomic<uint64_t> g_codes[kCodeWords];

inline unsigned CodeOf(uintptr_t granule) {
  return static_cast<unsigned>(g_codes[granule >> 5].load(std::memory_order_relaxed) >> ((granule & 31) * 2)) & 3;
}

void SetCode(uintptr_t granule, unsigned code) {
  std::atomic<uint64_t>& word = g_codes[granule >> 5];
  const unsigned shift = (granule & 31) * 2;
  uint64_t old = word.load(std::memory_order_relaxed);
  while (!word.compare_exchange_weak(old, (old & ~(uint64_t{3} << shift)) | (uint64_t{code} << shift),
                                     std::memory_order_release, std::memory_order_relaxed)) {
  }
}

// Marks [start, start + n granules): the first as head (or retired), the rest cont (or retired).
void MarkSpan(uintptr_t start, size_t n, bool live) {
  const uintptr_t g = start >> kGranuleShift;
  for (size_t i = 0; i < n; ++i) SetCode(g + i, live ? (i == 0 ? kHead : kCont) : kRetired);
}

// ---- size classes: 16..128 in steps of 16, then four per power of two to 1 MiB

constexpr unsigned kClasses = 8 + 13 * 4;

constexpr size_t ClassSize(unsigned c) {
  if (c < 8) return (c + 1) * 16;
  const unsigned k = 7 + (c - 8) / 4;
  return (size_t{1} << k) + ((c - 8) % 4 + 1) * (size_t{1} << (k - 2));
}
static_assert(ClassSize(kClasses - 1) == kSmallMax, "classes end at SYSALLOC_SMALL_MAX");

inline unsigned ClassOf(size_t n) {
  if (n <= 128) return n == 0 ? 0 : static_cast<unsigned>((n - 1) >> 4);
  const size_t m = n - 1;
  const unsigned k = 63 - static_cast<unsigned>(__builtin_clzll(m));
  return 8 + (k - 7) * 4 + static_cast<unsigned>((m >> (k - 2)) & 3);
}

// Free blocks a thread keeps per class (about 256 KiB, 2 to 64 blocks); when
// full, it gives the older half back to the segments.
constexpr uint32_t CacheCap(unsigned c) {
  const size_t n = (256 * 1024) / (ClassSize(c) + kHeader);
  return n < 2 ? 2 : n > 64 ? 64 : static_cast<uint32_t>(n);
}

// Where each class's slots start in a thread's array of free blocks.
struct CacheLayout {
  uint32_t offset[kClasses];
  uint32_t total;
};
constexpr CacheLayout MakeCacheLayout() {
  CacheLayout layout{};
  for (unsigned c = 0; c < kClasses; ++c) {
    layout.offset[c] = layout.total;
    layout.total += CacheCap(c);
  }
  return layout;
}
constexpr CacheLayout kCacheLayout = MakeCacheLayout();

// ---- segments

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

// The divisor trick is exact for offsets below 2^22 and divisors of 32 and up:
// with m = floor(2^44 / d) + 1, offset * (m * d - 2^44) < 2^22 * 2^22 = 2^44.
constexpr uint64_t Magic(size_t d) { return ((uint64_t{1} << 44) / d) + 1; }

struct alignas(64) ClassState {
  std::mutex lock;
  Segment* list = nullptr;  // segments with a free or never-carved block
  uint32_t empties = 0;     // listed segments with no block out
};
ClassState g_classes[kClasses];

// ---- spans: released ones are kept reserved, a few committed for quick reuse

struct Span {
  uintptr_t start;
  size_t granules;
};

constexpr size_t kPoolCapacity = 1024;          // decommitted spans, sorted, coalesced
constexpr size_t kCacheEntries = 8;             // committed spans, most recent last
constexpr size_t kCacheBytes = 32u << 20;

std::mutex g_span_lock;
Span g_pool[kPoolCapacity];
size_t g_pool_size = 0;
Span g_cache[kCacheEntries];
size_t g_cache_size = 0;
size_t g_cache_bytes = 0;

void PoolInsert(uintptr_t start, size_t n) {
  size_t lo = 0;
  size_t hi = g_pool_size;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (g_pool[mid].start < start) lo = mid + 1;
    else hi = mid;
  }
  const bool joins_prev = lo > 0 && g_pool[lo - 1].start + g_pool[lo - 1].granules * kGranule == start;
  const bool joins_next = lo < g_pool_size && start + n * kGranule == g_pool[lo].start;
  if (joins_prev && joins_next) {
    g_pool[lo - 1].granules += n + g_pool[lo].granules;
    std::memmove(&g_pool[lo], &g_pool[lo + 1], (g_pool_size - lo - 1) * sizeof(Span));
    --g_pool_size;
  } else if (joins_prev) {
    g_pool[lo - 1].granules += n;
  } else if (joins_next) {
    g_pool[lo].start = start;
    g_pool[lo].granules += n;
  } else if (g_pool_size < kPoolCapacity) {
    std::memmove(&g_pool[lo + 1], &g_pool[lo], (g_pool_size - lo) * sizeof(Span));
    g_pool[lo] = Span{start, n};
    ++g_pool_size;
  }
  // A full pool forgets the span: it stays reserved and retired, never reused.
}

// A span of at least n granules whose start X has (X + offset) % align == 0,
// its length in *got. *zeroed tells whether it reads as zero. Not yet marked.
uintptr_t AcquireSpan(size_t n, size_t align, size_t offset, size_t* got, bool* zeroed) {
  if (n > (SIZE_MAX >> kGranuleShift) / 2) return 0;
  if (align <= kGranule) {
    std::unique_lock<std::mutex> lock(g_span_lock);
    for (size_t i = g_cache_size; i-- > 0;) {
      const Span s = g_cache[i];
      if (s.granules >= n && s.granules <= 2 * n) {
        std::memmove(&g_cache[i], &g_cache[i + 1], (g_cache_size - i - 1) * sizeof(Span));
        --g_cache_size;
        g_cache_bytes -= s.granules * kGranule;
        *got = s.granules;
        *zeroed = false;
        return s.start;
      }
    }
    for (size_t i = 0; i < g_pool_size; ++i) {
      Span& s = g_pool[i];
      if (s.granules < n) continue;
      const uintptr_t start = s.start;
      s.start += n * kGranule;
      s.granules -= n;
      if (s.granules == 0) {
        std::memmove(&g_pool[i], &g_pool[i + 1], (g_pool_size - i - 1) * sizeof(Span));
        --g_pool_size;
      }
      lock.unlock();
      if (fault::Inject() || !shim_os::Recommit(reinterpret_cast<void*>(start), n * kGranule)) {
        lock.lock();
        PoolInsert(start, n);
        return 0;
      }
      *got = n;
      *zeroed = true;
      return start;
    }
  }
  if (fault::Inject()) return 0;
  const uintptr_t start = reinterpret_cast<uintptr_t>(
      shim_os::MapAligned(n * kGranule, align > kGranule ? align : kGranule, align > kGranule ? offset : 0));
  if (start == 0) return 0;
  if ((start + n * kGranule - 1) >> kAddressBits) {
    // Beyond the address bits the granule table covers: keep it, unused.
    return 0;
  }
  *got = n;
  *zeroed = true;
  return start;
}

// Takes back a span of the shim's that no block lives in, already marked retired.
// Dirty spans go to the committed cache while it has room.
void ReleaseSpan(uintptr_t start, size_t n) {
  const int saved_errno = errno;
  Span evicted{0, 0};
  {
    std::lock_guard<std::mutex> lock(g_span_lock);
    if (n * kGranule <= kCacheBytes / 4) {
      if (g_cache_size == kCacheEntries || g_cache_bytes + n * kGranule > kCacheBytes) {
        evicted = g_cache[0];
        std::memmove(&g_cache[0], &g_cache[1], (g_cache_size - 1) * sizeof(Span));
        --g_cache_size;
        g_cache_bytes -= evicted.granules * kGranule;
      }
      if (g_cache_bytes + n * kGranule <= kCacheBytes) {
        g_cache[g_cache_size++] = Span{start, n};
        g_cache_bytes += n * kGranule;
        start = 0;
      }
    }
  }
  for (const Span s : {Span{start, n}, evicted}) {
    if (s.start == 0) continue;
    shim_os::Decommit(reinterpret_cast<void*>(s.start), s.granules * kGranule);
    std::lock_guard<std::mutex> lock(g_span_lock);
    PoolInsert(s.start, s.granules);
  }
  errno = saved_errno;
}

// Extends the span at start from n to m granules in place: with retired
// granules right after it, or fresh ones the OS maps there. Marks them.
bool GrowSpan(uintptr_t start, size_t n, size_t m) {
  const uintptr_t end = start + n * kGranule;
  const size_t extra = m - n;
  {
    std::unique_lock<std::mutex> lock(g_span_lock);
    for (size_t i = 0; i < g_pool_size; ++i) {
      Span& s = g_pool[i];
      if (s.start != end) continue;
      if (s.granules < extra) break;
      s.start += extra * kGranule;
      s.granules -= extra;
      if (s.granules == 0) {
        std::memmove(&g_pool[i], &g_pool[i + 1], (g_pool_size - i - 1) * sizeof(Span));
        --g_pool_size;
      }
      lock.unlock();
      if (fault::Inject() || !shim_os::Recommit(reinterpret_cast<void*>(end), extra * kGranule)) {
        lock.lock();
        PoolInsert(end, extra);
        return false;
      }
      for (size_t g = 0; g < extra; ++g) SetCode((end >> kGranuleShift) + g, kCont);
      return true;
    }
  }
  if ((start + m * kGranule - 1) >> kAddressBits) return false;
  if (fault::Inject() || !shim_os::GrowInPlace(reinterpret_cast<void*>(start), n * kGranule, m * kGranule)) {
    return false;
  }
  for (size_t g = 0; g < extra; ++g) SetCode((end >> kGranuleShift) + g, kCont);
  return true;
}

// ---- counters

// Live bytes: g_live_bytes plus each thread's pending change, which a thread
// adds to g_live_bytes once it passes kPublish either way (and when it ends).
// A locked add per call would cost more than the rest of malloc. The peak is
// the highest g_live_bytes + own pending a thread has seen: exact when one
// thread allocates at a time; with others allocating at the same moment, off
// by at most kPublish per other thread, either way (a thread that frees what
// others allocated can even see less than zero).
constexpr int64_t kPublish = 64 * 1024;
alignas(64) std::atomic<uint64_t> g_live_bytes{0};
std::atomic<uint64_t> g_peak_bytes{0};
alignas(64) std::atomic<uint64_t> g_foreign_frees{0};
std::atomic<uint64_t> g_invalid_frees{0};

void RaisePeak(uint64_t value) {
  uint64_t peak = g_peak_bytes.load(std::memory_order_relaxed);
  while (value > peak && !g_peak_bytes.compare_exchange_weak(peak, value, std::memory_order_relaxed)) {
  }
}

struct Counters {
  std::atomic<uint64_t> allocations{0};
  std::atomic<uint64_t> reallocations{0};
  std::atomic<uint64_t> frees{0};
};

// Only its own thread writes a thread's counters; others read them.
inline void Bump(std::atomic<uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// ---- thread lists: per class, a stack of free blocks in an array, so that
// taking or keeping a block touches the thread's array, not the block.

struct ThreadCache {
  uint32_t count[kClasses];
  Counters counters;
  std::atomic<int64_t> pending{0};     // live bytes not yet in g_live_bytes
  std::atomic<uint64_t> peak_seen{0};  // the highest live bytes this thread saw
  ThreadCache* prev;
  ThreadCache* next;
  uintptr_t slots[kCacheLayout.total];

  uintptr_t* Slots(unsigned c) { return slots + kCacheLayout.offset[c]; }
};

// Threads that ended, and calls from threads without a list, count here.
std::mutex g_registry_lock;
ThreadCache* g_threads = nullptr;
bool g_thread_exit_ready = false;
bool g_thread_exit_failed = false;
Counters g_other;

ThreadCache* const kDead = reinterpret_cast<ThreadCache*>(uintptr_t{1});
thread_local ThreadCache* t_cache = nullptr;

Segment* SegmentOf(uintptr_t p) { return HeaderOf(p & ~(kGranule - 1)); }

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

// Moves up to want blocks of class c out of the segments into out[], each
// marked free. Returns how many. (Free lists in segments link through Header::size.)
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

// Returns n free blocks of class c to their segments; retires segments left
// empty beyond one per class.
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

// Gives all but the newest keep blocks of class c back to the segments.
void Flush(ThreadCache* tc, unsigned c, uint32_t keep) {
  const uint32_t n = tc->count[c];
  if (n <= keep) return;
  uintptr_t* slots = tc->Slots(c);
  ReturnBlocks(c, slots, n - keep);
  std::memmove(slots, slots + (n - keep), keep * sizeof(uintptr_t));
  tc->count[c] = keep;
}

void OnThreadExit(void* value) {
  ThreadCache* tc = static_cast<ThreadCache*>(value);
  t_cache = kDead;
  for (unsigned c = 0; c < kClasses; ++c) Flush(tc, c, 0);
  {
    std::lock_guard<std::mutex> lock(g_registry_lock);
    g_other.allocations.fetch_add(tc->counters.allocations.load(std::memory_order_relaxed), std::memory_order_relaxed);
    g_other.reallocations.fetch_add(tc->counters.reallocations.load(std::memory_order_relaxed),
                                    std::memory_order_relaxed);
    g_other.frees.fetch_add(tc->counters.frees.load(std::memory_order_relaxed), std::memory_order_relaxed);
    g_live_bytes.fetch_add(static_cast<uint64_t>(tc->pending.load(std::memory_order_relaxed)),
                           std::memory_order_relaxed);
    RaisePeak(tc->peak_seen.load(std::memory_order_relaxed));
    if (tc->prev != nullptr) tc->prev->next = tc->next;
    else g_threads = tc->next;
    if (tc->next != nullptr) tc->next->prev = tc->prev;
  }
  tc->~ThreadCache();
  std::free(tc);
}

// The calling thread's lists, made on first use; nullptr once the thread is
// ending (or when none can be made): the caller then goes to the segments directly.
__attribute__((noinline)) ThreadCache* CacheSlow() {
  if (t_cache == kDead) return nullptr;
  void* memory = std::calloc(1, sizeof(ThreadCache));
  if (memory == nullptr) return nullptr;
  ThreadCache* tc = new (memory) ThreadCache();
  {
    std::lock_guard<std::mutex> lock(g_registry_lock);
    if (!g_thread_exit_ready && !g_thread_exit_failed) {
      g_thread_exit_ready = shim_os::InitThreadExit(OnThreadExit);
      g_thread_exit_failed = !g_thread_exit_ready;
    }
    if (!g_thread_exit_ready) {
      tc->~ThreadCache();
      std::free(memory);
      return nullptr;
    }
    tc->next = g_threads;
    if (g_threads != nullptr) g_threads->prev = tc;
    g_threads = tc;
  }
  shim_os::SetThreadValue(tc);
  t_cache = tc;
  return tc;
}

inline ThreadCache* Cache() {
  ThreadCache* tc = t_cache;
  if (__builtin_expect(reinterpret_cast<uintptr_t>(tc) > 1, 1)) return tc;
  return CacheSlow();
}

inline void Count(ThreadCache* tc, std::atomic<uint64_t> Counters::*which) {
  if (tc != nullptr) Bump(tc->counters.*which);
  else (g_other.*which).fetch_add(1, std::memory_order_relaxed);
}

// Live bytes change by delta (two's complement for a decrease).
inline void Live(ThreadCache* tc, uint64_t delta) {
  if (tc == nullptr) {
    RaisePeak(g_live_bytes.fetch_add(delta, std::memory_order_relaxed) + delta);
    return;
  }
  int64_t pending = tc->pending.load(std::memory_order_relaxed) + static_cast<int64_t>(delta);
  uint64_t live;
  if (__builtin_expect(pending > kPublish || pending < -kPublish, 0)) {
    live = g_live_bytes.fetch_add(static_cast<uint64_t>(pending), std::memory_order_relaxed) +
           static_cast<uint64_t>(pending);
    pending = 0;
  } else {
    live = g_live_bytes.load(std::memory_order_relaxed) + static_cast<uint64_t>(pending);
  }
  tc->pending.store(pending, std::memory_order_relaxed);
  if (static_cast<int64_t>(delta) > 0 && static_cast<int64_t>(live) > 0 &&
      live > tc->peak_seen.load(std::memory_order_relaxed)) {
    tc->peak_seen.store(live, std::memory_order_relaxed);
  }
}

// A free block of class c (its header's tag is kFree), or 0.
inline uintptr_t PopBlock(ThreadCache* tc, unsigned c) {
  if (tc == nullptr) {
    uintptr_t b = 0;
    return TakeBlocks(c, 1, &b) == 1 ? b : 0;
  }
  uint32_t n = tc->count[c];
  if (__builtin_expect(n == 0, 0)) {
    n = static_cast<uint32_t>(TakeBlocks(c, (CacheCap(c) + 1) / 2, tc->Slots(c)));
    if (n == 0) return 0;
  }
  tc->count[c] = n - 1;
  return tc->Slots(c)[n - 1];
}

inline void PushBlock(ThreadCache* tc, unsigned c, uintptr_t b) {
  HeaderAt(b)->tag = kFree;
  if (tc == nullptr) {
    ReturnBlocks(c, &b, 1);
    return;
  }
  if (__builtin_expect(tc->count[c] == CacheCap(c), 0)) Flush(tc, c, CacheCap(c) / 2);
  tc->Slots(c)[tc->count[c]++] = b;
}

// ---- large blocks

inline size_t GranulesFor(size_t bytes) { return (bytes + kGranule - 1) >> kGranuleShift; }

// Precondition: size <= kMaxRequest, align a power of two.
void* LargeAlloc(size_t size, size_t align, bool zero) {
  // Room for the header at any colour; the pointer's offset is fixed before the
  // span (and so its colour) is known.
  const size_t least = 31 * kSegmentSize + kSegmentSize + kHeader;
  size_t user_off = least;
  size_t offset = 0;
  if (align > kGranule) {
    user_off = kGranule;
    offset = kGranule;
  } else if (align > kHeader) {
    user_off = (least + align - 1) & ~(align - 1);
  }
  // At least one byte past p, so that p lies inside the span even for size 0.
  const size_t n = GranulesFor(user_off + (size != 0 ? size : 1));
  size_t got = 0;
  bool zeroed = false;
  const uintptr_t start = AcquireSpan(n, align, offset, &got, &zeroed);
  if (start == 0) return nullptr;
  Segment* s = HeaderOf(start);
  s->kind = kLarge;
  s->cls = 0;
  s->block_size = 0;
  s->count = 0;
  s->magic = 0;
  s->first = 0;
  s->granules = got;
  s->user_off = user_off;
  const uintptr_t p = start + user_off;
  Header* h = HeaderAt(p - kHeader);
  h->size = size;
  h->tag = kLive;
  if (zero && !zeroed) std::memset(reinterpret_cast<void*>(p), 0, size);
  MarkSpan(start, got, true);
  return reinterpret_cast<void*>(p);
}

void LargeFree(Segment* s, uintptr_t p) {
  HeaderAt(p - kHeader)->tag = kFree;
  const uintptr_t start = StartOf(s);
  const size_t n = s->granules;
  MarkSpan(start, n, false);
  ReleaseSpan(start, n);
}

// ---- finding a pointer

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

// ---- the operations, without counting

// Precondition: size <= kMaxRequest.
inline void* Allocate(ThreadCache* tc, size_t size, bool zero) {
  if (size > kSmallMax) return LargeAlloc(size, kHeader, zero);
  const unsigned c = ClassOf(size);
  const uintptr_t b = PopBlock(tc, c);
  if (b == 0) return nullptr;
  Header* h = HeaderAt(b);
  h->size = size;
  h->tag = kLive;
  void* p = reinterpret_cast<void*>(b + kHeader);
  if (zero) std::memset(p, 0, size);
  return p;
}

// Precondition: align a power of two above 16, size <= kMaxRequest.
void* AllocateAligned(ThreadCache* tc, size_t align, size_t size) {
  const size_t need = size + align - kHeader;
  if (align > kSmallMax || need > kSmallMax) return LargeAlloc(size, align, false);
  const unsigned c = ClassOf(need);
  const uintptr_t b = PopBlock(tc, c);
  if (b == 0) return nullptr;
  const uintptr_t user = b + kHeader;
  const uintptr_t p = (user + align - 1) & ~(static_cast<uintptr_t>(align) - 1);
  const uint64_t d = p - user;
  HeaderAt(b)->size = size;
  if (d == 0) {
    HeaderAt(b)->tag = kLive;
  } else {
    HeaderAt(b)->tag = kAligned | d;
    HeaderAt(p - kHeader)->size = size;
    HeaderAt(p - kHeader)->tag = kInner | d;
  }
  return reinterpret_cast<void*>(p);
}

inline void Release(ThreadCache* tc, Where where, const Found& f, uintptr_t p) {
  if (where == kSmall) PushBlock(tc, f.segment->cls, f.block);
  else LargeFree(f.segment, p);
}

// Resizes a live block in place when it can; true if it did.
bool ResizeInPlace(Where where, const Found& f, uintptr_t p, size_t size) {
  if (where == kSmall) {
    const uint64_t d = p - (f.block + kHeader);
    const unsigned c = f.segment->cls;
    if (size + d > ClassSize(c) || ClassOf(size + d) != c) return false;
    HeaderAt(p - kHeader)->size = size;
    HeaderAt(f.block)->size = size;
    return true;
  }
  Segment* s = f.segment;
  if (size <= kSmallMax) return false;  // moving to a class gives the granules back
  const uintptr_t start = StartOf(s);
  const size_t n = s->granules;
  const size_t m = GranulesFor(s->user_off + size);
  if (m > n && !GrowSpan(start, n, m)) return false;
  if (m < n) {
    MarkSpan(start + m * kGranule, n - m, false);
    ReleaseSpan(start + m * kGranule, n - m);
  }
  s->granules = m;
  HeaderAt(p - kHeader)->size = size;
  return true;
}

void ForeignFree(void* p) {
  shim_os::SystemFree(p);
  g_foreign_frees.fetch_add(1, std::memory_order_relaxed);
}

void InvalidFree() { g_invalid_frees.fetch_add(1, std::memory_order_relaxed); }

// malloc and calloc: NULL with ENOMEM past kMaxRequest or when the OS refuses.
void* AllocateCounted(size_t size, bool zero) {
  if (size > kMaxRequest) {
    errno = ENOMEM;
    return nullptr;
  }
  ThreadCache* tc = Cache();
  void* p = Allocate(tc, size, zero);
  if (p == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  Count(tc, &Counters::allocations);
  Live(tc, size);
  return p;
}

}  // namespace
}  // namespace shim
}  // namespace sysalloc

using namespace sysalloc::shim;

extern "C" {

void* sysalloc_malloc(size_t size) { return AllocateCounted(size, false); }

void* sysalloc_calloc(size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return AllocateCounted(total, true);
}

void* sysalloc_aligned_alloc(size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  if (alignment <= kHeader) return sysalloc_malloc(size);
  if (size > kMaxRequest || alignment > kMaxRequest - size) {
    errno = ENOMEM;
    return nullptr;
  }
  ThreadCache* tc = Cache();
  void* p = AllocateAligned(tc, alignment, size);
  if (p == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  Count(tc, &Counters::allocations);
  Live(tc, size);
  return p;
}

void sysalloc_free(void* ptr) {
  if (ptr == nullptr) return;
  const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  Found f{};
  const Where where = Locate(p, &f);
  if (where == kNotOurs) {
    ForeignFree(ptr);
    return;
  }
  if (where == kInvalid) {
    InvalidFree();
    return;
  }
  ThreadCache* tc = Cache();
  Release(tc, where, f, p);
  Count(tc, &Counters::frees);
  Live(tc, 0 - f.size);
}

void* sysalloc_realloc(void* ptr, size_t size) {
  if (ptr == nullptr) return sysalloc_malloc(size);
  const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  Found f{};
  const Where where = Locate(p, &f);
  if (where == kInvalid) {
    InvalidFree();
    errno = EINVAL;
    return nullptr;
  }
  if (size == 0) {
    sysalloc_free(ptr);
    return nullptr;
  }
  if (size > kMaxRequest) {
    errno = ENOMEM;
    return nullptr;
  }
  ThreadCache* tc = Cache();
  if (where == kNotOurs) {
    // The block moves into the shim: copy what the system allocator says it holds.
    void* q = Allocate(tc, size, false);
    if (q == nullptr) {
      errno = ENOMEM;
      return nullptr;
    }
    const size_t old = sysalloc::shim_os::SystemUsableSize(ptr);
    std::memcpy(q, ptr, old < size ? old : size);
    ForeignFree(ptr);
    Count(tc, &Counters::allocations);
    Live(tc, size);
    return q;
  }
  if (!ResizeInPlace(where, f, p, size)) {
    void* q = Allocate(tc, size, false);
    if (q == nullptr) {
      errno = ENOMEM;
      return nullptr;
    }
    std::memcpy(q, ptr, f.size < size ? f.size : size);
    Release(tc, where, f, p);
    ptr = q;
  }
  Count(tc, &Counters::reallocations);
  Live(tc, size - f.size);
  return ptr;
}

size_t sysalloc_usable_size(void* ptr) {
  if (ptr == nullptr) return 0;
  Found f{};
  switch (Locate(reinterpret_cast<uintptr_t>(ptr), &f)) {
    case kNotOurs: return sysalloc::shim_os::SystemUsableSize(ptr);
    case kInvalid: return 0;
    default: return f.size;
  }
}

void sysalloc_stats(struct sysalloc_stats* out) {
  uint64_t allocations;
  uint64_t reallocations;
  uint64_t frees;
  uint64_t live;
  uint64_t peak;
  {
    std::lock_guard<std::mutex> lock(g_registry_lock);
    allocations = g_other.allocations.load(std::memory_order_relaxed);
    reallocations = g_other.reallocations.load(std::memory_order_relaxed);
    frees = g_other.frees.load(std::memory_order_relaxed);
    live = g_live_bytes.load(std::memory_order_relaxed);
    peak = g_peak_bytes.load(std::memory_order_relaxed);
    for (ThreadCache* tc = g_threads; tc != nullptr; tc = tc->next) {
      allocations += tc->counters.allocations.load(std::memory_order_relaxed);
      reallocations += tc->counters.reallocations.load(std::memory_order_relaxed);
      frees += tc->counters.frees.load(std::memory_order_relaxed);
      live += static_cast<uint64_t>(tc->pending.load(std::memory_order_relaxed));
      peak = std::max(peak, tc->peak_seen.load(std::memory_order_relaxed));
    }
    // Read while other threads allocate and free, the sum can be torn, even
    // below zero; it is exact once they are out of the shim.
    if (static_cast<int64_t>(live) < 0) live = 0;
    peak = std::max(peak, live);
    RaisePeak(peak);
  }
  out->allocations = allocations;
  out->reallocations = reallocations;
  out->frees = frees;
  out->live_blocks = allocations - frees;
  out->live_bytes = live;
  out->peak_bytes = peak;
  out->foreign_frees = g_foreign_frees.load(std::memory_order_relaxed);
  out->invalid_frees = g_invalid_frees.load(std::memory_order_relaxed);
}

static const struct sysalloc_api kApi = {
    SYSALLOC_API_VERSION,   sizeof(struct sysalloc_api), sysalloc_malloc,       sysalloc_calloc, sysalloc_realloc,
    sysalloc_free,          sysalloc_aligned_alloc,      sysalloc_usable_size,  sysalloc_stats,
};

const struct sysalloc_api* sysalloc_get_api(void) { return &kApi; }

}  // extern "C"
