// The JavaScript binding: values in, values out. The only file that includes napi.h.
//
// Blocks cross into JavaScript as external Buffers over memory from blocks.cc.
// alloc and free are hot, so they are plain N-API callbacks (no CallbackInfo, no
// C++ exceptions) that report expected failures as a Status number for the
// TypeScript facade to turn into an AllocError. Anything else is cold and uses
// node-addon-api.
#include <napi.h>
#if defined(_WIN32)
// The Windows build links against node.exe's Node-API exports only (no libuv
// headers or import library), so it has no teardown check: there a worker's end
// decides ownership at its first Buffer cleanup (docs/design.md, Lifetime).
#define SYSALLOC_TEARDOWN_CHECK 0
struct uv_check_s;
typedef struct uv_check_s uv_check_t;
#else
#define SYSALLOC_TEARDOWN_CHECK 1
#include <uv.h>
#endif

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#ifdef SYSALLOC_TESTING
#include <unordered_set>
#endif
#include <string>
#include <vector>

#include "address_table.h"
#include "blocks.h"
#include "os.h"
#include "shared_blocks.h"

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
namespace {

// Mirrored by lib/native.ts. kRuntimeThrew: the runtime threw while making the
// Buffer (its message is kept for lastError()); kRuntimeRefused: it returned
// another Node-API failure (the status is kept for lastError()).
enum Status : int32_t {
  kOk = 0,
  kInvalidParam = 1,
  kNoMemory = 2,
  kNotAllocated = 3,
  kRuntimeThrew = 4,
  kRuntimeRefused = 5,
  // Page-level blocks (BlockAllocPages, BlockProtect) from 16 on.
  kLockRefused = 16,  // the OS refused to lock the pages (RLIMIT_MEMLOCK, working set)
  kNotPaged = 17,     // the block is not page-backed
  kProtectRefused = 18,
};

// The quarantine: memory freed from JavaScript is neither reused nor unmapped
// until the JavaScript that freed it has returned to the event loop (a microtask
// armed at the first free of a turn drains it), because a native function of the
// runtime (Buffer.prototype.fill, utf8Write, ...) may hold the data pointer
// while the JavaScript it calls back frees the block. A synchronous run that
// frees more than this evicts the oldest first (docs/design.md).
constexpr size_t kQuarantineBlocks = 16;
constexpr size_t kQuarantineBytes = size_t{64} << 20;

// The largest alignment accepted: 2^32, the size of the largest Buffer.
constexpr double kMaxAlign = 4294967296.0;
// Largest integer a double holds exactly; sizes beyond it cannot be exact.
constexpr double kMaxSafeInteger = 9007199254740991.0;

struct EnvState;

// One external Buffer handed to JavaScript: a whole block, or a view of part of
// a block. The Buffer's finalizer, which Node always runs (after GC, once a
// detach drops the backing store, or at environment teardown), ends the record.
// A block's memory is returned once its own Buffer is freed or collected and no
// view of it is left, so no Buffer ever spans returned memory.
struct Wrapper {
  EnvState* owner;
  Wrapper* block;       // for a view: the block it spans part of; for a block: nullptr
  os::Region region;    // for a block: its memory
  void* data;           // the first byte the Buffer spans
  size_t length;        // bytes the Buffer spans
  uint32_t views;       // for a block: views neither detached nor collected
  bool detached;        // freed from JavaScript: the Buffer reads length 0
  bool finalized;       // Node has run the Buffer's finalizer
  bool holds_memory;    // for a block: the region is not yet returned
  // Inside napi_detach_arraybuffer on this record's Buffer. Bun and Deno run the
  // finalizer synchronously there, Node later from an immediate: while pinned,
  // the finalizer only marks the record and the detaching call settles it.
  bool pinned;
  // For a block: its ArrayBuffer was detached by someone else (transfer(), a byte
  // stream) and free() ended the Block; the memory belongs to the new
  // ArrayBuffer and returns when its finalizer runs.
  bool moved;
  // For a block: its memory cannot be proven ours when the environment ends (see
  // TeardownScan), so it is abandoned rather than returned.
  bool unprovable;
  napi_ref arraybuffer;  // for a block: weak reference to its ArrayBuffer
  // For a block made shared by blockShare: its memory belongs to this shared
  // region, and returning it means dropping this Block's reference.
  shared::Region* shared = nullptr;
  // For a block marked unprovable: why (Unprovable), counted when it is abandoned.
  uint8_t unprovable_why = 0;
};

// Why a block's memory was abandoned at an environment's end (teardownStats()).
enum Unprovable : uint8_t {
  kDetachedByOther = 1,  // its ArrayBuffer was detached, not by free(): a move
  kCollectedPending = 2,  // its ArrayBuffer was collected, its finalizer not run at the teardown scan
  kSafetyNet = 3,         // decided by a safety net (a Buffer cleanup ran before the teardown scan)
  kUnprovableKinds = 4,
};
const char* const kUnprovableNames[kUnprovableKinds] = {"", "arraybuffer detached by another",
                                                        "arraybuffer collected, finalizer pending",
                                                        "safety net: a Buffer cleanup before the scan"};
std::atomic<uint64_t> abandoned_by_why[kUnprovableKinds];

// Counts (and with SYSALLOC_TRACE_TEARDOWN, reports) a block abandoned.
void CountAbandoned(const Wrapper* block);

// SYSALLOC_TRACE_TEARDOWN=1: every block abandoned at an environment's end is
// reported on stderr with the check that kept it (diagnostics only).
bool TraceTeardown() {
  static const bool on = [] {
    const char* v = std::getenv("SYSALLOC_TRACE_TEARDOWN");
    return v != nullptr && v[0] != '\0' && v[0] != '0';
  }();
  return on;
}

// Per environment (main thread, each worker). Outlives the environment until the
// last of its Buffers' finalizers has run, whichever order Node tears them down in.
struct EnvState {
  AddressTable<Wrapper> blocks;  // blocks whose memory is held, by address
  AddressTable<Wrapper> views;   // views not yet detached or collected, by address
  size_t records = 0;            // Wrappers not yet deleted
  bool env_alive = true;
  napi_env env = nullptr;
  // Set by TeardownScan (process 'exit'): every block's ownership has been decided.
  bool scanned = false;
  napi_ref probe = nullptr;  // a plain object: setting a property on it fails once JS can no longer run
  napi_ref sentinel = nullptr;
  char sentinel_byte = 0;
  // Keep a weak reference to each block's ArrayBuffer for TeardownScan, and probe
  // for teardown in finalizers (Node workers: trackOwnership()). Without it,
  // TeardownScan treats every block not freed by then as unprovable: right for
  // the main thread, whose end is the process's. Never on Bun or Deno, whose
  // finalizers may run inside garbage collection, where Node-API calls crash.
  bool track_ownership = false;
  // Workers: a check handle on the environment's loop that runs the teardown scan
  // (TeardownCheck), and the async cleanup hook that closes it if it never did.
  uv_check_t* teardown_check = nullptr;
  napi_async_cleanup_hook_handle teardown_check_hook = nullptr;
  std::vector<Wrapper*> spare;   // deleted records kept for reuse
  // The record being wrapped right now. When Node refuses to wrap (a length over
  // its Buffer limit), it calls the finalizer at once, before
  // napi_create_external_buffer returns; the caller then owns the cleanup.
  Wrapper* wrapping = nullptr;

