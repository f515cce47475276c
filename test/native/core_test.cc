// The native core (os, blocks) and the shim without Node, for the tools that
// cannot run inside node: valgrind and LeakSanitizer (zero errors, zero leaks)
// and ThreadSanitizer (zero reports). Built with SYSALLOC_FAULT_INJECTION, so
// the paths where the OS refuses run too. scripts/native-check.sh builds and
// runs it (npm run test:native).
//
//   core_test [all|threads|leak|race] [operations]
//
// all: every part, the threads included; threads: the threads alone (for
// TSan). operations: per thread, in each of two rounds of 4 threads (default
// 10000). Exit status 0 when every check held. leak and race are deliberate
// bugs (a block never freed; two threads writing one variable unlocked) that
// the script runs to show valgrind, LeakSanitizer and TSan fail on them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blocks.h"
#include "fault.h"
#include "include/sysalloc.h"
#include "shim/layout.h"
#include "shim/spans.h"
#include "os.h"

// The rules' checks ask for sizes past PTRDIFF_MAX on purpose; the header's
// alloc_size attributes let gcc see that at compile time.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#endif

namespace {

using sysalloc::os::Region;
namespace blocks = sysalloc::blocks;
namespace fault = sysalloc::fault;
namespace os = sysalloc::os;

constexpr size_t KiB = 1024;
constexpr size_t MiB = 1024 * 1024;
constexpr uint64_t kEvery = UINT64_MAX;

std::atomic<uint64_t> g_checks{0};
std::atomic<uint64_t> g_failures{0};

void Fail(const char* file, int line, const std::string& what) {
  g_failures.fetch_add(1);
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what.c_str());
}

#define CHECK(cond)                                   \
  do {                                                \
    g_checks.fetch_add(1, std::memory_order_relaxed); \
    if (!(cond)) Fail(__FILE__, __LINE__, #cond);     \
  } while (0)

#define CHECK_EQ(a, b)                                                                                   \
  do {                                                                                                   \
    g_checks.fetch_add(1, std::memory_order_relaxed);                                                    \
    const auto va = (a);                                                                                 \
    const auto vb = (b);                                                                                 \
    if (!(va == vb)) {                                                                                   \
      Fail(__FILE__, __LINE__,                                                                           \
           std::string(#a " == " #b ": ") + std::to_string(static_cast<unsigned long long>(va)) + " vs " + \
               std::to_string(static_cast<unsigned long long>(vb)));                                     \
    }                                                                                                    \
  } while (0)

uintptr_t Addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

inline uint8_t Pattern(size_t i, uint32_t seed) { return static_cast<uint8_t>((i * 131 + seed * 7 + 1) & 0xff); }

void Fill(void* p, size_t n, uint32_t seed) {
  uint8_t* b = static_cast<uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) b[i] = Pattern(i, seed);
}

bool Holds(const void* p, size_t n, uint32_t seed) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) {
    if (b[i] != Pattern(i, seed)) return false;
  }
  return true;
}

