// The shim against glibc's malloc/realloc/free, called the same way (through
// function pointers, as zlib, SQLite and libuv call an allocator they are given).
// Plain C++, no Node; the shim is linked as a shared library built with the
// addon's flags, so its thread-local lists cost what they cost in the addon.
//
// Usage: shim-bench <glibc|shim> <workload> [rounds]
//   workloads: zlib, sqlite, trace, free-foreign, usable-size, usable-size-hot
// Prints one line of JSON: the median ns per op over the timed rounds (after one
// warm-up round), the op count, a checksum (so nothing is optimised away), and
// the peak RSS. Time is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID, which
// counts the kernel's page faults too), so that a busy machine's descheduling
// does not land on one case and not the other.

#include <gnu/libc-version.h>
#include <malloc.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <time.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
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

double CpuNs() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
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

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--versions") {
    std::printf("{\"glibc\":\"%s\",\"zlib\":\"%s\",\"sqlite\":\"%s\"}\n", gnu_get_libc_version(), zlibVersion(),
                sqlite3_libversion());
    return 0;
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: shim-bench <glibc|shim> <zlib|sqlite|trace|free-foreign|usable-size|usable-size-hot> [rounds]\n");
    return 2;
  }
  const std::string which = argv[1];
  const std::string workload = argv[2];
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
  if (which == "glibc") A = &kGlibc;
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
  std::sort(ns.begin(), ns.end());
  std::printf("{\"nsPerOp\":%.3f,\"ops\":%zu,\"checksum\":%llu,\"peakRssKiB\":%ld}\n", ns[ns.size() / 2], ops,
              static_cast<unsigned long long>(g_checksum), PeakRssKiB());
  return 0;
}
