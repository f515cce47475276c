import { Block, disposeSymbol, isBlock } from './block';
import { AllocError, describe, invalidParam } from './errors';
import { Buddy, ceilLog2, floorLog2, GRANULE, HeapCore, MAX_BUDDY_REGION, Tlsf } from './heap-core';
import { native } from './native';
import {
  adoptable,
  detachChecked,
  heldByRuntime,
  hex,
  ManagedRegion,
  MemoryRegion,
  refuseCheckedOnRuntime,
  releaseAll,
  wrapError,
} from './managed-region';
import { ALLOCATION, tag, taggedBuffer } from './tagged-buffer';
import { checkAlign, checkSize, MAX_ALIGN, MAX_SIZE } from './validate';

// Module constants rather than imports: the fast paths read them on every call.
const TaggedBuffer = taggedBuffer;
const KEY = ALLOCATION;
const MAX = MAX_SIZE;

export type HeapStrategy = 'tlsf' | 'buddy';

export interface HeapOptions {
  /** Bytes of the first region, from 16 to MAX_SIZE. Without `grow`, all the heap will ever hold (plus addMemory). */
  capacity: number;
  /** Alignment of every region the heap allocates: a power of two; default and minimum the page size. */
  align?: number;
  /**
   * 'tlsf' (default): two-level segregated fit, blocks rounded up to 16 bytes,
   * immediate coalescing. 'buddy': binary buddy, blocks rounded up to a power of
   * two (at least 16 bytes), naturally aligned.
   */
  strategy?: HeapStrategy;
  /** When no block fits, allocate a new region (at least double the previous one) instead of throwing ERR_NO_MEMORY. */
  grow?: boolean;
  /**
   * Give each allocation a Buffer of its own and detach it on free, so that a
   * Buffer kept after free() reads length 0 instead of reaching whatever is
   * allocated there next. Costs one external buffer per alloc. Default false.
   */
  checked?: boolean;
}

// The ArrayBuffer of a region that has none (checked mode, destroyed heap).
const NO_BUFFER = new ArrayBuffer(0);

/**
 * A general-purpose allocator over Blocks: any size, any power-of-two
 * alignment, each allocation freed on its own in O(1) (TLSF) or O(log n)
 * merges (buddy). Bookkeeping lives in typed arrays beside the memory, not in
 * it, so a Buffer cannot overwrite the heap's own structures.
 *
 * Fast mode (default): each allocation is a Buffer over the region's one
 * ArrayBuffer, made in JavaScript with no native call; a Buffer kept after
 * free() still reaches that memory, and so whatever is allocated there next.
 * Checked mode: each allocation is a Buffer of its own, detached by free().
 * Allocations are not zero-filled.
 */
export class Heap {
  readonly strategy: HeapStrategy;
  /** The alignment of the regions the heap allocates. */
  readonly align: number;
  readonly grow: boolean;
  readonly checked: boolean;

