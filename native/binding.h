// The block binding's shared parts: the records of the Buffers handed to
// JavaScript, the per-environment state, and what each binding_*.cc file
// offers the others. Files, one concern each:
//   binding.cc             module init and the small exports (stats, addressOf, ...)
//   binding_blocks.cc      blockAlloc, blockFree, viewWrap, viewDetach, blockShare
//   binding_pages.cc       page-level blocks: blockAllocPages, protect, pageState
//   binding_records.cc     records, wrapping in Buffers, finalizers, settling memory
//   binding_quarantine.cc  memory freed from JavaScript, held until the turn ends
//   binding_teardown.cc    ownership at an environment's end (scan, sentinel, uv check)
//   binding_runtime.cc     blocks in memory the runtime allocates, where it refuses external buffers
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>
#ifdef SYSALLOC_TESTING
#include <unordered_set>
#endif

#include "address_table.h"
#include "binding_env.h"
#include "binding_status.h"
#include "blocks.h"
#include "os.h"
#include "shared_blocks.h"

// The Windows build links against node.exe's Node-API exports only (no libuv
// headers or import library), so it has no teardown check: there a worker's end
// decides ownership at its first Buffer cleanup (docs/design.md, Lifetime).
#if defined(_WIN32)
#define SYSALLOC_TEARDOWN_CHECK 0
#else
#define SYSALLOC_TEARDOWN_CHECK 1
#endif
struct uv_check_s;
typedef struct uv_check_s uv_check_t;

namespace sysalloc {
namespace binding {

// The quarantine: memory freed from JavaScript is neither reused nor unmapped
// until the JavaScript that freed it has returned to the event loop (a microtask
// armed at the first free of a turn drains it), because a native function of the
// runtime (Buffer.prototype.fill, utf8Write, ...) may hold the data pointer
// while the JavaScript it calls back frees the block. A synchronous run that
// frees more than this evicts the oldest first (docs/design.md).
constexpr size_t kQuarantineBlocks = 16;
constexpr size_t kQuarantineBytes = size_t{64} << 20;

// The largest alignment accepted: 2^32, the size of the largest Buffer.
constexpr double kMaxAlign = 4294967296.0;
// Largest integer a double holds exactly; sizes beyond it cannot be exact.
constexpr double kMaxSafeInteger = 9007199254740991.0;

struct EnvState;

// One external Buffer handed to JavaScript: a whole block, or a view of part of
// a block. The Buffer's finalizer, which Node always runs (after GC, once a
// detach drops the backing store, or at environment teardown), ends the record.
// A block's memory is returned once its own Buffer is freed or collected and no
// view of it is left, so no Buffer ever spans returned memory.
struct Wrapper {
  EnvState* owner;
  Wrapper* block;       // for a view: the block it spans part of; for a block: nullptr
  os::Region region;    // for a block: its memory
  void* data;           // the first byte the Buffer spans
  size_t length;        // bytes the Buffer spans
  uint32_t views;       // for a block: views neither detached nor collected
  bool detached;        // freed from JavaScript: the Buffer reads length 0
  bool finalized;       // Node has run the Buffer's finalizer
  bool holds_memory;    // for a block: the region is not yet returned
  // Inside napi_detach_arraybuffer on this record's Buffer. Bun and Deno run the
  // finalizer synchronously there, Node later from an immediate: while pinned,
  // the finalizer only marks the record and the detaching call settles it.
  bool pinned;
  // For a block: its ArrayBuffer was detached by someone else (transfer(), a byte
  // stream) and free() ended the Block; the memory belongs to the new
  // ArrayBuffer and returns when its finalizer runs.
  bool moved;
  // For a block: its memory cannot be proven ours when the environment ends (see
  // TeardownScan), so it is abandoned rather than returned.
  bool unprovable;
  napi_ref arraybuffer;  // for a block: weak reference to its ArrayBuffer
  // For a block made shared by blockShare: its memory belongs to this shared
  // region, and returning it means dropping this Block's reference.
  shared::Region* shared = nullptr;
  // For a block marked unprovable: why (Unprovable), counted when it is abandoned.
  uint8_t unprovable_why = 0;
  // Runtime memory (binding_runtime.cc): a block is a Buffer over part of an
  // ArrayBuffer the runtime allocated (region.base its start), a view a Buffer
  // over part of the same ArrayBuffer; the finalizer is napi_add_finalizer's, on
  // the block's ArrayBuffer or on the view.
  bool runtime = false;
};

// Why a block's memory was abandoned at an environment's end (teardownStats()).
enum Unprovable : uint8_t {
  kDetachedByOther = 1,  // its ArrayBuffer was detached, not by free(): a move
  kCollectedPending = 2,  // its ArrayBuffer was collected, its finalizer not run at the teardown scan
  kSafetyNet = 3,         // decided by a safety net (a Buffer cleanup ran before the teardown scan)
  kUnprovableKinds = 4,
};

// Per environment (main thread, each worker). Outlives the environment until the
// last of its Buffers' finalizers has run, whichever order Node tears them down in.
struct EnvState {
  AddressTable<Wrapper> blocks;  // blocks whose memory is held, by address
  AddressTable<Wrapper> views;   // views not yet detached or collected, by address
  size_t records = 0;            // Wrappers not yet deleted
  bool env_alive = true;
  napi_env env = nullptr;
  // Set by TeardownScan (process 'exit'): every block's ownership has been decided.
  bool scanned = false;
  napi_ref probe = nullptr;  // a plain object: setting a property on it fails once JS can no longer run
  napi_ref sentinel = nullptr;
  char sentinel_byte = 0;
  // Keep a weak reference to each block's ArrayBuffer for TeardownScan, and probe
  // for teardown in finalizers (Node workers: trackOwnership()). Without it,
  // TeardownScan treats every block not freed by then as unprovable: right for
  // the main thread, whose end is the process's. Never on Bun or Deno, whose
  // finalizers may run inside garbage collection, where Node-API calls crash.
  bool track_ownership = false;
  // Workers: a check handle on the environment's loop that runs the teardown scan
  // (TeardownCheck), and the async cleanup hook that closes it if it never did.
  uv_check_t* teardown_check = nullptr;
  napi_async_cleanup_hook_handle teardown_check_hook = nullptr;
  std::vector<Wrapper*> spare;   // deleted records kept for reuse
  // The record being wrapped right now. When Node refuses to wrap (a length over
  // its Buffer limit), it calls the finalizer at once, before
  // napi_create_external_buffer returns; the caller then owns the cleanup.
  Wrapper* wrapping = nullptr;

