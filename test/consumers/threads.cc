// Threads hammering the shim: mixed malloc/calloc/realloc/free/aligned_alloc,
// every block filled with a pattern and checked before it is resized or freed,
// some blocks handed to another thread to free. Each thread counts what it did,
// so the test can hold the shim's counters to the exact totals.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "consumer.h"

namespace consumer {
namespace {

struct Totals {
  uint64_t allocations = 0;
  uint64_t reallocations = 0;
  uint64_t frees = 0;
  uint64_t handed_over = 0;  // freed by a thread other than the one that allocated
  uint64_t failures = 0;     // NULL from a call that should succeed
  uint64_t bad_content = 0;
  uint64_t bad_zero = 0;
  uint64_t bad_alignment = 0;
  uint64_t bad_size = 0;     // usable_size differs from the size asked for

  void Add(const Totals& o) {
    allocations += o.allocations;
    reallocations += o.reallocations;
    frees += o.frees;
    handed_over += o.handed_over;
    failures += o.failures;
    bad_content += o.bad_content;
    bad_zero += o.bad_zero;
    bad_alignment += o.bad_alignment;
    bad_size += o.bad_size;
  }
};

struct Held {
  uint8_t* p = nullptr;
  size_t n = 0;
  uint8_t seed = 0;
};

struct Mailbox {
  std::mutex lock;
  std::vector<Held> items;
};

// Bytes the threads hold, kept apart from the shim: raised before a call that
// may allocate, lowered after a free, so it is never below what the shim holds
// for them; and the most it reached.
struct Ledger {
  std::atomic<int64_t> held{0};
  std::atomic<int64_t> most{0};

