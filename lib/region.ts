// What Arena and Pool share: the Blocks they manage, taking ownership of one
// handed over by addMemory, and wrapping views over them.
import { Block } from './block';
import { AllocError, invalidParam } from './errors';
import { native } from './native';

/** An address range an Arena or a Pool manages: one Block's memory. */
export interface MemoryRegion {
  /** The address of the first byte. */
  readonly address: bigint;
  /** Bytes in the region. */
  readonly size: number;
}

/** A Block as an allocator holds it, with its address as a number for fast arithmetic. */
export interface ManagedBlock {
  readonly block: Block;
  readonly address: number;
  readonly size: number;
}

// Every Block some Arena or Pool owns, so that one Block cannot feed two allocators.
const managed = new WeakSet<Block>();

/**
 * The address of a live Block as a number. User-space addresses on x86-64 and
 * arm64 are below 2^48, so address + size is exact in a double; this asserts it.
 */
export function numberAddress(block: Block): number {
  const address = block.address;
  if (address + BigInt(block.size) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`sysalloc: block address 0x${address.toString(16)} is beyond 2^53; arithmetic on it would be inexact`);
  }
  return Number(address);
}

/** Takes a Block the allocator just allocated for itself. */
export function own(block: Block): ManagedBlock {
  managed.add(block);
  return { block, address: numberAddress(block), size: block.size };
}

/**
 * Checks a Block handed to addMemory and takes it: ERR_INVALID_PARAM for
 * anything but a Block, ERR_NOT_ALLOCATED for a freed one, ERR_MEMORY_OVERLAP
 * when its memory intersects memory this allocator already manages (the same
 * Block twice included) or it already belongs to another Arena or Pool.
 */
export function adopt(owner: string, block: unknown, held: readonly ManagedBlock[]): ManagedBlock {
  if (!(block instanceof Block)) throw invalidParam('block', 'a Block', block);
  if (block.freed) {
    throw new AllocError('ERR_NOT_ALLOCATED', `cannot add a freed block (size ${block.size}, align ${block.align}) to ${owner}`);
  }
  const address = numberAddress(block);
  const end = address + block.size;
  for (const other of held) {
    if (address < other.address + other.size && other.address < end) {
      throw new AllocError(
        'ERR_MEMORY_OVERLAP',
        `block [${hex(address)}, ${hex(end)}) overlaps [${hex(other.address)}, ${hex(other.address + other.size)}), which ${owner} already manages`,
      );
    }
  }
  if (managed.has(block)) {
    throw new AllocError(
      'ERR_MEMORY_OVERLAP',
      `block [${hex(address)}, ${hex(end)}) is already managed by another Arena or Pool`,
    );
  }
  managed.add(block);
  return { block, address, size: block.size };
}

/** Gives a Block back to the caller of addMemory when the allocator could not take it after all. */
export function disown(region: ManagedBlock): void {
  managed.delete(region.block);
}

/** Frees a managed Block at destroy, unless its caller already did (against the addMemory contract). */
export function release(region: ManagedBlock): void {
  managed.delete(region.block);
  if (!region.block.freed) region.block.free();
}

export function regionOf(region: ManagedBlock): MemoryRegion {
  return { address: BigInt(region.address), size: region.size };
}

/**
 * A detachable Buffer of its own over [offset, offset + length) of a managed
 * block (native viewWrap), or the native status when none could be made:
 * notAllocated when the Block was freed.
 */
export function tryWrap(region: ManagedBlock, offset: number, length: number): Buffer | number {
  return native.viewWrap(region.block.buffer, offset, length);
}

/** The AllocError for a failed wrap of a live block. */
export function wrapError(owner: string, status: number, offset: number, length: number): AllocError {
  if (status === native.status.notAllocated) {
    return new AllocError('ERR_NOT_ALLOCATED', `${owner}: a block it manages was freed by someone else`);
  }
  if (status === native.status.noMemory) {
    return new AllocError('ERR_NO_MEMORY', `${owner}: no memory to wrap ${length} bytes at offset ${offset}`);
  }
  if (status === native.status.runtimeThrew || status === native.status.runtimeRefused) {
    return new AllocError('ERR_NO_MEMORY', `${owner}: the JavaScript runtime could not wrap ${length} bytes at offset ${offset}: ${native.lastError()}`);
  }
  return new AllocError('ERR_INVALID_PARAM', `${owner}: the native guard refused a view of ${length} bytes at offset ${offset}`);
}

export function hex(address: number): string {
  return `0x${address.toString(16)}`;
}
