// libuv inside Node: Node's own libuv (the node binary exports uv_*), handed the
// shim the way the Cassandra driver's cass_alloc_set_functions does.
#include <uv.h>

#include "consumer.h"

namespace consumer {
namespace {

// uvReplaceAllocator() -> uv_replace_allocator's result (0 on success).
Napi::Value ReplaceAllocator(const Napi::CallbackInfo& info) {
  const sysalloc_api* api = Api(info.Env());
  return Napi::Number::New(info.Env(), uv_replace_allocator(api->malloc, api->realloc, api->calloc, api->free));
}

}  // namespace

void InitUv(Napi::Env env, Napi::Object exports) {
  exports.Set("uvReplaceAllocator", Napi::Function::New(env, ReplaceAllocator, "uvReplaceAllocator"));
}

}  // namespace consumer
