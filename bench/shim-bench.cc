// The shim against glibc's malloc/realloc/free, called the same way (through
// function pointers, as zlib, SQLite and libuv call an allocator they are given).
// Plain C++, no Node; the shim is linked as a shared library built with the
// addon's flags, so its thread-local lists cost what they cost in the addon.
//
// Usage: shim-bench <glibc|shim> <workload> [rounds]
//   workloads: zlib, sqlite, trace, mixed, mixed-heavy, mixed-4t, cross-thread, free-foreign,
//              usable-size, usable-size-hot
// Prints one line of JSON: the median ns per op over the timed rounds (after one
// warm-up round), the op count, a checksum (so nothing is optimised away), and
// the peak RSS, the minor page faults per timed round. Time is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID, which
// counts the kernel's page faults too), so that a busy machine's descheduling
// does not land on one case and not the other.

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <time.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sysalloc.h"

namespace {

struct Allocator {
  void* (*malloc)(size_t);
  void* (*calloc)(size_t, size_t);
  void* (*realloc)(void*, size_t);
  void (*free)(void*);
  size_t (*usable_size)(void*);
};

const Allocator kGlibc = {::malloc, ::calloc, ::realloc, ::free, ::malloc_usable_size};
const Allocator kShim = {sysalloc_malloc, sysalloc_calloc, sysalloc_realloc, sysalloc_free, sysalloc_usable_size};
const Allocator* A = nullptr;

uint64_t g_checksum = 0;

// The thread's CPU time; the process's (all threads) for the threaded workloads.
clockid_t g_clock = CLOCK_THREAD_CPUTIME_ID;

double CpuNs() {
  timespec t;
  clock_gettime(g_clock, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

uint64_t Next(uint64_t* s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

// ---- zlib: one deflate and one inflate stream per 64 KiB message, as a server
// compressing each message on its own does; 5 + 2 blocks per message.

constexpr size_t kMessage = 64 * 1024;
constexpr size_t kMessages = 160;

voidpf Zalloc(voidpf, uInt items, uInt size) { return A->malloc(static_cast<size_t>(items) * size); }
void Zfree(voidpf, voidpf p) { A->free(p); }

std::vector<uint8_t> Text(size_t bytes, uint64_t seed) {
  static const char* words[] = {"allocator", "block", "header", "zlib", "free", "realloc", "granule", "thread", "size", "class"};
  std::vector<uint8_t> out;
  out.reserve(bytes + 16);
  while (out.size() < bytes) {
    const uint64_t r = Next(&seed);
    const char* w = words[r % 10];
    out.insert(out.end(), w, w + std::strlen(w));
    out.push_back(r % 7 == 0 ? '\n' : ' ');
  }
  out.resize(bytes);
  return out;
}

size_t ZlibRound() {
  static const std::vector<uint8_t> input = Text(kMessage * kMessages, 42);
  static std::vector<uint8_t> packed(deflateBound(nullptr, kMessage) + 64);
  static std::vector<uint8_t> unpacked(kMessage);
  for (size_t m = 0; m < kMessages; ++m) {
    z_stream d{};
    d.zalloc = Zalloc;
    d.zfree = Zfree;
    if (deflateInit2(&d, 6, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
    d.next_in = const_cast<Bytef*>(input.data() + m * kMessage);
    d.avail_in = kMessage;
    d.next_out = packed.data();
    d.avail_out = static_cast<uInt>(packed.size());
    if (deflate(&d, Z_FINISH) != Z_STREAM_END) std::abort();
    const size_t n = packed.size() - d.avail_out;
    deflateEnd(&d);

    z_stream f{};
    f.zalloc = Zalloc;
    f.zfree = Zfree;
    if (inflateInit2(&f, 15) != Z_OK) std::abort();
    f.next_in = packed.data();
    f.avail_in = static_cast<uInt>(n);
    f.next_out = unpacked.data();
    f.avail_out = kMessage;
    if (inflate(&f, Z_FINISH) != Z_STREAM_END) std::abort();
    inflateEnd(&f);
    if (std::memcmp(unpacked.data(), input.data() + m * kMessage, kMessage) != 0) std::abort();
    g_checksum += n;
  }
  return kMessages;
}

// ---- SQLite: SQLITE_CONFIG_MALLOC with either allocator behind the same
// wrappers; per round, open an in-memory database, create a table with an index,
// insert 10,000 rows in a transaction, query, close.

void* XMalloc(int n) { return A->malloc(static_cast<size_t>(n)); }
void XFree(void* p) { A->free(p); }
void* XRealloc(void* p, int n) { return A->realloc(p, static_cast<size_t>(n)); }
int XSize(void* p) { return static_cast<int>(A->usable_size(p)); }
int XRoundup(int n) { return (n + 7) & ~7; }
int XInit(void*) { return SQLITE_OK; }
void XShutdown(void*) {}

void Must(int rc, sqlite3* db) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "sqlite: %s\n", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    std::abort();
  }
}

size_t SqliteRound() {
  constexpr int kRows = 10000;
  sqlite3* db = nullptr;
  Must(sqlite3_open(":memory:", &db), db);
  Must(sqlite3_exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score INTEGER, payload BLOB);"
                        "CREATE INDEX t_score ON t (score); BEGIN",
                    nullptr, nullptr, nullptr),
       db);
  sqlite3_stmt* ins = nullptr;
  Must(sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?, ?, ?)", -1, &ins, nullptr), db);
  char name[128];
  uint8_t blob[300];
  for (int i = 0; i < kRows; ++i) {
    const int len = std::snprintf(name, sizeof name, "name-%d-%.*s", i, i % 97, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    for (int k = 0; k < 300; ++k) blob[k] = static_cast<uint8_t>(i + k);
    sqlite3_bind_int(ins, 1, i);
    sqlite3_bind_text(ins, 2, name, len, SQLITE_TRANSIENT);
    sqlite3_bind_int(ins, 3, i * 3 % 1000);
    sqlite3_bind_blob(ins, 4, blob, i % 300, SQLITE_TRANSIENT);
    Must(sqlite3_step(ins), db);
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  Must(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db);
  const char* queries[] = {
      "SELECT count(*), sum(score), max(length(name)) FROM t",
      "SELECT score % 10, count(*), group_concat(id % 7) FROM t GROUP BY 1 ORDER BY 2 DESC",
      "SELECT name FROM t WHERE score BETWEEN 100 AND 140 ORDER BY name DESC",
  };
  for (const char* q : queries) {
    sqlite3_stmt* s = nullptr;
    Must(sqlite3_prepare_v2(db, q, -1, &s, nullptr), db);
    while (sqlite3_step(s) == SQLITE_ROW) g_checksum += static_cast<uint64_t>(sqlite3_column_bytes(s, 0));
    sqlite3_finalize(s);
  }
  sqlite3_stmt* point = nullptr;
  Must(sqlite3_prepare_v2(db, "SELECT payload FROM t WHERE id = ?", -1, &point, nullptr), db);
  for (int i = 0; i < 2000; ++i) {
    sqlite3_bind_int(point, 1, (i * 7919) % kRows);
    if (sqlite3_step(point) == SQLITE_ROW) g_checksum += static_cast<uint64_t>(sqlite3_column_bytes(point, 0));
    sqlite3_reset(point);
  }
  sqlite3_finalize(point);
  Must(sqlite3_close(db), nullptr);
  return 1;
}

// ---- trace: a fixed, seeded sequence of mixed-size malloc/calloc/realloc/free
// over 4096 slots, the first and last byte of each block written.

struct Op {
  uint32_t slot;
  uint32_t kind;  // 0 malloc, 1 calloc, 2 realloc, 3 free
  uint32_t size;
};

size_t TraceSize(uint64_t r) {
  const uint64_t k = r % 10000;
  if (k < 6000) return 8 + (r >> 16) % 121;         // 8..128
  if (k < 8500) return 129 + (r >> 16) % 896;       // ..1 KiB
  if (k < 9500) return 1025 + (r >> 16) % 7168;     // ..8 KiB
  if (k < 9950) return 8193 + (r >> 16) % 57344;    // ..64 KiB
  if (k < 9998) return 65537 + (r >> 16) % 458752;  // ..512 KiB
  return (1u << 20) + (r >> 16) % (3u << 20);       // 1..4 MiB
}

const std::vector<Op>& Trace() {
  static std::vector<Op> ops = [] {
    std::vector<Op> out;
    std::vector<uint8_t> live(4096, 0);
    uint64_t s = 7;
    for (int i = 0; i < 1000000; ++i) {
      const uint64_t r = Next(&s);
      const uint32_t slot = static_cast<uint32_t>(r % 4096);
      const uint32_t size = static_cast<uint32_t>(TraceSize(Next(&s)));
      const unsigned pick = static_cast<unsigned>((r >> 32) % 100);
      if (!live[slot]) {
        out.push_back(Op{slot, pick < 85 ? 0u : 1u, size});
        live[slot] = 1;
      } else if (pick < 70) {
        out.push_back(Op{slot, 3, 0});
        live[slot] = 0;
      } else {
        out.push_back(Op{slot, 2, size});
      }
    }
    for (uint32_t slot = 0; slot < 4096; ++slot) {
      if (live[slot]) out.push_back(Op{slot, 3, 0});
    }
    return out;
  }();
  return ops;
}

size_t TraceRound() {
  static std::vector<uint8_t*> slots(4096);
  const std::vector<Op>& ops = Trace();
  for (const Op& op : ops) {
    uint8_t*& p = slots[op.slot];
    switch (op.kind) {
      case 0: p = static_cast<uint8_t*>(A->malloc(op.size)); break;
      case 1: p = static_cast<uint8_t*>(A->calloc(1, op.size)); break;
      case 2: p = static_cast<uint8_t*>(A->realloc(p, op.size)); break;
      default:
        g_checksum += p[0];
        A->free(p);
        p = nullptr;
        continue;
    }
    p[0] = static_cast<uint8_t>(op.size);
    p[op.size - 1] = 1;
  }
  return ops.size();
}

// ---- mixed: the shape of a C library's traffic that made the shim give pages
// back too eagerly (issue 13): 1M operations over 4,096 slots, sizes 8 B to
// 1 MiB log-uniform within three bands (90% 8 B-2 KiB, 9% 2-64 KiB, 1% 64 KiB-
// 1 MiB; about 16 MiB live), an empty slot gets malloc (85%) or calloc, a live one free (60%)
// or realloc to a new size; every block written for its first min(size, 4 KiB)
// bytes after each malloc/calloc/realloc, its first byte read before free.

constexpr size_t kMixedOps = 1000000;
constexpr uint32_t kMixedSlots = 4096;

size_t MixedSize(uint64_t r) {
  const uint64_t band = r % 100;
  const double u = static_cast<double>(r >> 11) * (1.0 / 9007199254740992.0);
  double lo = 8.0, octaves = 8.0;                            // 90%: 8 B .. 2 KiB
  if (band >= 99) lo = 65536.0, octaves = 4.0;               // 1%: 64 KiB .. 1 MiB
  else if (band >= 90) lo = 2048.0, octaves = 5.0;           // 9%: 2 KiB .. 64 KiB
  return static_cast<size_t>(lo * std::exp2(octaves * u));
}

// The heavy variant: one log-shaped curve over the whole range, 8 * 2^(17 u^2)
// (69% below 2 KiB, 13% above 64 KiB; about 180 MiB live).
size_t MixedHeavySize(uint64_t r) {
  const double u = static_cast<double>(r >> 11) * (1.0 / 9007199254740992.0);
  const double size = 8.0 * std::exp2(17.0 * u * u);
  return size >= 1048576.0 ? 1048576 : static_cast<size_t>(size);
}

std::vector<Op> MakeMixed(size_t count, uint32_t slots, uint64_t seed, size_t (*sizes)(uint64_t) = MixedSize) {
  std::vector<Op> out;
  out.reserve(count + slots);
  std::vector<uint8_t> live(slots, 0);
  uint64_t s = seed;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t r = Next(&s);
    const uint32_t slot = static_cast<uint32_t>(r % slots);
    const uint32_t size = static_cast<uint32_t>(sizes(Next(&s)));
    const unsigned pick = static_cast<unsigned>((r >> 32) % 100);
    if (!live[slot]) {
      out.push_back(Op{slot, pick < 85 ? 0u : 1u, size});
      live[slot] = 1;
    } else if (pick < 60) {
      out.push_back(Op{slot, 3, 0});
      live[slot] = 0;
    } else {
      out.push_back(Op{slot, 2, size});
    }
  }
  for (uint32_t slot = 0; slot < slots; ++slot) {
    if (live[slot]) out.push_back(Op{slot, 3, 0});
  }
  return out;
}

uint64_t RunMixed(const std::vector<Op>& ops, std::vector<uint8_t*>& slots) {
  uint64_t sum = 0;
  for (const Op& op : ops) {
    uint8_t*& p = slots[op.slot];
    switch (op.kind) {
      case 0: p = static_cast<uint8_t*>(A->malloc(op.size)); break;
      case 1: p = static_cast<uint8_t*>(A->calloc(1, op.size)); break;
      case 2: p = static_cast<uint8_t*>(A->realloc(p, op.size)); break;
      default:
        sum += p[0];
        A->free(p);
        p = nullptr;
        continue;
    }
    if (p == nullptr) std::abort();
    std::memset(p, static_cast<int>(op.size), op.size < 4096 ? op.size : 4096);
  }
  return sum;
}

size_t MixedRound() {
  static const std::vector<Op> ops = MakeMixed(kMixedOps, kMixedSlots, 11);
  static std::vector<uint8_t*> slots(kMixedSlots);
  g_checksum += RunMixed(ops, slots);
  return ops.size();
}

size_t MixedHeavyRound() {
  static const std::vector<Op> ops = MakeMixed(kMixedOps, kMixedSlots, 11, MixedHeavySize);
  static std::vector<uint8_t*> slots(kMixedSlots);
  g_checksum += RunMixed(ops, slots);
  return ops.size();
}

// Four threads, each its own trace of the same shape (4,096 slots of its own,
// 250,000 operations): 1M operations a round in all. Time is the process's CPU
// time, so a 2-core machine running 4 threads is not charged for waiting.
constexpr unsigned kMixedThreads = 4;

size_t Mixed4Round() {
  static const std::vector<std::vector<Op>> traces = [] {
    std::vector<std::vector<Op>> out;
    for (unsigned t = 0; t < kMixedThreads; ++t) out.push_back(MakeMixed(kMixedOps / kMixedThreads, kMixedSlots, 101 + t));
    return out;
  }();
  std::vector<std::thread> threads;
  std::vector<uint64_t> sums(kMixedThreads);
  size_t ops = 0;
  for (unsigned t = 0; t < kMixedThreads; ++t) {
    ops += traces[t].size();
    threads.emplace_back([t, &sums] {
      std::vector<uint8_t*> slots(kMixedSlots);
      sums[t] = RunMixed(traces[t], slots);
    });
  }
  for (std::thread& th : threads) th.join();
  for (uint64_t s : sums) g_checksum += s;
  return ops;
}

// ---- cross-thread: two threads allocate (8 B to 64 KiB, the same log shape,
// first 64 bytes written) and hand batches of 256 blocks to two other threads
// that free them, as a driver's IO threads free what its callers allocated.
// At most 8 batches per pair in flight. One op = one malloc and its free.

constexpr size_t kCrossBlocks = 200000;  // per allocating thread and round
constexpr size_t kCrossBatch = 256;

struct Handoff {
  std::mutex lock;
  std::condition_variable changed;
  std::deque<std::vector<void*>> batches;
  bool done = false;
};

size_t CrossRound() {
  constexpr unsigned kPairs = 2;
  Handoff pipes[kPairs];
  std::vector<std::thread> threads;
  std::vector<uint64_t> sums(kPairs);
  for (unsigned t = 0; t < kPairs; ++t) {
    Handoff& h = pipes[t];
    threads.emplace_back([&h, t] {
      uint64_t s = 1000 + t;
      std::vector<void*> batch;
      for (size_t i = 0; i < kCrossBlocks; ++i) {
        size_t size = MixedSize(Next(&s));
        size = 8 + size % 65536;
        uint8_t* p = static_cast<uint8_t*>(A->malloc(size));
        if (p == nullptr) std::abort();
        std::memset(p, 1, size < 64 ? size : 64);
        batch.push_back(p);
        if (batch.size() == kCrossBatch || i + 1 == kCrossBlocks) {
          std::unique_lock<std::mutex> lock(h.lock);
          h.changed.wait(lock, [&h] { return h.batches.size() < 8; });
          h.batches.push_back(std::move(batch));
          batch = std::vector<void*>();
          batch.reserve(kCrossBatch);
          h.changed.notify_all();
        }
      }
      std::lock_guard<std::mutex> lock(h.lock);
      h.done = true;
      h.changed.notify_all();
    });
    threads.emplace_back([&h, &sums, t] {
      uint64_t sum = 0;
      for (;;) {
        std::vector<void*> batch;
        {
          std::unique_lock<std::mutex> lock(h.lock);
          h.changed.wait(lock, [&h] { return !h.batches.empty() || h.done; });
          if (h.batches.empty()) break;
          batch = std::move(h.batches.front());
          h.batches.pop_front();
          h.changed.notify_all();
        }
        for (void* p : batch) {
          sum += *static_cast<uint8_t*>(p);
          A->free(p);
        }
      }
      sums[t] = sum;
    });
  }
  for (std::thread& th : threads) th.join();
  for (uint64_t s : sums) g_checksum += s;
  return kPairs * kCrossBlocks;
}

// ---- foreign pointers: freeing blocks glibc allocated, through the allocator
// (the shim recognises them and hands them to glibc's free).

size_t FreeForeignRound() {
  constexpr size_t kBlocks = 100000;
  static std::vector<void*> blocks(kBlocks);
  uint64_t s = 3;
  for (size_t i = 0; i < kBlocks; ++i) blocks[i] = ::malloc(8 + Next(&s) % 1000);
  const double t0 = CpuNs();
  for (void* p : blocks) A->free(p);
  return static_cast<size_t>(CpuNs() - t0);
}

// ---- usable_size of the allocator's own blocks: the cost of finding a block's
// header, which free and realloc pay too (for the shim: the granule lookup and
// the block arithmetic).

// cold: 100,000 blocks visited in random order (mostly cache misses);
// hot: 1,000 blocks visited again and again (the instructions alone).
size_t UsableSize(size_t count, int reps) {
  static std::vector<void*> blocks;
  if (blocks.empty()) {
    uint64_t s = 5;
    for (size_t i = 0; i < count; ++i) blocks.push_back(A->malloc(8 + Next(&s) % 1000));
    uint64_t t = 9;
    for (size_t i = count - 1; i > 0; --i) std::swap(blocks[i], blocks[Next(&t) % (i + 1)]);
  }
  for (int rep = 0; rep < reps; ++rep) {
    for (void* p : blocks) g_checksum += A->usable_size(p);
  }
  return count * static_cast<size_t>(reps);
}
size_t UsableSizeColdRound() { return UsableSize(100000, 10); }
size_t UsableSizeHotRound() { return UsableSize(1000, 1000); }

long PeakRssKiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

long MinorFaults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// The file that serves malloc in this process: libc, or a preloaded allocator.
std::string MallocProvider() {
  Dl_info info{};
  void* sym = dlsym(RTLD_DEFAULT, "malloc");
  if (sym == nullptr || dladdr(sym, &info) == 0 || info.dli_fname == nullptr) return "?";
  return info.dli_fname;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--versions") {
    std::printf("{\"glibc\":\"%s\",\"zlib\":\"%s\",\"sqlite\":\"%s\",\"malloc\":\"%s\"}\n", gnu_get_libc_version(),
                zlibVersion(), sqlite3_libversion(), MallocProvider().c_str());
    return 0;
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: shim-bench <glibc|system|shim> <zlib|sqlite|trace|mixed|mixed-heavy|mixed-4t|cross-thread|free-foreign|usable-size|usable-size-hot> [rounds]\n");
    return 2;
  }
  const std::string which = argv[1];
  const std::string workload = argv[2];
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
  // "system" is whatever serves malloc: glibc, or mimalloc/jemalloc under LD_PRELOAD.
  if (which == "glibc" || which == "system") A = &kGlibc;
  else if (which == "shim") A = &kShim;
  else return 2;

  size_t (*round)() = nullptr;
  bool self_timed = false;  // the round returns its own nanoseconds for a fixed op count
  size_t self_timed_ops = 0;
  if (workload == "zlib") {
    round = ZlibRound;
  } else if (workload == "sqlite") {
    static sqlite3_mem_methods methods = {XMalloc, XFree, XRealloc, XSize, XRoundup, XInit, XShutdown, nullptr};
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) != SQLITE_OK || sqlite3_initialize() != SQLITE_OK) return 1;
    round = SqliteRound;
  } else if (workload == "trace") {
    round = TraceRound;
  } else if (workload == "mixed") {
    round = MixedRound;
  } else if (workload == "mixed-heavy") {
    round = MixedHeavyRound;
  } else if (workload == "mixed-4t") {
    round = Mixed4Round;
    g_clock = CLOCK_PROCESS_CPUTIME_ID;
  } else if (workload == "cross-thread") {
    round = CrossRound;
    g_clock = CLOCK_PROCESS_CPUTIME_ID;
  } else if (workload == "free-foreign") {
    round = FreeForeignRound;
    self_timed = true;
    self_timed_ops = 100000;
  } else if (workload == "usable-size") {
    round = UsableSizeColdRound;
  } else if (workload == "usable-size-hot") {
    round = UsableSizeHotRound;
  } else {
    return 2;
  }

  round();  // warm-up: first-touch page faults, lazy initialisation
  const long faults0 = MinorFaults();
  std::vector<double> ns;
  size_t ops = 0;
  for (int r = 0; r < rounds; ++r) {
    const double t0 = CpuNs();
    const size_t result = round();
    const double t1 = CpuNs();
    if (self_timed) {
      ops = self_timed_ops;
      ns.push_back(static_cast<double>(result) / static_cast<double>(ops));
    } else {
      ops = result;
      ns.push_back((t1 - t0) / static_cast<double>(ops));
    }
  }
  const long faults = MinorFaults() - faults0;
  std::sort(ns.begin(), ns.end());
  std::printf("{\"nsPerOp\":%.3f,\"ops\":%zu,\"checksum\":%llu,\"peakRssKiB\":%ld,\"minorFaultsPerRound\":%.0f}\n",
              ns[ns.size() / 2], ops, static_cast<unsigned long long>(g_checksum), PeakRssKiB(),
              static_cast<double>(faults) / rounds);
  return 0;
}
