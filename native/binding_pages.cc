// Page-level blocks (secure, guarded, locked, huge pages): blocks::AllocatePages
// and the calls that act on a page-backed block's pages.
#include "binding.h"

namespace sysalloc {
namespace binding {
namespace {

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
  if (!IsSizeAndAlign(size_arg, align_arg)) return StatusValue(env, kInvalidParam);
  // Guard pages, locking, protection: only on a mapping of sysalloc's own.
  if (StateOf(env)->runtime_memory) return StatusValue(env, kExternalRefused);
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
  return HandOut(env, region, size);
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

}  // namespace

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

}  // namespace binding
}  // namespace sysalloc
