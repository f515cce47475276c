// Records of the Buffers handed to JavaScript (binding.h, Wrapper): making them,
// wrapping memory in external Buffers, the finalizers Node runs for those
// Buffers, and settling a block's memory once nothing can reach it.
#include <cstdio>

#include "binding.h"

namespace sysalloc {
namespace binding {

Wrapper* EnvState::NewRecord(const Wrapper& init) {
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

void EnvState::DropRecord(Wrapper* w) {
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

void EnvState::DeleteIfDone() {
  if (env_alive || records != 0) return;
  for (Wrapper* w : spare) delete w;
  delete this;
}

EnvState* StateOf(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return static_cast<EnvState*>(data);
}

int64_t HiddenBytes(const os::Region& region) {
  return static_cast<int64_t>(region.reserved - region.size);
}

void AdjustExternal(napi_env env, int64_t delta) {
  if (env == nullptr || delta == 0) return;
  int64_t total;
  napi_adjust_external_memory(env, delta, &total);
}

void Settle(napi_env env, Wrapper* block, Cause cause) {
  if (block->pinned) return;
  EnvState* owner = block->owner;
  // Runtime memory is the runtime's to free: a detach ends it with every view over it.
  if (block->runtime && block->holds_memory && (block->detached || block->finalized)) {
    block->holds_memory = false;
    owner->blocks.Erase(block->region.ptr);
    blocks::UncountRuntime(block->length);
  } else if (block->holds_memory && (block->detached || block->finalized) && block->views == 0) {
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
  if (w->block == nullptr && !w->runtime && w->holds_memory && !w->detached && !owner->scanned &&
      owner->track_ownership &&
      (ArrayBufferAlive(env, w) || owner->teardown_check == nullptr) && TearingDown(env, owner->probe)) {
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
  ReleaseRuntimeQuarantine(env, state, false);
  for (napi_ref* ref : {&state->queue_microtask, &state->drain, &state->alloc_address_ref, &state->probe,
                        &state->sentinel, &state->array_buffer_ctor, &state->buffer_from}) {
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
    if (block->runtime) {
      blocks::UncountRuntime(block->length);
      return;
    }
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

Status Wrap(napi_env env, EnvState* state, Wrapper* record, napi_value* out) {
#if !SYSALLOC_EXTERNAL_BUFFERS
  (void)env;
  (void)out;
  state->DropRecord(record);
  state->runtime_memory = true;
  return kExternalRefused;
#else
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
    state->runtime_memory = true;
    return kExternalRefused;
  } else {
    // snprintf, not std::to_string: libstdc++'s digit table would be a GNU
    // unique symbol, shared by every copy of sysalloc (scripts/check-exports.sh).
    char status_text[32];
    std::snprintf(status_text, sizeof status_text, "Node-API status %d", static_cast<int>(wrapped));
    state->last_error = status_text;
  }
  return kRuntimeRefused;
#endif  // SYSALLOC_EXTERNAL_BUFFERS
}

namespace {

// A view's ArrayBuffer carries this tag: a view over a whole block spans the same
// address and length as the block's own Buffer, and only the tag tells them apart.
constexpr napi_type_tag kViewTag = {0x73797361'6c6c6f63ull, 0x76696577'00000001ull};

bool IsViewBuffer(napi_env env, napi_value arraybuffer) {
  bool tagged = false;
  return napi_check_object_type_tag(env, arraybuffer, &kViewTag, &tagged) == napi_ok && tagged;
}

// Whether value (a Uint8Array over arraybuffer) is the Buffer of view.
bool IsViewOf(napi_env env, const Wrapper* view, napi_value value, napi_value arraybuffer) {
  return IsViewBuffer(env, view->runtime ? value : arraybuffer);
}

bool SpanOf(napi_env env, napi_value value, Spanned* out) {
  napi_typedarray_type type;
  return napi_get_typedarray_info(env, value, &type, &out->length, &out->data, &out->arraybuffer, nullptr) ==
             napi_ok &&
         type == napi_uint8_array && out->data != nullptr;
}

}  // namespace

Wrapper* FindBlock(napi_env env, EnvState* state, napi_value value, Spanned* span) {
  if (!SpanOf(env, value, span)) return nullptr;
  Wrapper* block = state->blocks.Find(span->data);
  if (block == nullptr || block->detached || block->length != span->length) return nullptr;
  Wrapper* view = state->views.Find(span->data);
  if (view != nullptr && view->length == span->length && IsViewOf(env, view, value, span->arraybuffer)) return nullptr;
  return block;
}

Wrapper* FindView(napi_env env, EnvState* state, napi_value value, Spanned* span) {
  if (!SpanOf(env, value, span)) return nullptr;
  Wrapper* view = state->views.Find(span->data);
  if (view == nullptr || view->length != span->length || !IsViewOf(env, view, value, span->arraybuffer)) return nullptr;
  return view;
}

void TagView(napi_env env, napi_value object) { napi_type_tag_object(env, object, &kViewTag); }

napi_value HandOut(napi_env env, const os::Region& region, size_t size) {
  EnvState* state = StateOf(env);
  Wrapper* block = state->NewRecord(
      Wrapper{state, nullptr, region, region.ptr, size, 0, false, false, true, false, false, false, nullptr});
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

}  // namespace binding
}  // namespace sysalloc
