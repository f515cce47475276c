// A pool of fixed-size slots in shared memory that every thread which opened it
// allocates from and frees into, lock-free: the free slots are a bitmap of
// Int32 words in a control block at the start of the region, taken with
// Atomics.compareExchange and returned with Atomics.and (no ABA: a bit has no
// history). Each thread has its own Buffers over the slots.
import { disposeSymbol } from './block';
import { AllocError, describe, invalidParam, invalidThis } from './errors';
import { native } from './native';
import type { MemoryRegion } from './managed-region';
import { closeShared, createShared, makeHandle, openShared, Opened, readHandle, SharedPoolHandle } from './shared';
import { checkSize, MAX_SIZE } from './validate';
import { byteOffsetOf, isUint8Array, viewBuffer } from './view-buffer';

const ViewBuffer = viewBuffer;
const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

// Control block: Int32 words.
const MAGIC = 0x5350_4f4c; // 'SPOL'
const W_MAGIC = 0;
const W_SLOT_SIZE = 1;
const W_STRIDE = 2;
const W_SLOTS = 3;
const W_FIRST = 4; // byte offset of slot 0 in the region
const W_USED = 5; // slots taken, over all threads
const W_CHECKED = 6;
const W_ALIGN = 7;
const HEADER_WORDS = 16;
/** The most slots a shared pool holds: its bitmap is scanned word by word. */
export const MAX_SHARED_POOL_SLOTS = 2 ** 24;

let isSharedPool: (value: unknown) => value is SharedPool;

export class SharedPool {
  static {
    isSharedPool = (value: unknown): value is SharedPool => typeof value === 'object' && value !== null && #ctl in value;
  }

  readonly slotSize: number;
  readonly align: number;
  readonly checked: boolean;
  readonly stride: number;

  #opened: Opened;
  #ctl: Int32Array;
  #slots: number;
  #words: number;
  #first: number;
  #arrayBuffer: ArrayBufferLike;
  #cursor = 0; // the bitmap word this thread tries first
  #destroyed = false;
  // This thread's Buffer of each slot it holds, undefined otherwise.
  #live: (Buffer | undefined)[];
  // Checked mode: the native holder of each slot Buffer this thread holds.
  #holders: Map<Buffer, number> = new Map();

  private constructor(opened: Opened, what: string) {
    const words = opened.buffer.byteLength >= HEADER_WORDS * 4 ? HEADER_WORDS : 0;
    const ctl = new Int32Array(opened.buffer.buffer, opened.buffer.byteOffset, words);
    const slotSize = words === 0 ? 0 : ctl[W_SLOT_SIZE];
    const stride = words === 0 ? 0 : ctl[W_STRIDE];
    const slots = words === 0 ? 0 : ctl[W_SLOTS];
    const first = words === 0 ? 0 : ctl[W_FIRST];
    const bitmapWords = Math.ceil(slots / 32);
    if (
      words === 0 || ctl[W_MAGIC] !== MAGIC || !(slotSize >= 1) || !(stride >= slotSize) || !(slots >= 1) ||
      first < (HEADER_WORDS + bitmapWords) * 4 || first + (slots - 1) * stride + slotSize > opened.size
    ) {
      closeShared(opened);
      throw new AllocError('ERR_NOT_ALLOCATED', `${what}: the handle names no shared pool`);
    }
    this.#opened = opened;
    this.#ctl = new Int32Array(opened.buffer.buffer, opened.buffer.byteOffset, HEADER_WORDS + bitmapWords);
    this.#arrayBuffer = opened.buffer.buffer;
    this.slotSize = slotSize;
    this.stride = stride;
    this.align = ctl[W_ALIGN];
    this.checked = ctl[W_CHECKED] === 1;
    this.#slots = slots;
    this.#words = bitmapWords;
    this.#first = first;
    this.#live = new Array<Buffer | undefined>(slots);
    this.#cursor = (Math.random() * bitmapWords) | 0;
  }

