import { AllocError, invalidParam, invalidThis, readOptions } from './errors';
import { defaultAlign } from './align';
import { native, SourceName } from './native';
import { checkAlign, checkBoolean, checkSize } from './validate';
import { closeShared, makeHandle, openShared, readHandle, SharedBlockHandle } from './shared';

export interface BlockOptions {
  /** A power of two. Default: the size itself when it is a power of two, else the page size. */
  align?: number;
  /** Fill with zeros (default). `false` skips the fill: the bytes are whatever the allocator left. */
  zero?: boolean;
}

const constructing = Symbol('Block.alloc');
const OPTION_KEYS = ['align', 'zero'] as const;
const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

// Node 20 defines Symbol.dispose as Symbol.for('nodejs.dispose') in its main
// realm only; a vm context (jest's test environment) has no Symbol.dispose.
export const disposeSymbol: typeof Symbol.dispose =
  Symbol.dispose ?? (Symbol.for('nodejs.dispose') as typeof Symbol.dispose);
const { status, allocAddress } = native;

// Whether value is a real Block (a private-field brand check: no getter or Proxy trap runs).
let isBlockValue: (value: unknown) => value is Block;

/** Whether value is a Block made by Block.alloc (not a Proxy, not an object posing as one). */
export function isBlock(value: unknown): value is Block {
  return isBlockValue(value);
}

/**
 * One block of memory from the operating system's allocator, aligned as asked
 * and handed to JavaScript without a copy as `buffer`.
 *
 * Free it with `free()` (or `using`): the memory returns at once and every view
 * of it reads length 0. A block never freed is freed by its finalizer after
 * garbage collection, which Node runs only when the event loop turns.
 */
export class Block {
  static {
    isBlockValue = (value: unknown): value is Block => typeof value === 'object' && value !== null && #buffer in value;
  }

  /** Bytes in the block. */
  readonly size: number;
  /** The alignment the block's address is guaranteed to have. */
  readonly align: number;
  #buffer: Buffer;
  #freed = false;
  #address: bigint | undefined;
  // The address as a number, kept from alloc: free() names the block with it
  // when its Buffer was detached by someone else (its memory moved).
  #at: number;
  // Sharing (lib/shared.ts): the region's name once shared, and for a Block
  // from fromShared the view's holder (0: a SharedArrayBuffer view).
  #sharedId = 0;
  #sharedKey = 0n;
  #holder: number | undefined;

  /** Use Block.alloc. */
  private constructor(token: symbol, buffer: Buffer, size: number, align: number, at: number = 0) {
    if (token !== constructing) {
      throw new AllocError('ERR_INVALID_PARAM', 'Block has no public constructor; use Block.alloc(size, options)');
    }
    this.#buffer = buffer;
    this.size = size;
    this.align = align;
    this.#at = at;
  }

  /**
   * Allocates `size` bytes. A power-of-two size is aligned to itself unless
   * `align` says otherwise; any other size to `align`, or to the page size.
   */
  static alloc(size: number, options?: BlockOptions): Block {
    checkSize('size', size);
    const read = readOptions('options', options, OPTION_KEYS, false);
    const align = read.align === undefined ? defaultAlign(size) : checkAlign('options.align', read.align);
    const zero = checkBoolean('options.zero', read.zero) ?? true;
    const result = native.blockAlloc(size, align, zero);
    if (typeof result === 'number') throw allocFailure(result, size, align);
    return new Block(constructing, result, size, align, allocAddress[0]);
  }

  /**
   * Opens in this thread a block another thread (or this one) shared with
   * `share()`: a Block over the same memory, at the same address, no copy. Its
   * buffer is a view of a SharedArrayBuffer where the runtime supports it
   * (`sharedArrayBuffers`), else an external Buffer of this thread's own.
   * ERR_NOT_ALLOCATED for anything but a handle of live shared memory of this process.
   */
  static fromShared(handle: SharedBlockHandle): Block {
    const name = readHandle('sysalloc.SharedBlock', handle, 'Block.fromShared');
    const opened = openShared('sysalloc.SharedBlock', name.id, name.key, 'Block.fromShared');
    const block = new Block(constructing, opened.buffer, opened.size, opened.align);
    block.#sharedId = opened.id;
    block.#sharedKey = opened.key;
    block.#holder = opened.holder;
    return block;
  }

