// The one place that loads the addon, and the type of everything it exports.
import bindings = require('bindings');

/** Mirrors `enum Status` in native/binding.cc. */
export interface NativeStatus {
  readonly ok: 0;
  readonly invalidParam: 1;
  readonly noMemory: 2;
  readonly notAllocated: 3;
  /** The runtime threw while making the Buffer; lastError() has its message. */
  readonly runtimeThrew: 4;
  /** The runtime returned another Node-API failure; lastError() says which. */
  readonly runtimeRefused: 5;
}

export type SourceName = 'posix_memalign' | 'mmap' | '_aligned_malloc' | 'VirtualAlloc';

export interface NativeBlockStats {
  liveBlocks: number;
  liveBytes: number;
  cachedBlocks: number;
  cachedBytes: number;
  cacheHits: number;
  /** Blocks freed from JavaScript whose memory is held until the current synchronous run ends (the quarantine). */
  quarantinedBlocks: number;
  quarantinedBytes: number;
  /**
   * Blocks whose memory had moved to another ArrayBuffer (that may live on in
   * another thread) when their environment ended: kept for the life of the
   * process, never returned. Not counted in liveBlocks.
   */
  abandonedBlocks: number;
  abandonedBytes: number;
  osAllocations: Record<SourceName, number>;
  osReleases: Record<SourceName, number>;
}

/** Addresses from native/binding.cc ShimPointers: the shim's functions and its table. */
export interface NativeShimPointers {
  malloc: bigint;
  calloc: bigint;
  realloc: bigint;
  free: bigint;
  alignedAlloc: bigint;
  usableSize: bigint;
  stats: bigint;
  /** The address of `struct sysalloc_api`. */
  table: bigint;
  /** `SYSALLOC_API_VERSION` of the table. */
  version: number;
}

/** Mirrors `struct sysalloc_stats` in native/include/sysalloc.h. */
export interface NativeShimStats {
  allocations: number;
  reallocations: number;
  frees: number;
  liveBlocks: number;
  liveBytes: number;
  peakBytes: number;
  foreignFrees: number;
  invalidFrees: number;
}

export interface NativeAddon {
  /** A zero-copy external Buffer over a new block, or a status when none could be made. */
  blockAlloc(size: number, align: number, zero: boolean): Buffer | number;
  /**
   * Detaches the Buffer blockAlloc returned; a status. The memory goes to the
   * quarantine, or waits for the last view of the block to be detached or
   * collected. When the Buffer was detached by someone else (its memory moved to
   * another ArrayBuffer), ends the block and leaves the memory to the new owner;
   * `address` is allocAddress[0] as read right after blockAlloc.
   */
  blockFree(buffer: Uint8Array, address?: number): number;
  /** allocAddress[0]: the address of the block blockAlloc returned last. */
  readonly allocAddress: Float64Array;
  /** Releases the quarantine now (the microtask armed at the first free of a turn does it otherwise). */
  drainQuarantine(): void;
  /** Why the last runtimeThrew or runtimeRefused status. */
  lastError(): string;
  /** The quarantine's bounds: at most this many blocks and bytes are held; the oldest goes first. */
  readonly quarantineBlocks: number;
  readonly quarantineBytes: number;
  /**
   * A Buffer of its own over [offset, offset + length) of a live block, which
   * viewDetach can detach alone and which keeps the block's memory until then;
   * or a status. One view at a time per address.
   */
  viewWrap(block: Uint8Array, offset: number, length: number): Buffer | number;
  /** Marks, at process 'exit', the blocks whose memory cannot be proven this environment's. */
  teardownScan(): void;
  /** Keeps a weak reference per block so that teardownScan can tell which are still this environment's (workers). */
  trackOwnership(): void;
  /** Detaches a Buffer viewWrap returned; a status. */
  viewDetach(view: Uint8Array): number;
  /** The address of the first byte, or undefined for anything but an ArrayBuffer or a view. */
  addressOf(value: unknown): bigint | undefined;
  sourceFor(size: number, align: number): SourceName;
  stats(): NativeBlockStats;
  trimCache(): void;
  /** V8's external-memory total, as napi_adjust_external_memory reports it. */
  externalMemory(): number;
  shimPointers(): NativeShimPointers;
  shimStats(): NativeShimStats;
  readonly pageSize: number;
  readonly allocationGranularity: number;
  readonly maxAlign: number;
  readonly status: NativeStatus;
}

export const native: NativeAddon = bindings('sysalloc');

// The last JavaScript an environment (main thread or worker) runs before Node
// calls every Buffer's finalizer: decide there which blocks' memory moved away.
// Node only (Bun and Deno may run finalizers inside garbage collection, where
// the checks below cannot run; there a worker's end behaves as before, see
// README "Lifetime"). The last JavaScript an environment runs before Node calls
// every Buffer's finalizer is process 'exit': decide there which blocks' memory
// moved away. A worker's end is not the process's: there, keep what it takes to
// tell the blocks still the worker's from those moved away (a weak reference each).
const versions = typeof process === 'object' && process !== null ? (process.versions as Record<string, string | undefined>) : {};
if (versions.node !== undefined && versions.bun === undefined && versions.deno === undefined) {
  process.once('exit', () => native.teardownScan());
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (!(require('worker_threads') as typeof import('worker_threads')).isMainThread) native.trackOwnership();
}
