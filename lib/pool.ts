import { Block, disposeSymbol } from './block';
import { AllocError, invalidParam } from './errors';
import { native } from './native';
import { adopt, disown, hex, ManagedBlock, MemoryRegion, own, regionOf, release, tryWrap, wrapError } from './region';
import { checkAlign, checkSize, MAX_SIZE } from './validate';
import { slotBuffer, slotOf } from './view-buffer';

// Module constants rather than imports: the fast paths read them on every call.
const SlotBuffer = slotBuffer;
const slotIndex = slotOf;

export interface PoolOptions {
  /** Bytes in each slot, from 1 to MAX_SIZE. */
  slotSize: number;
  /** How many slots the pool starts with: all of them lie in one Block, so (slots - 1) * stride + slotSize <= MAX_SIZE. */
  slots: number;
  /** Alignment of every slot: a power of two, default 16. Slots lie `alignUp(slotSize, align)` bytes apart. */
  align?: number;
  /**
   * Give each allocation a Buffer of its own and detach it on free, so that a
   * Buffer kept after free() reads length 0 instead of reaching the slot's next
   * owner. Costs one external buffer (about 1.5 us) per alloc. Default false.
   */
  checked?: boolean;
}

interface Region extends ManagedBlock {
  /** Fast mode: a view over the whole block, whose ArrayBuffer every slot Buffer shares. */
  readonly view: Buffer | undefined;
  readonly arrayBuffer: ArrayBuffer | undefined;
  /** Byte offset of the first slot in the block: the padding up to `align`. */
  readonly first: number;
  /** Index of the region's first slot among all the pool's slots. */
  readonly firstSlot: number;
  readonly count: number;
  /** Checked mode: its Block was freed by the caller of addMemory, so its slots cannot be wrapped any more. */
  retired: boolean;
}

/**
 * Fixed-size slots with O(1) alloc and free, over one Block and any added with
 * addMemory. Slots are not zero-filled: a slot keeps what its last owner wrote.
 *
 * Fast mode (default): each slot Buffer is made in JavaScript over the pool's
 * own ArrayBuffer, with no native call. A Buffer kept after free() still
 * reaches the slot, and so whoever allocates it next.
 * Checked mode: each allocation is an external Buffer of its own, detached by
 * free(), so stale use reads length 0.
 */
export class Pool {
  readonly slotSize: number;
  readonly align: number;
  readonly checked: boolean;
  /** Bytes from one slot to the next: slotSize rounded up to align. */
  readonly stride: number;

  #regions: Region[] = [];
  #destroyed = false;
  #slots = 0;
  // Free slot indices, a stack: #free[0 .. #top) are free.
  #free: Uint32Array = new Uint32Array(0);
  #top = 0;
  // The Buffer each slot is allocated to, undefined when free. free(buf)
  // accepts exactly this object: not a copy, not part of it, not an earlier
  // Buffer of the same slot.
  #live: (Buffer | undefined)[] = [];
  // Checked mode: the slot of each live Buffer (they are native Buffers and carry no index).
  #slotOfView = new Map<Uint8Array, number>();
  // The first region, where a single-region pool finds every slot.
  #first: Region | undefined;

  constructor(options: PoolOptions) {
    if (typeof options !== 'object' || options === null) throw invalidParam('options', 'an object', options);
    this.slotSize = checkSize('options.slotSize', options.slotSize);
    this.align = options.align === undefined ? 16 : checkAlign('options.align', options.align);
    if (options.checked !== undefined && typeof options.checked !== 'boolean') {
      throw invalidParam('options.checked', 'a boolean', options.checked);
    }
    this.checked = options.checked ?? false;
    this.stride = Math.ceil(this.slotSize / this.align) * this.align;
    const slots = checkSize('options.slots', options.slots, Math.floor((MAX_SIZE - this.slotSize) / this.stride) + 1);
    const size = (slots - 1) * this.stride + this.slotSize;
    this.#addRegion(own(Block.alloc(size, { align: Math.max(native.pageSize, this.align), zero: false })), false);
  }

