// The JavaScript side of shared regions (shared_blocks.h): opening a region in
// this environment, as a SharedArrayBuffer where the runtime can make one over
// external memory, else as an external Buffer of this environment's own.
//
// References: every SharedArrayBuffer made here holds one (its finalizer, which
// may run on any thread, drops it); every external Buffer made here holds one
// (dropped by sharedFree, by its finalizer, or when the environment ends).
#include <node_api.h>

#include <cmath>
#include <unordered_map>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "binding_env.h"
#include "blocks.h"
#include "shared_blocks.h"

namespace sysalloc {
namespace shared_binding {
namespace {

// node_api_create_external_sharedarraybuffer (Node-API experimental; Node 22.23.5,
// 24.22.3, 26.12.1 export it, Node 20 does not), looked up at run time so that
// one binary loads on every runtime. Its declaration needs NAPI_EXPERIMENTAL,
// which this addon does not define: the type is written out here.
using NoEnvFinalize = void (*)(void* data, void* hint);
using CreateExternalSab = napi_status (*)(napi_env env, void* data, size_t length, NoEnvFinalize finalize,
                                          void* hint, napi_value* result);

CreateExternalSab LookUpCreateExternalSab() {
  const char* name = "node_api_create_external_sharedarraybuffer";
#ifdef _WIN32
  HMODULE main_module = GetModuleHandleW(nullptr);
  return main_module == nullptr
             ? nullptr
             : reinterpret_cast<CreateExternalSab>(reinterpret_cast<void*>(GetProcAddress(main_module, name)));
#else
  return reinterpret_cast<CreateExternalSab>(dlsym(RTLD_DEFAULT, name));
#endif
}

CreateExternalSab create_external_sab = nullptr;

// binding.h's Status values this file returns.
enum Status : int32_t {
  kOk = 0,
  kInvalidParam = 1,
  kNoMemory = 2,
  kNotAllocated = 3,
  kRuntimeRefused = 5,
  kExternalRefused = 19,  // the runtime refuses external buffers: no view over shared memory can be made
};

struct SharedEnv;

// One external Buffer over (part of) a shared region in one environment.
struct Holder {
  SharedEnv* owner;
  shared::Region* region;
  uint64_t id;
  void* data;
  size_t length;
  napi_ref arraybuffer;  // weak
  bool dropped;          // its reference is dropped (or abandoned)
  bool finalized;
  bool pinned;           // inside our own napi_detach_arraybuffer
};

struct SharedEnv {
  napi_env env;
  bool alive = true;
  uint64_t next_id = 1;
  size_t records = 0;  // Holders not yet deleted
  std::unordered_map<uint64_t, Holder*> holders;  // by id, until finalized
  napi_ref probe = nullptr;

