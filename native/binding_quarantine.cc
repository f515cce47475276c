// The quarantine (binding.h, kQuarantineBlocks): memory freed from JavaScript
// is held until the JavaScript that freed it has returned to the event loop.
#include "binding.h"

namespace sysalloc {
namespace binding {

void EnvState::ReleaseQuarantine() {
  while (!quarantine.empty()) {
    blocks::ReleaseRetired(quarantine.front());
    quarantine.pop_front();
  }
  quarantine_bytes = 0;
}

namespace {

napi_value DrainQuarantine(napi_env env, napi_callback_info /*info*/) {
  EnvState* state = StateOf(env);
  if (state != nullptr) {
    state->drain_armed = false;
    state->ReleaseQuarantine();
    ReleaseRuntimeQuarantine(env, state, true);
  }
  return nullptr;
}

}  // namespace

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

namespace {

// Drains the quarantine now (tests and benchmarks; the microtask does it otherwise).
Napi::Value DrainNow(const Napi::CallbackInfo& info) {
  EnvState* state = StateOf(info.Env());
  state->ReleaseQuarantine();
  ReleaseRuntimeQuarantine(info.Env(), state, true);
  return info.Env().Undefined();
}

}  // namespace

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

void InitQuarantine(Napi::Env env, Napi::Object exports, EnvState* state) {
  Napi::Value queue = env.Global().Get("queueMicrotask");
  if (queue.IsFunction()) {
    napi_value drain;
    NAPI_THROW_IF_FAILED_VOID(
        env, napi_create_function(env, "drainQuarantine", NAPI_AUTO_LENGTH, DrainQuarantine, nullptr, &drain));
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_reference(env, queue, 1, &state->queue_microtask));
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_reference(env, drain, 1, &state->drain));
  }
  exports.Set("drainQuarantine", Napi::Function::New(env, DrainNow, "drainQuarantine"));
  exports.Set("quarantineBlocks", static_cast<double>(kQuarantineBlocks));
  exports.Set("quarantineBytes", static_cast<double>(kQuarantineBytes));
}

}  // namespace binding

void ReturnRegion(napi_env env, const os::Region& region, bool from_javascript) {
  binding::EnvState* state = env == nullptr ? nullptr : binding::StateOf(env);
  if (from_javascript && state != nullptr && state->env_alive) {
    binding::Quarantine(env, state, region);
  } else {
    blocks::Release(region);
  }
}

}  // namespace sysalloc