  /** A Buffer of slotSize bytes aligned to `align`. ERR_NO_MEMORY when every slot is taken. */
  alloc(): Buffer {
    if (this.#top === 0) throw this.#full();
    const slot = this.#free[--this.#top];
    let region = this.#first as Region;
    if (slot - region.firstSlot >= region.count) region = this.#regionOf(slot);
    const offset = region.first + (slot - region.firstSlot) * this.stride;
    if (!this.checked) {
      const buf = new SlotBuffer(region.arrayBuffer as ArrayBuffer, offset, this.slotSize, slot);
      this.#live[slot] = buf;
      return buf;
    }
    return this.#allocChecked(region, slot, offset);
  }

  /**
   * Returns a slot. ERR_NOT_ALLOCATED for a slot already freed, a Buffer from
   * another pool, part of a slot, or any other Buffer or typed array;
   * ERR_INVALID_PARAM for anything that is not one.
   */
  free(buf: Uint8Array): void {
    const slot = slotIndex(buf);
    if (slot >= 0 && this.#live[slot] === buf) {
      this.#live[slot] = undefined;
      this.#free[this.#top++] = slot;
      return;
    }
    this.#freeSlow(buf);
  }

  /**
   * Hands the pool more memory: `block` is cut into slots at the pool's
   * alignment. The pool owns it from now on and frees it at destroy: do not
   * free or use it yourself.
   */
  addMemory(block: Block): void {
    this.#checkAlive('add memory to');
    // A block its caller freed no longer counts: its memory is either still held
    // by this pool's views, so no new block can lie there, or already returned.
    const region = adopt('this pool', block, this.#regions.filter((r) => !r.block.freed));
    if (padTo(region.address, this.align) + this.slotSize > region.size) {
      disown(region);
      throw new AllocError(
        'ERR_INVALID_PARAM',
        `block must hold one slot of ${this.slotSize} bytes aligned to ${this.align}; got ${region.size} bytes at ${hex(region.address)}`,
      );
    }
    this.#addRegion(region, true);
  }

  /** Slots handed out and not yet freed. */
  get used(): number {
    return this.#slots - this.#top;
  }

  /** Slots free to allocate. */
  get available(): number {
    return this.#top;
  }

  /** All slots: used + available. 0 once destroyed. */
  get slots(): number {
    return this.#slots;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** The address range of every block the pool cuts slots from. */
  regions(): MemoryRegion[] {
    return this.#regions.map(regionOf);
  }

  /**
   * Frees the pool's memory: every Buffer it handed out reads length 0.
   * Throws ERR_NOT_ALLOCATED when already destroyed.
   */
  destroy(): void {
    this.#checkAlive('destroy');
    this.#destroyed = true;
    for (const view of this.#slotOfView.keys()) native.viewDetach(view);
    for (const region of this.#regions) {
      if (region.view !== undefined) native.viewDetach(region.view);
      release(region);
    }
    this.#regions = [];
    this.#first = undefined;
    this.#slotOfView.clear();
    this.#live = [];
    this.#free = new Uint32Array(0);
    this.#slots = 0;
    this.#top = 0;
  }

  /** For `using`: destroys unless already destroyed. */
  [disposeSymbol](): void {
    if (!this.#destroyed) this.destroy();
  }

  #allocChecked(region: Region, slot: number, offset: number): Buffer {
    const view = region.retired ? native.status.notAllocated : tryWrap(region, offset, this.slotSize);
    if (typeof view === 'number') {
      this.#top++;
      if (view !== native.status.notAllocated || !region.block.freed) throw wrapError('Pool.alloc', view, offset, this.slotSize);
      this.#retire(region);
      return this.alloc();
    }
    this.#live[slot] = view;
    this.#slotOfView.set(view, slot);
    return view;
  }

  #freeSlow(buf: Uint8Array): void {
    if (!ArrayBuffer.isView(buf)) throw invalidParam('buf', 'a Buffer from this pool', buf);
    const slot = this.#slotOfView.get(buf);
    if (slot === undefined) throw this.#notAllocated(buf);
    this.#slotOfView.delete(buf);
    this.#live[slot] = undefined;
    native.viewDetach(buf);
    if (this.#regionOf(slot).retired) {
      this.#slots--;
    } else {
      this.#free[this.#top++] = slot;
    }
  }

  // fromCaller: the Block came from addMemory, so on failure it goes back to its caller.
  #addRegion(region: ManagedBlock, fromCaller: boolean): void {
    const giveUp = fromCaller ? disown : release;
    const first = padTo(region.address, this.align);
    const count = Math.floor((region.size - first - this.slotSize) / this.stride) + 1;
    let view: Buffer | undefined;
    if (!this.checked) {
      const wrapped = tryWrap(region, 0, region.size);
      if (typeof wrapped === 'number') {
        giveUp(region);
        throw wrapError('Pool', wrapped, 0, region.size);
      }
      view = wrapped;
    }
    const total = this.#slots + count;
    let free: Uint32Array;
    try {
      free = new Uint32Array(total);
    } catch {
      if (view !== undefined) native.viewDetach(view);
      giveUp(region);
      throw new AllocError('ERR_NO_MEMORY', `no memory for the free list of ${total} slots`);
    }
    // Slot numbers are never reused: retired slots lower #slots but keep theirs.
    const firstSlot = this.#live.length;
    // New slots go below the free ones, so memory already in use is reused
    // first; among them the lowest index is on top.
    for (let i = 0; i < count; i++) free[i] = firstSlot + count - 1 - i;
    free.set(this.#free.subarray(0, this.#top), count);
    const added: Region = {
      ...region,
      view,
      arrayBuffer: view?.buffer as ArrayBuffer | undefined,
      first,
      firstSlot,
      count,
      retired: false,
    };
    this.#regions.push(added);
    this.#first ??= added;
    for (let i = 0; i < count; i++) this.#live.push(undefined);
    this.#free = free;
    this.#top += count;
    this.#slots = total;
  }

  #regionOf(slot: number): Region {
    const regions = this.#regions;
    let lo = 0;
    let hi = regions.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (regions[mid].firstSlot <= slot) lo = mid;
      else hi = mid - 1;
    }
    return regions[lo];
  }

  // Checked mode: a region whose Block its caller freed cannot be wrapped any
  // more. Its free slots leave the pool now, its live ones when they are freed.
  #retire(region: Region): void {
    region.retired = true;
    const end = region.firstSlot + region.count;
    let kept = 0;
    for (let i = 0; i < this.#top; i++) {
      const slot = this.#free[i];
      if (slot >= region.firstSlot && slot < end) this.#slots--;
      else this.#free[kept++] = slot;
    }
    this.#top = kept;
  }

  #full(): AllocError {
    if (this.#destroyed) return new AllocError('ERR_NOT_ALLOCATED', 'cannot allocate from a pool that is destroyed');
    return new AllocError('ERR_NO_MEMORY', `every slot of the pool is taken (${this.#slots} slots of ${this.slotSize} bytes)`);
  }

  #notAllocated(buf: ArrayBufferView): AllocError {
    if (this.#destroyed) return new AllocError('ERR_NOT_ALLOCATED', 'cannot free into a pool that is destroyed');
    return new AllocError(
      'ERR_NOT_ALLOCATED',
      `buf (${buf.byteLength} bytes at offset ${buf.byteOffset} of its ArrayBuffer) is not a slot this pool has allocated: ` +
        'already freed, from another pool, part of a slot, or never from this pool',
    );
  }

  #checkAlive(action: string): void {
    if (this.#destroyed) throw new AllocError('ERR_NOT_ALLOCATED', `cannot ${action} a pool that is destroyed`);
  }
}

// Bytes from address up to the next multiple of align (exact: address < 2^53).
function padTo(address: number, align: number): number {
  return (align - (address % align)) % align;
}