  std::deque<os::Region> quarantine;  // oldest first
  size_t quarantine_bytes = 0;
  bool drain_armed = false;
  napi_ref queue_microtask = nullptr;  // globalThis.queueMicrotask
  napi_ref drain = nullptr;            // DrainQuarantine as a function
  double* alloc_address = nullptr;     // allocAddress[0]: the address of the last block allocated
  napi_ref alloc_address_ref = nullptr;
  std::string last_error;              // why the last kRuntimeThrew / kRuntimeRefused
#ifdef SYSALLOC_TESTING
  // testing.syncFinalizer(true): every detach also runs the finalizer inside it, as
  // Bun and Deno do; the runtime's own later call for such a record is then ignored.
  bool sync_finalizer = false;
  bool simulating = false;                 // inside the simulated finalizer call
  napi_status refuse_wrap = napi_ok;       // testing.refuseWrap(status)
  std::unordered_set<Wrapper*> simulated;  // finalized by the simulation, the runtime's call still to come
  std::unordered_set<Wrapper*> zombies;    // dropped after a simulated finalizer, awaiting the runtime's call
#endif

  static constexpr size_t kSpareRecords = 1024;

  Wrapper* NewRecord(const Wrapper& init) {
    ++records;
    Wrapper* w;
    if (spare.empty()) {
      w = new Wrapper(init);
    } else {
      w = spare.back();
      spare.pop_back();
      *w = init;
    }
    return w;
  }

  void DropRecord(Wrapper* w) {
    if (w->arraybuffer != nullptr) {
      if (env_alive) napi_delete_reference(env, w->arraybuffer);
      w->arraybuffer = nullptr;
    }
#ifdef SYSALLOC_TESTING
    if (simulated.erase(w) != 0) {
      zombies.insert(w);  // still counted in records: the runtime's finalizer will name it
      return;
    }
#endif
    --records;
    if (env_alive && spare.size() < kSpareRecords) {
      spare.push_back(w);
    } else {
      delete w;
    }
  }

  void DeleteIfDone() {
    if (env_alive || records != 0) return;
    for (Wrapper* w : spare) delete w;
    delete this;
  }

