import { AllocError, invalidParam } from './errors';
import { defaultAlign } from './align';
import { native, SourceName } from './native';
import { checkAlign, checkSize } from './validate';

export interface BlockOptions {
  /** A power of two. Default: the size itself when it is a power of two, else the page size. */
  align?: number;
  /** Fill with zeros (default). `false` skips the fill: the bytes are whatever the allocator left. */
  zero?: boolean;
}

const constructing = Symbol('Block.alloc');

// Node 20 defines Symbol.dispose as Symbol.for('nodejs.dispose') in its main
// realm only; a vm context (jest's test environment) has no Symbol.dispose.
export const disposeSymbol: typeof Symbol.dispose =
  Symbol.dispose ?? (Symbol.for('nodejs.dispose') as typeof Symbol.dispose);
const { status, allocAddress } = native;

/**
 * One block of memory from the operating system's allocator, aligned as asked
 * and handed to JavaScript without a copy as `buffer`.
 *
 * Free it with `free()` (or `using`): the memory returns at once and every view
 * of it reads length 0. A block never freed is freed by its finalizer after
 * garbage collection, which Node runs only when the event loop turns.
 */
export class Block {
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

  /** @internal Use Block.alloc. */
  constructor(token: symbol, buffer: Buffer, size: number, align: number, at: number = 0) {
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
    let align: number;
    let zero = true;
    if (options === undefined) {
      align = defaultAlign(size);
    } else {
      if (typeof options !== 'object' || options === null) {
        throw invalidParam('options', 'an object', options);
      }
      align = options.align === undefined ? defaultAlign(size) : checkAlign('options.align', options.align);
      if (options.zero !== undefined) {
        if (typeof options.zero !== 'boolean') throw invalidParam('options.zero', 'a boolean', options.zero);
        zero = options.zero;
      }
    }
    const result = native.blockAlloc(size, align, zero);
    if (typeof result === 'number') throw allocFailure(result, size, align);
    return new Block(constructing, result, size, align, allocAddress[0]);
  }

  /** The memory itself, zero-copy. After free(): a detached Buffer of length 0. */
  get buffer(): Buffer {
    return this.#buffer;
  }

  get freed(): boolean {
    return this.#freed;
  }

  /** The address of the first byte. Throws ERR_NOT_ALLOCATED once the block is freed. */
  get address(): bigint {
    if (this.#freed) throw this.#notAllocated('read the address of');
    if (this.#address === undefined) this.#address = native.addressOf(this.#buffer) as bigint;
    return this.#address;
  }

  /** The system call that served this block ('posix_memalign', 'mmap', '_aligned_malloc', 'VirtualAlloc'). */
  get source(): SourceName {
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
    if (this.#freed) throw this.#notAllocated('free');
    const result = native.blockFree(this.#buffer, this.#at);
    if (result !== status.ok) throw this.#notAllocated('free');
    this.#freed = true;
  }

  /** For `using`: frees unless already freed. */
  [disposeSymbol](): void {
    if (!this.#freed) this.free();
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
