// What a 1 MiB block costs from each OS allocator path, in plain C++ (no Node).
//
// Backs the comment in native/os_posix.cc on why large blocks are mapped with
// mmap and kept in a reuse cache. Every op gets a 1 MiB block, writes one byte
// in each 4 KiB page (so every page is really faulted in), and gives it back.
//
// Usage: os-large <case> [ops-per-batch] [batches]
// Prints one line of JSON: the first op alone (a fresh process, so nothing is
// cached yet), the median and minimum us/op over the batches that follow, and
// how many ops glibc served with a chunk of its own mmap.
//
// Run one case per process (os-large.js does): glibc's dynamic mmap threshold
// is process state, and one case's frees would change what the next one gets.

#include <gnu/libc-version.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

constexpr size_t kSize = 1 << 20;
constexpr size_t kTouchStride = 4096;

// One byte per 4 KiB page; the empty asm with a memory clobber keeps the
// compiler from dropping the stores to memory that is freed right after.
void TouchPages(unsigned char* p) {
  for (size_t off = 0; off < kSize; off += kTouchStride) p[off] = static_cast<unsigned char>(off >> 12);
  asm volatile("" : : "r"(p) : "memory");
}

// glibc marks a chunk it mapped for itself with bit 1 (IS_MMAPPED) of the size
// word just before the user pointer. An implementation detail of glibc's
// malloc, read here only to report which path served a request.
bool GlibcMmapped(const void* user) {
  const auto* size_word = reinterpret_cast<const size_t*>(reinterpret_cast<uintptr_t>(user) - sizeof(size_t));
  return (*size_word & 2) != 0;
}

double NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

[[noreturn]] void Fail(const char* what) {
  std::perror(what);
  std::exit(1);
}

// One op of a case; returns whether glibc served it from an mmap of its own.
using Op = bool (*)();

bool PosixMemalign4k() {
  void* p = nullptr;
  if (posix_memalign(&p, 4096, kSize) != 0) Fail("posix_memalign");
  TouchPages(static_cast<unsigned char*>(p));
  const bool mapped = GlibcMmapped(p);
  std::free(p);
  return mapped;
}

bool PosixMemalign1m() {
  void* p = nullptr;
  if (posix_memalign(&p, kSize, kSize) != 0) Fail("posix_memalign");
  TouchPages(static_cast<unsigned char*>(p));
  const bool mapped = GlibcMmapped(p);
  std::free(p);
  return mapped;
}

bool MmapMunmap() {
  void* p = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) Fail("mmap");
  TouchPages(static_cast<unsigned char*>(p));
  if (munmap(p, kSize) != 0) Fail("munmap");
  return false;
}

bool MallocAlignedByHand() {
  void* raw = std::malloc(kSize + 4096);
  if (raw == nullptr) Fail("malloc");
  const uintptr_t aligned = (reinterpret_cast<uintptr_t>(raw) + 4095) & ~uintptr_t{4095};
  TouchPages(reinterpret_cast<unsigned char*>(aligned));
  const bool mapped = GlibcMmapped(raw);
  std::free(raw);
  return mapped;
}

// The region a cache hit hands back: mapped once, pages already present.
unsigned char* reused = nullptr;

bool ReuseMemset() {
  std::memset(reused, 0, kSize);
  TouchPages(reused);
  return false;
}

bool ReuseTouchOnly() {
  TouchPages(reused);
  return false;
}

struct Case {
  const char* name;
  const char* what;
  Op op;
  void (*setup)();
  bool via_malloc;  // whether glibc's malloc chooses the path, so glibcMmapped means something
};

void NoSetup() {}

void RaiseMmapThreshold() {
  if (mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1) Fail("mallopt(M_MMAP_THRESHOLD)");
}

void RaiseMmapAndTrimThresholds() {
  RaiseMmapThreshold();
  if (mallopt(M_TRIM_THRESHOLD, 64 << 20) != 1) Fail("mallopt(M_TRIM_THRESHOLD)");
}

void MapReused() {
  void* p = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) Fail("mmap");
  reused = static_cast<unsigned char*>(p);
  std::memset(reused, 1, kSize);
}

const Case kCases[] = {
    {"a-memalign-4k", "posix_memalign(4096, 1 MiB) + free", PosixMemalign4k, NoSetup, true},
    {"b-memalign-1m", "posix_memalign(1 MiB, 1 MiB) + free", PosixMemalign1m, NoSetup, true},
    {"c-mmap", "mmap + munmap of 1 MiB", MmapMunmap, NoSetup, false},
    {"d-malloc", "malloc(1 MiB + 4096) aligned by hand + free", MallocAlignedByHand, NoSetup, true},
    {"e-malloc-threshold", "(d) after mallopt(M_MMAP_THRESHOLD, 32 MiB)", MallocAlignedByHand, RaiseMmapThreshold, true},
    {"e2-malloc-threshold-trim", "(e) and mallopt(M_TRIM_THRESHOLD, 64 MiB)", MallocAlignedByHand,
     RaiseMmapAndTrimThresholds, true},
    {"f-reuse-memset", "reuse of a mapped region: memset 0 of 1 MiB", ReuseMemset, MapReused, false},
    {"f-reuse-touch", "reuse of a mapped region, no memset", ReuseTouchOnly, MapReused, false},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--list") == 0) {
    for (const Case& c : kCases) std::printf("%s\t%s\t%s\n", c.name, c.what, c.via_malloc ? "malloc" : "-");
    std::printf("#glibc\t%s\n#page\t%ld\n", gnu_get_libc_version(), sysconf(_SC_PAGESIZE));
    return 0;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <case> [ops-per-batch] [batches] | --list\n", argv[0]);
    return 2;
  }
  const Case* chosen = nullptr;
  for (const Case& c : kCases) {
    if (std::strcmp(c.name, argv[1]) == 0) chosen = &c;
  }
  if (chosen == nullptr) {
    std::fprintf(stderr, "unknown case %s (try --list)\n", argv[1]);
    return 2;
  }
  const int ops = argc >= 3 ? std::atoi(argv[2]) : 200;
  const int batches = argc >= 4 ? std::atoi(argv[3]) : 9;
  if (ops <= 0 || batches <= 0) {
    std::fprintf(stderr, "ops and batches must be positive\n");
    return 2;
  }

  chosen->setup();

  double start = NowUs();
  int mapped = chosen->op() ? 1 : 0;
  const double first = NowUs() - start;

  std::vector<double> per_op;
  for (int b = 0; b < batches; b++) {
    start = NowUs();
    for (int i = 0; i < ops; i++) mapped += chosen->op() ? 1 : 0;
    per_op.push_back((NowUs() - start) / ops);
  }
  std::sort(per_op.begin(), per_op.end());
  const double median = per_op[per_op.size() / 2];

  std::printf("{\"case\":\"%s\",\"firstUs\":%.2f,\"medianUs\":%.3f,\"minUs\":%.3f,\"ops\":%d,\"glibcMmapped\":%d}\n",
              chosen->name, first, median, per_op.front(), 1 + ops * batches, mapped);
  return 0;
}