  void ReleaseQuarantine() {
    while (!quarantine.empty()) {
      blocks::ReleaseRetired(quarantine.front());
      quarantine.pop_front();
    }
    quarantine_bytes = 0;
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

napi_value DrainQuarantine(napi_env env, napi_callback_info /*info*/) {
  EnvState* state = StateOf(env);
  if (state != nullptr) {
    state->drain_armed = false;
    state->ReleaseQuarantine();
  }
  return nullptr;
}

// Queues DrainQuarantine as a microtask, once per turn. Microtasks run only once
// the JavaScript stack is empty, never inside a native call that called back into
// JavaScript (test/lifetime-quarantine.test.ts measures it). If the runtime refuses
// (an environment shutting down), the next free tries again.
void ArmDrain(napi_env env, EnvState* state) {
  if (state->drain_armed || state->queue_microtask == nullptr) return;
  napi_value queue = nullptr;
  napi_value drain = nullptr;
  napi_value global = nullptr;
  napi_value ignored = nullptr;
  if (napi_get_reference_value(env, state->queue_microtask, &queue) != napi_ok || queue == nullptr ||
      napi_get_reference_value(env, state->drain, &drain) != napi_ok || drain == nullptr ||
      napi_get_global(env, &global) != napi_ok) {
    return;
  }
  if (napi_call_function(env, global, queue, 1, &drain, &ignored) == napi_ok) {
    state->drain_armed = true;
  } else {
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_get_and_clear_last_exception(env, &ignored);
    }
  }
}

// Memory freed by a call from JavaScript: quarantined (see kQuarantineBlocks).
void Quarantine(napi_env env, EnvState* state, const os::Region& region) {
  blocks::Retire(region);
  while (!state->quarantine.empty() && (state->quarantine.size() >= kQuarantineBlocks ||
                                        state->quarantine_bytes + region.size > kQuarantineBytes)) {
    state->quarantine_bytes -= state->quarantine.front().size;
    blocks::ReleaseRetired(state->quarantine.front());
    state->quarantine.pop_front();
  }
  state->quarantine.push_back(region);
  state->quarantine_bytes += region.size;
  ArmDrain(env, state);
}

// Why a block's memory is being returned: a call from JavaScript (free, a view's
// detach) may run inside a native frame that holds the pointer, so its memory is
// quarantined; a finalizer (the Buffer is unreachable) returns it at once.
enum class Cause { kJavaScript, kFinalizer };

// Returns a block's memory once nothing can reach it, and deletes its record
// once its finalizer has run and no view refers to it. Does nothing while a
// detach of the block's own Buffer is under way (pinned): that call settles it.
void Settle(napi_env env, Wrapper* block, Cause cause) {
  if (block->pinned) return;
  EnvState* owner = block->owner;
  if (block->holds_memory && (block->detached || block->finalized) && block->views == 0) {
    block->holds_memory = false;
    owner->blocks.Erase(block->region.ptr);
    AdjustExternal(owner->env_alive ? env : nullptr, -HiddenBytes(block->region));
    if (block->shared != nullptr) {
      os::Region memory;
      // Unprovable: the reference is abandoned with the memory it may still reach.
      if (!block->unprovable && shared::Drop(block->shared, &memory)) {
        if (cause == Cause::kJavaScript && owner->env_alive) {
          Quarantine(env, owner, memory);
        } else {
          blocks::Release(memory);
        }
      }
    } else if (block->unprovable) {
      CountAbandoned(block);
      blocks::Abandon(block->region);
    } else if (cause == Cause::kJavaScript && owner->env_alive) {
      Quarantine(env, owner, block->region);
    } else {
      blocks::Release(block->region);
    }
  }
  if (block->finalized && block->views == 0) owner->DropRecord(block);
}

void DetachView(napi_env env, Wrapper* view, Cause cause) {
  if (view->detached) return;
  view->detached = true;
  view->owner->views.Erase(view->data);
  Wrapper* block = view->block;
  --block->views;
  Settle(env, block, cause);
}

void ScanOwnership(napi_env env, EnvState* state, bool final, Unprovable forced = Unprovable{});

// True if the weak reference to block's ArrayBuffer still reaches it.
bool ArrayBufferAlive(napi_env env, Wrapper* block) {
  napi_value arraybuffer = nullptr;
  return block->arraybuffer != nullptr && napi_get_reference_value(env, block->arraybuffer, &arraybuffer) == napi_ok &&
         arraybuffer != nullptr;
}

// True once the environment can no longer run JavaScript: Node's FreeEnvironment
// forbids it before it runs the Buffers' cleanup (which calls their finalizers
// even when the memory moved to another ArrayBuffer). Setting a property runs no
// JavaScript (the probe is a plain object) but Node-API refuses it then.
bool TearingDown(napi_env env, EnvState* state) {
  napi_value probe = nullptr;
  napi_value value = nullptr;
  if (state->probe == nullptr || napi_get_reference_value(env, state->probe, &probe) != napi_ok || probe == nullptr ||
      napi_get_boolean(env, true, &value) != napi_ok) {
    return true;
  }
  if (napi_set_named_property(env, probe, "alive", value) == napi_ok) return false;
  bool pending = false;
  napi_value ignored;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
  return true;
}

void FinalizeWrapper(napi_env env, void* /*data*/, void* hint) {
  Wrapper* w = static_cast<Wrapper*>(hint);
  EnvState* owner = w->owner;
#ifdef SYSALLOC_TESTING
  if (owner->zombies.erase(w) != 0) {
    --owner->records;
    delete w;
    owner->DeleteIfDone();
    return;
  }
  if (!owner->simulating && owner->simulated.erase(w) != 0) return;
#endif
  if (w == owner->wrapping) {
    owner->wrapping = nullptr;  // tells the wrapping call that Node refused the length
    return;
  }
  w->finalized = true;
  if (w->pinned) return;  // run synchronously inside our own detach: the caller settles
  if (w->block == nullptr && w->holds_memory && !w->detached && !owner->scanned && owner->track_ownership &&
      (ArrayBufferAlive(env, w) || owner->teardown_check == nullptr) && TearingDown(env, owner)) {
    // JavaScript can no longer run, TeardownCheck has not scanned yet, and this
    // block's ArrayBuffer is still alive: Node's cleanup of live Buffers has begun
    // (or this block moved and its new owner died). Not expected (Node runs
    // pending immediates and a loop turn, where TeardownCheck scans, before any
    // Buffer cleanup), kept as a safety net: every other block is still as
    // JavaScript left it; this one was detached by Node's cleanup or by a move,
    // which cannot be told apart, so it is kept. A block whose ArrayBuffer was
    // collected comes here from the immediate Node queues once its backing store
    // is freed: its memory is no one's, and it is returned (unless there is no
    // check handle at all, when any first teardown finalizer is taken as cleanup).
    ScanOwnership(env, owner, true, kSafetyNet);
    w->unprovable = true;
    w->unprovable_why = kSafetyNet;
  }
  if (w->block != nullptr) {
    DetachView(env, w, Cause::kFinalizer);
    owner->DropRecord(w);
  } else {
    Settle(env, w, Cause::kFinalizer);
  }
  owner->DeleteIfDone();
}

// Detaches the ArrayBuffer of w's own Buffer, whichever way the runtime runs the
// finalizer: later (Node), or synchronously inside the detach (Bun, Deno).
bool DetachPinned(napi_env env, Wrapper* w, napi_value arraybuffer) {
  w->pinned = true;
  const bool ok = napi_detach_arraybuffer(env, arraybuffer) == napi_ok;
#ifdef SYSALLOC_TESTING
  if (ok && w->owner->sync_finalizer && !w->finalized) {
    w->owner->simulated.insert(w);
    w->owner->simulating = true;
    FinalizeWrapper(env, nullptr, w);
    w->owner->simulating = false;
  }
#endif
  w->pinned = false;
  return ok;
}

void FinalizeEnvState(napi_env env, void* data, void* /*hint*/) {
  EnvState* state = static_cast<EnvState*>(data);
  state->ReleaseQuarantine();
  for (napi_ref* ref :
       {&state->queue_microtask, &state->drain, &state->alloc_address_ref, &state->probe, &state->sentinel}) {
    if (*ref != nullptr) napi_delete_reference(env, *ref);
    *ref = nullptr;
  }
  state->alloc_address = nullptr;
  state->blocks.ForEach([env](Wrapper* block) {
    if (block->arraybuffer != nullptr) napi_delete_reference(env, block->arraybuffer);
    block->arraybuffer = nullptr;
  });
  // Normally every Buffer finalizer has run by now; if Node ran this first,
  // return the memory here and let the late finalizers only delete records.
  state->blocks.ForEach([](Wrapper* block) {
    block->holds_memory = false;
    if (block->shared != nullptr) {
      os::Region memory;
      if (!block->unprovable && shared::Drop(block->shared, &memory)) blocks::Release(memory);
      return;
    }
    if (block->unprovable) {
      CountAbandoned(block);
      blocks::Abandon(block->region);
    } else {
      blocks::Release(block->region);
    }
  });
  state->blocks.Clear();
  state->env_alive = false;
  state->DeleteIfDone();
}

// Wraps [data, data + length) in an external Buffer whose finalizer ends record.
// On failure the record is dropped and the status says why.
Status Wrap(napi_env env, EnvState* state, Wrapper* record, napi_value* out) {
  state->wrapping = record;
#ifdef SYSALLOC_TESTING
  // testing.refuseWrap(status): answer as a runtime that returns this status would.
  const napi_status wrapped =
      state->refuse_wrap != napi_ok
          ? state->refuse_wrap
          : napi_create_external_buffer(env, record->length, record->data, FinalizeWrapper, record, out);
  if (state->refuse_wrap == napi_pending_exception) {
    napi_throw_error(env, nullptr, "simulated exception");
  }
#else
  const napi_status wrapped =
      napi_create_external_buffer(env, record->length, record->data, FinalizeWrapper, record, out);
#endif
  const bool length_refused = state->wrapping == nullptr;
  state->wrapping = nullptr;
  if (wrapped == napi_ok) return kOk;
  state->DropRecord(record);
  bool pending = false;
  napi_value exception = nullptr;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_get_and_clear_last_exception(env, &exception);
  }
  if (length_refused) return kInvalidParam;
  if (wrapped == napi_pending_exception || exception != nullptr) {
    state->last_error = "the runtime threw";
    napi_value message_value = nullptr;
    napi_value as_string = nullptr;
    char message[256];
    size_t length = 0;
    if (exception != nullptr && napi_get_named_property(env, exception, "message", &message_value) == napi_ok &&
        napi_coerce_to_string(env, message_value, &as_string) == napi_ok &&
        napi_get_value_string_utf8(env, as_string, message, sizeof message, &length) == napi_ok) {
      state->last_error += ": ";
      state->last_error.append(message, length);
    }
    bool still = false;
    if (napi_is_exception_pending(env, &still) == napi_ok && still) {
      napi_get_and_clear_last_exception(env, &exception);
    }
    return kRuntimeThrew;
  }
  if (wrapped == napi_no_external_buffers_allowed) {
    state->last_error = "the runtime does not allow external buffers (napi_no_external_buffers_allowed)";
  } else {
    // snprintf, not std::to_string: libstdc++'s digit table would be a GNU
    // unique symbol, shared by every copy of sysalloc (scripts/check-exports.sh).
    char status_text[32];
    std::snprintf(status_text, sizeof status_text, "Node-API status %d", static_cast<int>(wrapped));
    state->last_error = status_text;
  }
  return kRuntimeRefused;
}

// A view's ArrayBuffer carries this tag: a view over a whole block spans the same
// address and length as the block's own Buffer, and only the tag tells them apart.
constexpr napi_type_tag kViewTag = {0x73797361'6c6c6f63ull, 0x76696577'00000001ull};

bool IsViewBuffer(napi_env env, napi_value arraybuffer) {
  bool tagged = false;
  return napi_check_object_type_tag(env, arraybuffer, &kViewTag, &tagged) == napi_ok && tagged;
}

struct Spanned {
  void* data = nullptr;
  size_t length = 0;
  napi_value arraybuffer = nullptr;
};

bool SpanOf(napi_env env, napi_value value, Spanned* out) {
  napi_typedarray_type type;
  return napi_get_typedarray_info(env, value, &type, &out->length, &out->data, &out->arraybuffer, nullptr) ==
             napi_ok &&
         type == napi_uint8_array && out->data != nullptr;
}

// The block whose own Buffer (or another whole Uint8Array over it) value is.
Wrapper* FindBlock(napi_env env, EnvState* state, napi_value value, Spanned* span) {
  if (!SpanOf(env, value, span)) return nullptr;
  Wrapper* block = state->blocks.Find(span->data);
  if (block == nullptr || block->detached || block->length != span->length) return nullptr;
  Wrapper* view = state->views.Find(span->data);
  if (view != nullptr && view->length == span->length && IsViewBuffer(env, span->arraybuffer)) return nullptr;
  return block;
}

// The view whose Buffer value is.
Wrapper* FindView(napi_env env, EnvState* state, napi_value value, Spanned* span) {
  if (!SpanOf(env, value, span)) return nullptr;
  Wrapper* view = state->views.Find(span->data);
  if (view == nullptr || view->length != span->length || !IsViewBuffer(env, span->arraybuffer)) return nullptr;
  return view;
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
  Wrapper* block = state->NewRecord(Wrapper{state, nullptr, region, region.ptr, size, 0, false, false, true, false, false, false, nullptr});
  napi_value buffer;
  const Status status = Wrap(env, state, block, &buffer);
  if (status != kOk) {
    blocks::Release(region);
    return StatusValue(env, status);
  }
  state->blocks.Insert(region.ptr, block);
  napi_value arraybuffer = nullptr;
  if (state->track_ownership &&
      napi_get_typedarray_info(env, buffer, nullptr, nullptr, nullptr, &arraybuffer, nullptr) == napi_ok) {
    napi_create_reference(env, arraybuffer, 0, &block->arraybuffer);
  }
  AdjustExternal(env, HiddenBytes(region));
  *state->alloc_address = static_cast<double>(reinterpret_cast<uintptr_t>(region.ptr));
  return buffer;
}

// ---- page-level blocks (secure, guarded, locked, huge pages): blocks::AllocatePages

void DefineRaw(Napi::Env env, Napi::Object exports, const char* name, napi_callback callback);

// Mirrored by lib/block.ts: the page-level options as bits.
enum PageOption : uint32_t {
  kOptGuard = 1,
  kOptLock = 2,
  kOptWipe = 4,
  kOptDontDump = 8,
  kOptHugePages = 16,
  kOptDebug = 32,  // debug mode: quarantined by native/debug when freed
};

// allocPages(size, align, options) -> Buffer | Status: a page-backed block.
napi_value BlockAllocPages(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  double size_arg = 0;
  double align_arg = 0;
  uint32_t options = 0;
  if (argc < 3 || napi_get_value_double(env, argv[0], &size_arg) != napi_ok ||
      napi_get_value_double(env, argv[1], &align_arg) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &options) != napi_ok) {
    return StatusValue(env, kInvalidParam);
  }
  if (!(size_arg >= 1 && size_arg <= kMaxSafeInteger) || std::floor(size_arg) != size_arg ||
      !IsPowerOfTwo(align_arg)) {
    return StatusValue(env, kInvalidParam);
  }
  const size_t size = static_cast<size_t>(size_arg);
  const size_t align = static_cast<size_t>(align_arg);
  blocks::PageRequest request;
  request.guard = (options & kOptGuard) != 0;
  request.lock = (options & kOptLock) != 0;
  request.wipe = (options & kOptWipe) != 0;
  request.dont_dump = (options & kOptDontDump) != 0;
  request.huge = (options & kOptHugePages) != 0;
  request.debug = (options & kOptDebug) != 0;
  os::Region region;
  switch (blocks::AllocatePages(size, align, request, &region)) {
    case blocks::PageStatus::kOk: break;
    case blocks::PageStatus::kLockRefused: return StatusValue(env, kLockRefused);
    case blocks::PageStatus::kNoMemory: return StatusValue(env, kNoMemory);
  }
  EnvState* state = StateOf(env);
  Wrapper* block = state->NewRecord(Wrapper{state, nullptr, region, region.ptr, size, 0, false, false, true, false, false, false, nullptr});
  napi_value buffer;
  const Status status = Wrap(env, state, block, &buffer);
  if (status != kOk) {
    blocks::Release(region);
    return StatusValue(env, status);
  }
  state->blocks.Insert(region.ptr, block);
  napi_value arraybuffer = nullptr;
  if (state->track_ownership &&
      napi_get_typedarray_info(env, buffer, nullptr, nullptr, nullptr, &arraybuffer, nullptr) == napi_ok) {
    napi_create_reference(env, arraybuffer, 0, &block->arraybuffer);
  }
  AdjustExternal(env, HiddenBytes(region));
  *state->alloc_address = static_cast<double>(reinterpret_cast<uintptr_t>(region.ptr));
  return buffer;
}

