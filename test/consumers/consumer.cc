// setApi(table) and thin wrappers over each function of the table, so the tests
// can call the shim the way a C library does and assert exact results.
#include "consumer.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <malloc.h>

#ifdef _WIN32
#define SYSTEM_USABLE_SIZE _msize
#else
#define SYSTEM_USABLE_SIZE malloc_usable_size
#endif

namespace consumer {
namespace {

const sysalloc_api* g_api = nullptr;
int g_errno = 0;

// setApi(tableAddress: bigint) -> version. Refuses a table sysalloc_api_at refuses.
Napi::Value SetApi(const Napi::CallbackInfo& info) {
  const sysalloc_api* api = sysalloc_api_at(ToU64(info[0]));
  if (api == nullptr) throw Napi::Error::New(info.Env(), "not a sysalloc_api table of this version");
  g_api = api;
  return Napi::Number::New(info.Env(), api->version);
}

// Each call clears errno first and keeps what the call left in it for lastErrno().
template <typename F>
auto KeepErrno(F f) {
  errno = 0;
  auto result = f();
  g_errno = errno;
  return result;
}

Napi::Value Malloc(const Napi::CallbackInfo& info) {
  const size_t n = ToU64(info[0]);
  return FromPointer(info.Env(), KeepErrno([&] { return Api(info.Env())->malloc(n); }));
}

Napi::Value Calloc(const Napi::CallbackInfo& info) {
  const size_t count = ToU64(info[0]);
  const size_t size = ToU64(info[1]);
  return FromPointer(info.Env(), KeepErrno([&] { return Api(info.Env())->calloc(count, size); }));
}

Napi::Value Realloc(const Napi::CallbackInfo& info) {
  void* p = ToPointer(info[0]);
  const size_t n = ToU64(info[1]);
  return FromPointer(info.Env(), KeepErrno([&] { return Api(info.Env())->realloc(p, n); }));
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  void* p = ToPointer(info[0]);
  const int before = 12345;
  errno = before;
  Api(info.Env())->free(p);
  // free must leave errno alone: report what it left, or 0 when it kept it.
  g_errno = errno == before ? 0 : errno;
  return info.Env().Undefined();
}

Napi::Value AlignedAlloc(const Napi::CallbackInfo& info) {
  const size_t align = ToU64(info[0]);
  const size_t n = ToU64(info[1]);
  return FromPointer(info.Env(), KeepErrno([&] { return Api(info.Env())->aligned_alloc(align, n); }));
}

Napi::Value UsableSize(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(Api(info.Env())->usable_size(ToPointer(info[0]))));
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  struct sysalloc_stats s;
  Api(info.Env())->stats(&s);
  return StatsObject(info.Env(), s);
}

Napi::Value LastErrno(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), g_errno); }

// The system allocator, for pointers the shim never issued.
Napi::Value SystemMalloc(const Napi::CallbackInfo& info) {
  return FromPointer(info.Env(), std::malloc(ToU64(info[0])));
}
Napi::Value SystemUsableSize(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(SYSTEM_USABLE_SIZE(ToPointer(info[0]))));
}

// fill(p, n, seed) writes a pattern; check(p, n, seed) says whether it is intact.
inline uint8_t PatternByte(size_t i, uint32_t seed) { return static_cast<uint8_t>((i * 131 + seed) ^ (i >> 8)); }

Napi::Value Fill(const Napi::CallbackInfo& info) {
  uint8_t* p = static_cast<uint8_t*>(ToPointer(info[0]));
  const size_t n = ToU64(info[1]);
  const uint32_t seed = info[2].As<Napi::Number>().Uint32Value();
  for (size_t i = 0; i < n; ++i) p[i] = PatternByte(i, seed);
  return info.Env().Undefined();
}

Napi::Value Check(const Napi::CallbackInfo& info) {
  const uint8_t* p = static_cast<const uint8_t*>(ToPointer(info[0]));
  const size_t n = ToU64(info[1]);
  const uint32_t seed = info[2].As<Napi::Number>().Uint32Value();
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != PatternByte(i, seed)) return Napi::Boolean::New(info.Env(), false);
  }
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value IsZero(const Napi::CallbackInfo& info) {
  const uint8_t* p = static_cast<const uint8_t*>(ToPointer(info[0]));
  const size_t n = ToU64(info[1]);
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return Napi::Boolean::New(info.Env(), false);
  }
  return Napi::Boolean::New(info.Env(), true);
}

