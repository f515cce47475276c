// The testing addon's own exports, under `testing` (native/binding.cc adds them
// when SYSALLOC_TESTING is defined): the fault switch of native/fault.h, calls
// through a shim function table as a C driver makes them, and, in a build with
// AddressSanitizer and UBSan only, deliberate bugs the sanitizers must catch.
#include <napi.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <thread>

#include "blocks.h"
#include "fault.h"
#include "include/sysalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define TESTING_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TESTING_SANITIZED 1
#endif
#endif

// Callers of the shim that the debug mode's reports must name
// (test/shim-debug.test.ts): exported, so that dladdr finds their names
// (scripts/native-check.sh lets the testing addon export sysalloc_testing_*),
// and never tail calls, so that the shim's return address lies in them.
#if defined(_WIN32)
#define TESTING_CALLER extern "C" __declspec(dllexport) __declspec(noinline)
#else
#define TESTING_CALLER extern "C" __attribute__((visibility("default"), noinline))
#endif
volatile uintptr_t g_testing_last_call = 0;

TESTING_CALLER void* sysalloc_testing_shim_malloc(const sysalloc_api* api, size_t n) {
  void* p = api->malloc(n);
  g_testing_last_call = reinterpret_cast<uintptr_t>(p);
  return p;
}

TESTING_CALLER void* sysalloc_testing_shim_realloc(const sysalloc_api* api, void* p, size_t n) {
  void* q = api->realloc(p, n);
  g_testing_last_call = reinterpret_cast<uintptr_t>(q);
  return q;
}

TESTING_CALLER void sysalloc_testing_shim_free(const sysalloc_api* api, void* p) {
  api->free(p);
  g_testing_last_call = reinterpret_cast<uintptr_t>(p);
}

namespace sysalloc {
namespace testing {
namespace {

const sysalloc_api* g_api = nullptr;
int g_errno = 0;

uint64_t U64(const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless = false;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  return static_cast<uint64_t>(v.As<Napi::Number>().DoubleValue());
}

void* Ptr(const Napi::Value& v) { return reinterpret_cast<void*>(static_cast<uintptr_t>(U64(v))); }

Napi::Value FromPtr(Napi::Env env, const void* p) {
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)));
}

const sysalloc_api* Api(Napi::Env env) {
  if (g_api == nullptr) throw Napi::Error::New(env, "testing.shimTable(table) first");
  return g_api;
}

// Each call clears errno first and keeps what it left for lastErrno().
template <typename F>
void* KeepErrno(F f) {
  errno = 0;
  void* p = f();
  g_errno = errno;
  return p;
}

// faultArm(n, count): from the n-th OS allocation on, count of them fail; count 0 disarms.
Napi::Value FaultArm(const Napi::CallbackInfo& info) {
  fault::Arm(U64(info[0]), U64(info[1]));
  return info.Env().Undefined();
}

Napi::Value FaultCalls(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(fault::Calls()));
}

Napi::Value FaultInjected(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(fault::Injected()));
}

// shimTable(table: bigint): the table the shim calls below go through.
Napi::Value ShimTable(const Napi::CallbackInfo& info) {
  const sysalloc_api* api = sysalloc_api_at(U64(info[0]));
  if (api == nullptr) throw Napi::Error::New(info.Env(), "not a sysalloc_api table");
  g_api = api;
  return info.Env().Undefined();
}

Napi::Value Malloc(const Napi::CallbackInfo& info) {
  const size_t n = U64(info[0]);
  const sysalloc_api* api = Api(info.Env());
  return FromPtr(info.Env(), KeepErrno([&] { return api->malloc(n); }));
}

Napi::Value Calloc(const Napi::CallbackInfo& info) {
  const size_t count = U64(info[0]);
  const size_t size = U64(info[1]);
  const sysalloc_api* api = Api(info.Env());
  return FromPtr(info.Env(), KeepErrno([&] { return api->calloc(count, size); }));
}

Napi::Value Realloc(const Napi::CallbackInfo& info) {
  void* p = Ptr(info[0]);
  const size_t n = U64(info[1]);
  const sysalloc_api* api = Api(info.Env());
  return FromPtr(info.Env(), KeepErrno([&] { return api->realloc(p, n); }));
}