// The live page-backed block whose own Buffer value is; *status says why not.
Wrapper* FindPagedBlock(napi_env env, napi_value value, Status* status) {
  Spanned span;
  Wrapper* block = FindBlock(env, StateOf(env), value, &span);
  if (block == nullptr) {
    *status = kNotAllocated;
    return nullptr;
  }
  if (block->region.page_flags == 0) {
    *status = kNotPaged;
    return nullptr;
  }
  *status = kOk;
  return block;
}

// pageState(buffer) -> number: blocks::PageFlags | access << 8, or -Status.
napi_value PageState(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg = nullptr;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  Status status;
  Wrapper* block = FindPagedBlock(env, arg, &status);
  napi_value out;
  napi_create_int32(env, block == nullptr ? -static_cast<int32_t>(status)
                                          : block->region.page_flags | static_cast<int32_t>(block->region.access) << 8,
                    &out);
  return out;
}

// protect(buffer, access: 0 none, 1 read, 2 readwrite) -> Status.
napi_value BlockProtect(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {nullptr, nullptr};
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  uint32_t access = 0;
  if (argc < 2 || napi_get_value_uint32(env, argv[1], &access) != napi_ok || access > 2) {
    return StatusValue(env, kInvalidParam);
  }
  Status status;
  Wrapper* block = FindPagedBlock(env, argv[0], &status);
  if (block == nullptr) return StatusValue(env, status);
  if (!blocks::ProtectPages(&block->region, static_cast<os::Access>(access))) return StatusValue(env, kProtectRefused);
  return StatusValue(env, kOk);
}

