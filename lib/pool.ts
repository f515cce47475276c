import { Block, disposeSymbol } from './block';
import { brokenPoison, debugRecording, debugSite, POISON, reportBrokenPoison } from './debug';
import { AllocError, describe, externalRefused, invalidParam, invalidThis, readOptions } from './errors';
import { native } from './native';
import { adoptable, heldByRuntime, hex, ManagedRegion, MemoryRegion, MOVED_CAUSE, wrapError } from './managed-region';
import { checkAlign, checkBoolean, checkSize, MAX_SIZE } from './validate';
import { arrayBufferOf, byteLengthOf, byteOffsetOf, isUint8Array, viewBuffer } from './view-buffer';
import { SharedPool } from './shared-pool';
import type { SharedPoolHandle } from './shared';

// Module constants rather than imports: the fast paths read them on every call.
const ViewBuffer = viewBuffer;
// Uint8Array's own fill: a Buffer's own property named fill never runs.
const fillBytes = Uint8Array.prototype.fill;

/**
 * The most slots a pool can hold, addMemory included: 2^24. Its bookkeeping
 * keeps one entry per slot in a JavaScript array (fast mode) or a Map (checked
 * mode), and 2^24 is the most entries a V8 Map can hold.
 */
export const MAX_POOL_SLOTS = 2 ** 24;
const OPTION_KEYS = ['slotSize', 'slots', 'align', 'checked', 'shared'] as const;
// #live is kept in pages of up to 2^16 entries: one array of 2^24 entries has
// to be grown in one piece and copied by the collector (seconds, measured in
// docs/design.md); full pages (512 KiB) go straight to V8's large-object space.
// The last page holds only the slots there are, so a small pool stays small.
// Pages cost one more load per alloc and free.
const PAGE_BITS = 16;
const PAGE_SLOTS = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SLOTS - 1;
const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

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
  /**
   * A pool in shared memory that other threads open with
   * `Pool.fromShared(pool.share())` and allocate from at the same time,
   * lock-free (lib/shared-pool.ts, README "Sharing memory between threads").
   * Its slots are fixed at creation (no addMemory). Default false.
   */
  shared?: boolean;
}

interface Region {
  /**
   * The Block the slots lie in (fast mode: with the view every slot Buffer
   * shares); replaced when a fast region's memory moved away.
   */
  managed: ManagedRegion;
  /** Byte offset of the first slot in the block: the padding up to `align`. */
  first: number;
  /** Index of the region's first slot among all the pool's slots. */
  readonly firstSlot: number;
  readonly count: number;
  /**
   * Its slots left the pool: checked mode, its Block was freed by the caller of
   * addMemory; fast mode, its memory moved to another ArrayBuffer and could not be replaced.
   */
  retired: boolean;
}

// A slot's sites in a debug pool, and whether its memory holds the poison.
interface SlotSites {
  allocatedAt: string | undefined;
  freedAt: string | undefined;
  poisoned: boolean;
}

