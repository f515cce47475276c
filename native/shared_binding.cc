// The JavaScript entry points of shared regions (shared_blocks.h): arguments
// read and checked here, the views made and settled in shared_views.cc.
#include <node_api.h>

#include <cmath>

#include "binding_env.h"
#include "binding_status.h"
#include "blocks.h"
#include "shared_blocks.h"
#include "shared_views.h"

namespace sysalloc {
namespace shared_binding {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

SharedEnv* StateOf(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  void* data = nullptr;
  napi_get_cb_info(env, info, argc, argv, nullptr, &data);
  return static_cast<SharedEnv*>(data);
}

bool ReadIndex(napi_env env, napi_value value, double limit, double* out) {
  return napi_get_value_double(env, value, out) == napi_ok && *out >= 0 && *out <= limit && std::floor(*out) == *out;
}

bool ReadName(napi_env env, napi_value id_value, napi_value key_value, uint64_t* id, uint64_t* key) {
  double id_double = 0;
  bool lossless = false;
  napi_valuetype type;
  return napi_get_value_double(env, id_value, &id_double) == napi_ok && id_double >= 1 &&
         id_double <= kMaxSafeInteger && std::floor(id_double) == id_double &&
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
      !ReadIndex(env, argv[0], kMaxSafeInteger, &size) || size < 1 ||
      !ReadIndex(env, argv[1], 4294967296.0, &align) || align < 1 ||
      (static_cast<uint64_t>(align) & (static_cast<uint64_t>(align) - 1)) != 0 ||
      napi_get_value_bool(env, argv[2], &zero) != napi_ok || napi_get_value_bool(env, argv[3], &sab) != napi_ok ||
      (sab && !CanMakeSab())) {
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
  if (napi_get_value_bool(env, argv[2], &sab) != napi_ok || !ReadIndex(env, argv[3], kMaxSafeInteger, &offset) ||
      !ReadIndex(env, argv[4], kMaxSafeInteger, &length) || (sab && !CanMakeSab())) {
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

// sharedFree(view, holderId) -> status (FreeView).
napi_value SharedFree(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  SharedEnv* state = StateOf(env, info, &argc, argv);
  double id = 0;
  if (argc < 2 || napi_get_value_double(env, argv[1], &id) != napi_ok) return Int(env, kNotAllocated);
  return Int(env, FreeView(env, state, argv[0], id));
}

// sharedScan(): called from process 'exit', the last JavaScript an environment
// runs. A view still attached then is this environment's for sure: its
// reference is dropped now. At teardown proper Node (20) detaches every external
// Buffer before its finalizer runs, so a detached one can no longer be told
// from one whose memory moved to an ArrayBuffer living on elsewhere: those are
// abandoned (worker.terminate() runs no 'exit' handler).
napi_value SharedScan(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  DropAttachedViews(env, StateOf(env, info, &argc, nullptr));
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
  SharedEnv* state = NewSharedEnv(env);
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
  napi_get_boolean(env, CanMakeSab(), &has);
  napi_set_named_property(env, exports, "externalSharedArrayBuffer", has);
}

}  // namespace shared_binding
}  // namespace sysalloc