  /** new Pool({ ..., shared: true }) with its options validated. */
  static create(slotSize: number, slots: number, align: number, checked: boolean): SharedPool {
    const stride = Math.ceil(slotSize / align) * align;
    const bitmapWords = Math.ceil(slots / 32);
    const first = Math.ceil(((HEADER_WORDS + bitmapWords) * 4) / align) * align;
    const size = first + (slots - 1) * stride + slotSize;
    if (slots > MAX_SHARED_POOL_SLOTS || size > MAX_SIZE || stride > 0x7fffffff || first > 0x7fffffff) {
      throw invalidParam('options.slots', `at most ${MAX_SHARED_POOL_SLOTS} slots whose memory fits in MAX_SIZE (with slotSize ${slotSize})`, slots);
    }
    const opened = createShared(size, Math.max(native.pageSize, align), false, 'Pool');
    const ctl = new Int32Array(opened.buffer.buffer, opened.buffer.byteOffset, HEADER_WORDS + bitmapWords);
    ctl.fill(0);
    ctl[W_SLOT_SIZE] = slotSize;
    ctl[W_STRIDE] = stride;
    ctl[W_SLOTS] = slots;
    ctl[W_FIRST] = first;
    ctl[W_CHECKED] = checked ? 1 : 0;
    ctl[W_ALIGN] = align;
    // Bits past the last slot are taken for good.
    if (slots % 32 !== 0) ctl[HEADER_WORDS + bitmapWords - 1] = ~((1 << (slots % 32)) - 1);
    Atomics.store(ctl, W_MAGIC, MAGIC);
    return new SharedPool(opened, 'Pool');
  }

  /** Pool.fromShared. */
  static open(handle: SharedPoolHandle): SharedPool {
    const name = readHandle('sysalloc.SharedPool', handle, 'Pool.fromShared');
    return new SharedPool(openShared('sysalloc.SharedPool', name.id, name.key, 'Pool.fromShared'), 'Pool.fromShared');
  }

