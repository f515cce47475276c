// What every Node binding file (binding*.cc, shared_binding.cc) shares about an
// environment, in Node-API's C terms only.
#pragma once

#include <node_api.h>

#include "os.h"

// 0 in a build for runtimes that refuse external buffers (Electron, a V8
// sandbox): node-api's headers then hide napi_create_external_buffer and
// napi_create_external_arraybuffer, and every block is runtime memory
// (binding_runtime.cc).
#if defined(NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED)
#define SYSALLOC_EXTERNAL_BUFFERS 0
#else
#define SYSALLOC_EXTERNAL_BUFFERS 1
#endif

namespace sysalloc {

// True once env can no longer run JavaScript: Node's FreeEnvironment forbids it
// before it runs the Buffers' cleanup (which calls their finalizers even when
// the memory moved to another ArrayBuffer). probe is a reference to a plain
// object: setting a property on it runs no JavaScript, but Node-API refuses it
// then. A null or cleared probe counts as torn down.
bool TearingDown(napi_env env, napi_ref probe);

// Returns a region's memory from a call in env: through env's quarantine when
// from JavaScript (a native frame may hold the pointer), else at once
// (binding_quarantine.cc).
void ReturnRegion(napi_env env, const os::Region& region, bool from_javascript);

// Whether blocks in env are memory the runtime allocates (binding_runtime.cc):
// then nothing that needs external memory (sharing) is made there either.
bool RuntimeMemory(napi_env env);

}  // namespace sysalloc