  std::deque<os::Region> quarantine;  // oldest first
  size_t quarantine_bytes = 0;
  bool drain_armed = false;
  napi_ref queue_microtask = nullptr;  // globalThis.queueMicrotask
  napi_ref drain = nullptr;            // DrainQuarantine as a function
  double* alloc_address = nullptr;     // allocAddress[0]: the address of the last block allocated
  napi_ref alloc_address_ref = nullptr;
  std::string last_error;              // why the last kRuntimeThrew / kRuntimeRefused
  // Blocks come from the runtime's own memory: set at load when the runtime
  // refuses the sentinel's external ArrayBuffer (or the build has none), or by
  // the first Wrap it refuses. Never cleared (but by testing.runtimeMemory).
  bool runtime_memory = !SYSALLOC_EXTERNAL_BUFFERS;
  napi_ref array_buffer_ctor = nullptr;  // globalThis.ArrayBuffer, once runtime_memory
  napi_ref buffer_from = nullptr;        // globalThis.Buffer.from, once runtime_memory
  // The quarantine of runtime memory: the ArrayBuffers that took the memory of
  // freed runtime blocks (RuntimeFree), detached when the quarantine drains.
  struct Held {
    napi_ref arraybuffer;
    size_t bytes;  // the ArrayBuffer's, for the bound
    size_t size;   // the block's, for blockStats().quarantinedBytes
  };
  std::deque<Held> runtime_quarantine;
  size_t runtime_quarantine_bytes = 0;
#ifdef SYSALLOC_TESTING
  // testing.syncFinalizer(true): every detach also runs the finalizer inside it, as
  // Bun and Deno do; the runtime's own later call for such a record is then ignored.
  bool sync_finalizer = false;
  bool simulating = false;                 // inside the simulated finalizer call
  napi_status refuse_wrap = napi_ok;       // testing.refuseWrap(status)
  std::unordered_set<Wrapper*> simulated;  // finalized by the simulation, the runtime's call still to come
  std::unordered_set<Wrapper*> zombies;    // dropped after a simulated finalizer, awaiting the runtime's call
#endif

  static constexpr size_t kSpareRecords = 1024;

