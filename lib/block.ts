import { AllocError, externalRefused, invalidParam, invalidThis, isPlainObject } from './errors';
import { defaultAlign } from './align';
import { native, SourceName } from './native';
import { checkAlign, checkBoolean, checkSize } from './validate';
import { closeShared, makeHandle, openShared, readHandle, SharedBlockHandle } from './shared';
import { debugHooks } from './debug';

export interface BlockOptions {
  /** A power of two. Default: the size itself when it is a power of two, else the page size; with `guard`, also at most the largest power of two dividing the size. */
  align?: number;
  /** Fill with zeros (default). `false` skips the fill: the bytes are whatever the allocator left. */
  zero?: boolean;
  /**
   * An inaccessible page before the block and another after it: a native
   * overrun or underrun faults instead of reaching other memory. The block is
   * placed as late as its alignment allows, so its last byte touches the
   * trailing guard when `size` is a multiple of `align`, and its first byte
   * touches the leading guard too when `size` is a multiple of the page size.
   */
  guard?: boolean;
  /** Lock the pages in memory (mlock, VirtualLock); refused past RLIMIT_MEMLOCK with ERR_NO_MEMORY. */
  lock?: boolean;
  /** Overwrite with zeros before the memory goes back: at free() (before the quarantine), in the finalizer, at thread exit. */
  wipe?: boolean;
  /** Leave the pages out of core dumps (Linux MADV_DONTDUMP; `block.dontDump` says whether the OS took it). */
  dontDump?: boolean;
  /** Huge pages (Linux transparent huge pages on a 2 MiB-aligned mapping; Windows large pages); `block.hugePages` tells. */
  hugePages?: boolean;
  /** guard, lock, wipe and dontDump together (sodium_malloc's promises). */
  secure?: boolean;
}

/** The access `block.protect` sets on a page-backed block's pages. */
export type Protection = 'none' | 'read' | 'readwrite';

const constructing = Symbol('Block.alloc');
const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

// Node 20 defines Symbol.dispose as Symbol.for('nodejs.dispose') in its main
// realm only; a vm context (jest's test environment) has no Symbol.dispose.
export const disposeSymbol: typeof Symbol.dispose =
  Symbol.dispose ?? (Symbol.for('nodejs.dispose') as typeof Symbol.dispose);
const { status, allocAddress } = native;

// Whether value is a real Block (a private-field brand check: no getter or Proxy trap runs).
let isBlockValue: (value: unknown) => value is Block;