  #core: HeapCore;
  // Fast mode: each with its view, whose ArrayBuffer every allocation in it shares.
  #regions: ManagedRegion[] = [];
  // By region number: the ArrayBuffer allocations are views of (fast mode).
  #arrayBuffers: ArrayBuffer[] = [];
  #bases: number[] = []; // ManagedRegion.base of each region, for #arrayBuffers
  // By allocation number: the Buffer handed out. free(buf) accepts exactly it.
  #live: (Buffer | undefined)[] = [];
  #capacity = 0;
  #nextRegion: number;
  #destroyed = false;
  // Checked mode: allocations freed in this synchronous run, still taken in the
  // core until the run ends (#endRun, a microtask queued at the run's first
  // free) or until nothing else fits a request; their bytes, left out of used.
  #held: number[] = [];
  #heldBytes = 0;
  #armed = false;
  #endRun = (): void => {
    this.#armed = false;
    this.#releaseHeld();
  };

  constructor(options: HeapOptions) {
    if (typeof options !== 'object' || options === null) throw invalidParam('options', 'an object', options);
    const capacity = options.capacity;
    if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < GRANULE || capacity > MAX_SIZE) {
      throw invalidParam('options.capacity', `an integer from ${GRANULE} to ${MAX_SIZE}`, capacity);
    }
    const page = native.pageSize;
    this.align = options.align === undefined ? page : Math.max(page, checkAlign('options.align', options.align));
    const strategy = options.strategy ?? 'tlsf';
    if (strategy !== 'tlsf' && strategy !== 'buddy') throw invalidParam('options.strategy', "'tlsf' or 'buddy'", strategy);
    if (strategy === 'buddy' && capacity > MAX_BUDDY_REGION) {
      throw invalidParam('options.capacity', `at most ${MAX_BUDDY_REGION} with strategy 'buddy'`, capacity);
    }
    this.strategy = strategy;
    for (const name of ['grow', 'checked'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'boolean') {
        throw invalidParam(`options.${name}`, 'a boolean', options[name]);
      }
    }
    this.grow = options.grow ?? false;
    this.checked = options.checked ?? false;
    if (this.checked) refuseCheckedOnRuntime('Heap');
    this.#core = strategy === 'tlsf' ? new Tlsf() : new Buddy();
    this.#nextRegion = Math.min(MAX_SIZE, 2 ** ceilLog2(capacity) * 2);
    // A buddy region aligned to its largest power of two is one block, not many.
    const first = strategy === 'buddy' ? Math.min(MAX_ALIGN, Math.max(this.align, 2 ** floorLog2(capacity))) : this.align;
    this.#addRegion(new ManagedRegion('Heap', Block.alloc(capacity, { align: first, zero: false }), false));
  }

  /**
   * `size` bytes whose address is a multiple of `align` (a power of two,
   * default 16), as a Buffer of exactly `size` bytes over the heap's memory.
   * ERR_NO_MEMORY when no free block fits and the heap does not grow.
   */
  alloc(size: number, align: number = 16): Buffer {
    if (typeof size !== 'number' || !(size >= 1 && size <= MAX) || size % 1 !== 0) {
      throw invalidParam('size', `an integer from 1 to ${MAX}`, size);
    }
    if (typeof align !== 'number' || (align | 0) !== align || align < 1 || (align & (align - 1)) !== 0) {
      return this.#allocSlow(size, checkAlign('align', align));
    }
    const core = this.#core;
    const id = core.alloc(size, align);
    if (id < 0) return this.#allocSlow(size, align);
    if (this.checked) return this.#wrap(id, size, align);
    const buf = new TaggedBuffer(this.#arrayBuffers[core.region[id]], this.#bases[core.region[id]] + core.offset[id], size, id);
    this.#live[id] = buf;
    return buf;
  }

  /**
   * Returns an allocation: exactly a Buffer alloc() returned. ERR_NOT_ALLOCATED,
   * and nothing changes, for one freed already, a Buffer from elsewhere, part
   * or a copy of one; ERR_INVALID_PARAM for what is not a Buffer or typed array.
   */
  free(buf: Uint8Array): void {
    const id = typeof buf === 'object' && buf !== null ? (buf as unknown as Record<symbol, unknown>)[KEY] : undefined;
    if (typeof id === 'number' && this.#live[id] === buf) {
      if (this.checked && !detachChecked(buf)) throw heldByRuntime('Heap.free', this.#core.size[id]);
      this.#live[id] = undefined;
      if (this.checked) this.#hold(id);
      else this.#core.free(id);
      return;
    }
    this.#freeSlow(buf);
  }

  /**
   * Hands the heap more memory: `block` (from its first 16-byte aligned
   * address) becomes one more region. The heap owns it from now on and frees
   * it at destroy: do not free or use it yourself.
   */
  addMemory(block: Block): void {
    this.#checkAlive('add memory to');
    if (this.checked && isBlock(block)) refuseCheckedOnRuntime('Heap', block);
    const region = new ManagedRegion('Heap', adoptable('Heap', 'this heap', block, this.#regions.filter((r) => !r.block.freed)), true);
    if (this.strategy === 'buddy' && region.size > MAX_BUDDY_REGION) {
      region.disown();
      throw invalidParam('block', `a Block of at most ${MAX_BUDDY_REGION} bytes for a buddy heap`, block);
    }
    if (usable(region)[1] < GRANULE) {
      region.disown();
      throw new AllocError(
        'ERR_INVALID_PARAM',
        `block must hold ${GRANULE} bytes at a ${GRANULE}-byte aligned address; got ${region.size} bytes at ${hex(region.address)}`,
      );
    }
    this.#addRegion(region);
  }

  /** Bytes in allocated blocks: each allocation rounded up to 16 bytes (tlsf) or a power of two (buddy). */
  get used(): number {
    return this.#core.used - this.#heldBytes;
  }

  /** Bytes the heap manages in every region. 0 once destroyed. */
  get capacity(): number {
    return this.#capacity;
  }

  /** capacity - used: free bytes, which fragmentation may split into blocks smaller than a request. */
  get available(): number {
    return this.#capacity - this.#core.used + this.#heldBytes;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** The address range of every block the heap allocates from. */
  regions(): MemoryRegion[] {
    return this.#regions.map((region) => region.describe());
  }

  /**
   * Frees every region: each Buffer the heap handed out reads length 0.
   * ERR_NOT_ALLOCATED when already destroyed.
   */
  destroy(): void {
    this.#checkAlive('destroy');
    this.#destroyed = true;
    releaseAll(this.#regions, this.#live, this.checked);
    this.#regions = [];
    this.#arrayBuffers = [];
    this.#bases = [];
    this.#live = [];
    this.#held = [];
    this.#heldBytes = 0;
    this.#capacity = 0;
    this.#core = this.strategy === 'tlsf' ? new Tlsf() : new Buddy();
  }

  /** For `using`: destroys unless already destroyed. */
  [disposeSymbol](): void {
    if (!this.#destroyed) this.destroy();
  }

  #allocSlow(size: number, align: number): Buffer {
    this.#checkAlive('allocate from');
    let id = this.#core.alloc(size, align);
    if (id < 0 && this.#held.length !== 0) {
      // Nothing else fits: the blocks freed in this run come back now, before the heap grows.
      this.#releaseHeld();
      id = this.#core.alloc(size, align);
    }
    if (id >= 0) return this.checked ? this.#wrap(id, size, align) : this.#view(id, size);
    if (!this.grow) {
      throw new AllocError(
        'ERR_NO_MEMORY',
        `heap has no free block for ${size} bytes aligned to ${align} (capacity ${this.#capacity}, used ${this.used}, ` +
          `largest free block about ${this.#core.largestHint})`,
      );
    }
    // Room for the request in a fresh region whatever the strategy: tlsf may
    // search for up to 1/32 more than size plus the alignment gap.
    const needed = this.strategy === 'buddy' ? Math.max(size, align) : size + Math.ceil(size / 32) + align + 2 * GRANULE;
    const dedicated = needed > this.#nextRegion;
    const limit = this.strategy === 'buddy' ? MAX_BUDDY_REGION : MAX_SIZE;
    if (this.strategy === 'buddy') this.#nextRegion = Math.min(this.#nextRegion, limit);
    const regionSize = dedicated ? Math.min(limit, 2 ** ceilLog2(needed)) : this.#nextRegion;
    if (regionSize < needed) {
      throw new AllocError('ERR_NO_MEMORY', `no region can hold ${size} bytes aligned to ${align} (regions hold at most ${limit} bytes)`);
    }
    const blockAlign = Math.min(MAX_ALIGN, Math.max(this.align, this.strategy === 'buddy' ? regionSize : 1));
    this.#addRegion(new ManagedRegion('Heap', Block.alloc(regionSize, { align: blockAlign, zero: false }), false));
    if (!dedicated) this.#nextRegion = Math.min(MAX_SIZE, this.#nextRegion * 2);
    const again = this.#core.alloc(size, align);
    if (again < 0) throw new AllocError('ERR_NO_MEMORY', `a new region of ${regionSize} bytes did not fit ${size} bytes aligned to ${align}`);
    return this.checked ? this.#wrap(again, size, align) : this.#view(again, size);
  }

  #view(id: number, size: number): Buffer {
    const core = this.#core;
    const buf = new TaggedBuffer(this.#arrayBuffers[core.region[id]], this.#bases[core.region[id]] + core.offset[id], size, id);
    this.#live[id] = buf;
    return buf;
  }

  // Checked mode: a Buffer of its own over the allocation.
  #wrap(id: number, size: number, align: number): Buffer {
    const core = this.#core;
    const region = this.#regions[core.region[id]];
    const offset = core.offset[id];
    const view = region.wrap(offset, size);
    if (typeof view !== 'number') {
      this.#live[id] = tag(view, id);
      return view;
    }
    core.free(id);
    if (view !== native.status.notAllocated || !region.block.freed) throw wrapError('Heap.alloc', view, offset, size);
    // The caller of addMemory freed this block: stop allocating from it.
    region.retired = true;
    this.#capacity -= core.retire(core.region[id]);
    return this.#allocSlow(size, align);
  }

  // A checked allocation whose Buffer is detached: held until the run ends.
  #hold(id: number): void {
    const core = this.#core;
    if (this.#regions[core.region[id]].retired) {
      // An allocation in a retired region leaves the heap with its memory.
      this.#capacity -= core.size[id];
      core.free(id);
      return;
    }
    this.#held.push(id);
    this.#heldBytes += core.size[id];
    if (!this.#armed) {
      this.#armed = true;
      queueMicrotask(this.#endRun);
    }
  }

  // Frees in the core what was freed in this run.
  #releaseHeld(): void {
    const core = this.#core;
    for (const id of this.#held) {
      if (this.#regions[core.region[id]].retired) this.#capacity -= core.size[id];
      core.free(id);
    }
    this.#held = [];
    this.#heldBytes = 0;
  }

  #freeSlow(buf: Uint8Array): void {
    if (!ArrayBuffer.isView(buf)) throw invalidParam('buf', 'a Buffer from this heap', buf);
    if (this.#destroyed) throw new AllocError('ERR_NOT_ALLOCATED', 'cannot free into a heap that is destroyed');
    throw new AllocError(
      'ERR_NOT_ALLOCATED',
      `buf (${describe(buf)} of ${buf.byteLength} bytes) is not an allocation of this heap: ` +
        'already freed, part or a copy of one, from another allocator, or never from this heap',
    );
  }

  // On failure a Block from addMemory goes back to its caller.
  #addRegion(region: ManagedRegion): void {
    if (!this.checked) {
      const status = region.wrapWhole();
      if (status !== undefined) {
        region.giveUp();
        throw wrapError('Heap', status, 0, region.size);
      }
    }
    const [offset, size] = usable(region);
    const number = this.#regions.length;
    this.#regions.push(region);
    this.#arrayBuffers.push(region.arrayBuffer ?? NO_BUFFER);
    this.#bases.push(region.base);
    this.#core.addRange(number, region.address, offset, size);
    this.#capacity += size;
  }

  #checkAlive(action: string): void {
    if (this.#destroyed) throw new AllocError('ERR_NOT_ALLOCATED', `cannot ${action} a heap that is destroyed`);
  }
}

// [offset, size] of the part of a region the heap uses: whole granules from
// the first 16-byte aligned address.
function usable(region: ManagedRegion): [number, number] {
  const offset = (GRANULE - (region.address % GRANULE)) % GRANULE;
  const size = Math.max(0, Math.floor((region.size - offset) / GRANULE) * GRANULE);
  return [offset, size];
}