// hugePagesBacked(buffer) -> boolean | Status: whether the OS backs the block with huge pages now.
napi_value HugePagesBacked(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg = nullptr;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  Status status;
  Wrapper* block = FindPagedBlock(env, arg, &status);
  if (block == nullptr) return StatusValue(env, status);
  napi_value out;
  napi_get_boolean(env, blocks::HugePagesBacked(block->region), &out);
  return out;
}

void InitPages(Napi::Env env, Napi::Object exports) {
  DefineRaw(env, exports, "blockAllocPages", BlockAllocPages);
  DefineRaw(env, exports, "pageState", PageState);
  DefineRaw(env, exports, "blockProtect", BlockProtect);
  DefineRaw(env, exports, "hugePagesBacked", HugePagesBacked);
  exports.Set("lockLimit", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return Napi::Number::New(info.Env(), static_cast<double>(os::LockLimit()));
              }, "lockLimit"));
  exports.Set("hugePageSize", static_cast<double>(os::HugePageSize()));
}

// A Block whose Buffer someone else detached (its memory moved to another
// ArrayBuffer): the block at `address` that is live, not freed by us and not
// yet ended, if value is a Uint8Array over a detached ArrayBuffer.
Wrapper* FindMovedBlock(napi_env env, EnvState* state, napi_value value, napi_value address_value) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value arraybuffer = nullptr;
  bool detached = false;
  double address = 0;
  if (address_value == nullptr ||
      napi_get_typedarray_info(env, value, &type, &length, &data, &arraybuffer, nullptr) != napi_ok ||
      type != napi_uint8_array || napi_is_detached_arraybuffer(env, arraybuffer, &detached) != napi_ok ||
      !detached || napi_get_value_double(env, address_value, &address) != napi_ok || !(address >= 1)) {
    return nullptr;
  }
  Wrapper* block = state->blocks.Find(reinterpret_cast<void*>(static_cast<uintptr_t>(address)));
  if (block == nullptr || block->detached || block->moved) return nullptr;
  return block;
}