  void DeleteIfDone() {
    if (!alive && records == 0) delete this;
  }
};

void DropRegion(napi_env env, shared::Region* region, bool from_javascript) {
  os::Region memory;
  if (shared::Drop(region, &memory)) ReturnRegion(env, memory, from_javascript);
}

void FinalizeSab(void* /*data*/, void* hint) {
  os::Region memory;
  if (shared::Drop(static_cast<shared::Region*>(hint), &memory)) blocks::Release(memory);
}

// Drops the holder's reference unless its memory may have moved to an
// ArrayBuffer that outlives this environment (detached by someone else, or
// collected while the environment ends): then the reference is abandoned and
// the region lives as long as the process.
void SettleAtEnd(napi_env env, Holder* h, bool tearing_down) {
  if (h->dropped) return;
  h->dropped = true;
  napi_value arraybuffer = nullptr;
  bool ours;
  if (h->arraybuffer != nullptr && napi_get_reference_value(env, h->arraybuffer, &arraybuffer) == napi_ok &&
      arraybuffer != nullptr) {
    bool detached = true;
    ours = napi_is_detached_arraybuffer(env, arraybuffer, &detached) == napi_ok && !detached;
  } else {
    ours = !tearing_down;
  }
  if (ours) DropRegion(nullptr, h->region, false);
}

void DeleteHolder(napi_env env, Holder* h) {
  SharedEnv* owner = h->owner;
  if (h->arraybuffer != nullptr && owner->alive) napi_delete_reference(env, h->arraybuffer);
  if (owner->alive) owner->holders.erase(h->id);
  delete h;
  --owner->records;
  owner->DeleteIfDone();
}

[[maybe_unused]] void FinalizeHolder(napi_env env, void* /*data*/, void* hint) {
  Holder* h = static_cast<Holder*>(hint);
  h->finalized = true;
  if (h->pinned) return;  // run inside our own detach (Bun, Deno): the caller settles
  if (!h->dropped && h->owner->alive) SettleAtEnd(env, h, TearingDown(env, h->owner->probe));
  DeleteHolder(env, h);
}

void CleanupEnv(void* arg) {
  SharedEnv* state = static_cast<SharedEnv*>(arg);
  napi_env env = state->env;
  napi_handle_scope scope = nullptr;
  const bool scoped = napi_open_handle_scope(env, &scope) == napi_ok;
  for (auto& entry : state->holders) {
    if (scoped) {
      SettleAtEnd(env, entry.second, true);
    } else {
      entry.second->dropped = true;  // cannot look: abandon
    }
    if (entry.second->arraybuffer != nullptr) napi_delete_reference(env, entry.second->arraybuffer);
    entry.second->arraybuffer = nullptr;
  }
  if (state->probe != nullptr) napi_delete_reference(env, state->probe);
  state->probe = nullptr;
  if (scoped) napi_close_handle_scope(env, scope);
  state->holders.clear();
  state->alive = false;
  state->DeleteIfDone();
}

SharedEnv* StateOf(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  void* data = nullptr;
  napi_get_cb_info(env, info, argc, argv, nullptr, &data);
  return static_cast<SharedEnv*>(data);
}

napi_value Int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

napi_value Number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

bool ReadIndex(napi_env env, napi_value value, double limit, double* out) {
  return napi_get_value_double(env, value, out) == napi_ok && *out >= 0 && *out <= limit && std::floor(*out) == *out;
}

// Uses the caller's reference to region for a new view in this environment:
// a SharedArrayBuffer (whole region; `sab`), or an external Buffer over
// [offset, offset + length) with a holder id. On failure the reference is dropped.
napi_value MakeView(napi_env env, SharedEnv* state, shared::Region* region, bool sab, size_t offset, size_t length) {
  char* data = static_cast<char*>(shared::Data(region)) + offset;
  napi_value view = nullptr;
  napi_value id = nullptr;
  if (sab) {
    const napi_status made = create_external_sab(env, data, length, FinalizeSab, region, &view);
    if (made != napi_ok) {
      bool pending = false;
      napi_value ignored;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
      DropRegion(env, region, true);
      return Int(env, made == napi_no_external_buffers_allowed ? kExternalRefused : kRuntimeRefused);
    }
    id = Number(env, 0);
  } else {
#if !SYSALLOC_EXTERNAL_BUFFERS
    (void)state;
    DropRegion(env, region, true);
    return Int(env, kExternalRefused);
#else
    // Pinned while wrapping: a runtime that refuses may run the finalizer at once.
    Holder* h = new Holder{state, region, state->next_id++, data, length, nullptr, false, false, true};
    ++state->records;
    const napi_status made = napi_create_external_buffer(env, length, data, FinalizeHolder, h, &view);
    h->pinned = false;
    if (made != napi_ok) {
      bool pending = false;
      napi_value ignored;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
      --state->records;
      delete h;
      DropRegion(env, region, true);
      return Int(env, made == napi_no_external_buffers_allowed ? kExternalRefused : kRuntimeRefused);
    }
    napi_value arraybuffer = nullptr;
    if (napi_get_typedarray_info(env, view, nullptr, nullptr, nullptr, &arraybuffer, nullptr) == napi_ok) {
      napi_create_reference(env, arraybuffer, 0, &h->arraybuffer);
    }
    state->holders.emplace(h->id, h);
    id = Number(env, static_cast<double>(h->id));
#endif  // SYSALLOC_EXTERNAL_BUFFERS
  }
  const shared::Name name = shared::NameOf(region);
  napi_value out;
  napi_value key;
  napi_create_array_with_length(env, 6, &out);
  napi_create_bigint_uint64(env, name.key, &key);
  napi_set_element(env, out, 0, view);
  napi_set_element(env, out, 1, id);
  napi_set_element(env, out, 2, Number(env, static_cast<double>(name.id)));
  napi_set_element(env, out, 3, key);
  napi_set_element(env, out, 4, Number(env, static_cast<double>(shared::Size(region))));
  napi_set_element(env, out, 5, Number(env, static_cast<double>(shared::Align(region))));
  return out;
}

bool ReadName(napi_env env, napi_value id_value, napi_value key_value, uint64_t* id, uint64_t* key) {
  double id_double = 0;
  bool lossless = false;
  napi_valuetype type;
  return napi_get_value_double(env, id_value, &id_double) == napi_ok && id_double >= 1 &&
         id_double <= 9007199254740991.0 && std::floor(id_double) == id_double &&
         napi_typeof(env, key_value, &type) == napi_ok && type == napi_bigint &&
         napi_get_value_bigint_uint64(env, key_value, key, &lossless) == napi_ok && lossless &&
         (*id = static_cast<uint64_t>(id_double), true);
}

// sharedCreate(size, align, zero, sab, kind) -> [view, holderId, id, key, size, align] | status
napi_value SharedCreate(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  uint32_t kind = 0;
  SharedEnv* state = StateOf(env, info, &argc, argv);
  double size = 0;
  double align = 0;
  bool zero = true;
  bool sab = false;
  if (argc < 5 || napi_get_value_uint32(env, argv[4], &kind) != napi_ok || kind < shared::kPool ||
      !ReadIndex(env, argv[0], 9007199254740991.0, &size) || size < 1 ||
      !ReadIndex(env, argv[1], 4294967296.0, &align) || align < 1 ||
      (static_cast<uint64_t>(align) & (static_cast<uint64_t>(align) - 1)) != 0 ||
      napi_get_value_bool(env, argv[2], &zero) != napi_ok || napi_get_value_bool(env, argv[3], &sab) != napi_ok ||
      (sab && create_external_sab == nullptr)) {
    return Int(env, kInvalidParam);
  }
  if (RuntimeMemory(env)) return Int(env, kExternalRefused);
  os::Region memory;
  if (!blocks::Allocate(static_cast<size_t>(size), static_cast<size_t>(align), zero, &memory)) {
    return Int(env, kNoMemory);
  }
  shared::Region* region = shared::Adopt(memory, static_cast<size_t>(align), kind);
  if (region == nullptr) {
    blocks::Release(memory);
    return Int(env, kNoMemory);
  }
  return MakeView(env, state, region, sab, 0, memory.size);
}

// sharedOpen(id, key, sab, offset, length, kind) -> [view, holderId, id, key, size, align] | status.
// length 0: to the end of the region. A region of another kind is not there.
napi_value SharedOpen(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  uint32_t kind = 0;
  SharedEnv* state = StateOf(env, info, &argc, argv);
  uint64_t id = 0;
  uint64_t key = 0;
  bool sab = false;
  double offset = 0;
  double length = 0;
  if (argc < 6 || !ReadName(env, argv[0], argv[1], &id, &key) || napi_get_value_uint32(env, argv[5], &kind) != napi_ok) {
    return Int(env, kNotAllocated);
  }
  if (napi_get_value_bool(env, argv[2], &sab) != napi_ok || !ReadIndex(env, argv[3], 9007199254740991.0, &offset) ||
      !ReadIndex(env, argv[4], 9007199254740991.0, &length) || (sab && create_external_sab == nullptr)) {
    return Int(env, kInvalidParam);
  }
  if (RuntimeMemory(env)) return Int(env, kExternalRefused);
  shared::Region* region = shared::Open(id, key, kind);
  if (region == nullptr) return Int(env, kNotAllocated);
  const double size = static_cast<double>(shared::Size(region));
  if (length == 0) length = size - offset;
  if (!(offset + length <= size) || length < 1 || (sab && (offset != 0 || length != size))) {
    DropRegion(env, region, true);
    return Int(env, kInvalidParam);
  }
  return MakeView(env, state, region, sab, static_cast<size_t>(offset), static_cast<size_t>(length));
}

// sharedFree(view, holderId) -> status. Detaches an external Buffer sharedOpen or
// sharedCreate made and drops its reference (through the quarantine when last).
// When someone else detached it (its memory moved to another ArrayBuffer), the
// reference stays with that memory and is dropped when it is collected.
napi_value SharedFree(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  SharedEnv* state = StateOf(env, info, &argc, argv);
  double id = 0;
  if (argc < 2 || napi_get_value_double(env, argv[1], &id) != napi_ok) return Int(env, kNotAllocated);
  auto it = state->holders.find(static_cast<uint64_t>(id));
  if (!(id >= 1) || it == state->holders.end()) return Int(env, kNotAllocated);
  Holder* h = it->second;
  napi_value given = nullptr;
  napi_value own = nullptr;
  bool same = false;
  bool detached = false;
  if (h->dropped || napi_get_typedarray_info(env, argv[0], nullptr, nullptr, nullptr, &given, nullptr) != napi_ok ||
      h->arraybuffer == nullptr || napi_get_reference_value(env, h->arraybuffer, &own) != napi_ok || own == nullptr ||
      napi_strict_equals(env, given, own, &same) != napi_ok || !same ||
      napi_is_detached_arraybuffer(env, own, &detached) != napi_ok) {
    return Int(env, kNotAllocated);
  }
  state->holders.erase(it);
  if (detached) return Int(env, kOk);  // moved: FinalizeHolder drops the reference
  h->pinned = true;
  const bool ok = napi_detach_arraybuffer(env, own) == napi_ok;
  h->pinned = false;
  if (!ok) {
    state->holders.emplace(h->id, h);
    return Int(env, kNotAllocated);
  }
  h->dropped = true;
  DropRegion(env, h->region, true);
  if (h->finalized) DeleteHolder(env, h);
  return Int(env, kOk);
}

// sharedScan(): called from process 'exit', the last JavaScript an environment
// runs. A view still attached then is this environment's for sure: its
// reference is dropped now. At teardown proper Node (20) detaches every external
// Buffer before its finalizer runs, so a detached one can no longer be told
// from one whose memory moved to an ArrayBuffer living on elsewhere: those are
// abandoned (worker.terminate() runs no 'exit' handler).
napi_value SharedScan(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  SharedEnv* state = StateOf(env, info, &argc, nullptr);
  for (auto& entry : state->holders) {
    Holder* h = entry.second;
    napi_value arraybuffer = nullptr;
    bool detached = true;
    if (h->dropped || h->arraybuffer == nullptr ||
        napi_get_reference_value(env, h->arraybuffer, &arraybuffer) != napi_ok || arraybuffer == nullptr ||
        napi_is_detached_arraybuffer(env, arraybuffer, &detached) != napi_ok || detached) {
      continue;
    }
    h->dropped = true;
    DropRegion(env, h->region, false);
  }
  return nullptr;
}

// sharedValid(id, key) -> whether (id, key) names a live region.
napi_value SharedValid(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  StateOf(env, info, &argc, argv);
  uint64_t id = 0;
  uint64_t key = 0;
  bool valid = false;
  if (argc >= 2 && ReadName(env, argv[0], argv[1], &id, &key)) {
    shared::Region* region = shared::Open(id, key, shared::kAnyKind);
    if (region != nullptr) {
      valid = true;
      DropRegion(env, region, true);
    }
  }
  napi_value out;
  napi_get_boolean(env, valid, &out);
  return out;
}

// sharedStats() -> { sharedRegions, sharedReferences }
napi_value SharedStats(napi_env env, napi_callback_info /*info*/) {
  uint64_t regions = 0;
  uint64_t references = 0;
  shared::Count(&regions, &references);
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "sharedRegions", Number(env, static_cast<double>(regions)));
  napi_set_named_property(env, out, "sharedReferences", Number(env, static_cast<double>(references)));
  return out;
}

void Define(napi_env env, napi_value exports, SharedEnv* state, const char* name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, state, &fn) == napi_ok) {
    napi_set_named_property(env, exports, name, fn);
  }
}

}  // namespace

