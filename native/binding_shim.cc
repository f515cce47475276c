// The shim's addresses and counters for JavaScript (lib/shim.ts). The shim
// itself (shim/) never touches Node-API. Both read the process's shared table
// (shim/shared.h), so every copy of sysalloc in the process reports the same
// addresses and the same counters.
#include <napi.h>

#include <vector>

#include "include/sysalloc.h"
#include "os.h"
#include "shim/shared.h"
#include "shim/tracking.h"

namespace sysalloc {
namespace shim_binding {
namespace {

Napi::Value Address(Napi::Env env, const void* p) {
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)));
}

template <typename Fn>
Napi::Value FunctionAddress(Napi::Env env, Fn* fn) {
  return Address(env, reinterpret_cast<const void*>(fn));
}

// pointers() -> { malloc, calloc, realloc, free, alignedAlloc, usableSize, stats, table } as bigint
Napi::Value ShimPointers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const sysalloc_api* api = shim::SharedApi();
  Napi::Object out = Napi::Object::New(env);
  out.Set("malloc", FunctionAddress(env, api->malloc));
  out.Set("calloc", FunctionAddress(env, api->calloc));
  out.Set("realloc", FunctionAddress(env, api->realloc));
  out.Set("free", FunctionAddress(env, api->free));
  out.Set("alignedAlloc", FunctionAddress(env, api->aligned_alloc));
  out.Set("usableSize", FunctionAddress(env, api->usable_size));
  out.Set("stats", FunctionAddress(env, api->stats));
  out.Set("table", Address(env, api));
  out.Set("version", static_cast<double>(api->version));
  return out;
}

Napi::Value ShimStats(const Napi::CallbackInfo& info) {
  struct sysalloc_stats s;
  shim::SharedApi()->stats(&s);
  Napi::Object out = Napi::Object::New(info.Env());
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

// shimDebug(on): records this copy's shim blocks with their callers (shim/tracking.h).
Napi::Value ShimDebug(const Napi::CallbackInfo& info) {
  shim::SetTracking(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

// shimDebugSites() -> [[site, count, bytes], ...]: live recorded blocks by the
// code that allocated them, named by os::DescribeCode.
Napi::Value ShimDebugSites(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::vector<shim::SiteTotal> sites = shim::LiveSites();
  Napi::Array out = Napi::Array::New(env, sites.size());
  for (size_t i = 0; i < sites.size(); ++i) {
    char name[512];
    const size_t n = os::DescribeCode(sites[i].site, name, sizeof name);
    Napi::Array row = Napi::Array::New(env, 3);
    row.Set(0u, Napi::String::New(env, name, n));
    row.Set(1u, static_cast<double>(sites[i].count));
    row.Set(2u, static_cast<double>(sites[i].bytes));
    out.Set(static_cast<uint32_t>(i), row);
  }
  return out;
}

Napi::Value ShimDebugStats(const Napi::CallbackInfo& info) {
  const shim::TrackingStats s = shim::GetTrackingStats();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("liveBlocks", static_cast<double>(s.live_blocks));
  out.Set("liveBytes", static_cast<double>(s.live_bytes));
  out.Set("heldBlocks", static_cast<double>(s.held_blocks));
  out.Set("reported", static_cast<double>(s.reported));
  out.Set("on", shim::Tracking());
  return out;
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("shimPointers", Napi::Function::New(env, ShimPointers, "shimPointers"));
  exports.Set("shimStats", Napi::Function::New(env, ShimStats, "shimStats"));
  exports.Set("shimDebug", Napi::Function::New(env, ShimDebug, "shimDebug"));
  exports.Set("shimDebugSites", Napi::Function::New(env, ShimDebugSites, "shimDebugSites"));
  exports.Set("shimDebugStats", Napi::Function::New(env, ShimDebugStats, "shimDebugStats"));
}

}  // namespace shim_binding
}  // namespace sysalloc