// free(buffer, address) -> Status. Accepts only the very Buffer alloc returned
// (or another whole-length Uint8Array over the same memory), detaches it so every
// view reads length 0, and returns the memory after the quarantine (or, while
// views made by viewWrap are still attached, when the last of them goes).
// When the Buffer was detached by someone else (its memory moved to another
// ArrayBuffer), ends the block without touching the memory: the new owner's
// finalizer returns it. `address` is what allocAddress said at alloc.
napi_value BlockFree(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {nullptr, nullptr};
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  EnvState* state = StateOf(env);
  Spanned span;
  Wrapper* block = argc < 1 ? nullptr : FindBlock(env, state, argv[0], &span);
  if (block == nullptr) {
    Wrapper* moved = argc < 2 ? nullptr : FindMovedBlock(env, state, argv[0], argv[1]);
    if (moved == nullptr) return StatusValue(env, kNotAllocated);
    moved->moved = true;
    return StatusValue(env, kOk);
  }
  if (!DetachPinned(env, block, span.arraybuffer)) return StatusValue(env, kNotAllocated);
  block->detached = true;
  Settle(env, block, Cause::kJavaScript);
  return StatusValue(env, kOk);
}

// viewWrap(blockBuffer, offset, length) -> Buffer | Status. A Buffer of its own
// over part of a live block, detachable alone, that keeps the block's memory
// until it is detached or collected. One view at a time per address.
napi_value ViewWrap(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  EnvState* state = StateOf(env);
  Spanned span;
  double offset_arg = -1;
  double length_arg = -1;
  Wrapper* block = argc < 3 ? nullptr : FindBlock(env, state, argv[0], &span);
  if (block == nullptr) return StatusValue(env, kNotAllocated);
  if (napi_get_value_double(env, argv[1], &offset_arg) != napi_ok ||
      napi_get_value_double(env, argv[2], &length_arg) != napi_ok || !(offset_arg >= 0) ||
      !(length_arg >= 1) || std::floor(offset_arg) != offset_arg || std::floor(length_arg) != length_arg ||
      offset_arg + length_arg > static_cast<double>(block->length)) {
    return StatusValue(env, kInvalidParam);
  }
  void* data = static_cast<char*>(block->data) + static_cast<size_t>(offset_arg);
  if (state->views.Find(data) != nullptr) return StatusValue(env, kInvalidParam);
  Wrapper* view = state->NewRecord(
      Wrapper{state, block, os::Region{}, data, static_cast<size_t>(length_arg), 0, false, false, false, false, false, false, nullptr});
  napi_value buffer;
  const Status status = Wrap(env, state, view, &buffer);
  if (status != kOk) return StatusValue(env, status);
  napi_value view_arraybuffer;
  napi_get_typedarray_info(env, buffer, nullptr, nullptr, nullptr, &view_arraybuffer, nullptr);
  napi_type_tag_object(env, view_arraybuffer, &kViewTag);
  state->views.Insert(data, view);
  ++block->views;
  return buffer;
}

// viewDetach(view) -> Status. Detaches a Buffer viewWrap returned.
napi_value ViewDetach(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg = nullptr;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  EnvState* state = StateOf(env);
  Spanned span;
  Wrapper* view = argc < 1 ? nullptr : FindView(env, state, arg, &span);
  if (view == nullptr) return StatusValue(env, kNotAllocated);
  if (!DetachPinned(env, view, span.arraybuffer)) return StatusValue(env, kNotAllocated);
  DetachView(env, view, Cause::kJavaScript);
  if (view->finalized) {  // the runtime ran the finalizer inside the detach
    state->DropRecord(view);
  }
  return StatusValue(env, kOk);
}

// teardownScan(): called from process 'exit', the last JavaScript an environment
// runs before Node tears it down and calls every Buffer's finalizer, even those
// whose memory moved to another ArrayBuffer (transfer(), a byte stream) that may
// have been posted to another thread. A block not freed by us whose ArrayBuffer
// is detached, or collected without its finalizer having run, cannot be proven
// ours: its memory is abandoned (blockStats().abandonedBlocks), never returned.
napi_value TeardownScan(napi_env env, napi_callback_info /*info*/) {
  ScanOwnership(env, StateOf(env), false);
  return nullptr;
}