bool IsZero(const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

struct sysalloc_stats ShimStats() {
  struct sysalloc_stats s;
  sysalloc_get_stats(&s);
  return s;
}

uint64_t Sum(const uint64_t (&a)[os::kSourceCount]) {
  uint64_t n = 0;
  for (uint64_t v : a) n += v;
  return n;
}

// ---- os: every size against every alignment, through the OS contract

const size_t kSizes[] = {1, 7, 16, 100, 4095, 4096, 5000, 65536, 100000, 131072, MiB, MiB + 1, 3 * MiB};
const size_t kAligns[] = {1, 8, 16, 64, 4096, 65536, MiB, 2 * MiB};

void TestOs() {
  const size_t page = os::PageSize();
  CHECK(page >= 4096 && (page & (page - 1)) == 0);
  CHECK_EQ(os::AllocationGranularity() % page, 0u);
  for (size_t size : kSizes) {
    for (size_t align : kAligns) {
      Region r;
      CHECK(os::Allocate(size, align, &r));
      CHECK_EQ(Addr(r.ptr) % align, 0u);
      CHECK_EQ(r.size, size);
      CHECK(r.reserved >= size);
      CHECK(r.source == os::SourceFor(size, align));
      if (r.zeroed) CHECK(IsZero(r.ptr, size));
      Fill(r.ptr, size, 1);
      CHECK(Holds(r.ptr, size, 1));
      os::Release(r);
    }
  }
}

// ---- os: the mapping calls (os.h), each against what the kernel reports

// Runs touch in a child process; true when the child did not get past it: its
// SIGSEGV or SIGBUS handler exits 42 (under valgrind, whose --error-exitcode
// replaces that status, the access is an error and the child exits 1).
template <typename Touch>
bool Faults(Touch touch) {
  const pid_t pid = fork();
  if (pid == 0) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { _exit(42); };
    sigaction(SIGSEGV, &sa, nullptr);
    sigaction(SIGBUS, &sa, nullptr);
    touch();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// A field of /proc/self/status in kB (VmLck); Linux only.
long StatusKb(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kb = -1;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') kb = std::strtol(line + n + 1, nullptr, 10);
  }
  std::fclose(f);
  return kb;
}

// The VmFlags of the mapping holding p (/proc/self/smaps); Linux only.
std::string VmFlagsOf(const void* p) {
  FILE* f = std::fopen("/proc/self/smaps", "r");
  if (f == nullptr) return "";
  char line[512];
  bool inside = false;
  std::string flags;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long from = 0;
    unsigned long to = 0;
    if (std::sscanf(line, "%lx-%lx ", &from, &to) == 2) {
      inside = Addr(p) >= from && Addr(p) < to;  // a mapping's first line
    } else if (inside && std::strncmp(line, "VmFlags:", 8) == 0) {
      flags = line + 8;
    }
  }
  std::fclose(f);
  return flags;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

void TestOsMappings() {
  const size_t page = os::PageSize();
  const size_t granule = size_t{4} << 20;

  // MapAligned: the address plus offset is a multiple of align; zero; writable.
  for (size_t offset : {size_t{0}, page, 16 * page}) {
    void* p = os::MapAligned(3 * page, granule, offset);
    CHECK(p != nullptr);
    CHECK_EQ((Addr(p) + offset) % granule, 0u);
    CHECK(IsZero(p, 3 * page));
    Fill(p, 3 * page, 4);
    CHECK(Holds(p, 3 * page, 4));
    os::Unmap(p, 3 * page);
  }
  CHECK(os::MapAligned(SIZE_MAX & ~(page - 1), granule, 0) == nullptr);

  // Reserve: inaccessible until committed; Decommit then Commit reads zero.
  char* r = static_cast<char*>(os::Reserve(4 * page));
  CHECK(r != nullptr);
  CHECK(Faults([&] { r[0] = 1; }));
  CHECK(os::Commit(r + page, 2 * page));
  Fill(r + page, 2 * page, 5);
  CHECK(Holds(r + page, 2 * page, 5));
  CHECK(Faults([&] { r[3 * page] = 1; }));
  os::Decommit(r + page, 2 * page);
  CHECK(os::Commit(r + page, 2 * page));
  CHECK(IsZero(r + page, 2 * page));
  os::Unmap(r, 4 * page);

  char* m = static_cast<char*>(os::MapAligned(4 * page, os::AllocationGranularity(), 0));
  CHECK(m != nullptr);
  // Protect: read-only pages fault on write but read; no-access pages fault on read.
  Fill(m, page, 6);
  CHECK(os::Protect(m, page, os::Access::kRead));
  CHECK(Holds(m, page, 6));
  CHECK(Faults([&] { m[1] = 0; }));
  CHECK(!Faults([&] { m[page] = 1; }));
  CHECK(os::Protect(m, page, os::Access::kNone));
  CHECK(Faults([&] { volatile char c = m[0]; (void)c; }));
  CHECK(os::Protect(m, page, os::Access::kReadWrite));
  CHECK(Holds(m, page, 6));
  m[0] = 7;

#ifdef __linux__
  // Lock: the kernel counts the pages as locked until Unlock.
  // (ASan intercepts mlock and munlock and makes them succeed without locking:
  // there only the results are checked.)
  const long locked = StatusKb("VmLck");
  CHECK(os::Lock(m, 2 * page));
  if (!kAddressSanitizer) CHECK_EQ(static_cast<unsigned long>(StatusKb("VmLck") - locked), 2 * page / 1024);
  CHECK(os::Unlock(m, 2 * page));
  CHECK_EQ(static_cast<unsigned long>(StatusKb("VmLck")), static_cast<unsigned long>(locked));

  // Advise: kNoDump sets the mapping's dd flag, kDump clears it; kWillNeed keeps contents.
  CHECK(os::Advise(m, 4 * page, os::Advice::kNoDump));
  CHECK(VmFlagsOf(m).find(" dd") != std::string::npos);
  CHECK(os::Advise(m, 4 * page, os::Advice::kDump));
  CHECK(VmFlagsOf(m).find(" dd") == std::string::npos);
#endif
  CHECK(os::Advise(m, 4 * page, os::Advice::kWillNeed));
  CHECK_EQ(m[0], 7);
  os::Unmap(m, 4 * page);

  // GrowInPlace: the grown part is zero and writable (Linux); false elsewhere.
  char* g = static_cast<char*>(os::MapAligned(page, granule, 0));
  CHECK(g != nullptr);
#ifdef __linux__
  if (os::GrowInPlace(g, page, 2 * page)) {
    CHECK(IsZero(g + page, page));
    g[2 * page - 1] = 1;
    os::Unmap(g, 2 * page);
  } else {
    os::Unmap(g, page);
  }
#else
  CHECK(!os::GrowInPlace(g, page, 2 * page));
  os::Unmap(g, page);
#endif
}

// Rendezvous: the first pointer published under a name wins for every later
// call; a value left by another process (another pid) or pointing outside every
// loaded module is ignored.
int g_first_candidate;
int g_second_candidate;

void TestRendezvous() {
  const char* name = "SYSALLOC_CORE_TEST_RENDEZVOUS";
  unsetenv(name);
  CHECK(os::Rendezvous(name, &g_first_candidate) == &g_first_candidate);
  CHECK(os::Rendezvous(name, &g_second_candidate) == &g_first_candidate);
  char stale[64];
  std::snprintf(stale, sizeof stale, "%ld:%lx", static_cast<long>(getpid()) + 1,
                static_cast<unsigned long>(Addr(&g_first_candidate)));
  setenv(name, stale, 1);
  CHECK(os::Rendezvous(name, &g_second_candidate) == &g_second_candidate);
  std::snprintf(stale, sizeof stale, "%ld:%lx", static_cast<long>(getpid()), 0x10ul);
  setenv(name, stale, 1);
  CHECK(os::Rendezvous(name, &g_first_candidate) == &g_first_candidate);
  unsetenv(name);
}

// ---- blocks: counters, zeroing, the cache and its bounds, trimming

void TestBlocks() {
  blocks::TrimCache();
  const blocks::Stats base = blocks::GetStats();
  CHECK_EQ(base.live_blocks, 0u);
  CHECK_EQ(base.cached_blocks, 0u);

  std::vector<Region> held;
  uint64_t bytes = 0;
  for (size_t size : kSizes) {
    for (size_t align : kAligns) {
      Region r;
      CHECK(blocks::Allocate(size, align, true, &r));
      CHECK_EQ(Addr(r.ptr) % align, 0u);
      CHECK(IsZero(r.ptr, size));
      Fill(r.ptr, size, static_cast<uint32_t>(held.size()));
      held.push_back(r);
      bytes += size;
    }
  }
  CHECK_EQ(blocks::GetStats().live_blocks, held.size());
  CHECK_EQ(blocks::GetStats().live_bytes, bytes);
  // Every block kept its own bytes while all were live: none overlaps another.
  for (size_t i = 0; i < held.size(); ++i) CHECK(Holds(held[i].ptr, held[i].size, static_cast<uint32_t>(i)));
  for (const Region& r : held) blocks::Release(r);
  CHECK_EQ(blocks::GetStats().live_blocks, 0u);
  CHECK_EQ(blocks::GetStats().live_bytes, 0u);

  // A cached region comes back dirty unless zero is asked for.
  blocks::TrimCache();
  Region r;
  CHECK(blocks::Allocate(2 * MiB, 4096, false, &r));
  Fill(r.ptr, r.size, 9);
  blocks::Release(r);
  CHECK_EQ(blocks::GetStats().cached_blocks, 1u);
  const uint64_t hits = blocks::GetStats().cache_hits;
  CHECK(blocks::Allocate(2 * MiB, 4096, true, &r));
  CHECK_EQ(blocks::GetStats().cache_hits, hits + 1);
  CHECK(IsZero(r.ptr, r.size));
  blocks::Release(r);

  // Bounds: at most kCacheEntries regions, kCacheBytes bytes, none over kCacheLargestRegion.
  held.clear();
  for (int i = 0; i < 24; ++i) {
    CHECK(blocks::Allocate(MiB + static_cast<size_t>(i) * 4096, 4096, false, &r));
    held.push_back(r);
  }
  for (const Region& h : held) blocks::Release(h);
  blocks::Stats s = blocks::GetStats();
  CHECK(s.cached_blocks <= blocks::kCacheEntries);
  CHECK(s.cached_bytes <= blocks::kCacheBytes);
  CHECK(blocks::Allocate(blocks::kCacheLargestRegion + 4096, 4096, false, &r));
  const uint64_t cached = blocks::GetStats().cached_blocks;
  blocks::Release(r);
  CHECK(blocks::GetStats().cached_blocks <= cached);

  blocks::TrimCache();
  s = blocks::GetStats();
  CHECK_EQ(s.cached_blocks, 0u);
  CHECK_EQ(s.cached_bytes, 0u);
  for (int i = 0; i < os::kSourceCount; ++i) CHECK_EQ(s.os_allocations[i], s.os_releases[i]);
}

void TestBlockFaults() {
  blocks::TrimCache();
  for (size_t size : {size_t{4096}, 3 * MiB}) {
    const blocks::Stats before = blocks::GetStats();
    fault::Arm(1, 1);
    Region r;
    CHECK(!blocks::Allocate(size, 4096, true, &r));
    const blocks::Stats s = blocks::GetStats();
    CHECK_EQ(s.live_blocks, before.live_blocks);
    CHECK_EQ(Sum(s.os_allocations), Sum(before.os_allocations));
    CHECK(blocks::Allocate(size, 4096, true, &r));
    blocks::Release(r);
  }
  // A cache hit asks the OS for nothing, so no fault reaches it.
  fault::Arm(1, kEvery);
  const uint64_t injected = fault::Injected();
  Region r;
  CHECK(blocks::Allocate(3 * MiB, 4096, true, &r));
  CHECK_EQ(fault::Injected(), injected);
  fault::Arm(0, 0);
  blocks::Release(r);
  blocks::TrimCache();
  const blocks::Stats s = blocks::GetStats();
  for (int i = 0; i < os::kSourceCount; ++i) CHECK_EQ(s.os_allocations[i], s.os_releases[i]);
  CHECK_EQ(s.live_blocks, 0u);
}

// ---- page-backed blocks: placement, and the wipe read back before release

int g_pages_released = 0;
int g_pages_released_zero = 0;

void OnPagesRelease(const Region& r) {
  ++g_pages_released;
  if (IsZero(blocks::PagesStart(r), blocks::PagesLength(r))) ++g_pages_released_zero;
}

void TestPageBlocks() {
  const size_t page = os::PageSize();
  blocks::SetPagesReleaseHook(OnPagesRelease);
  blocks::PageRequest wipe;
  wipe.guard = true;
  wipe.wipe = true;
  blocks::PageRequest keep;
  keep.guard = true;

  // Placement: aligned, last byte against the trailing guard when size % align == 0.
  for (size_t size : {size_t{1}, size_t{100}, page, 3 * page + 64}) {
    for (size_t align : {size_t{1}, size_t{16}, size_t{64}, page, 4 * page}) {
      Region r;
      CHECK(blocks::AllocatePages(size, align, keep, &r) == blocks::PageStatus::kOk);
      CHECK_EQ(Addr(r.ptr) % align, 0u);
      CHECK(Addr(r.ptr) >= Addr(blocks::PagesStart(r)));
      CHECK(Addr(r.ptr) + size <= Addr(blocks::PagesStart(r)) + blocks::PagesLength(r));
      if (size % align == 0) CHECK_EQ(Addr(r.ptr) + size, Addr(blocks::PagesStart(r)) + blocks::PagesLength(r));
      CHECK(IsZero(r.ptr, size));
      blocks::Release(r);
    }
  }

  // Release (finalizer, environment end): zeroed before the pages go back; without wipe, not.
  g_pages_released = g_pages_released_zero = 0;
  Region r;
  CHECK(blocks::AllocatePages(5000, 8, wipe, &r) == blocks::PageStatus::kOk);
  Fill(r.ptr, r.size, 7);
  blocks::Release(r);
  CHECK(blocks::AllocatePages(5000, 8, keep, &r) == blocks::PageStatus::kOk);
  Fill(r.ptr, r.size, 7);
  blocks::Release(r);
  CHECK_EQ(g_pages_released, 2);
  CHECK_EQ(g_pages_released_zero, 1);

  // A protected block: the access comes back for the wipe.
  CHECK(blocks::AllocatePages(2 * page, page, wipe, &r) == blocks::PageStatus::kOk);
  Fill(r.ptr, r.size, 8);
  CHECK(blocks::ProtectPages(&r, os::Access::kNone));
  blocks::Release(r);
  CHECK_EQ(g_pages_released, 3);
  CHECK_EQ(g_pages_released_zero, 2);

  // Retire (free() from JavaScript): zero at once, while the quarantine keeps it mapped.
  CHECK(blocks::AllocatePages(300, 4, wipe, &r) == blocks::PageStatus::kOk);
  Fill(r.ptr, r.size, 9);
  blocks::Retire(r);
  CHECK(IsZero(blocks::PagesStart(r), blocks::PagesLength(r)));
  blocks::ReleaseRetired(r);
  CHECK_EQ(g_pages_released, 4);
  CHECK_EQ(g_pages_released_zero, 3);

  // Faults: the mapping, then the guards; nothing is kept.
  for (uint64_t n : {1, 2}) {
    const blocks::Stats before = blocks::GetStats();
    fault::Arm(n, 1);
    CHECK(blocks::AllocatePages(100, 16, wipe, &r) == blocks::PageStatus::kNoMemory);
    fault::Arm(0, 0);
    CHECK_EQ(blocks::GetStats().live_blocks, before.live_blocks);
    CHECK_EQ(Sum(blocks::GetStats().os_allocations), Sum(before.os_allocations));
  }
  blocks::SetPagesReleaseHook(nullptr);
  const blocks::Stats s = blocks::GetStats();
  for (int i = 0; i < os::kSourceCount; ++i) CHECK_EQ(s.os_allocations[i], s.os_releases[i]);
}

// ---- the shim: its rules (include/sysalloc.h), one check each

// Sizes on both sides of every class boundary up to the shim's class limit (shim/layout.h), and past it.
std::vector<size_t> ShimSizes() {
  std::vector<size_t> sizes = {0, 1, 8, 15, 16, 17, 31, 32, 33, 100, 127, 128, 129};
  for (size_t k = 8; k <= 21; ++k) {
    const size_t p = size_t{1} << k;
    for (size_t q : {p - 1, p, p + 1, p + p / 4, p + p / 2, p + 3 * p / 4}) sizes.push_back(q);
  }
  sizes.push_back(sysalloc::shim::kSmallMax);
  sizes.push_back(sysalloc::shim::kSmallMax + 1);
  sizes.push_back(5 * MiB);
  sizes.push_back(9 * MiB);
  return sizes;
}

void TestShimRules() {
  const struct sysalloc_stats base = ShimStats();

  // Every size at once: aligned to 16, usable size exact, contents apart.
  std::vector<std::pair<void*, size_t>> live;
  uint64_t bytes = 0;
  for (size_t n : ShimSizes()) {
    void* p = sysalloc_malloc(n);
    CHECK(p != nullptr);
    CHECK_EQ(Addr(p) % 16, 0u);
    CHECK_EQ(sysalloc_usable_size(p), n);
    Fill(p, n, static_cast<uint32_t>(live.size()));
    live.emplace_back(p, n);
    bytes += n;
  }
  struct sysalloc_stats s = ShimStats();
  CHECK_EQ(s.live_blocks - base.live_blocks, live.size());
  CHECK_EQ(s.live_bytes - base.live_bytes, bytes);
  for (size_t i = 0; i < live.size(); ++i) CHECK(Holds(live[i].first, live[i].second, static_cast<uint32_t>(i)));
  for (auto& [p, n] : live) sysalloc_free(p);
  s = ShimStats();
  CHECK_EQ(s.live_blocks, base.live_blocks);
  CHECK_EQ(s.live_bytes, base.live_bytes);

  // malloc(0): unique, non-NULL, usable size 0.
  void* z1 = sysalloc_malloc(0);
  void* z2 = sysalloc_malloc(0);
  CHECK(z1 != nullptr && z2 != nullptr && z1 != z2);
  CHECK_EQ(sysalloc_usable_size(z1), 0u);
  sysalloc_free(z1);
  sysalloc_free(z2);

  // free(NULL) does nothing; free never changes errno.
  errno = 1234;
  sysalloc_free(nullptr);
  void* e = sysalloc_malloc(10);
  errno = 1234;
  sysalloc_free(e);
  CHECK_EQ(errno, 1234);

  // realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns NULL.
  s = ShimStats();
  void* r = sysalloc_realloc(nullptr, 50);
  CHECK(r != nullptr);
  CHECK_EQ(ShimStats().allocations, s.allocations + 1);
  CHECK(sysalloc_realloc(r, 0) == nullptr);
  CHECK_EQ(ShimStats().frees, s.frees + 1);
  CHECK_EQ(ShimStats().live_blocks, s.live_blocks);

  // calloc zeroes a block that comes back dirty; its overflow is ENOMEM.
  void* dirty = sysalloc_malloc(1000);
  std::memset(dirty, 0xff, 1000);
  sysalloc_free(dirty);
  void* c = sysalloc_calloc(10, 100);
  CHECK(c != nullptr && IsZero(c, 1000));
  sysalloc_free(c);
  errno = 0;
  CHECK(sysalloc_calloc(SIZE_MAX / 2, 3) == nullptr);
  CHECK_EQ(errno, ENOMEM);

  // Sizes over PTRDIFF_MAX: NULL, ENOMEM.
  for (size_t n : {static_cast<size_t>(PTRDIFF_MAX) + 1, SIZE_MAX, SIZE_MAX - 15}) {
    errno = 0;
    CHECK(sysalloc_malloc(n) == nullptr);
    CHECK_EQ(errno, ENOMEM);
  }

  // aligned_alloc: a power of two or EINVAL; below 16 gives 16; any size.
  for (size_t a : {size_t{0}, size_t{3}, size_t{48}}) {
    errno = 0;
    CHECK(sysalloc_aligned_alloc(a, 10) == nullptr);
    CHECK_EQ(errno, EINVAL);
  }
  for (size_t a = 1; a <= 16 * MiB; a <<= 1) {
    for (size_t n : {size_t{1}, size_t{100}, size_t{5000}, 2 * MiB + 3}) {
      void* p = sysalloc_aligned_alloc(a, n);
      CHECK(p != nullptr);
      CHECK_EQ(Addr(p) % std::max<size_t>(a, 16), 0u);
      CHECK_EQ(sysalloc_usable_size(p), n);
      Fill(p, n, static_cast<uint32_t>(a));
      CHECK(Holds(p, n, static_cast<uint32_t>(a)));
      sysalloc_free(p);
    }
  }

  // realloc keeps min(old, new) bytes through every kind of move.
  size_t n = 10;
  void* p = sysalloc_malloc(n);
  Fill(p, n, 5);
  for (size_t to : {size_t{100}, size_t{3000}, 200 * KiB, 5 * MiB, 20 * MiB, 6 * MiB, 2 * MiB, 100 * KiB, size_t{40},
                    size_t{1}}) {
    void* q = sysalloc_realloc(p, to);
    CHECK(q != nullptr);
    CHECK_EQ(sysalloc_usable_size(q), to);
    CHECK(Holds(q, std::min(n, to), 5));
    Fill(q, to, 5);
    p = q;
    n = to;
  }
  sysalloc_free(p);

  // Foreign pointers: handed to the system allocator (valgrind and LSan see a
  // leak if they are not), counted.
  s = ShimStats();
  void* f = std::malloc(100);
  CHECK(sysalloc_usable_size(f) >= 100);
  sysalloc_free(f);
  CHECK_EQ(ShimStats().foreign_frees, s.foreign_frees + 1);
  f = std::malloc(64);
  Fill(f, 64, 6);
  void* moved = sysalloc_realloc(f, 300);
  CHECK(moved != nullptr && Holds(moved, 64, 6));
  CHECK_EQ(ShimStats().foreign_frees, s.foreign_frees + 2);
  CHECK_EQ(ShimStats().allocations, s.allocations + 1);
  sysalloc_free(moved);

  // Double frees, pointers into a block, misaligned ones: counted, nothing changes.
  s = ShimStats();
  for (size_t size : {size_t{100}, 5 * MiB}) {
    void* d = sysalloc_malloc(size);
    sysalloc_free(static_cast<char*>(d) + 16);
    sysalloc_free(static_cast<char*>(d) + 1);
    CHECK_EQ(sysalloc_usable_size(d), size);
    errno = 0;
    CHECK(sysalloc_realloc(static_cast<char*>(d) + 32, 10) == nullptr);
    CHECK_EQ(errno, EINVAL);
    sysalloc_free(d);
    sysalloc_free(d);
    CHECK_EQ(sysalloc_usable_size(d), 0u);
  }
  const struct sysalloc_stats after = ShimStats();
  CHECK_EQ(after.invalid_frees - s.invalid_frees, 8u);
  CHECK_EQ(after.frees - s.frees, 2u);
  CHECK_EQ(after.live_blocks, base.live_blocks);
  CHECK_EQ(after.live_bytes, base.live_bytes);

  // The table holds these very functions.
  const sysalloc_api* api = sysalloc_api_at(Addr(sysalloc_get_api()));
  CHECK(api != nullptr && api->malloc == sysalloc_malloc && api->free == sysalloc_free);
}

// ---- the shim when the OS refuses: NULL with ENOMEM, nothing changed

bool SameCounters(const struct sysalloc_stats& a, const struct sysalloc_stats& b) {
  return a.allocations == b.allocations && a.reallocations == b.reallocations && a.frees == b.frees &&
         a.live_blocks == b.live_blocks && a.live_bytes == b.live_bytes && a.foreign_frees == b.foreign_frees &&
         a.invalid_frees == b.invalid_frees;
}

void TestShimFaults() {
  // Spans of 11 granules never come from the shim's committed cache (spans of
  // two granules at most), so each of these asks the OS.
  const size_t big = 40 * MiB;
  struct sysalloc_stats s = ShimStats();
  fault::Arm(1, kEvery);
  errno = 0;
  CHECK(sysalloc_malloc(big) == nullptr);
  CHECK_EQ(errno, ENOMEM);
  errno = 0;
  CHECK(sysalloc_calloc(4, big / 4) == nullptr);
  CHECK_EQ(errno, ENOMEM);
  errno = 0;
  CHECK(sysalloc_aligned_alloc(16 * MiB, big) == nullptr);
  CHECK_EQ(errno, ENOMEM);
  fault::Arm(0, 0);
  CHECK(SameCounters(ShimStats(), s));

  // realloc: refused, the old block untouched; each OS call on the way failed alone.
  void* p = sysalloc_malloc(5 * MiB);
  Fill(p, 5 * MiB, 7);
  s = ShimStats();
  fault::Arm(1, kEvery);
  errno = 0;
  CHECK(sysalloc_realloc(p, big) == nullptr);
  CHECK_EQ(errno, ENOMEM);
  fault::Arm(0, 0);
  CHECK(SameCounters(ShimStats(), s));
  CHECK(Holds(p, 5 * MiB, 7));
  for (uint64_t n = 1; n < 10; ++n) {
    const uint64_t injected = fault::Injected();
    fault::Arm(n, 1);
    void* q = sysalloc_realloc(p, big);
    const bool fired = fault::Injected() != injected;
    fault::Arm(0, 0);
    if (q == nullptr) {
      CHECK(fired);
      CHECK(Holds(p, 5 * MiB, 7));
      continue;
    }
    CHECK(Holds(q, 5 * MiB, 7));
    p = sysalloc_realloc(q, 5 * MiB);
    CHECK(p != nullptr);
    if (!fired) break;
  }
  sysalloc_free(p);
  s = ShimStats();
  CHECK_EQ(s.live_bytes, 0u);
}

// ---- threads: mixed calls, contents checked, blocks handed to other threads

struct Held {
  uint8_t* p;
  size_t n;
  uint32_t seed;
};

struct Mailbox {
  std::mutex lock;
  std::vector<Held> items;
};

uint64_t Next(uint64_t* state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

size_t SizeFrom(uint64_t r) {
  const uint64_t k = r % 1000;
  if (k < 900) return (r >> 12) % 300;
  if (k < 995) return (r >> 12) % (64 * KiB);
  return MiB + (r >> 12) % (3 * MiB);
}

// Thread number `slot` of `threads`, seeded with `seed`.
void Worker(int slot, int threads, uint64_t seed, uint64_t ops, std::vector<Mailbox>* boxes,
            std::atomic<uint64_t>* bad) {
  uint64_t rng = 0x9e3779b97f4a7c15ull * (seed + 1);
  std::vector<Held> mine;
  auto check = [&](const Held& h) {
    if (!Holds(h.p, h.n, h.seed)) bad->fetch_add(1);
  };
  for (uint64_t i = 0; i < ops; ++i) {
    const uint64_t r = Next(&rng);
    const unsigned op = static_cast<unsigned>(r % 16);
    if (op < 6 || mine.empty()) {
      const size_t n = SizeFrom(Next(&rng));
      uint8_t* p;
      if (op == 1) {
        p = static_cast<uint8_t*>(sysalloc_calloc(1, n));
        if (p != nullptr && !IsZero(p, n)) bad->fetch_add(1);
      } else if (op == 2) {
        p = static_cast<uint8_t*>(sysalloc_aligned_alloc(size_t{32} << (r >> 8) % 10, n));
      } else {
        p = static_cast<uint8_t*>(sysalloc_malloc(n));
      }
      if (p == nullptr) {
        bad->fetch_add(1);
        continue;
      }
      const uint32_t seed = static_cast<uint32_t>(r >> 32);
      Fill(p, n, seed);
      mine.push_back({p, n, seed});
    } else if (op < 9) {
      const size_t at = (r >> 8) % mine.size();
      Held& h = mine[at];
      check(h);
      const size_t n = SizeFrom(Next(&rng)) + 1;
      uint8_t* q = static_cast<uint8_t*>(sysalloc_realloc(h.p, n));
      if (q == nullptr) {
        bad->fetch_add(1);
        continue;
      }
      if (!Holds(q, std::min(h.n, n), h.seed)) bad->fetch_add(1);
      Fill(q, n, h.seed);
      h.p = q;
      h.n = n;
    } else if (op < 11) {
      // Hand a block to another thread, which frees it.
      const size_t at = (r >> 8) % mine.size();
      Mailbox& box = (*boxes)[(slot + 1 + (r >> 20) % (threads - 1)) % threads];
      std::lock_guard<std::mutex> lock(box.lock);
      box.items.push_back(mine[at]);
      mine[at] = mine.back();
      mine.pop_back();
    } else if (op < 13) {
      std::vector<Held> got;
      {
        std::lock_guard<std::mutex> lock((*boxes)[slot].lock);
        got.swap((*boxes)[slot].items);
      }
      for (const Held& h : got) {
        check(h);
        sysalloc_free(h.p);
      }
    } else {
      const size_t at = (r >> 8) % mine.size();
      check(mine[at]);
      if (sysalloc_usable_size(mine[at].p) != mine[at].n) bad->fetch_add(1);
      sysalloc_free(mine[at].p);
      mine[at] = mine.back();
      mine.pop_back();
    }
  }
  for (const Held& h : mine) {
    check(h);
    sysalloc_free(h.p);
  }
}


// ---- the shim's purge policy: released spans stay committed within the delay,
// are decommitted after it, over the retain bound, and on trim; counters exact.

namespace shim = sysalloc::shim;

// Pages of [p, p + n) in memory (mincore).
size_t ResidentPages(const void* p, size_t n) {
  const size_t page = os::PageSize();
  const uintptr_t start = Addr(p) & ~(page - 1);
  const size_t pages = (Addr(p) + n - start + page - 1) / page;
  std::vector<unsigned char> vec(pages);
  if (mincore(reinterpret_cast<void*>(start), pages * page, vec.data()) != 0) return SIZE_MAX;
  size_t resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  return resident;
}

size_t PagesOf(const void* p, size_t n) {
  const size_t page = os::PageSize();
  const uintptr_t start = Addr(p) & ~(page - 1);
  return (Addr(p) + n - start + page - 1) / page;
}

shim::PurgeStats Purges() {
  shim::PurgeStats s;
  shim::GetPurgeStats(&s);
  return s;
}

// A large block of one granule, every page written, freed: its span goes to the
// committed cache. Returns the block's (now freed) address.
void* ReleaseOneGranule() {
  const size_t n = 2 * MiB;
  void* p = sysalloc_malloc(n);
  CHECK(p != nullptr);
  std::memset(p, 0x5a, n);
  CHECK_EQ(ResidentPages(p, n), PagesOf(p, n));
  sysalloc_free(p);
  return p;
}

void TestShimPurge() {
  const size_t n = 2 * MiB;
  const uint64_t kGranuleBytes = shim::kGranule;
  const shim::PurgeStats defaults = Purges();
  CHECK_EQ(defaults.delay_ms, shim::kDefaultPurgeDelayMs);  // the test runs without the variables
  CHECK_EQ(defaults.retain_limit_bytes, shim::kDefaultRetainBytes);

  // Within the delay: committed, counted as retained, reused without faulting.
  shim::SetPurgePolicy(600000, 64 * MiB);
  shim::TrimSpans();
  shim::PurgeStats base = Purges();
  CHECK_EQ(base.retained_spans, 0u);
  CHECK_EQ(base.retained_bytes, 0u);
  void* p = ReleaseOneGranule();
  shim::PurgeStats s = Purges();
  CHECK_EQ(s.retained_spans, 1u);
  CHECK_EQ(s.retained_bytes, kGranuleBytes);
  CHECK_EQ(shim::PurgeExpiredSpans(), 0u);
  CHECK_EQ(ResidentPages(p, n), PagesOf(p, n));
  CHECK_EQ(Purges().delay_bytes, base.delay_bytes);
  void* q = sysalloc_malloc(n);  // the newest cached span: the same memory
  CHECK(q == p);
  CHECK_EQ(ResidentPages(q, n), PagesOf(q, n));
  CHECK_EQ(Purges().retained_spans, 0u);
  sysalloc_free(q);

  // After the delay: decommitted on the next span operation, counted once.
  shim::SetPurgePolicy(1, 64 * MiB);
  base = Purges();
  CHECK_EQ(base.retained_bytes, kGranuleBytes);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_EQ(shim::PurgeExpiredSpans(), kGranuleBytes);
  s = Purges();
  CHECK_EQ(s.delay_spans - base.delay_spans, 1u);
  CHECK_EQ(s.delay_bytes - base.delay_bytes, kGranuleBytes);
  CHECK_EQ(s.retained_bytes, 0u);
  CHECK_EQ(ResidentPages(p, n), 0u);
  CHECK_EQ(shim::PurgeExpiredSpans(), 0u);
  // ... and a release after the delay purges what expired before it, not itself.
  p = ReleaseOneGranule();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  base = Purges();
  void* r = ReleaseOneGranule();
  s = Purges();
  CHECK_EQ(s.delay_spans - base.delay_spans, 1u);
  CHECK_EQ(s.retained_spans, 1u);
  CHECK_EQ(ResidentPages(r, n), PagesOf(r, n));

  // Pressure: at most retain_bytes stay committed, the oldest go first; a span
  // over a quarter of the bound is never kept.
  shim::SetPurgePolicy(600000, 2 * kGranuleBytes);
  s = Purges();
  CHECK_EQ(s.retained_bytes, 0u);  // one granule is over a quarter of two: purged at once
  CHECK_EQ(ResidentPages(r, n), 0u);
  shim::SetPurgePolicy(600000, 8 * kGranuleBytes);
  base = Purges();
  void* blocks[10];
  for (void*& b : blocks) {
    b = sysalloc_malloc(n);
    CHECK(b != nullptr);
    std::memset(b, 1, n);
  }
  for (void* b : blocks) sysalloc_free(b);
  s = Purges();
  CHECK_EQ(s.retained_spans, 8u);
  CHECK_EQ(s.retained_bytes, 8 * kGranuleBytes);
  CHECK_EQ(s.pressure_spans - base.pressure_spans, 2u);
  CHECK_EQ(s.pressure_bytes - base.pressure_bytes, 2 * kGranuleBytes);
  CHECK_EQ(ResidentPages(blocks[0], n), 0u);
  CHECK_EQ(ResidentPages(blocks[1], n), 0u);
  for (int i = 2; i < 10; ++i) CHECK_EQ(ResidentPages(blocks[i], n), PagesOf(blocks[i], n));

  // Trim: everything retained goes now.
  base = Purges();
  CHECK_EQ(shim::TrimSpans(), 8 * kGranuleBytes);
  s = Purges();
  CHECK_EQ(s.trim_spans - base.trim_spans, 8u);
  CHECK_EQ(s.trim_bytes - base.trim_bytes, 8 * kGranuleBytes);
  CHECK_EQ(s.retained_spans, 0u);
  for (void* b : blocks) CHECK_EQ(ResidentPages(b, n), 0u);
  // A purged span is reused from the pool: zero, committed again.
  void* z = sysalloc_calloc(1, n);
  CHECK(z != nullptr && IsZero(z, n));
  sysalloc_free(z);

  shim::SetPurgePolicy(defaults.delay_ms, defaults.retain_limit_bytes);
}

void TestThreads(uint64_t ops) {
  const struct sysalloc_stats base = ShimStats();
  const int threads = 4;
  std::vector<Mailbox> boxes(threads);
  std::atomic<uint64_t> bad{0};
  // Two rounds: the second runs on threads that start after the first ones
  // ended and gave their lists back.
  for (int round = 0; round < 2; ++round) {
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) pool.emplace_back(Worker, i, threads, i + round * threads, ops, &boxes, &bad);
    for (std::thread& t : pool) t.join();
  }
  for (Mailbox& box : boxes) {
    for (const Held& h : box.items) {
      if (!Holds(h.p, h.n, h.seed)) bad.fetch_add(1);
      sysalloc_free(h.p);
    }
  }
  CHECK_EQ(bad.load(), 0u);
  const struct sysalloc_stats s = ShimStats();
  CHECK_EQ(s.live_blocks, base.live_blocks);
  CHECK_EQ(s.live_bytes, base.live_bytes);
  CHECK_EQ(s.allocations - base.allocations, s.frees - base.frees);
  CHECK_EQ(s.invalid_frees, base.invalid_frees);
}

// The deliberate bugs.
int Leak() {
  void* volatile p = std::malloc(4000);
  std::memset(p, 1, 4000);
  p = nullptr;
  std::printf("core_test leak: dropped a block of 4000 bytes\n");
  return 0;
}

int Race() {
  static uint64_t counter = 0;
  auto bump = [] {
    for (int i = 0; i < 100000; ++i) counter = counter + 1;
  };
  std::thread a(bump);
  std::thread b(bump);
  a.join();
  b.join();
  std::printf("core_test race: counter %llu\n", static_cast<unsigned long long>(counter));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "all";
  const uint64_t ops = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 10000;
  if (mode == "leak") return Leak();
  if (mode == "race") return Race();
  if ((mode != "all" && mode != "threads") || ops == 0) {
    std::fprintf(stderr, "usage: core_test [all|threads|leak|race] [operations >= 1]\n");
    return 2;
  }
  if (mode == "all") {
    TestOs();
    TestOsMappings();
    TestRendezvous();
    TestBlocks();
    TestBlockFaults();
    TestPageBlocks();
    TestShimRules();
    TestShimFaults();
    TestShimPurge();
  }
  TestThreads(ops);
  if (mode == "all") {
    const struct sysalloc_stats s = ShimStats();
    CHECK_EQ(s.live_blocks, 0u);
    CHECK_EQ(s.live_bytes, 0u);
    blocks::TrimCache();
    CHECK_EQ(blocks::GetStats().live_blocks, 0u);
  }
  std::printf("core_test %s: %llu checks, %llu failed\n", mode.c_str(),
              static_cast<unsigned long long>(g_checks.load()), static_cast<unsigned long long>(g_failures.load()));
  return g_failures.load() == 0 ? 0 : 1;
}
