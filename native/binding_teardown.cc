// Ownership at an environment's end. Node calls every Buffer's finalizer when
// an environment ends, even for memory that moved to another ArrayBuffer
// (transfer(), a byte stream) possibly posted to another thread; so before that,
// each block not freed by us is decided: ours (returned) or unprovable
// (abandoned). The scans run from process 'exit' (teardownScan), from a check
// handle on a worker's loop (TeardownCheck, not on Windows), and from the
// sentinel's finalizer as a safety net (docs/design.md, Lifetime).
#if !defined(_WIN32)
#include <uv.h>
#endif

#include <cstdio>
#include <cstdlib>

#include "binding.h"

namespace sysalloc {

bool TearingDown(napi_env env, napi_ref probe_ref) {
  napi_value probe = nullptr;
  napi_value value = nullptr;
  if (probe_ref == nullptr || napi_get_reference_value(env, probe_ref, &probe) != napi_ok || probe == nullptr ||
      napi_get_boolean(env, true, &value) != napi_ok) {
    return true;
  }
  if (napi_set_named_property(env, probe, "alive", value) == napi_ok) return false;
  bool pending = false;
  napi_value ignored;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
  return true;
}

namespace binding {
namespace {

const char* const kUnprovableNames[kUnprovableKinds] = {"", "arraybuffer detached by another",
                                                        "arraybuffer collected, finalizer pending",
                                                        "safety net: a Buffer cleanup before the scan"};
std::atomic<uint64_t> abandoned_by_why[kUnprovableKinds];

// SYSALLOC_TRACE_TEARDOWN=1: every block abandoned at an environment's end is
// reported on stderr with the check that kept it (diagnostics only).
bool TraceTeardown() {
  static const bool on = [] {
    const char* v = std::getenv("SYSALLOC_TRACE_TEARDOWN");
    return v != nullptr && v[0] != '\0' && v[0] != '0';
  }();
  return on;
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

}  // namespace

bool ArrayBufferAlive(napi_env env, Wrapper* block) {
  napi_value arraybuffer = nullptr;
  return block->arraybuffer != nullptr && napi_get_reference_value(env, block->arraybuffer, &arraybuffer) == napi_ok &&
         arraybuffer != nullptr;
}

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

namespace {

// teardownStats() -> { detachedByOther, collectedPending, safetyNet }: blocks
// abandoned at environments' ends so far in the process, by reason.
Napi::Value TeardownStats(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("detachedByOther", static_cast<double>(abandoned_by_why[kDetachedByOther].load()));
  out.Set("collectedPending", static_cast<double>(abandoned_by_why[kCollectedPending].load()));
  out.Set("safetyNet", static_cast<double>(abandoned_by_why[kSafetyNet].load()));
  return out;
}

#if SYSALLOC_EXTERNAL_BUFFERS
// The sentinel: an external ArrayBuffer made at load and never collected, so that
// Node cleans it at teardown. Where Node cleans Buffers oldest first (22+), its
// finalizer runs before any block's and scans them all as JavaScript left them.
void SentinelFinalize(napi_env env, void* /*data*/, void* hint) {
  EnvState* state = static_cast<EnvState*>(hint);
  if (state->env_alive && !state->scanned && state->track_ownership && TearingDown(env, state->probe)) {
    ScanOwnership(env, state, true, kSafetyNet);
  }
  --state->records;
  state->DeleteIfDone();
}
#endif  // SYSALLOC_EXTERNAL_BUFFERS

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
  bool down = TearingDown(env, state->probe);
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

}  // namespace

void InitTeardown(Napi::Env env, Napi::Object exports, EnvState* state) {
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_reference(env, Napi::Object::New(env), 1, &state->probe));
#if SYSALLOC_EXTERNAL_BUFFERS
  // Also the probe for external buffers: a runtime that refuses them refuses this first.
  napi_value sentinel = nullptr;
  const napi_status made =
      napi_create_external_arraybuffer(env, &state->sentinel_byte, 1, SentinelFinalize, state, &sentinel);
  if (made == napi_ok && napi_create_reference(env, sentinel, 1, &state->sentinel) == napi_ok) {
    ++state->records;
  } else if (made == napi_no_external_buffers_allowed) {
    state->runtime_memory = true;
  }
#endif
  DefineRaw(env, exports, "teardownScan", TeardownScan);
  DefineRaw(env, exports, "trackOwnership", TrackOwnership);
  exports.Set("teardownStats", Napi::Function::New(env, TeardownStats, "teardownStats"));
}

}  // namespace binding
}  // namespace sysalloc
