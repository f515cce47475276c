// The debug mode's JavaScript entry points (lib/debug.ts): enabling the debug
// quarantine, describing a block at free(), its counters.
#include <napi.h>

#include <string>

#include "debug/quarantine.h"

namespace sysalloc {
namespace debug_binding {
namespace {

// debugEnable(blocks, bytes, preferUserfaultfd) -> the catcher's name.
Napi::Value Enable(const Napi::CallbackInfo& info) {
  debug::Bounds bounds{debug::kDefaultBlocks, debug::kDefaultBytes};
  if (info[0].IsNumber()) bounds.blocks = static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue());
  if (info[1].IsNumber()) bounds.bytes = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  const bool prefer = info[2].ToBoolean().Value();
  return Napi::String::New(info.Env(), debug::CatcherName(debug::Enable(bounds, prefer)));
}

// debugDescribe(address, text): the report for the block at address, kept for
// when its memory enters the quarantine.
Napi::Value Describe(const Napi::CallbackInfo& info) {
  const uintptr_t address = static_cast<uintptr_t>(info[0].As<Napi::Number>().DoubleValue());
  const std::string text = info[1].As<Napi::String>().Utf8Value();
  debug::Describe(address, text.data(), text.size());
  return info.Env().Undefined();
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  const debug::Stats s = debug::GetStats();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("quarantinedBlocks", static_cast<double>(s.blocks));
  out.Set("quarantinedBytes", static_cast<double>(s.bytes));
  out.Set("entered", static_cast<double>(s.entered));
  out.Set("released", static_cast<double>(s.released));
  out.Set("catcher", debug::CatcherName(debug::Current()));
  return out;
}

Napi::Value Flush(const Napi::CallbackInfo& info) {
  debug::Flush();
  return info.Env().Undefined();
}

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("debugEnable", Napi::Function::New(env, Enable, "debugEnable"));
  exports.Set("debugDescribe", Napi::Function::New(env, Describe, "debugDescribe"));
  exports.Set("debugStats", Napi::Function::New(env, Stats, "debugStats"));
  exports.Set("debugFlush", Napi::Function::New(env, Flush, "debugFlush"));
  exports.Set("debugMaxBlocks", static_cast<double>(debug::kMaxBlocks));
  exports.Set("debugTextMax", static_cast<double>(debug::kTextMax));
}

}  // namespace debug_binding
}  // namespace sysalloc
