// A Block that an Arena, a Pool, a Heap or a PageAllocator manages: its
// address as a number, who handed it over, the view over all of it whose
// ArrayBuffer every fast allocation shares, and whether that memory moved away.
// Each allocator extends it (or holds one) with its own bookkeeping.
import { Block, isBlock } from './block';
import { AllocError, externalRefused, invalidParam } from './errors';
import { native } from './native';

/** An address range an allocator manages: one Block's memory. */
export interface MemoryRegion {
  /** The address of the first byte. */
  readonly address: bigint;
  /** Bytes in the region. */
  readonly size: number;
}

export type OwnerKind = 'Arena' | 'Pool' | 'Heap' | 'PageAllocator';

// The kind of allocator that owns each managed Block, so that one Block cannot feed two allocators.
const owners = new WeakMap<Block, OwnerKind>();

export const MOVED_CAUSE = 'moved to another ArrayBuffer (a web byte stream, transfer() or a BYOB read)';

export class ManagedRegion {
  readonly block: Block;
  /** The Block's address as a number (exact: asserted below 2^53 with its size). */
  readonly address: number;
  readonly size: number;
  /** The Block came from addMemory (its caller's) rather than from the allocator itself. */
  readonly fromCaller: boolean;
  /** A view over the whole Block (Arena; Pool, Heap and PageAllocator in fast mode), made by wrapWhole. */
  view: Buffer | undefined = undefined;
  /** The ArrayBuffer of `view`: every fast allocation is a Buffer over part of it. */
  arrayBuffer: ArrayBuffer | undefined = undefined;
  /**
   * Where the Block starts in `arrayBuffer`: 0, but for runtime memory (README
   * "Runtimes without external buffers"), whose ArrayBuffer starts before the aligned block.
   */
  base = 0;
  /**
   * The Block is memory the runtime allocated (block.source 'runtime'): its
   * views cannot be detached one by one, only all at once by freeing the Block.
   */
  readonly runtime: boolean;
  /** The allocator stopped taking memory from it (the caller of addMemory freed its Block). */
  retired = false;

  /** Takes `block` for an allocator of `kind`; `fromCaller` when it came from addMemory (checked by adoptable). */
  constructor(kind: OwnerKind, block: Block, fromCaller: boolean) {
    this.address = numberAddress(block);
    this.block = block;
    this.size = block.size;
    this.fromCaller = fromCaller;
    this.runtime = block.source === 'runtime';
    owners.set(block, kind);
  }

  /**
   * Whether someone else detached `arrayBuffer`: a web byte stream it was
   * enqueued into, ArrayBuffer.prototype.transfer(), a BYOB read. The memory
   * now belongs to the ArrayBuffer that took it (the Block's memory stays until
   * that one is collected); the allocator must never hand it out again. Every
   * live view of the old ArrayBuffer reads length 0.
   */
  get moved(): boolean {
    return this.arrayBuffer !== undefined && this.arrayBuffer.byteLength === 0;
  }

  /**
   * A detachable Buffer of its own over [offset, offset + length) of the Block
   * (native viewWrap), or the native status when none could be made:
   * notAllocated when the Block was freed.
   */
  wrap(offset: number, length: number): Buffer | number {
    return native.viewWrap(this.block.buffer, offset, length);
  }

  /** Makes `view` and `arrayBuffer` over the whole Block; the native status when it cannot. */
  wrapWhole(): number | undefined {
    const view = this.wrap(0, this.size);
    if (typeof view === 'number') return view;
    this.view = view;
    this.arrayBuffer = view.buffer as ArrayBuffer;
    this.base = view.byteOffset;
    return undefined;
  }

  /**
   * Detaches `view` (every fast allocation reads length 0) and forgets it.
   * false, and nothing changes, when the runtime refuses because it holds the
   * view for work in flight (Bun); the view then keeps the memory alive even
   * after the Block is freed, so dropping the region is still safe.
   */
  detachView(): boolean {
    if (this.view !== undefined && native.viewDetach(this.view) === native.status.runtimeRefused) return false;
    this.view = undefined;
    this.arrayBuffer = undefined;
    return true;
  }

  /** Gives a Block from addMemory back to its caller when the allocator could not take it after all. */
  disown(): void {
    owners.delete(this.block);
  }

