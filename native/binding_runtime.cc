// Blocks in memory the runtime allocates, for runtimes that refuse external
// buffers (napi_no_external_buffers_allowed: Electron, any V8 built with its
// sandbox) and for a build with NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED.
//
// A block is an ArrayBuffer over-allocated by align - 1 bytes and a Buffer over
// the aligned part of it, as Node 26's Buffer.allocUnsafeSlow(size, alignment)
// does. free() detaches the ArrayBuffer (the runtime frees its memory then); a
// view is a Buffer over part of the same ArrayBuffer, which cannot be detached
// alone. No quarantine and no ownership scan: the memory is the runtime's,
// which keeps it while any ArrayBuffer holds it (docs/design.md, "Runtimes
// without external buffers").
#include "binding.h"
#include "portability.h"

namespace sysalloc {
namespace binding {
namespace {

// The ArrayBuffer constructor and Buffer.from, looked up once. The constructor,
// not napi_create_arraybuffer: that calls v8::ArrayBuffer::New, which aborts the
// process when the allocation fails; the constructor throws a RangeError.
bool LookUp(napi_env env, EnvState* state, napi_value* ctor, napi_value* buffer, napi_value* from) {
  napi_value global = nullptr;
  if (state->array_buffer_ctor == nullptr) {
    napi_value c = nullptr;
    napi_value b = nullptr;
    napi_value f = nullptr;
    napi_valuetype type = napi_undefined;
    if (napi_get_global(env, &global) != napi_ok || napi_get_named_property(env, global, "ArrayBuffer", &c) != napi_ok ||
        napi_get_named_property(env, global, "Buffer", &b) != napi_ok ||
        napi_get_named_property(env, b, "from", &f) != napi_ok || napi_typeof(env, f, &type) != napi_ok ||
        type != napi_function || napi_create_reference(env, c, 1, &state->array_buffer_ctor) != napi_ok) {
      return false;
    }
    if (napi_create_reference(env, f, 1, &state->buffer_from) != napi_ok) {
      napi_delete_reference(env, state->array_buffer_ctor);
      state->array_buffer_ctor = nullptr;
      return false;
    }
  }
  return napi_get_reference_value(env, state->array_buffer_ctor, ctor) == napi_ok && *ctor != nullptr &&
         napi_get_reference_value(env, state->buffer_from, from) == napi_ok && *from != nullptr &&
         (global != nullptr || napi_get_global(env, &global) == napi_ok) &&
         napi_get_named_property(env, global, "Buffer", buffer) == napi_ok;
}

void ClearException(napi_env env) {
  bool pending = false;
  napi_value ignored;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
}

// Buffer.from(arraybuffer, offset, length): a Buffer over that part of it.
bool BufferOver(napi_env env, napi_value buffer_ctor, napi_value from, napi_value arraybuffer, size_t offset,
                size_t length, napi_value* out) {
  napi_value args[3] = {arraybuffer, nullptr, nullptr};
  if (napi_create_double(env, static_cast<double>(offset), &args[1]) != napi_ok ||
      napi_create_double(env, static_cast<double>(length), &args[2]) != napi_ok ||
      napi_call_function(env, buffer_ctor, from, 3, args, out) != napi_ok) {
    ClearException(env);
    return false;
  }
  return true;
}

}  // namespace

napi_value RuntimeBlock(napi_env env, EnvState* state, size_t size, size_t align) {
  napi_value ctor = nullptr;
  napi_value buffer_ctor = nullptr;
  napi_value from = nullptr;
  if (!LookUp(env, state, &ctor, &buffer_ctor, &from)) {
    ClearException(env);
    state->last_error = "the runtime has no ArrayBuffer constructor or Buffer.from to make runtime memory with";
    return StatusValue(env, kRuntimeRefused);
  }
  size_t total = 0;
  if (port::AddOverflows(size, align - 1, &total)) return StatusValue(env, kNoMemory);
  napi_value length = nullptr;
  napi_value arraybuffer = nullptr;
  void* base = nullptr;
  if (napi_create_double(env, static_cast<double>(total), &length) != napi_ok ||
      napi_new_instance(env, ctor, 1, &length, &arraybuffer) != napi_ok ||
      napi_get_arraybuffer_info(env, arraybuffer, &base, nullptr) != napi_ok || base == nullptr) {
    ClearException(env);  // RangeError: Array buffer allocation failed
    return StatusValue(env, kNoMemory);
  }
  const uintptr_t address = reinterpret_cast<uintptr_t>(base);
  const size_t offset = (align - (address & (align - 1))) & (align - 1);
  napi_value buffer = nullptr;
  if (!BufferOver(env, buffer_ctor, from, arraybuffer, offset, size, &buffer)) {
    // offset + size lies inside the ArrayBuffer, so only the runtime's Buffer
    // limit (buffer.constants.MAX_LENGTH) refuses it: the size is invalid, as
    // for an external block. The memory goes back at once.
    napi_detach_arraybuffer(env, arraybuffer);
    return StatusValue(env, kInvalidParam);
  }
  os::Region region;
  region.base = base;
  region.ptr = static_cast<char*>(base) + offset;
  region.size = size;
  region.reserved = total;
  region.zeroed = true;
  // A record left at this address is of an ArrayBuffer the runtime collected
  // (its finalizer still to come) and whose memory it has reused: ended now.
  if (Wrapper* stale = state->blocks.Find(region.ptr)) {
    stale->holds_memory = false;
    state->blocks.Erase(region.ptr);
    blocks::UncountRuntime(stale->length);
  }
  Wrapper init{state, nullptr, region, region.ptr, size, 0, false, false, true, false, false, false, nullptr};
  init.runtime = true;
  Wrapper* block = state->NewRecord(init);
  if (napi_add_finalizer(env, arraybuffer, nullptr, FinalizeWrapper, block, nullptr) != napi_ok) {
    ClearException(env);
    state->DropRecord(block);
    napi_detach_arraybuffer(env, arraybuffer);
    state->last_error = "the runtime refused a finalizer on a runtime ArrayBuffer";
    return StatusValue(env, kRuntimeRefused);
  }
  blocks::CountRuntime(size);
  state->blocks.Insert(region.ptr, block);
  *state->alloc_address = static_cast<double>(reinterpret_cast<uintptr_t>(region.ptr));
  return buffer;
}

Status RuntimeView(napi_env env, EnvState* state, Wrapper* block, napi_value arraybuffer, void* data, size_t length,
                   napi_value* out) {
  napi_value ctor = nullptr;
  napi_value buffer_ctor = nullptr;
  napi_value from = nullptr;
  void* base = nullptr;
  if (!LookUp(env, state, &ctor, &buffer_ctor, &from) ||
      napi_get_arraybuffer_info(env, arraybuffer, &base, nullptr) != napi_ok || base == nullptr) {
    ClearException(env);
    state->last_error = "the runtime has no Buffer.from to make a view over runtime memory with";
    return kRuntimeRefused;
  }
  const size_t offset = static_cast<size_t>(static_cast<char*>(data) - static_cast<char*>(base));
  if (!BufferOver(env, buffer_ctor, from, arraybuffer, offset, length, out)) {
    state->last_error = "Buffer.from threw over a runtime ArrayBuffer";
    return kRuntimeThrew;
  }
  Wrapper init{state, block, os::Region{}, data, length, 0, false, false, false, false, false, false, nullptr};
  init.runtime = true;
  Wrapper* view = state->NewRecord(init);
  if (napi_add_finalizer(env, *out, nullptr, FinalizeWrapper, view, nullptr) != napi_ok) {
    ClearException(env);
    state->DropRecord(view);
    state->last_error = "the runtime refused a finalizer on a view";
    return kRuntimeRefused;
  }
  TagView(env, *out);
  state->views.Insert(data, view);
  ++block->views;
  return kOk;
}

bool RuntimeFree(napi_env env, EnvState* state, Wrapper* block, napi_value arraybuffer) {
  napi_value global = nullptr;
  napi_value kept = nullptr;
  napi_value transfer = nullptr;
  napi_valuetype type = napi_undefined;
  // transfer() of a live ArrayBuffer fails only when the runtime cannot run
  // JavaScript any more (a worker being terminated): then V8 cannot detach
  // either (Node's napi_detach_arraybuffer aborts the process on that failure),
  // so the free is refused and the environment's end takes the memory back.
  bool call_failed = false;
  if (napi_get_named_property(env, arraybuffer, "transfer", &transfer) == napi_ok &&
      napi_typeof(env, transfer, &type) == napi_ok && type == napi_function) {
    if (napi_call_function(env, arraybuffer, transfer, 0, nullptr, &kept) != napi_ok) {
      kept = nullptr;
      call_failed = true;
    }
  } else if (napi_get_global(env, &global) == napi_ok) {
    // Node 20 has no ArrayBuffer.prototype.transfer: structuredClone(ab, { transfer: [ab] }).
    napi_value clone = nullptr;
    napi_value options = nullptr;
    napi_value list = nullptr;
    if (napi_get_named_property(env, global, "structuredClone", &clone) == napi_ok &&
        napi_typeof(env, clone, &type) == napi_ok && type == napi_function &&
        napi_create_object(env, &options) == napi_ok && napi_create_array_with_length(env, 1, &list) == napi_ok &&
        napi_set_element(env, list, 0, arraybuffer) == napi_ok &&
        napi_set_named_property(env, options, "transfer", list) == napi_ok) {
      napi_value args[2] = {arraybuffer, options};
      if (napi_call_function(env, global, clone, 2, args, &kept) != napi_ok) {
        kept = nullptr;
        call_failed = true;
      }
    }
  }
  ClearException(env);
  bool detached = false;
  void* data = nullptr;
  bool is_arraybuffer = false;
  napi_ref ref = nullptr;
  if (kept != nullptr && napi_is_detached_arraybuffer(env, arraybuffer, &detached) == napi_ok && detached &&
      napi_is_arraybuffer(env, kept, &is_arraybuffer) == napi_ok && is_arraybuffer &&
      napi_get_arraybuffer_info(env, kept, &data, nullptr) == napi_ok && data == block->region.base &&
      napi_create_reference(env, kept, 1, &ref) == napi_ok) {
    const size_t bytes = block->region.reserved;
    while (!state->runtime_quarantine.empty() &&
           (state->runtime_quarantine.size() >= kQuarantineBlocks ||
            state->runtime_quarantine_bytes + bytes > kQuarantineBytes)) {
      EnvState::Held oldest = state->runtime_quarantine.front();
      state->runtime_quarantine.pop_front();
      state->runtime_quarantine_bytes -= oldest.bytes;
      blocks::ReleaseRuntimeQuarantined(oldest.size);
      napi_value held = nullptr;
      if (napi_get_reference_value(env, oldest.arraybuffer, &held) == napi_ok && held != nullptr) {
        napi_detach_arraybuffer(env, held);
      }
      napi_delete_reference(env, oldest.arraybuffer);
    }
    state->runtime_quarantine.push_back(EnvState::Held{ref, bytes, block->length});
    state->runtime_quarantine_bytes += bytes;
    blocks::QuarantineRuntime(block->length);
    ArmDrain(env, state);
    return true;
  }
  // Moved elsewhere (copied, or no way to move): the memory is the runtime's to free now.
  if (napi_is_detached_arraybuffer(env, arraybuffer, &detached) == napi_ok && detached) return true;
  if (call_failed) return false;
  return napi_detach_arraybuffer(env, arraybuffer) == napi_ok;
}

void ReleaseRuntimeQuarantine(napi_env env, EnvState* state, bool detach) {
  while (!state->runtime_quarantine.empty()) {
    EnvState::Held oldest = state->runtime_quarantine.front();
    state->runtime_quarantine.pop_front();
    blocks::ReleaseRuntimeQuarantined(oldest.size);
    napi_value held = nullptr;
    if (detach && napi_get_reference_value(env, oldest.arraybuffer, &held) == napi_ok && held != nullptr) {
      napi_detach_arraybuffer(env, held);
    }
    napi_delete_reference(env, oldest.arraybuffer);
  }
  state->runtime_quarantine_bytes = 0;
}

}  // namespace binding

bool RuntimeMemory(napi_env env) {
  binding::EnvState* state = binding::StateOf(env);
  return state == nullptr || state->runtime_memory;
}

}  // namespace sysalloc