// The Block free() was called on last. A Block's fields give it a map of its
// own (a transition from the class's initial map), which V8's optimized code
// embeds weakly: with no Block alive at a full GC the map dies and Block.alloc,
// free and the getters lose their code (docs/design.md, "Blocks across garbage
// collection"). Holding one Block keeps the current map alive; a freed Block
// owns no memory.
let lastFreed: Block | undefined;

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
  // Page-backed blocks: native/blocks.h PageFlags (0 for any other block), and the pages' access.
  #pages = 0;
  #protection: Protection = 'readwrite';

  /** Use Block.alloc. */
  private constructor(token: symbol, buffer: Buffer, size: number, align: number, at: number = 0, pages: number = 0) {
    if (token !== constructing) {
      throw new AllocError('ERR_INVALID_PARAM', 'Block has no public constructor; use Block.alloc(size, options)');
    }
    this.#buffer = buffer;
    this.size = size;
    this.align = align;
    this.#at = at;
    this.#pages = pages;
  }

  /**
   * Allocates `size` bytes. A power-of-two size is aligned to itself unless
   * `align` says otherwise; any other size to `align`, or to the page size.
   */
  static alloc(size: number, options?: BlockOptions): Block {
    checkSize('size', size);
    // Each option read once, in this order, into locals: no options record is
    // built (docs/design.md, "Blocks across garbage collection").
    let alignOption: unknown, zeroOption: unknown, guard: unknown, lock: unknown;
    let wipe: unknown, dontDump: unknown, hugePages: unknown, secure: unknown;
    if (options !== undefined) {
      if (!isPlainObject(options)) throw invalidParam('options', 'a plain object', options);
      ({ align: alignOption, zero: zeroOption, guard, lock, wipe, dontDump, hugePages, secure } = options);
    }
    const explicitAlign = alignOption === undefined ? undefined : checkAlign('options.align', alignOption);
    const zero = checkBoolean('options.zero', zeroOption) ?? true;
    const pageOptions = readPageOptions(secure, guard, lock, wipe, dontDump, hugePages);
    // A guarded block's default alignment divides its size, so its last byte touches the trailing guard.
    const align =
      explicitAlign ??
      ((pageOptions & OPT_GUARD) !== 0 ? Math.min(defaultAlign(size), largestPowerOfTwoDividing(size)) : defaultAlign(size));
    // Debug mode and sampling (lib/debug.ts): a page-level block, quarantined when freed.
    const debugBits = debugHooks.active ? debugHooks.take() : 0;
    if (pageOptions !== 0 || debugBits !== 0) {
      const paged = native.blockAllocPages(size, align, pageOptions === 0 ? debugBits : pageOptions | (debugBits & OPT_DEBUG));
      if (paged === status.externalRefused) {
        if (pageOptions !== 0) throw externalRefused(pageOptionNames(secure, guard, lock, wipe, dontDump, hugePages));
        // Runtime memory has no pages of sysalloc's own to quarantine: debug mode serves it as an ordinary block.
        const plain = native.blockAlloc(size, align, zero);
        if (typeof plain === 'number') throw allocFailure(plain, size, align);
        return new Block(constructing, plain, size, align, allocAddress[0]);
      }
      if (typeof paged === 'number') throw paged === status.lockRefused ? lockRefused(size) : allocFailure(paged, size, align);
      const at = allocAddress[0];
      const block = new Block(constructing, paged, size, align, at, pageOptions === 0 ? 0 : native.pageState(paged) & 0xff);
      if (debugBits !== 0) debugHooks.allocated(block, size, at);
      return block;
    }
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
    if (debugHooks.active) debugHooks.opened(block, opened.size, Number(block.address));
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
        if (named === status.externalRefused) throw externalRefused('block.share()');
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

  /**
   * The system call that served this block ('posix_memalign', 'mmap', '_aligned_malloc', 'VirtualAlloc').
   * A page-backed block names its mapping: 'mmap' (POSIX) or 'VirtualAlloc' (Windows). 'runtime' on a
   * runtime that refuses external buffers: an ArrayBuffer it allocated (README "Runtimes without external buffers").
   */
  get source(): SourceName {
    if (!isBlockValue(this)) throw invalidThis('Block.source', this);
    if (this.#pages !== 0) return PAGES_SOURCE;
    return native.sourceFor(this.size, this.align);
  }

  // ---- page-backed blocks (README "Secure and page-level blocks")

  /** Whether the block has a mapping of its own (any page-level option was given). */
  get pageBacked(): boolean {
    if (!isBlockValue(this)) throw invalidThis('Block.pageBacked', this);
    return this.#pages !== 0;
  }

  /** Whether inaccessible guard pages surround the block. */
  get guarded(): boolean {
    if (!isBlockValue(this)) throw invalidThis('Block.guarded', this);
    return (this.#pages & PAGE_GUARDED) !== 0;
  }

  /** Whether the OS locked the pages in memory (until free). */
  get locked(): boolean {
    if (!isBlockValue(this)) throw invalidThis('Block.locked', this);
    return (this.#pages & PAGE_LOCKED) !== 0 && !this.#freed;
  }

  /** Whether the memory is zeroed before it is released. */
  get wipes(): boolean {
    if (!isBlockValue(this)) throw invalidThis('Block.wipes', this);
    return (this.#pages & PAGE_WIPE) !== 0;
  }

  /** Whether the OS accepted to leave the pages out of core dumps (Linux only). */
  get dontDump(): boolean {
    if (!isBlockValue(this)) throw invalidThis('Block.dontDump', this);
    return (this.#pages & PAGE_NO_DUMP) !== 0;
  }

  /**
   * Whether the OS backs the block with huge pages now. Linux: the AnonHugePages
   * the kernel reports for the block's mapping in /proc/self/smaps, read at each
   * call (a file read: not for a hot loop). Windows: large pages were mapped.
   * false once freed.
   */
  get hugePages(): boolean {
    if (!isBlockValue(this)) throw invalidThis('Block.hugePages', this);
    if ((this.#pages & PAGE_HUGE) === 0 || this.#freed) return false;
    return native.hugePagesBacked(this.#buffer) === true;
  }

  /** The access the block's pages have: 'readwrite' unless protect() changed it. */
  get protection(): Protection {
    if (!isBlockValue(this)) throw invalidThis('Block.protection', this);
    return this.#protection;
  }

  /**
   * Sets the access of a page-backed block's pages. Reading a 'none' block, or
   * writing a 'none' or 'read' block, from JavaScript or native code kills the
   * process with SIGSEGV (an access violation on Windows): nothing can catch it.
   * free() restores the access itself. ERR_INVALID_PARAM for a block that is not
   * page-backed (its pages are shared with other memory) or another mode;
   * ERR_NOT_ALLOCATED once freed; ERR_NO_MEMORY when the OS refuses.
   */
  protect(mode: Protection): void {
    if (!isBlockValue(this)) throw invalidThis('Block.protect', this);
    const access = PROTECTIONS.indexOf(mode as Protection);
    if (typeof mode !== 'string' || access < 0) throw invalidParam('mode', "'none', 'read' or 'readwrite'", mode);
    if (this.#freed) throw this.#notAllocated('protect');
    if (this.#pages === 0) {
      if (this.source === 'runtime') throw externalRefused('block.protect()');
      throw new AllocError(
        'ERR_INVALID_PARAM',
        `block.protect needs a page-backed block; this block of ${this.size} bytes came from ${this.source}, ` +
          'whose pages may hold other memory: allocate it with guard, lock, wipe, dontDump, hugePages or secure',
      );
    }
    const result = native.blockProtect(this.#buffer, access);
    if (result === status.ok) {
      this.#protection = mode;
      return;
    }
    if (result === status.notAllocated) throw this.#notAllocated('protect');
    throw new AllocError('ERR_NO_MEMORY', `the OS refused to make the pages of a ${this.size}-byte block '${mode}'`);
  }

  /**
   * Ends the block and detaches the buffer: every view of it reads length 0 from
   * here on. The memory is not handed to another allocation before the
   * JavaScript that called free() has returned to the event loop (the
   * quarantine; README "Lifetime"). If the memory was moved to another
   * ArrayBuffer (`transfer()`, a byte stream), free() ends this Block only; the
   * memory is released when that ArrayBuffer is collected. Throws
   * ERR_NOT_ALLOCATED when already freed, and ERR_INVALID_PARAM, the block
   * left live, when the runtime refuses to detach the buffer (Bun, while I/O on
   * it is in flight).
   */
  free(): void {
    if (!isBlockValue(this)) throw invalidThis('Block.free', this);
    lastFreed = this;
    if (this.#freed) throw this.#notAllocated('free');
    if (this.#holder !== undefined) {
      if (closeShared({ buffer: this.#buffer, holder: this.#holder }) !== status.ok) throw this.#notAllocated('free');
      // A SharedArrayBuffer cannot be detached: this Block lets go of it, and
      // views taken earlier keep the memory until they are collected.
      if (this.#holder === 0) this.#buffer = Buffer.alloc(0);
      this.#freed = true;
      if (debugHooks.active) debugHooks.forgotten(this);
      return;
    }
    const result = native.blockFree(this.#buffer, this.#at);
    if (result !== status.ok) throw result === status.runtimeRefused ? this.#held() : this.#notAllocated('free');
    this.#freed = true;
    if (debugHooks.active) debugHooks.freed(this);
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

  #held(): AllocError {
    return new AllocError(
      'ERR_INVALID_PARAM',
      `cannot free a block of ${this.size} bytes while the runtime holds its buffer for work in flight ` +
        '(Bun holds a Buffer given to fs, zlib or crypto until the callback): ' +
        'the block stays live; free it once that work has ended',
    );
  }

  #notAllocated(action: string): AllocError {
    return new AllocError(
      'ERR_NOT_ALLOCATED',
      `cannot ${action} a block that is already freed (size ${this.size}, align ${this.align})`,
    );
  }
}

const PAGE_GUARDED = 2;
const PAGE_LOCKED = 4;
const PAGE_WIPE = 8;
const PAGE_NO_DUMP = 16;
const PAGE_HUGE = 32;
const PROTECTIONS: readonly Protection[] = ['none', 'read', 'readwrite'];
const PAGES_SOURCE: SourceName = process.platform === 'win32' ? 'VirtualAlloc' : 'mmap';

// native/binding.cc PageOption bits.
const OPT_GUARD = 1;
const OPT_LOCK = 2;
const OPT_WIPE = 4;
const OPT_DONT_DUMP = 8;
const OPT_HUGE = 16;
const OPT_DEBUG = 32;

function largestPowerOfTwoDividing(size: number): number {
  let align = 1;
  while (align < 2 ** 32 && size % (align * 2) === 0) align *= 2;
  return align;
}

// The page-level options set to true, for messages: 'options.guard, options.lock'.
function pageOptionNames(...values: unknown[]): string {
  const names = ['options.secure', 'options.guard', 'options.lock', 'options.wipe', 'options.dontDump', 'options.hugePages'];
  return names.filter((_, i) => values[i] === true).join(', ');
}

function readPageOptions(
  secureOption: unknown,
  guardOption: unknown,
  lockOption: unknown,
  wipeOption: unknown,
  dontDumpOption: unknown,
  hugeOption: unknown,
): number {
  const secure = checkBoolean('options.secure', secureOption) === true;
  const guard = checkBoolean('options.guard', guardOption);
  const lock = checkBoolean('options.lock', lockOption);
  const wipe = checkBoolean('options.wipe', wipeOption);
  const dontDump = checkBoolean('options.dontDump', dontDumpOption);
  const huge = checkBoolean('options.hugePages', hugeOption);
  // secure sets the other four unless one of them says false explicitly.
  return (
    ((guard ?? secure) ? OPT_GUARD : 0) |
    ((lock ?? secure) ? OPT_LOCK : 0) |
    ((wipe ?? secure) ? OPT_WIPE : 0) |
    ((dontDump ?? secure) ? OPT_DONT_DUMP : 0) |
    (huge === true ? OPT_HUGE : 0)
  );
}

function lockRefused(size: number): AllocError {
  const limit = native.lockLimit();
  const page = native.pageSize;
  const pages = Math.ceil(size / page) * page;
  if (process.platform === 'win32') {
    return new AllocError(
      'ERR_NO_MEMORY',
      `VirtualLock refused to lock ${pages} bytes: the process's minimum working-set size is ${limit} bytes ` +
        '(SetProcessWorkingSetSize raises it)',
    );
  }
  const value = limit < 0 ? 'unlimited' : `${limit} bytes (ulimit -l ${Math.floor(limit / 1024)})`;
  return new AllocError(
    'ERR_NO_MEMORY',
    `mlock refused to lock ${pages} bytes: RLIMIT_MEMLOCK is ${value}, counted over every page the process has locked`,
  );
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