  /**
   * A handle to post to other threads, where `Block.fromShared(handle)` opens
   * the same memory. The memory is released when every Block over it (in
   * every thread) is freed, collected or gone with its thread, and every
   * SharedArrayBuffer over it is collected. This Block keeps its own buffer.
   */
  share(): SharedBlockHandle {
    if (!isBlockValue(this)) throw invalidThis('Block.share', this);
    if (this.#freed) throw this.#notAllocated('share');
    if (this.#sharedId === 0) {
      const named = native.blockShare(this.#buffer, this.align);
      if (typeof named === 'number') {
        if (named === status.noMemory) throw new AllocError('ERR_NO_MEMORY', 'no memory to share the block');
        throw this.#notAllocated('share');
      }
      [this.#sharedId, this.#sharedKey] = named;
    }
    return makeHandle('sysalloc.SharedBlock', this.#sharedId, this.#sharedKey);
  }

  /** Whether the memory is shared: share() was called, or the Block came from fromShared. */
  get shared(): boolean {
    if (!isBlockValue(this)) throw invalidThis('Block.shared', this);
    return this.#sharedId !== 0;
  }

  /** The memory itself, zero-copy. After free(): a detached Buffer of length 0 (a SharedArrayBuffer view: an empty Buffer). */
  get buffer(): Buffer {
    if (!isBlockValue(this)) throw invalidThis('Block.buffer', this);
    return this.#buffer;
  }

  get freed(): boolean {
    if (!isBlockValue(this)) throw invalidThis('Block.freed', this);
    return this.#freed;
  }

  /** The address of the first byte. Throws ERR_NOT_ALLOCATED once the block is freed. */
  get address(): bigint {
    if (!isBlockValue(this)) throw invalidThis('Block.address', this);
    if (this.#freed) throw this.#notAllocated('read the address of');
    if (this.#address === undefined) this.#address = native.addressOf(this.#buffer) as bigint;
    return this.#address;
  }

  /** The system call that served this block ('posix_memalign', 'mmap', '_aligned_malloc', 'VirtualAlloc'). */
  get source(): SourceName {
    if (!isBlockValue(this)) throw invalidThis('Block.source', this);
    return native.sourceFor(this.size, this.align);
  }

  /**
   * Ends the block and detaches the buffer: every view of it reads length 0 from
   * here on. The memory is not handed to another allocation before the
   * JavaScript that called free() has returned to the event loop (the
   * quarantine; README "Lifetime"). If the memory was moved to another
   * ArrayBuffer (`transfer()`, a byte stream), free() ends this Block only; the
   * memory is released when that ArrayBuffer is collected. Throws
   * ERR_NOT_ALLOCATED when already freed.
   */
  free(): void {
    if (!isBlockValue(this)) throw invalidThis('Block.free', this);
    if (this.#freed) throw this.#notAllocated('free');
    if (this.#holder !== undefined) {
      if (closeShared({ buffer: this.#buffer, holder: this.#holder }) !== status.ok) throw this.#notAllocated('free');
      // A SharedArrayBuffer cannot be detached: this Block lets go of it, and
      // views taken earlier keep the memory until they are collected.
      if (this.#holder === 0) this.#buffer = Buffer.alloc(0);
      this.#freed = true;
      return;
    }
    const result = native.blockFree(this.#buffer, this.#at);
    if (result !== status.ok) throw this.#notAllocated('free');
    this.#freed = true;
  }

  /** For `using`: frees unless already freed. */
  [disposeSymbol](): void {
    if (!isBlockValue(this)) throw invalidThis('Block[Symbol.dispose]', this);
    if (!this.#freed) this.free();
  }

  /** util.inspect: size, align, and whether the block is live or freed. */
  [inspectSymbol](): string {
    if (!isBlockValue(this)) return 'Block <not a Block>';
    const state = this.#freed ? 'freed' : `live at 0x${this.address.toString(16)}`;
    return `Block { size: ${this.size}, align: ${this.align}, ${state} }`;
  }

  #notAllocated(action: string): AllocError {
    return new AllocError(
      'ERR_NOT_ALLOCATED',
      `cannot ${action} a block that is already freed (size ${this.size}, align ${this.align})`,
    );
  }
}

/** The AllocError for a failed native blockAlloc. */
function allocFailure(result: number, size: number, align: number): AllocError {
  switch (result) {
    case status.noMemory:
      return new AllocError('ERR_NO_MEMORY', `the system allocator refused ${size} bytes aligned to ${align}`);
    case status.runtimeThrew:
    case status.runtimeRefused:
      return new AllocError(
        'ERR_NO_MEMORY',
        `the JavaScript runtime could not make a Buffer over ${size} bytes aligned to ${align}: ${native.lastError()}`,
      );
    default:
      return new AllocError('ERR_INVALID_PARAM', `size ${size} with align ${align} was refused by the native guard`);
  }
}