// Marks unprovable every block not freed by us whose ArrayBuffer is detached (a
// move), and, when final, every one whose ArrayBuffer was collected with its
// finalizer not run. forced: the reason to record instead (a safety net).
void ScanOwnership(napi_env env, EnvState* state, bool final, Unprovable forced) {
  if (final) state->scanned = true;
  state->blocks.ForEach([env, final, forced](Wrapper* block) {
    if (block->detached || block->finalized || block->unprovable) return;
    napi_value arraybuffer = nullptr;
    bool detached = true;
    if (block->arraybuffer != nullptr && napi_get_reference_value(env, block->arraybuffer, &arraybuffer) == napi_ok &&
        arraybuffer != nullptr && napi_is_detached_arraybuffer(env, arraybuffer, &detached) != napi_ok) {
      detached = true;
    }
    // Collected with its finalizer not run yet: decided only by the final scan,
    // once the immediates Node queued for freed backing stores have run.
    if (detached && (final || arraybuffer != nullptr)) {
      block->unprovable = true;
      block->unprovable_why =
          forced != 0 ? forced : arraybuffer != nullptr ? kDetachedByOther : kCollectedPending;
    }
  });
}

void CountAbandoned(const Wrapper* block) {
  abandoned_by_why[block->unprovable_why].fetch_add(1, std::memory_order_relaxed);
  if (TraceTeardown()) {
    std::fprintf(stderr, "sysalloc teardown: abandoned %zu bytes at %p: %s\n", block->region.size, block->region.ptr,
                 kUnprovableNames[block->unprovable_why]);
  }
}

// teardownStats() -> { detachedByOther, collectedPending, safetyNet }: blocks
// abandoned at environments' ends so far in the process, by reason.
Napi::Value TeardownStats(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("detachedByOther", static_cast<double>(abandoned_by_why[kDetachedByOther].load()));
  out.Set("collectedPending", static_cast<double>(abandoned_by_why[kCollectedPending].load()));
  out.Set("safetyNet", static_cast<double>(abandoned_by_why[kSafetyNet].load()));
  return out;
}

// The sentinel: an external ArrayBuffer made at load and never collected, so that
// Node cleans it at teardown. Where Node cleans Buffers oldest first (22+), its
// finalizer runs before any block's and scans them all as JavaScript left them.
void SentinelFinalize(napi_env env, void* /*data*/, void* hint) {
  EnvState* state = static_cast<EnvState*>(hint);
  if (state->env_alive && !state->scanned && state->track_ownership && TearingDown(env, state)) {
    ScanOwnership(env, state, true, kSafetyNet);
  }
  --state->records;
  state->DeleteIfDone();
}

// blockShare(buffer, align) -> [id, key] | Status. Hands the memory of a live
// Block to a shared region (shared_blocks.h), which this Block holds one
// reference to; the same name every time for the same Block.
napi_value BlockShare(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {nullptr, nullptr};
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  EnvState* state = StateOf(env);
  Spanned span;
  Wrapper* block = argc < 2 ? nullptr : FindBlock(env, state, argv[0], &span);
  double align = 0;
  if (block == nullptr || !block->holds_memory) return StatusValue(env, kNotAllocated);
  if (napi_get_value_double(env, argv[1], &align) != napi_ok || !IsPowerOfTwo(align)) {
    return StatusValue(env, kInvalidParam);
  }
  if (block->shared == nullptr) {
    block->shared = shared::Adopt(block->region, static_cast<size_t>(align), shared::kBlock);
    if (block->shared == nullptr) return StatusValue(env, kNoMemory);
  }
  const shared::Name name = shared::NameOf(block->shared);
  napi_value out;
  napi_value id;
  napi_value key;
  napi_create_array_with_length(env, 2, &out);
  napi_create_double(env, static_cast<double>(name.id), &id);
  napi_create_bigint_uint64(env, name.key, &key);
  napi_set_element(env, out, 0, id);
  napi_set_element(env, out, 1, key);
  return out;
}

#if SYSALLOC_TEARDOWN_CHECK
void CloseTeardownCheck(EnvState* state) {
  if (state->teardown_check == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(state->teardown_check), [](uv_handle_t* handle) {
    EnvState* owner = static_cast<EnvState*>(handle->data);
    delete reinterpret_cast<uv_check_t*>(handle);
    if (owner->teardown_check_hook != nullptr) {
      napi_remove_async_cleanup_hook(owner->teardown_check_hook);
      owner->teardown_check_hook = nullptr;
    }
    --owner->records;
    owner->DeleteIfDone();
  });
  state->teardown_check = nullptr;
}

// Runs at every turn of a worker's loop and does its work once, in the loop turn
// Node's RunCleanup makes (CleanupHandles) to close the environment's handles:
// JavaScript can no longer run, every immediate queued by then has run (among
// them the finalizers of blocks whose backing store V8 freed), and no Buffer
// cleanup has started (Node 20: cleanup hooks; 22+: the cleanable queue, both
// after CleanupHandles). Every block is as JavaScript left it: attached ones are
// this environment's; detached ones (not by free()) and collected ones whose
// finalizer is still pending may have moved, and are abandoned.
void TeardownCheck(uv_check_t* handle) {
  EnvState* state = static_cast<EnvState*>(handle->data);
  if (!state->env_alive) return;
  napi_env env = state->env;
  napi_handle_scope scope = nullptr;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  bool down = TearingDown(env, state);
  if (down) {
    // In Node's handle-closing turn the environment's own handles are closing;
    // before it (terminate(): the loop may turn once more), wait for it.
    bool closing = false;
    uv_walk(
        handle->loop,
        [](uv_handle_t* h, void* arg) {
          if (uv_is_closing(h)) *static_cast<bool*>(arg) = true;
        },
        &closing);
    if (closing) {
      if (!state->scanned) ScanOwnership(env, state, true);
      CloseTeardownCheck(state);
    }
  }
  napi_close_handle_scope(env, scope);
}