// readU64(address): one aligned 64-bit word, to check the documented header layout.
Napi::Value ReadU64(const Napi::CallbackInfo& info) {
  uint64_t v;
  std::memcpy(&v, ToPointer(info[0]), sizeof v);
  return Napi::BigInt::New(info.Env(), v);
}

}  // namespace

const sysalloc_api* Api(Napi::Env env) {
  if (g_api == nullptr) throw Napi::Error::New(env, "setApi() first");
  return g_api;
}

uint64_t ToU64(const Napi::Value& value) {
  if (value.IsBigInt()) {
    bool lossless = false;
    const uint64_t v = value.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw Napi::RangeError::New(value.Env(), "bigint out of uint64 range");
    return v;
  }
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0)) throw Napi::RangeError::New(value.Env(), "not a size");
  return static_cast<uint64_t>(d);
}

void* ToPointer(const Napi::Value& value) { return reinterpret_cast<void*>(static_cast<uintptr_t>(ToU64(value))); }

Napi::Value FromPointer(Napi::Env env, const void* p) {
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)));
}

Napi::Object StatsObject(Napi::Env env, const struct sysalloc_stats& s) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("allocations", static_cast<double>(s.allocations));
  out.Set("reallocations", static_cast<double>(s.reallocations));
  out.Set("frees", static_cast<double>(s.frees));
  out.Set("liveBlocks", static_cast<double>(s.live_blocks));
  out.Set("liveBytes", static_cast<double>(s.live_bytes));
  out.Set("peakBytes", static_cast<double>(s.peak_bytes));
  out.Set("foreignFrees", static_cast<double>(s.foreign_frees));
  out.Set("invalidFrees", static_cast<double>(s.invalid_frees));
  return out;
}

void InitRaw(Napi::Env env, Napi::Object exports) {
  exports.Set("setApi", Napi::Function::New(env, SetApi, "setApi"));
  // The name the README's driver example calls: its UseSysalloc is SetApi.
  exports.Set("useSysalloc", Napi::Function::New(env, SetApi, "useSysalloc"));
  exports.Set("malloc", Napi::Function::New(env, Malloc, "malloc"));
  exports.Set("calloc", Napi::Function::New(env, Calloc, "calloc"));
  exports.Set("realloc", Napi::Function::New(env, Realloc, "realloc"));
  exports.Set("free", Napi::Function::New(env, Free, "free"));
  exports.Set("alignedAlloc", Napi::Function::New(env, AlignedAlloc, "alignedAlloc"));
  exports.Set("usableSize", Napi::Function::New(env, UsableSize, "usableSize"));
  exports.Set("stats", Napi::Function::New(env, Stats, "stats"));
  exports.Set("lastErrno", Napi::Function::New(env, LastErrno, "lastErrno"));
  exports.Set("systemMalloc", Napi::Function::New(env, SystemMalloc, "systemMalloc"));
  exports.Set("systemUsableSize", Napi::Function::New(env, SystemUsableSize, "systemUsableSize"));
  exports.Set("fill", Napi::Function::New(env, Fill, "fill"));
  exports.Set("check", Napi::Function::New(env, Check, "check"));
  exports.Set("isZero", Napi::Function::New(env, IsZero, "isZero"));
  exports.Set("readU64", Napi::Function::New(env, ReadU64, "readU64"));
  exports.Set("ENOMEM", ENOMEM);
  exports.Set("EINVAL", EINVAL);
  exports.Set("SIZE_MAX", Napi::BigInt::New(env, static_cast<uint64_t>(SIZE_MAX)));
  exports.Set("PTRDIFF_MAX", Napi::BigInt::New(env, static_cast<uint64_t>(PTRDIFF_MAX)));
}

}  // namespace consumer

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  consumer::InitRaw(env, exports);
  consumer::InitZlib(env, exports);
  consumer::InitSqlite(env, exports);
  consumer::InitUv(env, exports);
  consumer::InitThreads(env, exports);
  return exports;
}

NODE_API_MODULE(shim_consumers, Init)
