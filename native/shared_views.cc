#include "shared_views.h"

#include <unordered_map>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "binding_env.h"
#include "blocks.h"

namespace sysalloc {
namespace shared_binding {
namespace {

// node_api_create_external_sharedarraybuffer (Node-API experimental; Node 20
// does not export it), looked up at run time so that one binary loads on every
// runtime. Its declaration needs NAPI_EXPERIMENTAL, which this addon does not
// define: the type is written out here.
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

}  // namespace

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

namespace {

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

// After a refused view: clears the exception the runtime may have left and
// drops the caller's reference. kExternalRefused when the runtime refuses
// external memory altogether (napi_no_external_buffers_allowed).
napi_value Refused(napi_env env, shared::Region* region, napi_status made) {
  bool pending = false;
  napi_value ignored;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
  DropRegion(env, region, true);
  return Int(env, made == napi_no_external_buffers_allowed ? kExternalRefused : kRuntimeRefused);
}

}  // namespace

SharedEnv* NewSharedEnv(napi_env env) {
  // A build without external buffers makes no SharedArrayBuffer over its memory either.
  static const CreateExternalSab looked_up = SYSALLOC_EXTERNAL_BUFFERS ? LookUpCreateExternalSab() : nullptr;
  create_external_sab = looked_up;
  SharedEnv* state = new SharedEnv();
  state->env = env;
  napi_value probe;
  if (napi_create_object(env, &probe) == napi_ok) napi_create_reference(env, probe, 1, &state->probe);
  napi_add_env_cleanup_hook(env, CleanupEnv, state);
  return state;
}

bool CanMakeSab() { return create_external_sab != nullptr; }

void DropRegion(napi_env env, shared::Region* region, bool from_javascript) {
  os::Region memory;
  if (shared::Drop(region, &memory)) ReturnRegion(env, memory, from_javascript);
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

napi_value MakeView(napi_env env, SharedEnv* state, shared::Region* region, bool sab, size_t offset, size_t length) {
  char* data = static_cast<char*>(shared::Data(region)) + offset;
  napi_value view = nullptr;
  napi_value id = nullptr;
  if (sab) {
    const napi_status made = create_external_sab(env, data, length, FinalizeSab, region, &view);
    if (made != napi_ok) return Refused(env, region, made);
    id = Number(env, 0);
  } else {
#if !SYSALLOC_EXTERNAL_BUFFERS
    (void)state;
    return Refused(env, region, napi_no_external_buffers_allowed);
#else
    // Pinned while wrapping: a runtime that refuses may run the finalizer at once.
    Holder* h = new Holder{state, region, state->next_id++, data, length, nullptr, false, false, true};
    ++state->records;
    const napi_status made = napi_create_external_buffer(env, length, data, FinalizeHolder, h, &view);
    h->pinned = false;
    if (made != napi_ok) {
      --state->records;
      delete h;
      return Refused(env, region, made);
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

Status FreeView(napi_env env, SharedEnv* state, napi_value view, double holder_id) {
  auto it = state->holders.find(static_cast<uint64_t>(holder_id));
  if (!(holder_id >= 1) || it == state->holders.end()) return kNotAllocated;
  Holder* h = it->second;
  napi_value given = nullptr;
  napi_value own = nullptr;
  bool same = false;
  bool detached = false;
  if (h->dropped || napi_get_typedarray_info(env, view, nullptr, nullptr, nullptr, &given, nullptr) != napi_ok ||
      h->arraybuffer == nullptr || napi_get_reference_value(env, h->arraybuffer, &own) != napi_ok || own == nullptr ||
      napi_strict_equals(env, given, own, &same) != napi_ok || !same ||
      napi_is_detached_arraybuffer(env, own, &detached) != napi_ok) {
    return kNotAllocated;
  }
  state->holders.erase(it);
  if (detached) return kOk;  // moved: FinalizeHolder drops the reference
  h->pinned = true;
  const bool ok = napi_detach_arraybuffer(env, own) == napi_ok;
  h->pinned = false;
  if (!ok) {
    state->holders.emplace(h->id, h);
    return kNotAllocated;
  }
  h->dropped = true;
  DropRegion(env, h->region, true);
  if (h->finalized) DeleteHolder(env, h);
  return kOk;
}

void DropAttachedViews(napi_env env, SharedEnv* state) {
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
}

}  // namespace shared_binding
}  // namespace sysalloc
