// Loads the test-only consumer addon (built by build.js before jest runs) and
// types what it exports. Pointers and sizes cross as bigint (sizes may also be
// numbers).
import bindings = require('bindings');

export type Size = number | bigint;

export interface StatsSnapshot {
  allocations: number;
  reallocations: number;
  frees: number;
  liveBlocks: number;
  liveBytes: number;
  peakBytes: number;
  foreignFrees: number;
  invalidFrees: number;
}

export interface HookReport {
  allocations: number;
  frees: number;
  peakLiveBytes: number;
  hookLiveBytesWhileOpen: number;
  shimLiveBytesWhileOpen: number;
  shimLiveBytesAfterEnd: number;
}

export interface ThreadTotals {
  allocations: number;
  reallocations: number;
  frees: number;
  handedOver: number;
  failures: number;
  badContent: number;
  badZero: number;
  badAlignment: number;
  badSize: number;
  /** The most bytes the threads held at once, by their own count (never below the shim's). */
  heldAtMost: number;
  heldAtEnd: number;
}

export interface Consumers {
  /** Takes the table at this address (checked with sysalloc_api_at); its version. */
  setApi(table: bigint): number;
  malloc(size: Size): bigint;
  calloc(count: Size, size: Size): bigint;
  realloc(p: bigint, size: Size): bigint;
  free(p: bigint): void;
  alignedAlloc(alignment: Size, size: Size): bigint;
  usableSize(p: bigint): bigint;
  /** The table's own stats function. */
  stats(): StatsSnapshot;
  /** errno as the last call left it (cleared before each call; for free, 0 when free kept it). */
  lastErrno(): number;
  systemMalloc(size: Size): bigint;
  systemUsableSize(p: bigint): bigint;
  fill(p: bigint, size: Size, seed: number): void;
  check(p: bigint, size: Size, seed: number): boolean;
  isZero(p: bigint, size: Size): boolean;
  readU64(address: bigint): bigint;
  readonly ENOMEM: number;
  readonly EINVAL: number;
  readonly SIZE_MAX: bigint;
  readonly PTRDIFF_MAX: bigint;

  zlibRoundTrip(input: Buffer, level: number): {
    compressedLength: number;
    output: Buffer;
    zlibVersion: string;
    deflate: HookReport;
    inflate: HookReport;
  };

  sqliteInstall(): void;
  sqliteUninstall(): void;
  sqliteMemoryUsed(): number;
  sqliteOpen(path: string): void;
  sqliteExec(sql: string): void;
  sqliteInsertRows(rows: number): void;
  sqliteQuery(sql: string): (number | string | null)[][];
  sqliteClose(): void;
  readonly sqliteVersion: string;

  /** uv_replace_allocator with the table's functions, on Node's own libuv. */
  uvReplaceAllocator(): number;

  runThreads(threads: number, opsPerThread: number, seed: number): ThreadTotals;
  /**
   * Thread A allocates `blocks` blocks of `size` and, still running, hands them
   * to thread B, which frees them and allocates (and frees) one more. The bytes A allocated.
   */
  handOffWhileAlive(blocks: number, size: number): number;
}

export const consumers: Consumers = bindings({ bindings: 'shim_consumers', module_root: __dirname });
