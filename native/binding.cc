// The JavaScript binding: values in, values out. The only file that includes napi.h.
//
// Blocks cross into JavaScript as external Buffers over memory from blocks.cc.
// alloc and free are hot, so they are plain N-API callbacks (no CallbackInfo, no
// C++ exceptions) that report expected failures as a Status number for the
// TypeScript facade to turn into an AllocError. Anything else is cold and uses
// node-addon-api.
#include <napi.h>

#include <cmath>
#include <vector>

#include "address_table.h"
#include "blocks.h"
#include "os.h"

namespace sysalloc {
namespace {

// Mirrored by lib/native.ts.
enum Status : int32_t { kOk = 0, kInvalidParam = 1, kNoMemory = 2, kNotAllocated = 3 };

// The largest alignment accepted: 2^32, the size of the largest Buffer.
constexpr double kMaxAlign = 4294967296.0;
// Largest integer a double holds exactly; sizes beyond it cannot be exact.
constexpr double kMaxSafeInteger = 9007199254740991.0;

struct EnvState;

// One Block handed to JavaScript. Owned by its Buffer's finalizer, which Node
// always runs: after GC, after an explicit free (the detach drops the backing
// store), or when the environment is torn down.
struct LiveBlock {
  os::Region region;
  EnvState* owner;
  bool released;  // memory already returned; the finalizer must not return it again
};

// Per environment (main thread, each worker). Outlives the environment until the
// last of its blocks' finalizers has run, whichever order Node tears them down in.
struct EnvState {
  AddressTable<LiveBlock> live;  // by address: what free() may accept
  size_t records = 0;            // LiveBlocks not yet finalized
  bool env_alive = true;
  std::vector<LiveBlock*> spare;  // finalized records kept for reuse
  // The block being wrapped right now. When Node refuses to wrap it (a length
  // over its Buffer limit), it calls the finalizer at once, before
  // napi_create_external_buffer returns; the caller then owns the cleanup.
  LiveBlock* wrapping = nullptr;

  static constexpr size_t kSpareRecords = 1024;

  LiveBlock* NewRecord(const os::Region& region) {
    ++records;
    if (spare.empty()) return new LiveBlock{region, this, false};
    LiveBlock* block = spare.back();
    spare.pop_back();
    *block = LiveBlock{region, this, false};
    return block;
  }

  void DropRecord(LiveBlock* block) {
    --records;
    if (env_alive && spare.size() < kSpareRecords) {
      spare.push_back(block);
    } else {
      delete block;
    }
  }

