// The views of shared regions (shared_blocks.h) that one environment holds: a
// SharedArrayBuffer where the runtime can make one over external memory, else
// an external Buffer of this environment's own, and what becomes of each
// view's reference to its region when the view is freed, collected, or the
// environment ends. shared_binding.cc reads JavaScript's arguments and calls
// these.
//
// References: every SharedArrayBuffer made here holds one (its finalizer, which
// may run on any thread, drops it); every external Buffer made here holds one
// (dropped by FreeView, by its finalizer, or when the environment ends).
#pragma once

#include <node_api.h>

#include <cstddef>
#include <cstdint>

#include "binding_status.h"
#include "shared_blocks.h"

namespace sysalloc {
namespace shared_binding {

// One environment's views; deleted after the environment's cleanup, once its
// last view is finalized.
struct SharedEnv;

// Looks up the runtime's external SharedArrayBuffer (once per process) and
// makes env's state, ended by an environment cleanup hook.
SharedEnv* NewSharedEnv(napi_env env);

// Whether the runtime makes SharedArrayBuffers over external memory
// (node_api_create_external_sharedarraybuffer: Node 22.23.5, 24.22.3, 26.12.1).
bool CanMakeSab();

// Drops one reference to region; the last returns its memory (through env's
// quarantine when from_javascript).
void DropRegion(napi_env env, shared::Region* region, bool from_javascript);

// Uses the caller's reference to region for a new view in env: a
// SharedArrayBuffer (whole region; `sab`), or an external Buffer over
// [offset, offset + length) with a holder id. Returns [view, holderId, id, key,
// size, align], or a Status number after dropping the reference.
napi_value MakeView(napi_env env, SharedEnv* state, shared::Region* region, bool sab, size_t offset, size_t length);

// Detaches the external Buffer `view` that holder holder_id made, and drops its
// reference (through the quarantine when last). When someone else detached it
// (its memory moved to another ArrayBuffer), the reference stays with that
// memory and is dropped when it is collected.
Status FreeView(napi_env env, SharedEnv* state, napi_value view, double holder_id);

// Drops the reference of every view still attached: for process 'exit', the
// last JavaScript an environment runs.
void DropAttachedViews(napi_env env, SharedEnv* state);

napi_value Int(napi_env env, int32_t v);
napi_value Number(napi_env env, double v);

}  // namespace shared_binding
}  // namespace sysalloc
