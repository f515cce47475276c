// The block calls from JavaScript: blockAlloc, blockFree, viewWrap, viewDetach
// and blockShare. alloc and free are hot, so they are plain Node-API callbacks
// (no CallbackInfo, no C++ exceptions) that report expected failures as a
// Status number for the TypeScript facade to turn into an AllocError.
#include <cmath>

#include "binding.h"

namespace sysalloc {
namespace binding {
namespace {

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
  if (!IsSizeAndAlign(size_arg, align_arg)) return StatusValue(env, kInvalidParam);
  const size_t size = static_cast<size_t>(size_arg);
  const size_t align = static_cast<size_t>(align_arg);
  EnvState* state = StateOf(env);
  if (!state->runtime_memory) {
    os::Region region;
    if (!blocks::Allocate(size, align, zero, &region)) return StatusValue(env, kNoMemory);
    napi_value out = HandOut(env, region, size);
    // The runtime refused an external buffer (HandOut released the region): from now on, runtime memory.
    if (!state->runtime_memory) return out;
  }
  return RuntimeBlock(env, state, size, align);
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

// Why a detach of a live block's or view's ArrayBuffer failed: kRuntimeRefused
// when the ArrayBuffer is still attached (the runtime holds it: Bun does while
// fs, zlib or crypto work on it is in flight), the record untouched and the
// reason kept for lastError(); kNotAllocated when it was detached already.
Status DetachRefused(napi_env env, EnvState* state, napi_value arraybuffer) {
  bool detached = true;
  if (napi_is_detached_arraybuffer(env, arraybuffer, &detached) != napi_ok || detached) return kNotAllocated;
  state->last_error = "the runtime refused to detach the ArrayBuffer (it holds it for work in flight)";
  return kRuntimeRefused;
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
    if (moved->runtime) {  // the runtime's memory, now the new ArrayBuffer's: this block is over
      moved->detached = true;
      Settle(env, moved, Cause::kJavaScript);
    }
    return StatusValue(env, kOk);
  }
  if (block->runtime) {
    if (!RuntimeFree(env, state, block, span.arraybuffer)) return StatusValue(env, kNotAllocated);
  } else if (!DetachPinned(env, block, span.arraybuffer)) {
    return StatusValue(env, DetachRefused(env, state, span.arraybuffer));
  }
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
  const size_t length = static_cast<size_t>(length_arg);
  if (Wrapper* existing = state->views.Find(data)) {
    // A runtime view of another block: that block's ArrayBuffer was collected and its memory reused.
    if (!existing->runtime || existing->block == block) return StatusValue(env, kInvalidParam);
    DetachView(env, existing, Cause::kFinalizer);
  }
  napi_value buffer;
  Status status = kExternalRefused;
  if (!state->runtime_memory && !block->runtime) {
    Wrapper* view =
        state->NewRecord(Wrapper{state, block, os::Region{}, data, length, 0, false, false, false, false, false, false, nullptr});
    status = Wrap(env, state, view, &buffer);
    if (status == kOk) {
      napi_value view_arraybuffer;
      napi_get_typedarray_info(env, buffer, nullptr, nullptr, nullptr, &view_arraybuffer, nullptr);
      TagView(env, view_arraybuffer);
      state->views.Insert(data, view);
      ++block->views;
    }
  }
  if (status == kExternalRefused) status = RuntimeView(env, state, block, span.arraybuffer, data, length, &buffer);
  return status == kOk ? buffer : StatusValue(env, status);
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
  // A runtime view shares its block's ArrayBuffer: it ends here but stays readable.
  if (!view->runtime && !DetachPinned(env, view, span.arraybuffer)) {
    return StatusValue(env, DetachRefused(env, state, span.arraybuffer));
  }
  DetachView(env, view, Cause::kJavaScript);
  if (view->finalized) {  // the runtime ran the finalizer inside the detach
    state->DropRecord(view);
  }
  return StatusValue(env, kOk);
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
  if (block->runtime) return StatusValue(env, kExternalRefused);
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

}  // namespace

void InitBlocks(Napi::Env env, Napi::Object exports) {
  DefineRaw(env, exports, "blockAlloc", BlockAlloc);
  DefineRaw(env, exports, "blockFree", BlockFree);
  DefineRaw(env, exports, "viewWrap", ViewWrap);
  DefineRaw(env, exports, "viewDetach", ViewDetach);
  DefineRaw(env, exports, "blockShare", BlockShare);
}

}  // namespace binding
}  // namespace sysalloc