  void DeleteIfDone() {
    if (env_alive || records != 0) return;
    for (LiveBlock* block : spare) delete block;
    delete this;
  }
};

EnvState* StateOf(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return static_cast<EnvState*>(data);
}

// V8 already counts the bytes of an external ArrayBuffer. Tell it only about the
// bytes it cannot see (page rounding of mapped regions), once each way.
int64_t HiddenBytes(const os::Region& region) {
  return static_cast<int64_t>(region.reserved - region.size);
}

void AdjustExternal(napi_env env, int64_t delta) {
  if (env == nullptr || delta == 0) return;
  int64_t total;
  napi_adjust_external_memory(env, delta, &total);
}

void ReleaseBlock(napi_env env, LiveBlock* block) {
  block->released = true;
  block->owner->live.Erase(block->region.ptr);
  AdjustExternal(env, -HiddenBytes(block->region));
  blocks::Release(block->region);
}

void FinalizeBlock(napi_env env, void* /*data*/, void* hint) {
  LiveBlock* block = static_cast<LiveBlock*>(hint);
  EnvState* owner = block->owner;
  if (block == owner->wrapping) {
    owner->wrapping = nullptr;  // tells BlockAlloc that Node refused the length
    return;
  }
  if (!block->released) ReleaseBlock(owner->env_alive ? env : nullptr, block);
  owner->DropRecord(block);
  owner->DeleteIfDone();
}

void FinalizeEnvState(napi_env /*env*/, void* data, void* /*hint*/) {
  EnvState* state = static_cast<EnvState*>(data);
  // Normally every Buffer finalizer has run by now; if Node ran this first,
  // return the memory here and let the late finalizers only delete records.
  state->live.ForEach([](LiveBlock* block) {
    block->released = true;
    blocks::Release(block->region);
  });
  state->live.Clear();
  state->env_alive = false;
  state->DeleteIfDone();
}

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

// alloc(size, align, zero) -> Buffer | Status
napi_value BlockAlloc(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  double size_arg = 0;
  double align_arg = 0;
  bool zero = true;
  if (argc < 3 || napi_get_value_double(env, argv[0], &size_arg) != napi_ok ||
      napi_get_value_double(env, argv[1], &align_arg) != napi_ok ||
      napi_get_value_bool(env, argv[2], &zero) != napi_ok) {
    return StatusValue(env, kInvalidParam);
  }
  // Cheap guards so that no caller can corrupt memory; the facade gives the message.
  if (!(size_arg >= 1 && size_arg <= kMaxSafeInteger) || std::floor(size_arg) != size_arg ||
      !IsPowerOfTwo(align_arg)) {
    return StatusValue(env, kInvalidParam);
  }
  const size_t size = static_cast<size_t>(size_arg);
  const size_t align = static_cast<size_t>(align_arg);

  os::Region region;
  if (!blocks::Allocate(size, align, zero, &region)) return StatusValue(env, kNoMemory);

  EnvState* state = StateOf(env);
  LiveBlock* block = state->NewRecord(region);
  napi_value buffer;
  state->wrapping = block;
  const napi_status wrapped = napi_create_external_buffer(env, size, region.ptr, FinalizeBlock, block, &buffer);
  const bool length_refused = state->wrapping == nullptr;
  state->wrapping = nullptr;
  if (wrapped != napi_ok) {
    blocks::Release(region);
    state->DropRecord(block);
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return StatusValue(env, length_refused ? kInvalidParam : kNoMemory);
  }
  state->live.Insert(region.ptr, block);
  AdjustExternal(env, HiddenBytes(region));
  return buffer;
}

// free(buffer) -> Status. Accepts only the very Buffer alloc returned (or another
// whole-length Uint8Array over the same memory), detaches it so every view reads
// length 0, and returns the memory now.
napi_value BlockFree(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value arraybuffer;
  size_t offset = 0;
  if (argc < 1 ||
      napi_get_typedarray_info(env, arg, &type, &length, &data, &arraybuffer, &offset) != napi_ok ||
      type != napi_uint8_array || offset != 0 || data == nullptr) {
    return StatusValue(env, kNotAllocated);
  }
  EnvState* state = StateOf(env);
  LiveBlock* block = state->live.Find(data);
  if (block == nullptr || block->region.size != length) return StatusValue(env, kNotAllocated);
  if (napi_detach_arraybuffer(env, arraybuffer) != napi_ok) return StatusValue(env, kNotAllocated);
  ReleaseBlock(env, block);
  return StatusValue(env, kOk);
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

Napi::Value SourceFor(const Napi::CallbackInfo& info) {
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
  Napi::Object allocations = Napi::Object::New(env);
  Napi::Object releases = Napi::Object::New(env);
  for (int i = 0; i < os::kSourceCount; ++i) {
    const char* name = os::SourceName(static_cast<os::Source>(i));
    allocations.Set(name, static_cast<double>(s.os_allocations[i]));
    releases.Set(name, static_cast<double>(s.os_releases[i]));
  }
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

void DefineRaw(Napi::Env env, Napi::Object exports, const char* name, napi_callback callback) {
  napi_value fn;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, nullptr, &fn));
  exports.Set(name, Napi::Value(env, fn));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  NAPI_THROW_IF_FAILED(env, napi_set_instance_data(env, new EnvState(), FinalizeEnvState, nullptr),
                       exports);

  DefineRaw(env, exports, "blockAlloc", BlockAlloc);
  DefineRaw(env, exports, "blockFree", BlockFree);
  exports.Set("addressOf", Napi::Function::New(env, AddressOf, "addressOf"));
  exports.Set("sourceFor", Napi::Function::New(env, SourceFor, "sourceFor"));
  exports.Set("stats", Napi::Function::New(env, Stats, "stats"));
  exports.Set("trimCache", Napi::Function::New(env, TrimCache, "trimCache"));
  exports.Set("externalMemory", Napi::Function::New(env, ExternalMemory, "externalMemory"));
  exports.Set("pageSize", static_cast<double>(os::PageSize()));
  exports.Set("allocationGranularity", static_cast<double>(os::AllocationGranularity()));
  exports.Set("maxAlign", kMaxAlign);

  Napi::Object status = Napi::Object::New(env);
  status.Set("ok", static_cast<double>(kOk));
  status.Set("invalidParam", static_cast<double>(kInvalidParam));
  status.Set("noMemory", static_cast<double>(kNoMemory));
  status.Set("notAllocated", static_cast<double>(kNotAllocated));
  exports.Set("status", status);
  return exports;
}

}  // namespace
}  // namespace sysalloc

static Napi::Object InitSysalloc(Napi::Env env, Napi::Object exports) {
  return sysalloc::Init(env, exports);
}

NODE_API_MODULE(sysalloc, InitSysalloc)