  Wrapper* NewRecord(const Wrapper& init);
  void DropRecord(Wrapper* w);
  void DeleteIfDone();
  void ReleaseQuarantine();
};

EnvState* StateOf(napi_env env);
napi_value StatusValue(napi_env env, Status status);
// A power of two from 1 to kMaxAlign.
bool IsPowerOfTwo(double v);
// Cheap guards so that no caller can corrupt memory (the facade gives the
// message): size a whole number from 1 to kMaxSafeInteger, align IsPowerOfTwo.
bool IsSizeAndAlign(double size, double align);
void DefineRaw(Napi::Env env, Napi::Object exports, const char* name, napi_callback callback);

// ---- binding_records.cc

// Why a block's memory is being returned: a call from JavaScript (free, a view's
// detach) may run inside a native frame that holds the pointer, so its memory is
// quarantined; a finalizer (the Buffer is unreachable) returns it at once.
enum class Cause { kJavaScript, kFinalizer };

// V8 already counts the bytes of an external ArrayBuffer. Tell it only about the
// bytes it cannot see (page rounding of mapped regions), once each way.
int64_t HiddenBytes(const os::Region& region);
void AdjustExternal(napi_env env, int64_t delta);

// Returns a block's memory once nothing can reach it, and deletes its record
// once its finalizer has run and no view refers to it. Does nothing while a
// detach of the block's own Buffer is under way (pinned): that call settles it.
void Settle(napi_env env, Wrapper* block, Cause cause);
void DetachView(napi_env env, Wrapper* view, Cause cause);
// Detaches the ArrayBuffer of w's own Buffer, whichever way the runtime runs the
// finalizer: later (Node), or synchronously inside the detach (Bun, Deno).
bool DetachPinned(napi_env env, Wrapper* w, napi_value arraybuffer);
void FinalizeEnvState(napi_env env, void* data, void* hint);
// Node-API's finalizer of every record (napi_finalize; the record is the hint).
void FinalizeWrapper(napi_env env, void* data, void* hint);
// Wraps [data, data + length) in an external Buffer whose finalizer ends record.
// On failure the record is dropped and the status says why; kExternalRefused
// (the runtime refuses external buffers) also sets state->runtime_memory.
Status Wrap(napi_env env, EnvState* state, Wrapper* record, napi_value* out);
// Hands a freshly allocated region to JavaScript as a block of size bytes:
// its Buffer, or (the region released) the Status saying why not.
napi_value HandOut(napi_env env, const os::Region& region, size_t size);

// What a Uint8Array spans.
struct Spanned {
  void* data = nullptr;
  size_t length = 0;
  napi_value arraybuffer = nullptr;
};
// The block whose own Buffer (or another whole Uint8Array over it) value is.
Wrapper* FindBlock(napi_env env, EnvState* state, napi_value value, Spanned* span);
// The view whose Buffer value is.
Wrapper* FindView(napi_env env, EnvState* state, napi_value value, Spanned* span);
// Tags a view (see FindBlock): its ArrayBuffer, or for a runtime view the view itself.
void TagView(napi_env env, napi_value object);

// ---- binding_runtime.cc

// A block of size bytes aligned to align in an ArrayBuffer the runtime
// allocates: its Buffer, or a Status (kNoMemory when the runtime refuses).
napi_value RuntimeBlock(napi_env env, EnvState* state, size_t size, size_t align);
// A view of [data, data + length) of block, whose Buffer's ArrayBuffer is
// arraybuffer: a Buffer over that same ArrayBuffer (it cannot be detached alone).
Status RuntimeView(napi_env env, EnvState* state, Wrapper* block, napi_value arraybuffer, void* data, size_t length,
                   napi_value* out);
// Ends a runtime block from free(): its ArrayBuffer (every view reads length 0)
// hands the memory to a new ArrayBuffer (transfer(), else structuredClone with a
// transfer list: no copy) that the quarantine holds until the turn ends, as for
// external memory; where neither exists, a plain detach. False when it cannot.
bool RuntimeFree(napi_env env, EnvState* state, Wrapper* block, napi_value arraybuffer);
// Detaches (when detach) and lets go of every ArrayBuffer the runtime quarantine holds.
void ReleaseRuntimeQuarantine(napi_env env, EnvState* state, bool detach);

// ---- binding_quarantine.cc

// Memory freed by a call from JavaScript: quarantined (see kQuarantineBlocks).
void Quarantine(napi_env env, EnvState* state, const os::Region& region);
// Queues the quarantine's drain as a microtask, once per turn.
void ArmDrain(napi_env env, EnvState* state);
// Makes the microtask that drains the quarantine (nullptr where the runtime has
// no queueMicrotask: then only drainQuarantine() and eviction release).
void InitQuarantine(Napi::Env env, Napi::Object exports, EnvState* state);

// ---- binding_teardown.cc

// Counts (and with SYSALLOC_TRACE_TEARDOWN, reports) a block abandoned.
void CountAbandoned(const Wrapper* block);
// Marks unprovable every block not freed by us whose ArrayBuffer is detached (a
// move), and, when final, every one whose ArrayBuffer was collected with its
// finalizer not run. forced: the reason to record instead (a safety net).
void ScanOwnership(napi_env env, EnvState* state, bool final, Unprovable forced = Unprovable{});
// True if the weak reference to block's ArrayBuffer still reaches it.
bool ArrayBufferAlive(napi_env env, Wrapper* block);
// The probe, the sentinel, teardownScan, trackOwnership, teardownStats.
void InitTeardown(Napi::Env env, Napi::Object exports, EnvState* state);

// ---- the other exports
void InitBlocks(Napi::Env env, Napi::Object exports);
void InitPages(Napi::Env env, Napi::Object exports);

}  // namespace binding
}  // namespace sysalloc
