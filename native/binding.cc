// The JavaScript binding: values in, values out. Blocks cross into JavaScript as
// external Buffers over memory from blocks.cc; binding.h lists the files of the
// binding and what each owns. This one makes the module: the per-environment
// state, the small cold exports (node-addon-api), and the status table.
#include <cmath>

#include "binding.h"

namespace sysalloc {
namespace shim_binding {
// binding_shim.cc: shimPointers and shimStats.
void Init(Napi::Env env, Napi::Object exports);
}  // namespace shim_binding
namespace shared_binding {
// shared_binding.cc: regions shared across threads.
void Init(napi_env env, napi_value exports);
}  // namespace shared_binding
namespace debug_binding {
// debug/debug_binding.cc: the debug mode (debugEnable, debugDescribe, ...).
void Init(Napi::Env env, Napi::Object exports);
}  // namespace debug_binding
}  // namespace sysalloc

#ifdef SYSALLOC_TESTING
// Test builds only (test/faults/binding.gyp): the fault switch of fault.h and
// other test-only functions, defined in test/faults/testing.cc, under `testing`.
namespace sysalloc {
namespace testing {
Napi::Object Exports(Napi::Env env);
}  // namespace testing
}  // namespace sysalloc
#endif

namespace sysalloc {
namespace binding {

napi_value StatusValue(napi_env env, Status status) {
  napi_value value;
  napi_create_int32(env, status, &value);
  return value;
}

bool IsPowerOfTwo(double v) {
  if (!(v >= 1 && v <= kMaxAlign) || std::floor(v) != v) return false;
  const uint64_t u = static_cast<uint64_t>(v);
  return (u & (u - 1)) == 0;
}

bool IsSizeAndAlign(double size, double align) {
  return size >= 1 && size <= kMaxSafeInteger && std::floor(size) == size && IsPowerOfTwo(align);
}

void DefineRaw(Napi::Env env, Napi::Object exports, const char* name, napi_callback callback) {
  napi_value fn;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, nullptr, &fn));
  exports.Set(name, Napi::Value(env, fn));
}

namespace {

// lastError() -> string: why the last kRuntimeThrew or kRuntimeRefused.
Napi::Value LastError(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), StateOf(info.Env())->last_error);
}

// addressOf(ArrayBuffer | ArrayBufferView) -> bigint, or undefined for anything else.
Napi::Value AddressOf(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  napi_value value = info[0];
  void* data = nullptr;
  bool is = false;
  if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
    napi_get_typedarray_info(env, value, nullptr, nullptr, &data, nullptr, nullptr);
  } else if (napi_is_dataview(env, value, &is) == napi_ok && is) {
    napi_get_dataview_info(env, value, nullptr, &data, nullptr, nullptr);
  } else if (napi_is_arraybuffer(env, value, &is) == napi_ok && is) {
    napi_get_arraybuffer_info(env, value, &data, nullptr);
  } else {
    return info.Env().Undefined();
  }
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data)));
}

// sourceFor(size, align): the call that would serve such a block here, or
// 'runtime' where blocks are runtime memory.
Napi::Value SourceFor(const Napi::CallbackInfo& info) {
  if (StateOf(info.Env())->runtime_memory) return Napi::String::New(info.Env(), "runtime");
  const size_t size = static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue());
  const size_t align = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  return Napi::String::New(info.Env(), os::SourceName(os::SourceFor(size, align)));
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  const blocks::Stats s = blocks::GetStats();
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("liveBlocks", static_cast<double>(s.live_blocks));
  out.Set("liveBytes", static_cast<double>(s.live_bytes));
  out.Set("cachedBlocks", static_cast<double>(s.cached_blocks));
  out.Set("cachedBytes", static_cast<double>(s.cached_bytes));
  out.Set("cacheHits", static_cast<double>(s.cache_hits));
  out.Set("quarantinedBlocks", static_cast<double>(s.quarantined_blocks));
  out.Set("quarantinedBytes", static_cast<double>(s.quarantined_bytes));
  out.Set("abandonedBlocks", static_cast<double>(s.abandoned_blocks));
  out.Set("abandonedBytes", static_cast<double>(s.abandoned_bytes));
  Napi::Object allocations = Napi::Object::New(env);
  Napi::Object releases = Napi::Object::New(env);
  for (int i = 0; i < os::kSourceCount; ++i) {
    const char* name = os::SourceName(static_cast<os::Source>(i));
    allocations.Set(name, static_cast<double>(s.os_allocations[i]));
    releases.Set(name, static_cast<double>(s.os_releases[i]));
  }
  allocations.Set("runtime", static_cast<double>(s.runtime_allocations));
  releases.Set("runtime", static_cast<double>(s.runtime_releases));
  out.Set("osAllocations", allocations);
  out.Set("osReleases", releases);
  return out;
}

