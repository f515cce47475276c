import { native } from './native';
import type { NativeBlockStats } from './native';

export { AllocError } from './errors';
export type { AllocErrorCode } from './errors';
export { Block } from './block';
export type { BlockOptions, Protection } from './block';
export { Arena } from './arena';
export type { ArenaOptions } from './arena';
export { Pool } from './pool';
export type { PoolOptions } from './pool';
export type { MemoryRegion } from './managed-region';
export { alignUp, alignDown, isAligned, addressOf, pageSize, blockSource } from './align';
export type { SourceName } from './native';
export { shim, includeDir } from './shim';
export { debug } from './debug';
export type { DebugOptions, DebugReport, DebugShimSite, DebugSite, DebugSizeBucket } from './debug';
export type { ShimPointers, ShimStats } from './shim';
export { MAX_ALIGN, MAX_SIZE } from './validate';
export { sharedArrayBuffers } from './shared';
export type { SharedHandle, SharedBlockHandle, SharedPoolHandle } from './shared';

export type BlockStats = NativeBlockStats & {
  /** Shared regions alive in this process (share(), shared pools), each also counted once in liveBlocks. */
  sharedRegions: number;
  /** References held to them: Blocks and pools over them in every thread, and SharedArrayBuffers not yet collected. */
  sharedReferences: number;
};

/**
 * Counters of this copy of sysalloc's block allocator, over every thread of the
 * process: live blocks and bytes, OS calls and their matching releases per
 * source, and the large-region cache. Another copy of sysalloc in the same
 * process (a second version nested in node_modules) counts its own Blocks.
 * Useful for leak checks.
 */
export function blockStats(): BlockStats {
  return { ...native.stats(), ...native.sharedStats() };
}

/** Returns every large region kept for reuse to the operating system. */
export function trimBlockCache(): void {
  native.trimCache();
}
export { Heap } from './heap';
export type { HeapOptions, HeapStrategy } from './heap';
export { PageAllocator } from './page-allocator';
export type { PageAllocatorOptions } from './page-allocator';
export { IdAllocator } from './id-allocator';
export type { IdAllocatorOptions } from './id-allocator';