void TeardownCheckHook(napi_async_cleanup_hook_handle hook, void* arg) {
  EnvState* state = static_cast<EnvState*>(arg);
  if (state->teardown_check != nullptr) {
    CloseTeardownCheck(state);  // its close callback removes the hook
  } else {
    state->teardown_check_hook = nullptr;
    napi_remove_async_cleanup_hook(hook);
  }
}

#endif  // SYSALLOC_TEARDOWN_CHECK

napi_value TrackOwnership(napi_env env, napi_callback_info /*info*/) {
  EnvState* state = StateOf(env);
  if (state->track_ownership) return nullptr;
  state->track_ownership = true;
#if SYSALLOC_TEARDOWN_CHECK
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return nullptr;
  auto* check = new uv_check_t;
  if (uv_check_init(loop, check) != 0) {
    delete check;
    return nullptr;
  }
  check->data = state;
  uv_check_start(check, TeardownCheck);
  uv_unref(reinterpret_cast<uv_handle_t*>(check));
  state->teardown_check = check;
  ++state->records;  // the EnvState outlives the handle
  napi_add_async_cleanup_hook(env, TeardownCheckHook, state, &state->teardown_check_hook);
#endif
  return nullptr;
}

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

// Drains the quarantine now (tests and benchmarks; the microtask does it otherwise).
Napi::Value DrainNow(const Napi::CallbackInfo& info) {
  StateOf(info.Env())->ReleaseQuarantine();
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnvState* state = new EnvState();
  state->env = env;
  NAPI_THROW_IF_FAILED(env, napi_set_instance_data(env, state, FinalizeEnvState, nullptr), exports);
  {
    Napi::Value queue = env.Global().Get("queueMicrotask");
    if (queue.IsFunction()) {
      napi_value drain;
      NAPI_THROW_IF_FAILED(env, napi_create_function(env, "drainQuarantine", NAPI_AUTO_LENGTH, DrainQuarantine,
                                                      nullptr, &drain),
                           exports);
      NAPI_THROW_IF_FAILED(env, napi_create_reference(env, queue, 1, &state->queue_microtask), exports);
      NAPI_THROW_IF_FAILED(env, napi_create_reference(env, drain, 1, &state->drain), exports);
    }
    Napi::ArrayBuffer scratch = Napi::ArrayBuffer::New(env, sizeof(double));
    state->alloc_address = static_cast<double*>(scratch.Data());
    *state->alloc_address = 0;
    NAPI_THROW_IF_FAILED(env, napi_create_reference(env, scratch, 1, &state->alloc_address_ref), exports);
    exports.Set("allocAddress", Napi::Float64Array::New(env, 1, scratch, 0));
    NAPI_THROW_IF_FAILED(env, napi_create_reference(env, Napi::Object::New(env), 1, &state->probe), exports);
    napi_value sentinel = nullptr;
    if (napi_create_external_arraybuffer(env, &state->sentinel_byte, 1, SentinelFinalize, state, &sentinel) ==
            napi_ok &&
        napi_create_reference(env, sentinel, 1, &state->sentinel) == napi_ok) {
      ++state->records;
    }
  }

  DefineRaw(env, exports, "blockAlloc", BlockAlloc);
  DefineRaw(env, exports, "blockFree", BlockFree);
  DefineRaw(env, exports, "viewWrap", ViewWrap);
  DefineRaw(env, exports, "viewDetach", ViewDetach);
  DefineRaw(env, exports, "teardownScan", TeardownScan);
  DefineRaw(env, exports, "trackOwnership", TrackOwnership);
  DefineRaw(env, exports, "blockShare", BlockShare);
  shared_binding::Init(env, exports);
  exports.Set("teardownStats", Napi::Function::New(env, TeardownStats, "teardownStats"));
  exports.Set("addressOf", Napi::Function::New(env, AddressOf, "addressOf"));
  exports.Set("sourceFor", Napi::Function::New(env, SourceFor, "sourceFor"));
  exports.Set("stats", Napi::Function::New(env, Stats, "stats"));
  exports.Set("trimCache", Napi::Function::New(env, TrimCache, "trimCache"));
  exports.Set("drainQuarantine", Napi::Function::New(env, DrainNow, "drainQuarantine"));
  exports.Set("lastError", Napi::Function::New(env, LastError, "lastError"));
  exports.Set("quarantineBlocks", static_cast<double>(kQuarantineBlocks));
  exports.Set("quarantineBytes", static_cast<double>(kQuarantineBytes));
  exports.Set("externalMemory", Napi::Function::New(env, ExternalMemory, "externalMemory"));
  shim_binding::Init(env, exports);
  InitPages(env, exports);
  debug_binding::Init(env, exports);
  exports.Set("pageSize", static_cast<double>(os::PageSize()));
  exports.Set("allocationGranularity", static_cast<double>(os::AllocationGranularity()));
  exports.Set("maxAlign", kMaxAlign);

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
  exports.Set("status", status);
#ifdef SYSALLOC_TESTING
  Napi::Object testing_exports = testing::Exports(env);
  testing_exports.Set("syncFinalizer", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                        StateOf(info.Env())->sync_finalizer = info[0].ToBoolean().Value();
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
}  // namespace sysalloc

namespace sysalloc {
void ReturnRegion(napi_env env, const os::Region& region, bool from_javascript) {
  EnvState* state = env == nullptr ? nullptr : StateOf(env);
  if (from_javascript && state != nullptr && state->env_alive) {
    Quarantine(env, state, region);
  } else {
    blocks::Release(region);
  }
}
}  // namespace sysalloc

static Napi::Object InitSysalloc(Napi::Env env, Napi::Object exports) {
  return sysalloc::Init(env, exports);
}

NODE_API_MODULE(sysalloc, InitSysalloc)