Napi::Value AlignedAlloc(const Napi::CallbackInfo& info) {
  const size_t align = U64(info[0]);
  const size_t n = U64(info[1]);
  const sysalloc_api* api = Api(info.Env());
  return FromPtr(info.Env(), KeepErrno([&] { return api->aligned_alloc(align, n); }));
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  Api(info.Env())->free(Ptr(info[0]));
  return info.Env().Undefined();
}

Napi::Value UsableSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Api(info.Env())->usable_size(Ptr(info[0]))));
}

// callerMalloc(n), callerRealloc(p, n), callerFree(p): the same calls made
// from the exported callers above.
Napi::Value CallerMalloc(const Napi::CallbackInfo& info) {
  const sysalloc_api* api = Api(info.Env());
  return FromPtr(info.Env(), sysalloc_testing_shim_malloc(api, U64(info[0])));
}

Napi::Value CallerRealloc(const Napi::CallbackInfo& info) {
  const sysalloc_api* api = Api(info.Env());
  return FromPtr(info.Env(), sysalloc_testing_shim_realloc(api, Ptr(info[0]), U64(info[1])));
}

Napi::Value CallerFree(const Napi::CallbackInfo& info) {
  sysalloc_testing_shim_free(Api(info.Env()), Ptr(info[0]));
  return info.Env().Undefined();
}

// threadMallocFree(n): a thread of its own mallocs and frees n blocks through
// the table, then ends; returns once it has ended.
Napi::Value ThreadMallocFree(const Napi::CallbackInfo& info) {
  const sysalloc_api* api = Api(info.Env());
  const size_t n = U64(info[0]);
  std::thread([api, n] {
    for (size_t i = 0; i < n; ++i) api->free(api->malloc(16 + i % 1000));
  }).join();
  return info.Env().Undefined();
}

Napi::Value LastErrno(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), g_errno); }

// A block of the system allocator's (a pointer the shim never issued).
Napi::Value SystemMalloc(const Napi::CallbackInfo& info) {
  return FromPtr(info.Env(), std::malloc(static_cast<size_t>(U64(info[0]))));
}

inline uint8_t Pattern(size_t i, uint32_t seed) { return static_cast<uint8_t>((i * 131 + seed * 7 + 1) & 0xff); }

// fill(p, n, seed) / check(p, n, seed) -> bool
Napi::Value Fill(const Napi::CallbackInfo& info) {
  uint8_t* p = static_cast<uint8_t*>(Ptr(info[0]));
  const size_t n = U64(info[1]);
  const uint32_t seed = info[2].As<Napi::Number>().Uint32Value();
  for (size_t i = 0; i < n; ++i) p[i] = Pattern(i, seed);
  return info.Env().Undefined();
}

Napi::Value Check(const Napi::CallbackInfo& info) {
  const uint8_t* p = static_cast<const uint8_t*>(Ptr(info[0]));
  const size_t n = U64(info[1]);
  const uint32_t seed = info[2].As<Napi::Number>().Uint32Value();
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != Pattern(i, seed)) return Napi::Boolean::New(info.Env(), false);
  }
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value IsZero(const Napi::CallbackInfo& info) {
  const uint8_t* p = static_cast<const uint8_t*>(Ptr(info[0]));
  const size_t n = U64(info[1]);
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return Napi::Boolean::New(info.Env(), false);
  }
  return Napi::Boolean::New(info.Env(), true);
}

#ifdef TESTING_SANITIZED
// The deliberate bugs. overflowByOne(n) writes one byte past a heap block of n
// bytes (a loop bound off by one): AddressSanitizer reports heap-buffer-overflow.
Napi::Value OverflowByOne(const Napi::CallbackInfo& info) {
  const size_t n = U64(info[0]);
  char* volatile p = new char[n];
  for (size_t i = 0; i <= n; ++i) p[i] = static_cast<char>(i);
  const int sum = p[0] + p[n - 1];
  delete[] p;
  return Napi::Number::New(info.Env(), sum);
}

// signedOverflow(a, b) adds two int32 without a check: UBSan reports the overflow.
Napi::Value SignedOverflow(const Napi::CallbackInfo& info) {
  volatile int32_t a = info[0].As<Napi::Number>().Int32Value();
  volatile int32_t b = info[1].As<Napi::Number>().Int32Value();
  const int32_t sum = a + b;
  return Napi::Number::New(info.Env(), sum);
}