// Whether value is a real Pool (a private-field brand check: no getter or Proxy trap runs).
let isPool: (value: unknown) => value is Pool;

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
  static {
    isPool = (value: unknown): value is Pool => typeof value === 'object' && value !== null && #top in value;
  }

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
  // The Buffer each slot is allocated to, undefined when free, in pages: slot s
  // is #live[s >> PAGE_BITS][s & PAGE_MASK]. free(buf) accepts exactly this
  // object: not a copy, not part of it, not an earlier Buffer of the same slot.
  // One entry per slot number; numbers are never reused.
  #live: (Buffer | undefined)[][] = [];
  // Slot numbers given out so far, retired ones included: the next region's first.
  #numbered = 0;
  // Checked mode: the slot of each live Buffer (they are native Buffers and carry no index).
  #slotOfView = new Map<Uint8Array, number>();
  // Checked mode on runtime memory: each allocation is a Block of its own (its
  // Buffer is the key), so that free() detaches exactly that slot. No region.
  #own: Map<Uint8Array, Block> | undefined = undefined;
  // Fast mode: the region alloc and free handle inline (the first one not
  // retired), copied into fields so the fast paths read only the pool. A
  // #fastCount of 0 sends every slot to the slow path.
  #fastArrayBuffer: ArrayBuffer = new ArrayBuffer(0);
  #fastFirst = 0;
  #fastFirstSlot = 0;
  #fastCount = 0;
  // ArrayBuffers of regions whose memory moved away: free() of their Buffers does nothing.
  #moved = new WeakSet<ArrayBuffer>();
  // Slots that left the pool because their memory moved away, for error messages.
  #lost = 0;
  // Checked mode: slots freed in this synchronous run, oldest first from
  // #heldHead: handed out only when no other slot is free, back in #free when
  // the run ends (#endRun, a microtask queued at the run's first free).
  #held: number[] = [];
  #heldHead = 0;
  #armed = false;
  // Debug mode (a pool made while debug mode records, on external memory):
  // every slot takes the slow paths, which record where it was allocated and
  // freed. A freed slot is filled with POISON and held in #held, handed out
  // again only when no other slot is free, oldest first; its pattern is checked
  // then and at destroy(), and a broken one is reported as a touch of the
  // quarantine is (lib/debug.ts reportBrokenPoison).
  #debug: Map<number, SlotSites> | undefined = undefined;
  #endRun = (): void => {
    this.#armed = false;
    this.#releaseHeld();
  };

  constructor(options: PoolOptions) {
    const read = readOptions('options', options, OPTION_KEYS, true);
    this.slotSize = checkSize('options.slotSize', read.slotSize);
    this.align = read.align === undefined ? 16 : checkAlign('options.align', read.align);
    this.checked = checkBoolean('options.checked', read.checked) ?? false;
    this.stride = Math.ceil(this.slotSize / this.align) * this.align;
    if (checkBoolean('options.shared', read.shared) === true) {
      const slots = checkSize('options.slots', read.slots);
      return SharedPool.create(this.slotSize, slots, this.align, this.checked) as unknown as Pool;
    }
    const limit = Math.min(MAX_POOL_SLOTS, Math.floor((MAX_SIZE - this.slotSize) / this.stride) + 1);
    const slots = checkSize('options.slots', read.slots, limit);
    const size = (slots - 1) * this.stride + this.slotSize;
    if (this.checked && native.sourceFor(native.pageSize, native.pageSize) === 'runtime') {
      this.#startOwn(slots);
      return;
    }
    if (debugRecording()) this.#debug = new Map();
    this.#addRegion(new ManagedRegion('Pool', Block.alloc(size, { align: Math.max(native.pageSize, this.align), zero: false }), false));
  }

  /** Opens in this thread a shared pool another thread created with `shared: true` (`pool.share()`). */
  static fromShared(handle: SharedPoolHandle): Pool {
    return SharedPool.open(handle) as unknown as Pool;
  }

  /** Whether the pool lives in shared memory (`shared: true`, or `Pool.fromShared`). */
  get shared(): boolean {
    if (!isPool(this)) throw invalidThis('Pool.shared', this);
    return false;
  }

  /** A handle for Pool.fromShared in another thread; only a pool created with `shared: true` has one. */
  share(): SharedPoolHandle {
    if (!isPool(this)) throw invalidThis('Pool.share', this);
    throw new AllocError('ERR_INVALID_PARAM', 'only a pool created with { shared: true } can be shared');
  }

  /** A Buffer of slotSize bytes aligned to `align`. ERR_NO_MEMORY when every slot is taken. */
  alloc(): Buffer {
    if (!isPool(this)) throw invalidThis('Pool.alloc', this);
    if (this.#top === 0) return this.#allocSlow();
    const slot = this.#free[this.#top - 1];
    const index = slot - this.#fastFirstSlot;
    if (index >>> 0 >= this.#fastCount) return this.#allocSlow();
    let buf: Buffer;
    try {
      buf = new ViewBuffer(this.#fastArrayBuffer, this.#fastFirst + index * this.stride, this.slotSize);
    } catch {
      // The region's ArrayBuffer was detached: its memory moved away.
      return this.#allocSlow();
    }
    this.#top--;
    this.#live[slot >>> PAGE_BITS][slot & PAGE_MASK] = buf;
    return buf;
  }

  /**
   * Returns a slot. ERR_NOT_ALLOCATED for a slot already freed, a Buffer from
   * another pool, part of a slot, or any other Buffer or typed array;
   * ERR_INVALID_PARAM for anything that is not one.
   */
  free(buf: Uint8Array): void {
    if (!isPool(this)) throw invalidThis('Pool.free', this);
    // The slot follows from the offset; the identity check against #live makes
    // it safe: only the very Buffer alloc() returned for that slot passes.
    if (isUint8Array(buf)) {
      const index = (byteOffsetOf(buf) - this.#fastFirst) / this.stride;
      if (index >>> 0 === index && index < this.#fastCount) {
        const slot = this.#fastFirstSlot + index;
        // A detached Buffer (its memory moved away) reads offset 0: never take it here.
        const page = this.#live[slot >>> PAGE_BITS];
        if (page[slot & PAGE_MASK] === buf && byteLengthOf(buf) !== 0) {
          page[slot & PAGE_MASK] = undefined;
          this.#free[this.#top++] = slot;
          return;
        }
      }
    }
    this.#freeSlow(buf);
  }

  /**
   * Hands the pool more memory: `block` is cut into slots at the pool's
   * alignment. The pool owns it from now on and frees it at destroy: do not
   * free or use it yourself.
   */
  addMemory(block: Block): void {
    if (!isPool(this)) throw invalidThis('Pool.addMemory', this);
    this.#checkAlive('add memory to');
    if (this.#own !== undefined) {
      throw externalRefused(
        'Pool.addMemory of a checked pool',
        'and a view of it cannot be detached alone: each slot of a checked pool is an allocation of its own there, so a block cannot be cut into slots',
      );
    }
    this.#settleMoved();
    // A block its caller freed no longer counts: its memory is either still held
    // by this pool's views, so no new block can lie there, or already returned.
    const held = this.#regions.filter((r) => !r.retired && !r.managed.block.freed).map((r) => r.managed);
    const region = new ManagedRegion('Pool', adoptable('Pool', 'this pool', block, held), true);
    if (padTo(region.address, this.align) + this.slotSize > region.size) {
      region.disown();
      throw new AllocError(
        'ERR_INVALID_PARAM',
        `block must hold one slot of ${this.slotSize} bytes aligned to ${this.align}; got ${region.size} bytes at ${hex(region.address)}`,
      );
    }
    this.#addRegion(region);
  }

  /** Slots handed out and not yet freed. */
  get used(): number {
    if (!isPool(this)) throw invalidThis('Pool.used', this);
    return this.#slots - this.#top - (this.#held.length - this.#heldHead);
  }

  /** Slots free to allocate. */
  get available(): number {
    if (!isPool(this)) throw invalidThis('Pool.available', this);
    return this.#top + (this.#held.length - this.#heldHead);
  }

  /** All slots: used + available. 0 once destroyed. */
  get slots(): number {
    if (!isPool(this)) throw invalidThis('Pool.slots', this);
    return this.#slots;
  }

  get destroyed(): boolean {
    if (!isPool(this)) throw invalidThis('Pool.destroyed', this);
    return this.#destroyed;
  }

  /** The address range of every block the pool cuts slots from. Throws ERR_NOT_ALLOCATED once destroyed. */
  regions(): MemoryRegion[] {
    if (!isPool(this)) throw invalidThis('Pool.regions', this);
    this.#checkAlive('list the regions of');
    if (this.#own !== undefined) return [...this.#own.values()].map((block) => ({ address: block.address, size: block.size }));
    this.#settleMoved();
    return this.#regions.filter((r) => !r.retired).map((r) => r.managed.describe());
  }

  /**
   * Frees the pool's memory: every Buffer it handed out reads length 0.
   * Throws ERR_NOT_ALLOCATED when already destroyed.
   */
  destroy(): void {
    if (!isPool(this)) throw invalidThis('Pool.destroy', this);
    this.#checkAlive('destroy');
    if (this.#debug !== undefined) this.#checkHeld();
    this.#destroyed = true;
    if (this.#own !== undefined) {
      for (const block of this.#own.values()) if (!block.freed) block.free();
      this.#own.clear();
      this.#slotOfView.clear();
    }
    for (const view of this.#slotOfView.keys()) native.viewDetach(view);
    for (const region of this.#regions) {
      if (region.retired) continue;
      region.managed.detachView();
      region.managed.release();
    }
    this.#regions = [];
    this.#held = [];
    this.#heldHead = 0;
    this.#slotOfView.clear();
    this.#debug?.clear();
    this.#live = [];
    this.#numbered = 0;
    this.#free = new Uint32Array(0);
    this.#slots = 0;
    this.#top = 0;
    this.#enterFast();
  }

  /** For `using`: destroys unless already destroyed. */
  [disposeSymbol](): void {
    if (!isPool(this)) throw invalidThis('Pool[Symbol.dispose]', this);
    if (!this.#destroyed) this.destroy();
  }

  /** util.inspect: the pool's shape and state. */
  [inspectSymbol](): string {
    if (!isPool(this)) return 'Pool <not a Pool>';
    if (this.#destroyed) return `Pool { slotSize: ${this.slotSize}, align: ${this.align}, checked: ${this.checked}, destroyed }`;
    this.#settleMoved();
    return (
      `Pool { slotSize: ${this.slotSize}, align: ${this.align}, checked: ${this.checked}, ` +
      `used: ${this.used}, available: ${this.available}, regions: ${this.#own?.size ?? this.#regions.filter((r) => !r.retired).length} }`
    );
  }

  // Every alloc the inline path does not serve: a full or destroyed pool,
  // checked mode, a slot in another region, a region whose memory moved away.
  #allocSlow(): Buffer {
    this.#settleMoved();
    if (this.#top === 0) {
      // No other slot: the oldest one freed in this run (debug mode: the oldest held).
      if (this.#heldHead === this.#held.length) throw this.#full();
      const held = this.#held;
      this.#free[this.#top++] = held[this.#heldHead++];
      // A run that keeps freeing and allocating: drop the consumed front now and then.
      if (this.#heldHead >= 64 && this.#heldHead * 2 >= held.length) {
        held.copyWithin(0, this.#heldHead);
        held.length -= this.#heldHead;
        this.#heldHead = 0;
      }
    }
    const slot = this.#free[--this.#top];
    if (this.#own !== undefined) return this.#allocOwn(slot);
    const region = this.#regionOf(slot);
    const offset = region.first + (slot - region.firstSlot) * this.stride;
    if (!this.checked) {
      const buf = new ViewBuffer(region.managed.arrayBuffer as ArrayBuffer, region.managed.base + offset, this.slotSize);
      if (this.#debug !== undefined) this.#handOut(slot, region, offset, buf);
      this.#setLive(slot, buf);
      return buf;
    }
    const view = region.retired ? native.status.notAllocated : region.managed.wrap(offset, this.slotSize);
    if (typeof view === 'number') {
      this.#top++;
      if (view !== native.status.notAllocated || !region.managed.block.freed) {
        throw wrapError('Pool.alloc', view, offset, this.slotSize);
      }
      this.#retire(region);
      return this.#allocSlow();
    }
    if (this.#debug !== undefined) this.#handOut(slot, region, offset, view);
    this.#setLive(slot, view);
    this.#slotOfView.set(view, slot);
    return view;
  }

  #freeSlow(buf: Uint8Array): void {
    if (!ArrayBuffer.isView(buf)) throw invalidParam('buf', 'a Buffer from this pool', buf);
    if (this.#destroyed) throw new AllocError('ERR_NOT_ALLOCATED', 'cannot free into a pool that is destroyed');
    this.#settleMoved();
    if (this.checked) {
      this.#freeChecked(buf);
      return;
    }
    if (!isUint8Array(buf)) throw this.#notAllocated(buf);
    const arrayBuffer = arrayBufferOf(buf);
    // Its region's memory moved away: the slot already left the pool (or came back with new memory).
    if (this.#moved.has(arrayBuffer as ArrayBuffer)) return;
    const region = this.#regions.find((r) => r.managed.arrayBuffer === arrayBuffer && !r.retired);
    if (region !== undefined) {
      const index = (byteOffsetOf(buf) - region.managed.base - region.first) / this.stride;
      const slot = region.firstSlot + index;
      if (index >>> 0 === index && index < region.count && this.#getLive(slot) === buf) {
        this.#setLive(slot, undefined);
        if (this.#debug !== undefined) {
          fillBytes.call(buf, POISON);
          this.#hold(slot, true);
          return;
        }
        this.#free[this.#top++] = slot;
        return;
      }
    }
    throw this.#notAllocated(buf);
  }

  #freeChecked(buf: ArrayBufferView): void {
    const slot = this.#slotOfView.get(buf as Uint8Array);
    if (slot === undefined) throw this.#notAllocated(buf);
    if (this.#own !== undefined) {
      // The Block's free detaches its Buffer and holds the memory until the run
      // ends; the slot number can be handed out again at once (new memory).
      const block = this.#own.get(buf as Uint8Array) as Block;
      if (!block.freed) block.free();
      this.#own.delete(buf as Uint8Array);
      this.#slotOfView.delete(buf as Uint8Array);
      this.#setLive(slot, undefined);
      this.#free[this.#top++] = slot;
      return;
    }
    const result = native.viewDetach(buf as Uint8Array);
    if (result === native.status.runtimeRefused) throw heldByRuntime('Pool.free', this.slotSize);
    this.#slotOfView.delete(buf as Uint8Array);
    this.#setLive(slot, undefined);
    const detached = result === native.status.ok;
    if (!detached || this.#regionOf(slot).retired) {
      // Not detached: the slot's Buffer was detached by someone else, so its
      // memory moved to another ArrayBuffer, which owns it until collected. The
      // slot leaves the pool rather than hand that memory out again.
      if (!detached) this.#lost++;
      this.#slots--;
    } else if (this.#debug !== undefined) {
      this.#hold(slot, this.#poisonChecked(slot));
    } else {
      this.#held.push(slot);
      if (!this.#armed) {
        this.#armed = true;
        queueMicrotask(this.#endRun);
      }
    }
  }

  // Checked mode on runtime memory: `slots` slot numbers, no memory until each is allocated.
  #startOwn(slots: number): void {
    this.#own = new Map();
    this.#free = new Uint32Array(slots);
    for (let i = 0; i < slots; i++) this.#free[i] = slots - 1 - i;
    this.#numbered = slots;
    this.#growPages();
    this.#top = slots;
    this.#slots = slots;
  }

  // Checked mode on runtime memory: slot's allocation, a Block of its own aligned to `align`.
  #allocOwn(slot: number): Buffer {
    let block: Block;
    try {
      block = Block.alloc(this.slotSize, { align: this.align, zero: false });
    } catch (error) {
      this.#top++;
      throw error;
    }
    const buf = block.buffer;
    (this.#own as Map<Uint8Array, Block>).set(buf, block);
    this.#setLive(slot, buf);
    this.#slotOfView.set(buf, slot);
    return buf;
  }

  // Debug mode: records where slot is allocated; a slot that left #held must
  // still hold the poison its free wrote (buf: the slot's new Buffer).
  #handOut(slot: number, region: Region, offset: number, buf: Uint8Array): void {
    const sites = (this.#debug as Map<number, SlotSites>).get(slot);
    if (sites?.poisoned) this.#expectPoison(region, offset, buf, sites, 'when the slot was handed out again');
    (this.#debug as Map<number, SlotSites>).set(slot, { allocatedAt: debugSite(), freedAt: undefined, poisoned: false });
  }

  // Debug mode: slot was freed (poisoned: its memory holds POISON now); held until no other slot is free.
  #hold(slot: number, poisoned: boolean): void {
    const debug = this.#debug as Map<number, SlotSites>;
    const sites = debug.get(slot);
    debug.set(slot, { allocatedAt: sites?.allocatedAt, freedAt: debugSite(), poisoned });
    this.#held.push(slot);
  }

  // Debug mode, checked: fills the slot's memory through a view of its own (the
  // freed Buffer is detached); false when no view could be made.
  #poisonChecked(slot: number): boolean {
    const region = this.#regionOf(slot);
    const view = region.managed.wrap(region.first + (slot - region.firstSlot) * this.stride, this.slotSize);
    if (typeof view === 'number') return false;
    fillBytes.call(view, POISON);
    native.viewDetach(view);
    return true;
  }

  #expectPoison(region: Region, offset: number, bytes: Uint8Array, sites: SlotSites, found: string): void {
    const at = brokenPoison(bytes);
    if (at < 0) return;
    reportBrokenPoison(this.slotSize, region.managed.address + offset, at, bytes[at], found, sites.allocatedAt, sites.freedAt);
  }

  // Debug mode, at destroy(): every held slot must still hold its poison.
  #checkHeld(): void {
    this.#settleMoved();
    const debug = this.#debug as Map<number, SlotSites>;
    for (let i = this.#heldHead; i < this.#held.length; i++) {
      const slot = this.#held[i];
      const sites = debug.get(slot);
      const region = this.#regionOf(slot);
      if (sites === undefined || !sites.poisoned || region.retired) continue;
      const offset = region.first + (slot - region.firstSlot) * this.stride;
      // Checked mode: a view of its own over the slot (the freed one is detached).
      const bytes = this.checked
        ? region.managed.wrap(offset, this.slotSize)
        : new Uint8Array(region.managed.arrayBuffer as ArrayBuffer, region.managed.base + offset, this.slotSize);
      if (typeof bytes === 'number') continue;
      this.#expectPoison(region, offset, bytes, sites, 'at destroy()');
      if (this.checked) native.viewDetach(bytes);
    }
  }

  // Debug mode, fast: a region whose memory moved away gets new memory without
  // poison; its held slots go back to the free stack unchecked.
  #unholdRegion(region: Region): void {
    const end = region.firstSlot + region.count;
    let kept = 0;
    for (let i = this.#heldHead; i < this.#held.length; i++) {
      const slot = this.#held[i];
      if (slot >= region.firstSlot && slot < end) {
        this.#free[this.#top++] = slot;
        (this.#debug as Map<number, SlotSites>).delete(slot);
      } else {
        this.#held[kept++] = slot;
      }
    }
    this.#held.length = kept;
    this.#heldHead = 0;
  }

  // Puts the slots freed in this run back on the free stack, the last freed on top.
  #releaseHeld(): void {
    const held = this.#held;
    for (let i = this.#heldHead; i < held.length; i++) this.#free[this.#top++] = held[i];
    this.#held = [];
    this.#heldHead = 0;
  }

  // On failure a Block from addMemory goes back to its caller.
  #addRegion(managed: ManagedRegion): void {
    const first = padTo(managed.address, this.align);
    const count = Math.floor((managed.size - first - this.slotSize) / this.stride) + 1;
    if (this.#numbered + count > MAX_POOL_SLOTS) {
      managed.giveUp();
      throw new AllocError(
        'ERR_INVALID_PARAM',
        `a pool holds at most ${MAX_POOL_SLOTS} slots; this one has ${this.#numbered} and the block would add ${count}`,
      );
    }
    if (!this.checked) {
      const status = managed.wrapWhole();
      if (status !== undefined) {
        managed.giveUp();
        throw wrapError('Pool', status, 0, managed.size);
      }
    }
    // Room for every slot: the live ones come back with free().
    const total = this.#slots + count;
    let free: Uint32Array;
    try {
      free = new Uint32Array(total);
    } catch {
      managed.detachView();
      managed.giveUp();
      throw new AllocError('ERR_NO_MEMORY', `no memory for the free list of ${total} slots`);
    }
    // Slot numbers are never reused: retired slots lower #slots but keep theirs.
    const firstSlot = this.#numbered;
    // New slots go below the free ones, so memory already in use is reused
    // first; among them the lowest index is on top.
    for (let i = 0; i < count; i++) free[i] = firstSlot + count - 1 - i;
    free.set(this.#free.subarray(0, this.#top), count);
    const added: Region = {
      managed,
      first,
      firstSlot,
      count,
      retired: false,
    };
    this.#regions.push(added);
    this.#numbered += count;
    this.#growPages();
    this.#free = free;
    this.#top += count;
    this.#slots = total;
    this.#enterFast();
  }

  // Points the inline paths at the first region that is not retired (fast mode only).
  #enterFast(): void {
    const region = this.checked || this.#debug !== undefined ? undefined : this.#regions.find((r) => !r.retired);
    this.#fastArrayBuffer = region?.managed.arrayBuffer ?? new ArrayBuffer(0);
    this.#fastFirst = region === undefined ? 0 : region.managed.base + region.first; // in #fastArrayBuffer
    this.#fastFirstSlot = region?.firstSlot ?? 0;
    this.#fastCount = region?.count ?? 0;
  }

  /**
   * Fast mode: finds regions whose ArrayBuffer someone else detached (a web
   * byte stream, transfer(), a BYOB read took one slot Buffer and with it the
   * whole region's memory; every other Buffer of the region now reads length 0).
   * That memory belongs to the ArrayBuffer that took it until it is collected,
   * so the pool frees its Block (the memory stays until then) and never hands it
   * out again. A region the pool allocated itself is replaced by a new Block of
   * the same size, with the same slot numbers, all of them free; one from
   * addMemory, or one that cannot be replaced, leaves the pool.
   */
  #settleMoved(): void {
    if (this.checked) return;
    const regions = this.#regions;
    let changed = false;
    for (let i = 0; i < regions.length; i++) {
      const region = regions[i];
      if (region.retired || !region.managed.moved) continue;
      changed = true;
      this.#moved.add(region.managed.arrayBuffer as ArrayBuffer);
      const end = region.firstSlot + region.count;
      for (let slot = region.firstSlot; slot < end; slot++) {
        if (this.#getLive(slot) === undefined) continue;
        this.#setLive(slot, undefined);
        this.#free[this.#top++] = slot; // every slot of the region is free now
      }
      if (this.#debug !== undefined) this.#unholdRegion(region);
      region.managed.release();
      if (!region.managed.fromCaller && this.#replace(region)) continue;
      this.#lost += region.count;
      this.#retire(region);
    }
    if (changed) this.#enterFast();
  }

  // New memory of the same size for a region the pool allocated itself.
  #replace(region: Region): boolean {
    const old = region.managed;
    let managed: ManagedRegion;
    try {
      managed = new ManagedRegion('Pool', Block.alloc(old.size, { align: old.block.align, zero: false }), false);
    } catch {
      return false;
    }
    const first = padTo(managed.address, this.align);
    const count = Math.floor((managed.size - first - this.slotSize) / this.stride) + 1;
    if (count !== region.count || managed.wrapWhole() !== undefined) {
      managed.release();
      return false;
    }
    region.managed = managed;
    region.first = first;
    return true;
  }

  // Pages for every slot number up to #numbered. Holey arrays: a hole reads
  // undefined, so nothing is filled.
  #growPages(): void {
    const last = this.#numbered - 1;
    for (let p = 0; p <= last >>> PAGE_BITS; p++) {
      const want = p === last >>> PAGE_BITS ? (last & PAGE_MASK) + 1 : PAGE_SLOTS;
      const page = this.#live[p];
      if (page !== undefined && page.length >= want) continue;
      const grown = new Array<Buffer | undefined>(want);
      if (page !== undefined) for (let i = 0; i < page.length; i++) grown[i] = page[i];
      this.#live[p] = grown;
    }
  }

  #getLive(slot: number): Buffer | undefined {
    return this.#live[slot >>> PAGE_BITS][slot & PAGE_MASK];
  }

  #setLive(slot: number, buf: Buffer | undefined): void {
    this.#live[slot >>> PAGE_BITS][slot & PAGE_MASK] = buf;
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

  // A region whose slots can no longer be used. Its free slots leave the pool
  // now, its live ones when they are freed (checked mode) or now (fast mode,
  // where they were all made free first).
  #retire(region: Region): void {
    region.retired = true;
    const end = region.firstSlot + region.count;
    // Its slots freed in this run leave with its free ones.
    let keptHeld = 0;
    for (let i = this.#heldHead; i < this.#held.length; i++) {
      const slot = this.#held[i];
      if (slot >= region.firstSlot && slot < end) this.#slots--;
      else this.#held[keptHeld++] = slot;
    }
    this.#held.length = keptHeld;
    this.#heldHead = 0;
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
    const lost = this.#lost === 0 ? '' : `; ${this.#lost} more slots left the pool when their memory was ${MOVED_CAUSE}`;
    return new AllocError(
      'ERR_NO_MEMORY',
      `every slot of the pool is taken (${this.#slots} slots of ${this.slotSize} bytes${lost})`,
    );
  }

  #notAllocated(buf: ArrayBufferView): AllocError {
    // Read through the intrinsic getters: a subclass's own byteLength getter does not run.
    const shown = isUint8Array(buf) ? `buf (${byteLengthOf(buf)} bytes at offset ${byteOffsetOf(buf)} of its ArrayBuffer)` : `buf (${describe(buf)})`;
    return new AllocError(
      'ERR_NOT_ALLOCATED',
      `${shown} is not a slot this pool has allocated: already freed, from another pool, part of a slot, or never from this pool`,
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

// A shared pool is a Pool to its users: `instanceof Pool` holds and its own methods answer.
Object.setPrototypeOf(SharedPool.prototype, Pool.prototype);
