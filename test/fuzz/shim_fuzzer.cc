// libFuzzer target for the shim's C API (native/include/sysalloc.h), built with
// -fsanitize=fuzzer,address,undefined and the fault switch by
// scripts/fuzz-native.sh (npm run fuzz:native).
//
// The input is a program: each operation is an opcode byte and its operands,
// over a table of 64 slots of live blocks. malloc, calloc, realloc,
// aligned_alloc, free, usable_size, double frees, frees and reallocs of
// pointers into a block or misaligned, pointers of the system allocator's, and
// OS refusals (native/fault.h) armed for the next calls. Every live block holds
// a pattern of its own, checked before it is resized or freed and by a check-all
// operation, so blocks that overlap or get corrupted are found; every result is
// held to the header's rules (alignment, usable size, zeroing, errno, the old
// block intact after a failed realloc); the counters are held to a ledger after
// every operation. At the end of each input everything is freed and the
// counters must be back where they started. A failed check aborts with a message.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fault.h"
#include "include/sysalloc.h"
#include "shim/layout.h"

namespace {

namespace fault = sysalloc::fault;

constexpr size_t kSlots = 64;
constexpr size_t MiB = 1024 * 1024;
constexpr size_t kDense = 64 * 1024;  // blocks up to this size are patterned whole
constexpr size_t kPage = 4096;

struct Slot {
  uint8_t* p = nullptr;
  size_t n = 0;
  size_t align = 16;  // what the pointer must be a multiple of
  uint32_t seed = 0;
};

Slot g_slots[kSlots];

// What the counters must say, relative to the start of the input.
struct Ledger {
  uint64_t live_blocks = 0;
  uint64_t live_bytes = 0;
  uint64_t foreign_frees = 0;
  uint64_t invalid_frees = 0;
};

[[noreturn]] void Fail(const char* what, size_t slot, size_t n) {
  std::fprintf(stderr, "shim_fuzzer: %s (slot %zu, size %zu)\n", what, slot, n);
  std::abort();
}

#define EXPECT(cond, slot, n)             \
  do {                                    \
    if (!(cond)) Fail(#cond, (slot), (n)); \
  } while (0)

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool More() const { return pos_ < size_; }
  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() | (U8() << 8)); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Mostly small, as C libraries allocate; some around the largest size class;
// a few large blocks of granules (1 to 9 MiB).
size_t SizeFrom(Reader& in) {
  const uint8_t k = in.U8();
  if (k < 128) return k;
  if (k < 192) return in.U16();
  if (k < 232) return (static_cast<size_t>(in.U16()) * 17) % (sysalloc::shim::kSmallMax + 8192);
  if (k < 248) return sysalloc::shim::kSmallMax - 128 + in.U8();
  return (1 + in.U8() % 8) * MiB + in.U16();
}

inline uint8_t Pattern(size_t i, uint32_t seed) { return static_cast<uint8_t>((i * 131 + seed * 7 + 1) & 0xff); }

// Offsets a pattern covers: every byte of a small block; of a large one, the
// first and last page and 64 bytes of every page between.
template <typename F>
void ForPatterned(size_t n, F f) {
  if (n <= kDense) {
    for (size_t i = 0; i < n; ++i) f(i);
    return;
  }
  for (size_t i = 0; i < kPage; ++i) f(i);
  for (size_t page = kPage; page + kPage < n; page += kPage) {
    for (size_t i = page; i < page + 64; ++i) f(i);
  }
  for (size_t i = n - kPage; i < n; ++i) f(i);
}

void Fill(uint8_t* p, size_t n, uint32_t seed) {
  ForPatterned(n, [&](size_t i) { p[i] = Pattern(i, seed); });
}

// The first `upto` bytes of the pattern, at the offsets a block of n patterns.
bool Holds(const uint8_t* p, size_t n, size_t upto, uint32_t seed) {
  bool ok = true;
  ForPatterned(n, [&](size_t i) {
    if (i < upto && p[i] != Pattern(i, seed)) ok = false;
  });
  return ok;
}

bool ZeroAt(const uint8_t* p, size_t n) {
  bool ok = true;
  ForPatterned(n, [&](size_t i) {
    if (p[i] != 0) ok = false;
  });
  return ok;
}

struct sysalloc_stats Stats() {
  struct sysalloc_stats s;
  sysalloc_get_stats(&s);
  return s;
}

void CheckCounters(const struct sysalloc_stats& base, const Ledger& l) {
  const struct sysalloc_stats s = Stats();
  EXPECT(s.live_blocks == base.live_blocks + l.live_blocks, 0, s.live_blocks);
  EXPECT(s.live_bytes == base.live_bytes + l.live_bytes, 0, s.live_bytes);
  EXPECT(s.peak_bytes >= s.live_bytes, 0, s.peak_bytes);
  EXPECT(s.foreign_frees == base.foreign_frees + l.foreign_frees, 0, s.foreign_frees);
  EXPECT(s.invalid_frees == base.invalid_frees + l.invalid_frees, 0, s.invalid_frees);
}

// A NULL where a block was asked for: only as the OS's refusal (an armed
// fault that fired), with errno ENOMEM.
void ExpectRefused(uint64_t injected_before, size_t slot, size_t n) {
  EXPECT(errno == ENOMEM, slot, n);
  EXPECT(fault::Injected() > injected_before, slot, n);
}

void Drop(Slot& s, Ledger& l) {
  l.live_blocks -= 1;
  l.live_bytes -= s.n;
  s = Slot{};
}

void Keep(Slot& s, uint8_t* p, size_t n, size_t align, uint32_t seed, Ledger& l) {
  s = Slot{p, n, align, seed};
  l.live_blocks += 1;
  l.live_bytes += n;
  Fill(p, n, seed);
}

void CheckSlot(const Slot& s, size_t slot) {
  EXPECT(reinterpret_cast<uintptr_t>(s.p) % s.align == 0, slot, s.n);
  EXPECT(sysalloc_usable_size(s.p) == s.n, slot, s.n);
  EXPECT(Holds(s.p, s.n, s.n, s.seed), slot, s.n);
}

void FreeSlot(Slot& s, size_t slot, Ledger& l) {
  CheckSlot(s, slot);
  sysalloc_free(s.p);
  Drop(s, l);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in(data, size);
  const struct sysalloc_stats base = Stats();
  Ledger l;
  uint32_t next_seed = 1;

  while (in.More()) {
    const uint8_t op = in.U8() % 12;
    const size_t at = in.U8() % kSlots;
    Slot& s = g_slots[at];
    const uint64_t injected = fault::Injected();
    errno = 0;
    switch (op) {
      case 0:
      case 1: {  // malloc, or calloc
        if (s.p != nullptr) FreeSlot(s, at, l);
        size_t n = SizeFrom(in);
        uint8_t* p;
        if (op == 0) {
          p = static_cast<uint8_t*>(sysalloc_malloc(n));
        } else {
          const size_t count = 1 + in.U8() % 8;
          n = n / count * count;
          p = static_cast<uint8_t*>(sysalloc_calloc(count, n / count));
        }
        if (p == nullptr) {
          ExpectRefused(injected, at, n);
          break;
        }
        if (op == 1) EXPECT(ZeroAt(p, n), at, n);
        Keep(s, p, n, 16, next_seed++, l);
        EXPECT(sysalloc_usable_size(p) == n && reinterpret_cast<uintptr_t>(p) % 16 == 0, at, n);
        break;
      }
      case 2: {  // realloc: the contents move, a refusal leaves the block as it was
        const size_t n = SizeFrom(in);
        if (s.p == nullptr) {
          uint8_t* p = static_cast<uint8_t*>(sysalloc_realloc(nullptr, n));
          if (p == nullptr) {
            ExpectRefused(injected, at, n);
            break;
          }
          Keep(s, p, n, 16, next_seed++, l);
          break;
        }
        CheckSlot(s, at);
        uint8_t* q = static_cast<uint8_t*>(sysalloc_realloc(s.p, n));
        if (n == 0) {
          EXPECT(q == nullptr, at, n);  // realloc(p, 0) frees p
          Drop(s, l);
          break;
        }
        if (q == nullptr) {
          ExpectRefused(injected, at, n);
          CheckSlot(s, at);
          break;
        }
        // The offsets the old block patterned, below the smaller size, moved with it.
        EXPECT(Holds(q, s.n, s.n < n ? s.n : n, s.seed), at, n);
        const uint32_t seed = s.seed;
        Drop(s, l);
        Keep(s, q, n, 16, seed, l);
        break;
      }
      case 3: {  // free
        if (s.p != nullptr) FreeSlot(s, at, l);
        break;
      }
      case 4: {  // aligned_alloc, now and then with an alignment that is not a power of two
        if (s.p != nullptr) FreeSlot(s, at, l);
        const uint8_t a = in.U8();
        const size_t n = SizeFrom(in);
        if (a & 0x80) {
          const size_t bad = 3 + 2 * static_cast<size_t>(a & 0x3f);
          EXPECT(sysalloc_aligned_alloc(bad, n) == nullptr && errno == EINVAL, at, n);
          break;
        }
        const size_t align = size_t{1} << (a % 25);  // to 16 MiB
        uint8_t* p = static_cast<uint8_t*>(sysalloc_aligned_alloc(align, n));
        if (p == nullptr) {
          ExpectRefused(injected, at, n);
          break;
        }
        Keep(s, p, n, align < 16 ? 16 : align, next_seed++, l);
        CheckSlot(s, at);
        break;
      }
      case 5: {  // usable_size and the pattern
        if (s.p != nullptr) CheckSlot(s, at);
        break;
      }
      case 6: {  // a double free: counted, nothing else changes
        if (s.p == nullptr) break;
        uint8_t* p = s.p;
        FreeSlot(s, at, l);
        sysalloc_free(p);
        l.invalid_frees += 1;
        EXPECT(sysalloc_usable_size(p) == 0, at, 0);
        break;
      }
      case 7: {  // free or realloc of a pointer into a block (any offset): counted, the block intact
        if (s.p == nullptr || s.n < 2) break;
        const size_t off = 1 + in.U16() % (s.n - 1);
        if (in.U8() & 1) {
          sysalloc_free(s.p + off);
        } else {
          EXPECT(sysalloc_realloc(s.p + off, 10) == nullptr && errno == EINVAL, at, off);
        }
        l.invalid_frees += 1;
        CheckSlot(s, at);
        break;
      }
      case 8: {  // a pointer of the system allocator's: freed, or moved in, through the shim
        const size_t n = 1 + in.U8();
        uint8_t* f = static_cast<uint8_t*>(std::malloc(n));
        EXPECT(f != nullptr, at, n);
        std::memset(f, 0x5a, n);
        if (s.p != nullptr || (in.U8() & 1)) {
          sysalloc_free(f);
          l.foreign_frees += 1;
          break;
        }
        const size_t to = SizeFrom(in) + 1;
        uint8_t* q = static_cast<uint8_t*>(sysalloc_realloc(f, to));
        if (q == nullptr) {
          ExpectRefused(injected, at, to);
          sysalloc_free(f);  // still the system allocator's
          l.foreign_frees += 1;
          break;
        }
        l.foreign_frees += 1;
        for (size_t i = 0; i < n && i < to; ++i) EXPECT(q[i] == 0x5a, at, i);
        Keep(s, q, to, 16, next_seed++, l);
        break;
      }
      case 9: {  // the OS refuses: the next call, or several, or all from the n-th on
        const uint8_t a = in.U8();
        fault::Arm(1 + a % 4, (a & 0x30) == 0x30 ? UINT64_MAX : 1 + (a >> 6));
        break;
      }
      case 10: {  // the OS serves again
        fault::Arm(0, 0);
        break;
      }
      case 11: {  // every live block still holds its own pattern
        for (size_t i = 0; i < kSlots; ++i) {
          if (g_slots[i].p != nullptr) CheckSlot(g_slots[i], i);
        }
        break;
      }
    }
    CheckCounters(base, l);
  }

  fault::Arm(0, 0);
  for (size_t i = 0; i < kSlots; ++i) {
    if (g_slots[i].p != nullptr) FreeSlot(g_slots[i], i, l);
  }
  CheckCounters(base, l);
  EXPECT(l.live_blocks == 0 && l.live_bytes == 0, 0, 0);
  return 0;
}