// leakOnce(n) allocates n bytes and drops the pointer: LeakSanitizer reports it
// when the process exits.
Napi::Value LeakOnce(const Napi::CallbackInfo& info) {
  char* volatile p = new char[U64(info[0])];
  p[0] = 1;
  p = nullptr;
  return info.Env().Undefined();
}
#endif

// pokeByte(address: bigint, offset: number): writes one byte at address + offset,
// as a native overrun (offset >= size) or underrun (offset -1) would.
Napi::Value PokeByte(const Napi::CallbackInfo& info) {
  const int64_t offset = static_cast<int64_t>(info[1].As<Napi::Number>().DoubleValue());
  volatile char* p = static_cast<volatile char*>(Ptr(info[0])) + offset;
  *p = 0x5a;
  return info.Env().Undefined();
}

// peekByte(address: bigint, offset: number) -> number: reads one byte there.
Napi::Value PeekByte(const Napi::CallbackInfo& info) {
  const int64_t offset = static_cast<int64_t>(info[1].As<Napi::Number>().DoubleValue());
  const volatile unsigned char* p = static_cast<const volatile unsigned char*>(Ptr(info[0])) + offset;
  return Napi::Number::New(info.Env(), *p);
}

// Page-backed regions given back to the OS since pagesWatch(), from any thread,
// and how many of them read all zero just before (blocks::SetPagesReleaseHook).
std::atomic<uint64_t> g_pages_released{0};
std::atomic<uint64_t> g_pages_released_zero{0};

void OnPagesRelease(const os::Region& region) {
  const char* p = blocks::PagesStart(region);
  const size_t n = blocks::PagesLength(region);
  bool zero = true;
  for (size_t i = 0; i < n && zero; ++i) zero = p[i] == 0;
  g_pages_released.fetch_add(1);
  if (zero) g_pages_released_zero.fetch_add(1);
}

Napi::Value PagesWatch(const Napi::CallbackInfo& info) {
  g_pages_released = 0;
  g_pages_released_zero = 0;
  blocks::SetPagesReleaseHook(OnPagesRelease);
  return info.Env().Undefined();
}

// pagesReleased() -> [released, of which all zero]
Napi::Value PagesReleased(const Napi::CallbackInfo& info) {
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, static_cast<double>(g_pages_released.load()));
  out.Set(1u, static_cast<double>(g_pages_released_zero.load()));
  return out;
}

}  // namespace

Napi::Object Exports(Napi::Env env) {
  Napi::Object t = Napi::Object::New(env);
  auto fn = [&](const char* name, Napi::Function::Callback cb) { t.Set(name, Napi::Function::New(env, cb, name)); };
  fn("faultArm", FaultArm);
  fn("faultCalls", FaultCalls);
  fn("faultInjected", FaultInjected);
  fn("shimTable", ShimTable);
  fn("malloc", Malloc);
  fn("calloc", Calloc);
  fn("realloc", Realloc);
  fn("alignedAlloc", AlignedAlloc);
  fn("free", Free);
  fn("usableSize", UsableSize);
  fn("threadMallocFree", ThreadMallocFree);
  fn("callerMalloc", CallerMalloc);
  fn("callerRealloc", CallerRealloc);
  fn("callerFree", CallerFree);
  fn("lastErrno", LastErrno);
  fn("systemMalloc", SystemMalloc);
  fn("fill", Fill);
  fn("check", Check);
  fn("isZero", IsZero);
  fn("pokeByte", PokeByte);
  fn("peekByte", PeekByte);
  fn("pagesWatch", PagesWatch);
  fn("pagesReleased", PagesReleased);
  t.Set("ENOMEM", ENOMEM);
#ifdef TESTING_SANITIZED
  fn("overflowByOne", OverflowByOne);
  fn("signedOverflow", SignedOverflow);
  fn("leakOnce", LeakOnce);
  t.Set("sanitized", true);
#else
  t.Set("sanitized", false);
#endif
  return t;
}

}  // namespace testing
}  // namespace sysalloc