  /** A handle to post to other threads, where Pool.fromShared(handle) opens this pool. */
  share(): SharedPoolHandle {
    if (!isSharedPool(this)) throw invalidThis('Pool.share', this);
    this.#checkAlive('share');
    return makeHandle('sysalloc.SharedPool', this.#opened.id, this.#opened.key);
  }

  /** A Buffer over a slot no thread holds. ERR_NO_MEMORY when every slot is taken, in every thread. */
  alloc(): Buffer {
    if (!isSharedPool(this)) throw invalidThis('Pool.alloc', this);
    const ctl = this.#ctl;
    const words = this.#words;
    let w = this.#cursor;
    for (let n = 0; n < words; n++) {
      const at = HEADER_WORDS + w;
      let v = Atomics.load(ctl, at);
      while (v !== -1) {
        const bit = ~v & (v + 1); // the lowest clear bit
        const prev = Atomics.compareExchange(ctl, at, v, v | bit);
        if (prev === v) {
          this.#cursor = w;
          Atomics.add(ctl, W_USED, 1);
          return this.#hand(w * 32 + 31 - Math.clz32(bit));
        }
        v = prev;
      }
      w = w + 1 === words ? 0 : w + 1;
    }
    if (this.#destroyed) throw new AllocError('ERR_NOT_ALLOCATED', 'cannot allocate from a pool that is destroyed');
    throw new AllocError('ERR_NO_MEMORY', `every slot of the shared pool is taken (${this.#slots} slots of ${this.slotSize} bytes, over all threads)`);
  }

  /** Returns a slot this thread allocated. ERR_NOT_ALLOCATED for any other Buffer (another thread's included). */
  free(buf: Uint8Array): void {
    if (!isSharedPool(this)) throw invalidThis('Pool.free', this);
    let slot = -1;
    if (this.checked) {
      const holder = this.#holders.get(buf as Buffer);
      if (holder !== undefined) {
        slot = (this.#addressIndex(buf as Buffer));
        this.#holders.delete(buf as Buffer);
        native.sharedFree(buf, holder);
      }
    } else if (isUint8Array(buf)) {
      const index = (byteOffsetOf(buf) - this.#opened.buffer.byteOffset - this.#first) / this.stride;
      if (index >>> 0 === index && index < this.#slots && this.#live[index] === buf) slot = index;
    }
    if (slot < 0 || this.#live[slot] !== buf) {
      if (!ArrayBuffer.isView(buf)) throw invalidParam('buf', 'a Buffer from this pool', buf);
      if (this.#destroyed) throw new AllocError('ERR_NOT_ALLOCATED', 'cannot free into a pool that is destroyed');
      throw new AllocError('ERR_NOT_ALLOCATED', `buf (${describe(buf)}) is not a slot this thread allocated from this pool: already freed, another thread's, from another pool, or never from one`);
    }
    this.#release(slot);
  }

  #release(slot: number): void {
    this.#live[slot] = undefined;
    Atomics.and(this.#ctl, HEADER_WORDS + (slot >>> 5), ~(1 << (slot & 31)));
    Atomics.sub(this.#ctl, W_USED, 1);
  }

  #hand(slot: number): Buffer {
    const offset = this.#first + slot * this.stride;
    let buf: Buffer;
    if (this.checked) {
      let view: Opened;
      try {
        view = openShared('sysalloc.SharedPool', this.#opened.id, this.#opened.key, 'Pool.alloc', offset, this.slotSize, false);
      } catch (e) {
        this.#live[slot] = undefined;
        this.#release(slot);
        throw e;
      }
      buf = view.buffer;
      this.#holders.set(buf, view.holder);
    } else {
      buf = new ViewBuffer(this.#arrayBuffer as ArrayBuffer, this.#opened.buffer.byteOffset + offset, this.slotSize);
    }
    this.#live[slot] = buf;
    return buf;
  }

  // Checked mode: a slot Buffer's index from its address (its own ArrayBuffer starts at the slot).
  #addressIndex(buf: Buffer): number {
    const base = native.addressOf(this.#opened.buffer) as bigint;
    const at = native.addressOf(buf) as bigint;
    const index = Number(at - base - BigInt(this.#first)) / this.stride;
    return index >>> 0 === index && index < this.#slots ? index : -1;
  }

  get shared(): boolean {
    if (!isSharedPool(this)) throw invalidThis('Pool.shared', this);
    return true;
  }

  /** Slots taken, over all threads. */
  get used(): number {
    if (!isSharedPool(this)) throw invalidThis('Pool.used', this);
    return this.#destroyed ? 0 : Atomics.load(this.#ctl, W_USED);
  }

  /** Slots free, over all threads. */
  get available(): number {
    if (!isSharedPool(this)) throw invalidThis('Pool.available', this);
    return this.#destroyed ? 0 : this.#slots - Atomics.load(this.#ctl, W_USED);
  }

  get slots(): number {
    if (!isSharedPool(this)) throw invalidThis('Pool.slots', this);
    return this.#destroyed ? 0 : this.#slots;
  }

  get destroyed(): boolean {
    if (!isSharedPool(this)) throw invalidThis('Pool.destroyed', this);
    return this.#destroyed;
  }

  regions(): MemoryRegion[] {
    if (!isSharedPool(this)) throw invalidThis('Pool.regions', this);
    this.#checkAlive('list the regions of');
    return [{ address: native.addressOf(this.#opened.buffer) as bigint, size: this.#opened.size }];
  }

  addMemory(): void {
    if (!isSharedPool(this)) throw invalidThis('Pool.addMemory', this);
    throw new AllocError('ERR_INVALID_PARAM', 'a shared pool cannot take more memory: its slots are fixed when it is created');
  }

  /**
   * This thread lets the pool go: the slots it holds return to the pool, and
   * its reference to the memory is dropped (the memory is released when the
   * last thread lets go). Checked mode: its slot Buffers read length 0. Fast
   * mode: on a runtime with external SharedArrayBuffers its slot Buffers keep
   * reaching the memory (a SharedArrayBuffer cannot be detached) until
   * collected; elsewhere they read length 0.
   */
  destroy(): void {
    if (!isSharedPool(this)) throw invalidThis('Pool.destroy', this);
    this.#checkAlive('destroy');
    for (const [buf, holder] of this.#holders) native.sharedFree(buf, holder);
    this.#holders.clear();
    for (let slot = 0; slot < this.#slots; slot++) if (this.#live[slot] !== undefined) this.#release(slot);
    this.#destroyed = true;
    closeShared(this.#opened);
    this.#ctl = new Int32Array(HEADER_WORDS + this.#words);
    this.#ctl.fill(-1, HEADER_WORDS);
    this.#arrayBuffer = new ArrayBuffer(0);
    this.#opened = { ...this.#opened, buffer: Buffer.alloc(0) };
    this.#live = [];
  }

  [disposeSymbol](): void {
    if (!isSharedPool(this)) throw invalidThis('Pool[Symbol.dispose]', this);
    if (!this.#destroyed) this.destroy();
  }

  [inspectSymbol](): string {
    if (!isSharedPool(this)) return 'Pool <not a Pool>';
    const state = this.#destroyed ? 'destroyed' : `used: ${this.used}, available: ${this.available}`;
    return `Pool { shared, slotSize: ${this.slotSize}, align: ${this.align}, checked: ${this.checked}, ${state} }`;
  }

  #checkAlive(action: string): void {
    if (this.#destroyed) throw new AllocError('ERR_NOT_ALLOCATED', `cannot ${action} a pool that is destroyed`);
  }
}
