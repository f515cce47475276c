import { native, NativeBlockStats } from './native';

export { AllocError, AllocErrorCode } from './errors';
export { Block, BlockOptions } from './block';
export { Arena, ArenaOptions } from './arena';
export { Pool, PoolOptions } from './pool';
export { MemoryRegion } from './region';
export { alignUp, alignDown, isAligned, addressOf, pageSize, blockSource } from './align';
export { SourceName } from './native';
export { shim, includeDir, ShimPointers, ShimStats } from './shim';
export { MAX_ALIGN, MAX_SIZE } from './validate';

export type BlockStats = NativeBlockStats;

/**
 * Process-wide counters of the block allocator (all threads): live blocks and
 * bytes, OS calls and their matching releases per source, and the large-region
 * cache. Useful for leak checks.
 */
export function blockStats(): BlockStats {
  return native.stats();
}

/** Returns every large region kept for reuse to the operating system. */
export function trimBlockCache(): void {
  native.trimCache();
}