  /** Frees the Block (destroy, moved memory), unless its caller already did (against the addMemory contract). */
  release(): void {
    owners.delete(this.block);
    if (!this.block.freed) this.block.free();
  }

  /** disown() for a Block from addMemory, release() for the allocator's own. */
  giveUp(): void {
    if (this.fromCaller) this.disown();
    else this.release();
  }

  describe(): MemoryRegion {
    return { address: BigInt(this.address), size: this.size };
  }
}

/**
 * Detaches a checked allocation's Buffer. false when the runtime refuses
 * because it holds the Buffer for work in flight (Bun, during fs, zlib or
 * crypto calls): the caller then leaves the allocation live and throws
 * heldByRuntime. A Buffer detached already (moved away) counts as detached.
 */
export function detachChecked(buf: Uint8Array): boolean {
  return native.viewDetach(buf) !== native.status.runtimeRefused;
}

/** ERR_INVALID_PARAM for a free the runtime refused (detachChecked false): nothing was freed. */
export function heldByRuntime(method: string, bytes: number): AllocError {
  return new AllocError(
    'ERR_INVALID_PARAM',
    `${method}: cannot free ${bytes} bytes while the runtime holds their Buffer for work in flight ` +
      '(Bun holds a Buffer given to fs, zlib or crypto until the callback): they stay allocated; ' +
      'free them once that work has ended',
  );
}

/**
 * Ends every region of an allocator being destroyed: in checked mode first
 * detaches each live allocation (`live`, the Buffers handed out), then each
 * region's whole view, then frees each region's Block (ManagedRegion.release).
 */
export function releaseAll(regions: readonly ManagedRegion[], live: readonly (Buffer | undefined)[], checked: boolean): void {
  if (checked) for (const buf of live) if (buf !== undefined) native.viewDetach(buf);
  for (const region of regions) {
    region.detachView();
    region.release();
  }
}

/**
 * Checks a Block handed to addMemory of an allocator of `kind` (`owner` names
 * it in messages: 'this arena'): ERR_INVALID_PARAM for anything but a Block,
 * ERR_NOT_ALLOCATED for a freed one, ERR_MEMORY_OVERLAP when its memory
 * intersects memory this allocator already manages (the same Block twice
 * included) or another allocator owns it.
 */
export function adoptable(kind: OwnerKind, owner: string, block: unknown, held: readonly ManagedRegion[]): Block {
  if (!isBlock(block)) throw invalidParam('block', 'a Block', block);
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
  const other = owners.get(block);
  if (other !== undefined) {
    const article = other === kind ? 'another' : other === 'Arena' ? 'an' : 'a';
    throw new AllocError('ERR_MEMORY_OVERLAP', `block [${hex(address)}, ${hex(end)}) is already managed by ${article} ${other}`);
  }
  return block;
}

/**
 * A checked Heap or PageAllocator cannot keep its promise (a freed allocation
 * reads length 0 at once) on runtime memory, where a view cannot be detached
 * without its whole region: refused there rather than let a freed Buffer reach
 * the next allocation. `block` when one is being added; else the memory the
 * environment serves now.
 */
export function refuseCheckedOnRuntime(kind: 'Heap' | 'PageAllocator', block?: Block): void {
  const runtime = block === undefined ? native.sourceFor(native.pageSize, native.pageSize) === 'runtime' : block.source === 'runtime';
  if (!runtime) return;
  throw externalRefused(
    block === undefined ? `${kind} { checked: true }` : `${kind}.addMemory of a checked ${kind === 'Heap' ? 'heap' : 'page allocator'}`,
    `whose views of one region cannot be detached one by one, so a freed allocation could not read length 0 before its memory ` +
      `is handed out again; use checked: false (a freed Buffer still reaches the memory, as documented for fast mode) or a checked Pool`,
  );
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

/**
 * The address of a live Block as a number. User-space addresses on x86-64 and
 * arm64 are below 2^48, so address + size is exact in a double; this asserts it.
 */
function numberAddress(block: Block): number {
  const address = block.address;
  if (address + BigInt(block.size) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`sysalloc: block address 0x${address.toString(16)} is beyond 2^53; arithmetic on it would be inexact`);
  }
  return Number(address);
}

export function hex(address: number): string {
  return `0x${address.toString(16)}`;
}