// The isolate's external-memory total that napi_adjust_external_memory feeds,
// which drives V8's collection heuristics.
Napi::Value ExternalMemory(const Napi::CallbackInfo& info) {
  int64_t total = 0;
  napi_adjust_external_memory(info.Env(), 0, &total);
  return Napi::Number::New(info.Env(), static_cast<double>(total));
}

Napi::Value TrimCache(const Napi::CallbackInfo& info) {
  blocks::TrimCache();
  return info.Env().Undefined();
}

Napi::Object StatusTable(Napi::Env env) {
  Napi::Object status = Napi::Object::New(env);
  status.Set("ok", static_cast<double>(kOk));
  status.Set("invalidParam", static_cast<double>(kInvalidParam));
  status.Set("noMemory", static_cast<double>(kNoMemory));
  status.Set("notAllocated", static_cast<double>(kNotAllocated));
  status.Set("runtimeThrew", static_cast<double>(kRuntimeThrew));
  status.Set("runtimeRefused", static_cast<double>(kRuntimeRefused));
  status.Set("lockRefused", static_cast<double>(kLockRefused));
  status.Set("notPaged", static_cast<double>(kNotPaged));
  status.Set("protectRefused", static_cast<double>(kProtectRefused));
  status.Set("externalRefused", static_cast<double>(kExternalRefused));
  return status;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnvState* state = new EnvState();
  state->env = env;
  NAPI_THROW_IF_FAILED(env, napi_set_instance_data(env, state, FinalizeEnvState, nullptr), exports);
  Napi::ArrayBuffer scratch = Napi::ArrayBuffer::New(env, sizeof(double));
  state->alloc_address = static_cast<double*>(scratch.Data());
  *state->alloc_address = 0;
  NAPI_THROW_IF_FAILED(env, napi_create_reference(env, scratch, 1, &state->alloc_address_ref), exports);
  exports.Set("allocAddress", Napi::Float64Array::New(env, 1, scratch, 0));

  InitQuarantine(env, exports, state);
  InitTeardown(env, exports, state);
  InitBlocks(env, exports);
  shared_binding::Init(env, exports);
  exports.Set("addressOf", Napi::Function::New(env, AddressOf, "addressOf"));
  exports.Set("sourceFor", Napi::Function::New(env, SourceFor, "sourceFor"));
  exports.Set("stats", Napi::Function::New(env, Stats, "stats"));
  exports.Set("trimCache", Napi::Function::New(env, TrimCache, "trimCache"));
  exports.Set("lastError", Napi::Function::New(env, LastError, "lastError"));
  exports.Set("externalMemory", Napi::Function::New(env, ExternalMemory, "externalMemory"));
  shim_binding::Init(env, exports);
  InitPages(env, exports);
  debug_binding::Init(env, exports);
  exports.Set("pageSize", static_cast<double>(os::PageSize()));
  exports.Set("allocationGranularity", static_cast<double>(os::AllocationGranularity()));
  exports.Set("maxAlign", kMaxAlign);
  exports.Set("status", StatusTable(env));
#ifdef SYSALLOC_TESTING
  Napi::Object testing_exports = testing::Exports(env);
  testing_exports.Set("syncFinalizer", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                        StateOf(info.Env())->sync_finalizer = info[0].ToBoolean().Value();
                        return info.Env().Undefined();
                      }));
  // runtimeMemory(on): switches this environment to runtime memory or back to
  // external buffers (blocks made either way stay as they are).
  testing_exports.Set("runtimeMemory", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                        StateOf(info.Env())->runtime_memory = info[0].ToBoolean().Value();
                        return info.Env().Undefined();
                      }));
  testing_exports.Set("refuseWrap", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                        StateOf(info.Env())->refuse_wrap =
                            static_cast<napi_status>(info[0].As<Napi::Number>().Int32Value());
                        return info.Env().Undefined();
                      }));
  exports.Set("testing", testing_exports);
#endif
  return exports;
}

}  // namespace
}  // namespace binding
}  // namespace sysalloc

static Napi::Object InitSysalloc(Napi::Env env, Napi::Object exports) {
  return sysalloc::binding::Init(env, exports);
}

NODE_API_MODULE(sysalloc, InitSysalloc)
