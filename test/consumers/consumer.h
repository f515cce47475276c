// Test-only consumer of the shim: it receives the function table from
// JavaScript, as another addon would, and plugs it into real C libraries.
#pragma once

#include <napi.h>
#include <sysalloc.h>

#include <cstdint>

namespace consumer {

// The table set by setApi(); throws a JavaScript error when none is set.
const sysalloc_api* Api(Napi::Env env);

uint64_t ToU64(const Napi::Value& value);
void* ToPointer(const Napi::Value& value);
Napi::Value FromPointer(Napi::Env env, const void* p);
Napi::Object StatsObject(Napi::Env env, const struct sysalloc_stats& s);

void InitRaw(Napi::Env env, Napi::Object exports);
void InitZlib(Napi::Env env, Napi::Object exports);
void InitSqlite(Napi::Env env, Napi::Object exports);
void InitUv(Napi::Env env, Napi::Object exports);
void InitThreads(Napi::Env env, Napi::Object exports);

}  // namespace consumer