  void Add(int64_t n) {
    const int64_t now = held.fetch_add(n) + n;
    int64_t seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
  }
};

uint64_t Next(uint64_t* state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

// Mostly small, as C libraries allocate; a few up to 64 KiB and, rarely, past
// the size classes (1 to 4 MiB).
size_t SizeFrom(uint64_t r) {
  const uint64_t k = r % 100000;
  if (k < 90000) return (r >> 20) % 257;
  if (k < 99900) return (r >> 20) % 4097;
  if (k < 99999) return (r >> 20) % 65537;
  return (size_t{1} << 20) + (r >> 20) % (size_t{3} << 20);
}

void Fill(const Held& h) {
  for (size_t i = 0; i < h.n; ++i) h.p[i] = static_cast<uint8_t>(h.seed + i);
}

bool Intact(const Held& h, size_t n) {
  uint8_t diff = 0;
  for (size_t i = 0; i < n; ++i) diff |= static_cast<uint8_t>(h.p[i] ^ static_cast<uint8_t>(h.seed + i));
  return diff == 0;
}

void Worker(const sysalloc_api* api, uint64_t seed, uint64_t ops, Mailbox* mailbox, Ledger* ledger, Totals* out) {
  Totals t;
  uint64_t state = seed * 0x9e3779b97f4a7c15ull + 1;
  Held slots[64];
  auto release = [&](const Held& h) {
    if (!Intact(h, h.n)) ++t.bad_content;
    api->free(h.p);
    ledger->Add(-static_cast<int64_t>(h.n));
    ++t.frees;
  };
  for (uint64_t i = 0; i < ops; ++i) {
    const uint64_t r = Next(&state);
    Held& h = slots[r % 64];
    const unsigned op = static_cast<unsigned>((r >> 8) % 100);
    if (h.p == nullptr) {
      size_t n = SizeFrom(Next(&state));
      size_t align = 16;
      void* p;
      // What calloc below may round n down to is still within this.
      ledger->Add(static_cast<int64_t>(n));
      const size_t asked = n;
      if (op < 50) {
        p = api->malloc(n);
      } else if (op < 70) {
        const size_t count = 1 + n % 7;
        const size_t each = n / count;
        n = count * each;
        p = api->calloc(count, each);
        if (p != nullptr && !std::all_of(static_cast<uint8_t*>(p), static_cast<uint8_t*>(p) + n,
                                         [](uint8_t b) { return b == 0; })) {
          ++t.bad_zero;
        }
      } else if (op < 90) {
        align = size_t{1} << (4 + (r >> 40) % 9);  // 16 to 4096
        p = api->aligned_alloc(align, n);
      } else {
        p = api->realloc(nullptr, n);
      }
      ledger->Add(static_cast<int64_t>(n) - static_cast<int64_t>(asked));
      if (p == nullptr) {
        ledger->Add(-static_cast<int64_t>(n));
        ++t.failures;
        continue;
      }
      ++t.allocations;
      if (reinterpret_cast<uintptr_t>(p) % align != 0) ++t.bad_alignment;
      if (api->usable_size(p) != n) ++t.bad_size;
      h = Held{static_cast<uint8_t*>(p), n, static_cast<uint8_t>(r >> 32)};
      Fill(h);
    } else if (op < 45) {
      release(h);
      h = Held{};
    } else if (op < 80) {
      const size_t n = 1 + SizeFrom(Next(&state));
      if (!Intact(h, h.n)) ++t.bad_content;
      if (n > h.n) ledger->Add(static_cast<int64_t>(n - h.n));
      void* q = api->realloc(h.p, n);
      if (q == nullptr) {
        if (n > h.n) ledger->Add(-static_cast<int64_t>(n - h.n));
        ++t.failures;
        continue;
      }
      if (n < h.n) ledger->Add(-static_cast<int64_t>(h.n - n));
      ++t.reallocations;
      Held moved{static_cast<uint8_t*>(q), n, h.seed};
      if (!Intact(moved, std::min(n, h.n))) ++t.bad_content;
      if (api->usable_size(q) != n) ++t.bad_size;
      if (reinterpret_cast<uintptr_t>(q) % 16 != 0) ++t.bad_alignment;
      h = moved;
      Fill(h);
    } else if (op < 85) {
      if (!Intact(h, h.n)) ++t.bad_content;
      if (api->realloc(h.p, 0) != nullptr) ++t.failures;
      ledger->Add(-static_cast<int64_t>(h.n));
      ++t.frees;
      h = Held{};
    } else {
      std::lock_guard<std::mutex> lock(mailbox->lock);
      mailbox->items.push_back(h);
      h = Held{};
    }
    if (i % 8 == 0) {
      Held taken;
      {
        std::lock_guard<std::mutex> lock(mailbox->lock);
        if (!mailbox->items.empty()) {
          taken = mailbox->items.back();
          mailbox->items.pop_back();
        }
      }
      if (taken.p != nullptr) {
        release(taken);
        ++t.handed_over;
      }
    }
  }
  for (Held& h : slots) {
    if (h.p != nullptr) release(h);
  }
  *out = t;
}

// runThreads(threads, opsPerThread, seed) -> totals over every thread.
Napi::Value RunThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const sysalloc_api* api = Api(env);
  const uint32_t threads = info[0].As<Napi::Number>().Uint32Value();
  const uint64_t ops = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  const uint64_t seed = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
  Mailbox mailbox;
  Ledger ledger;
  std::vector<Totals> results(threads);
  std::vector<std::thread> workers;
  for (uint32_t i = 0; i < threads; ++i) {
    workers.emplace_back(Worker, api, seed + i, ops, &mailbox, &ledger, &results[i]);
  }
  for (std::thread& w : workers) w.join();
  Totals total;
  for (const Totals& t : results) total.Add(t);
  for (const Held& h : mailbox.items) {
    if (!Intact(h, h.n)) ++total.bad_content;
    api->free(h.p);
    ledger.Add(-static_cast<int64_t>(h.n));
    ++total.frees;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("heldAtMost", static_cast<double>(ledger.most.load()));
  out.Set("heldAtEnd", static_cast<double>(ledger.held.load()));
  out.Set("allocations", static_cast<double>(total.allocations));
  out.Set("reallocations", static_cast<double>(total.reallocations));
  out.Set("frees", static_cast<double>(total.frees));
  out.Set("handedOver", static_cast<double>(total.handed_over));
  out.Set("failures", static_cast<double>(total.failures));
  out.Set("badContent", static_cast<double>(total.bad_content));
  out.Set("badZero", static_cast<double>(total.bad_zero));
  out.Set("badAlignment", static_cast<double>(total.bad_alignment));
  out.Set("badSize", static_cast<double>(total.bad_size));
  return out;
}

// handOffWhileAlive(blocks, size): thread A allocates the blocks and, still
// running, hands them to thread B, which frees them all and then allocates one
// more block (and frees it); then both end. A's bytes have not reached the
// shared total when B frees them, so B's own count goes below zero. Returns
// the bytes A allocated.
Napi::Value HandOffWhileAlive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const sysalloc_api* api = Api(env);
  const uint32_t count = info[0].As<Napi::Number>().Uint32Value();
  const size_t size = info[1].As<Napi::Number>().Uint32Value();
  // A block past 64 KiB each way publishes this thread's pending bytes first.
  api->free(api->malloc(size_t{1} << 17));
  std::vector<void*> blocks;
  std::mutex lock;
  std::condition_variable changed;
  int stage = 0;
  auto wait_for = [&](int s) {
    std::unique_lock<std::mutex> l(lock);
    changed.wait(l, [&] { return stage >= s; });
  };
  auto advance = [&](int s) {
    std::lock_guard<std::mutex> l(lock);
    stage = s;
    changed.notify_all();
  };
  std::thread a([&] {
    for (uint32_t i = 0; i < count; ++i) blocks.push_back(api->malloc(size));
    advance(1);
    wait_for(2);
  });
  std::thread b([&] {
    wait_for(1);
    for (void* p : blocks) api->free(p);
    api->free(api->malloc(16));
    advance(2);
  });
  a.join();
  b.join();
  return Napi::Number::New(env, static_cast<double>(count) * static_cast<double>(size));
}

}  // namespace

void InitThreads(Napi::Env env, Napi::Object exports) {
  exports.Set("runThreads", Napi::Function::New(env, RunThreads, "runThreads"));
  exports.Set("handOffWhileAlive", Napi::Function::New(env, HandOffWhileAlive, "handOffWhileAlive"));
}

}  // namespace consumer