void Init(napi_env env, napi_value exports) {
  // A build without external buffers makes no SharedArrayBuffer over its memory either.
  static const CreateExternalSab looked_up = SYSALLOC_EXTERNAL_BUFFERS ? LookUpCreateExternalSab() : nullptr;
  create_external_sab = looked_up;
  SharedEnv* state = new SharedEnv();
  state->env = env;
  napi_value probe;
  if (napi_create_object(env, &probe) == napi_ok) napi_create_reference(env, probe, 1, &state->probe);
  napi_add_env_cleanup_hook(env, CleanupEnv, state);
  Define(env, exports, state, "sharedCreate", SharedCreate);
  Define(env, exports, state, "sharedOpen", SharedOpen);
  Define(env, exports, state, "sharedFree", SharedFree);
  Define(env, exports, state, "sharedValid", SharedValid);
  Define(env, exports, state, "sharedScan", SharedScan);
  Define(env, exports, state, "sharedStats", SharedStats);
  napi_value kinds;
  napi_create_object(env, &kinds);
  napi_set_named_property(env, kinds, "block", Number(env, shared::kBlock));
  napi_set_named_property(env, kinds, "pool", Number(env, shared::kPool));
  napi_set_named_property(env, exports, "sharedKind", kinds);
  napi_value has;
  napi_get_boolean(env, create_external_sab != nullptr, &has);
  napi_set_named_property(env, exports, "externalSharedArrayBuffer", has);
}

}  // namespace shared_binding
}  // namespace sysalloc
