import { Block, disposeSymbol } from './block';
import { AllocError, invalidParam, invalidThis, readOptions } from './errors';
import { native } from './native';
import { adoptable, ManagedRegion, MemoryRegion, MOVED_CAUSE, wrapError } from './managed-region';
import { checkAlign, checkBoolean, checkSize, MAX_SIZE } from './validate';
import { viewBuffer } from './view-buffer';
import { debugRecording } from './debug';

// Module constants rather than imports: the fast path reads them on every call.
const ViewBuffer = viewBuffer;
const MAX = MAX_SIZE;
const OPTION_KEYS = ['capacity', 'align', 'grow'] as const;
const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

export interface ArenaOptions {
  /** Bytes of the first chunk, from 1 to MAX_SIZE. Without `grow`, all the arena will ever hold (plus addMemory). */
  capacity: number;
  /** Alignment of every chunk the arena allocates: a power of two; default and minimum the page size. */
  align?: number;
  /** When full, allocate a new chunk (at least double the previous one) instead of throwing ERR_NO_MEMORY. */
  grow?: boolean;
}

// Masks for alignments up to 2^30 are int32, and so are the low 30 bits of an address.
const SMALL_ALIGN = 2 ** 30;

class Chunk extends ManagedRegion {
  /** address mod 2^30: enough to align to anything up to 2^30 with int32 arithmetic. */
  readonly low: number;
  /**
   * The bump range [offset, limit): allocations come from here (the inline path
   * for the current chunk). The spare range [spare, size) is the chunk's end,
   * kept when the bump range moved below it; limit <= spare.
   */
  offset = 0;
  limit: number;
  spare: number;
  /** Where the current bump range started, and bytes taken since the last reset in earlier ranges and the spare one. */
  start = 0;
  taken = 0;
  /**
   * Reset in this synchronous run: the memory outside the bump and spare ranges
   * and what was allocated since the reset (from `offset` and `spare` at the
   * reset on) is held until the run ends (released by #endRun).
   */
  held = false;
  heldOffset = 0;
  heldSpare: number;

  constructor(block: Block, fromCaller: boolean) {
    super('Arena', block, fromCaller);
    this.low = this.address % SMALL_ALIGN;
    this.limit = this.spare = this.heldSpare = this.size;
  }
}

// The chunk a destroyed or chunkless arena points at: nothing fits in it.
const NO_CHUNK_BUFFER = new ArrayBuffer(0);

// Whether value is a real Arena (a private-field brand check: no getter or Proxy trap runs).
let isArena: (value: unknown) => value is Arena;

/**
 * A bump allocator over page-aligned Blocks: `alloc` hands out Buffers that
 * are views of a chunk's memory, computed in JavaScript without a native call;
 * `reset` empties every one of them at once and keeps the memory.
 *
 * Allocations are not zero-filled (as Buffer.allocUnsafe): after a reset they
 * reuse memory that earlier allocations wrote.
 */
export class Arena {
  static {
    isArena = (value: unknown): value is Arena => typeof value === 'object' && value !== null && #offset in value;
  }

  /** The alignment of the chunks the arena allocates. */
  readonly align: number;
  /** Whether a full arena allocates another chunk. */
  readonly grow: boolean;

  #chunks: Chunk[] = [];
  #destroyed = false;
  // Size of the next chunk grow allocates: doubles with each one.
  #nextChunk: number;
  // The current chunk, and a copy of its hot fields so the fast path reads only the arena.
  #current: Chunk | undefined;
  #arrayBuffer: ArrayBuffer = NO_CHUNK_BUFFER;
  #low = 0;
  #base = 0; // the current chunk's ManagedRegion.base
  #offset = 0;
  #limit = 0;
  // Sums kept so that used, capacity and available cost O(1).
  #capacity = 0;
  #usedElsewhere = 0; // bytes bumped in every chunk but the current one
  // Bytes of chunks dropped because their memory moved away, for error messages.
  #lost = 0;
  // A microtask is queued to end the run in which a reset held memory.
  #armed = false;
  #endRun = (): void => {
    this.#armed = false;
    if (!this.#destroyed) this.#releaseHeld();
  };

  constructor(options: ArenaOptions) {
    const read = readOptions('options', options, OPTION_KEYS, true);
    const capacity = checkSize('options.capacity', read.capacity);
    const page = native.pageSize;
    this.align = read.align === undefined ? page : Math.max(page, checkAlign('options.align', read.align));
    this.grow = checkBoolean('options.grow', read.grow) ?? false;
    this.#nextChunk = Math.min(MAX_SIZE, capacity * 2);
    this.#addChunk(new Chunk(Block.alloc(capacity, { align: this.align, zero: false }), false));
    this.#enter(this.#chunks[0]);
  }

  /**
   * `size` bytes aligned to `align` (a power of two, default 16), as a Buffer
   * over the arena's memory. Throws ERR_NO_MEMORY when no chunk has room and
   * the arena does not grow.
   */
  alloc(size: number, align: number = 16): Buffer {
    if (!isArena(this)) throw invalidThis('Arena.alloc', this);
    if (typeof size !== 'number' || !(size >= 1 && size <= MAX) || size % 1 !== 0) {
      throw invalidParam('size', `an integer from 1 to ${MAX}`, size);
    }
    if (typeof align !== 'number' || (align | 0) !== align || align < 1 || (align & (align - 1)) !== 0) {
      return this.#allocSlow(size, checkAlign('align', align));
    }
    // -(address) & (align - 1) is the padding up to the next multiple of align.
    const start = this.#offset + (-(this.#low + this.#offset) & (align - 1));
    const end = start + size;
    if (end > this.#limit) return this.#allocSlow(size, align);
    let buf: Buffer;
    try {
      buf = new ViewBuffer(this.#arrayBuffer, this.#base + start, size);
    } catch {
      // The chunk's ArrayBuffer was detached: its memory moved away.
      return this.#allocSlow(size, align);
    }
    this.#offset = end;
    return buf;
  }

  /**
   * Empties the arena: every Buffer it handed out reads length 0 from now on,
   * and the memory (every chunk) is reused.
   */
  reset(): void {
    if (!isArena(this)) throw invalidThis('Arena.reset', this);
    this.#checkAlive('reset');
    this.#settleMoved();
    this.#leave();
    this.#renewChunks(debugRecording());
    let failure: AllocError | undefined;
    for (const chunk of this.#chunks.slice()) {
      if (usedIn(chunk) === 0) continue; // nothing was handed out from this view
      if (!chunk.detachView()) {
        // The runtime holds a Buffer of this chunk for work in flight: the chunk stays as it was.
        failure ??= new AllocError(
          'ERR_INVALID_PARAM',
          `Arena.reset: a chunk of ${chunk.size} bytes was left as it was because the runtime holds a Buffer in it ` +
            'for work in flight (Bun holds a Buffer given to fs, zlib or crypto until the callback); ' +
            'its allocations stay valid; reset again once that work has ended',
        );
        continue;
      }
      // The bump pointer stays: what the reset released is held until the run ends.
      chunk.taken = 0;
      chunk.start = chunk.offset;
      chunk.held = true;
      chunk.heldOffset = chunk.offset;
      chunk.heldSpare = chunk.spare;
      if (!this.#armed) {
        this.#armed = true;
        queueMicrotask(this.#endRun);
      }
      const status = chunk.wrapWhole();
      if (status !== undefined) {
        // The block can no longer be wrapped (its caller freed a block given to
        // addMemory, or Node-API is out of memory): stop using it.
        if (!chunk.block.freed) failure ??= wrapError('Arena.reset', status, 0, chunk.size);
        this.#chunks.splice(this.#chunks.indexOf(chunk), 1);
        this.#capacity -= chunk.size;
        chunk.release();
        continue;
      }
    }
    this.#enter(this.#chunks[0]);
    if (failure !== undefined) throw failure;
  }

  /**
   * Hands the arena more memory: it owns `block` from now on and frees it at
   * destroy. Do not free or use the block yourself.
   */
  addMemory(block: Block): void {
    if (!isArena(this)) throw invalidThis('Arena.addMemory', this);
    this.#checkAlive('add memory to');
    this.#settleMoved();
    this.#addChunk(new Chunk(adoptable('Arena', 'this arena', block, this.#chunks), true));
  }

  /** Bytes taken by allocations since the last reset, alignment padding included. */
  get used(): number {
    if (!isArena(this)) throw invalidThis('Arena.used', this);
    return this.#usedElsewhere + this.#offset;
  }

  /** Bytes the arena holds: every chunk. Grows with `grow` and addMemory. 0 once destroyed. */
  get capacity(): number {
    if (!isArena(this)) throw invalidThis('Arena.capacity', this);
    return this.#capacity;
  }

  /**
   * capacity - used. Free bytes across chunks: an allocation never straddles
   * two chunks, so the largest one that fits can be smaller.
   */
  get available(): number {
    if (!isArena(this)) throw invalidThis('Arena.available', this);
    return this.#capacity - this.#usedElsewhere - this.#offset;
  }

  get destroyed(): boolean {
    if (!isArena(this)) throw invalidThis('Arena.destroyed', this);
    return this.#destroyed;
  }

  /** The address range of every chunk, in the order they are used. Throws ERR_NOT_ALLOCATED once destroyed. */
  regions(): MemoryRegion[] {
    if (!isArena(this)) throw invalidThis('Arena.regions', this);
    this.#checkAlive('list the regions of');
    this.#settleMoved();
    return this.#chunks.map((chunk) => chunk.describe());
  }

  /**
   * Frees every chunk: each Buffer the arena handed out reads length 0.
   * Throws ERR_NOT_ALLOCATED when already destroyed.
   */
  destroy(): void {
    if (!isArena(this)) throw invalidThis('Arena.destroy', this);
    this.#checkAlive('destroy');
    this.#destroyed = true;
    for (const chunk of this.#chunks) {
      chunk.detachView();
      chunk.release();
    }
    this.#chunks = [];
    this.#capacity = 0;
    this.#enter(undefined);
  }

  /** For `using`: destroys unless already destroyed. */
  [disposeSymbol](): void {
    if (!isArena(this)) throw invalidThis('Arena[Symbol.dispose]', this);
    if (!this.#destroyed) this.destroy();
  }

  /** util.inspect: the arena's shape and state. */
  [inspectSymbol](): string {
    if (!isArena(this)) return 'Arena <not an Arena>';
    if (this.#destroyed) return `Arena { align: ${this.align}, grow: ${this.grow}, destroyed }`;
    this.#settleMoved();
    return (
      `Arena { align: ${this.align}, grow: ${this.grow}, capacity: ${this.#capacity}, ` +
      `used: ${this.#usedElsewhere + this.#offset}, chunks: ${this.#chunks.length} }`
    );
  }

  /**
   * Finds chunks whose ArrayBuffer someone else detached: a web byte stream,
   * transfer() or a BYOB read took one allocation's ArrayBuffer, which is the
   * whole chunk's, so every other allocation from that chunk now reads length 0.
   * That memory belongs to the ArrayBuffer that took it until that one is
   * collected: the arena frees the chunk's Block (the memory stays until then)
   * and never hands it out again. A chunk the arena allocated itself is
   * replaced by a new Block of the same size; one from addMemory, or one that
   * cannot be replaced, leaves the arena.
   */
  #settleMoved(): void {
    const chunks = this.#chunks;
    for (let i = 0; i < chunks.length; i++) {
      if (chunks[i].moved) {
        this.#replaceMoved();
        return;
      }
    }
  }

  #replaceMoved(): void {
    this.#leave();
    const current = this.#current;
    let enter = current;
    for (const chunk of this.#chunks.slice()) {
      if (!chunk.moved) continue;
      chunk.release();
      const index = this.#chunks.indexOf(chunk);
      const replacement = chunk.fromCaller ? undefined : this.#replacement(chunk);
      if (replacement !== undefined) {
        this.#chunks[index] = replacement;
        if (chunk === current) enter = replacement;
      } else {
        this.#chunks.splice(index, 1);
        this.#capacity -= chunk.size;
        this.#lost += chunk.size;
        if (chunk === current) enter = this.#chunks[0];
      }
    }
    this.#enter(enter);
  }

  /**
   * Replaces each chunk used since the last reset whose views must all die now
   * with a fresh one of the same size, and frees it (its memory goes to the
   * quarantine, the debug one in debug mode):
   * - runtime memory (ManagedRegion.runtime): a view cannot be detached without
   *   its block, so keeping the block would let earlier allocations reach what
   *   the arena hands out next. Every such chunk, one from addMemory included
   *   (the arena owns it), is renewed; one that cannot be leaves the arena.
   * - debug mode (`debug`): each chunk of the arena's own, so freed memory goes
   *   to the debug quarantine; one without a replacement is reset as usual.
   */
  #renewChunks(debug: boolean): void {
    for (const chunk of this.#chunks.slice()) {
      if (usedIn(chunk) === 0 || !(chunk.runtime || (debug && !chunk.fromCaller))) continue;
      const replacement = this.#replacement(chunk);
      if (replacement !== undefined) {
        this.#chunks[this.#chunks.indexOf(chunk)] = replacement;
      } else if (chunk.runtime) {
        this.#chunks.splice(this.#chunks.indexOf(chunk), 1);
        this.#capacity -= chunk.size;
      } else {
        continue;
      }
      chunk.detachView();
      chunk.release();
    }
  }

  // A new chunk of the same size and alignment, or undefined when there is no memory for one.
  #replacement(chunk: Chunk): Chunk | undefined {
    let replacement: Chunk;
    try {
      replacement = new Chunk(Block.alloc(chunk.size, { align: chunk.block.align, zero: false }), false);
    } catch {
      return undefined;
    }
    if (replacement.wrapWhole() !== undefined) {
      replacement.release();
      return undefined;
    }
    return replacement;
  }

  #allocSlow(size: number, align: number): Buffer {
    this.#checkAlive('allocate from');
    this.#settleMoved();
    this.#leave();
    for (let round = 0; round < 2; round++) {
      for (const chunk of this.#chunks) {
        const start = chunk.offset + padding(chunk, chunk.offset, align);
        if (start + size <= chunk.limit) {
          this.#enter(chunk);
          this.#offset = start + size;
          return new ViewBuffer(chunk.arrayBuffer as ArrayBuffer, chunk.base + start, size);
        }
      }
      for (const chunk of this.#chunks) {
        const start = chunk.spare + padding(chunk, chunk.spare, align);
        if (start + size <= chunk.size) {
          chunk.taken += start + size - chunk.spare;
          chunk.spare = start + size;
          this.#enter(this.#current);
          return new ViewBuffer(chunk.arrayBuffer as ArrayBuffer, chunk.base + start, size);
        }
      }
      // No memory but what resets of this run hold: release it now, before growing.
      if (round === 1 || !this.#chunks.some((c) => c.held)) break;
      this.#releaseHeld();
      this.#leave();
    }
    if (!this.grow) {
      const lost = this.#lost === 0 ? '' : `; ${this.#lost} more bytes left the arena when their memory was ${MOVED_CAUSE}`;
      throw new AllocError(
        'ERR_NO_MEMORY',
        `arena has no room for ${size} bytes aligned to ${align} (capacity ${this.#capacity}, used ${this.#usedElsewhere + this.#offset}${lost})`,
      );
    }
    // A chunk aligned to at least `align`, so the allocation starts it. One
    // larger than the next chunk gets a chunk of its own, which leaves the
    // doubling sequence and the current chunk as they are.
    const dedicated = size > this.#nextChunk;
    const block = Block.alloc(dedicated ? size : this.#nextChunk, { align: Math.max(this.align, align), zero: false });
    const chunk = this.#addChunk(new Chunk(block, false));
    chunk.offset = size;
    if (!dedicated) this.#nextChunk = Math.min(MAX_SIZE, this.#nextChunk * 2);
    this.#enter(dedicated ? this.#current : chunk);
    return new ViewBuffer(chunk.arrayBuffer as ArrayBuffer, chunk.base, size);
  }

  // On failure a Block from addMemory goes back to its caller.
  #addChunk(chunk: Chunk): Chunk {
    const status = chunk.wrapWhole();
    if (status !== undefined) {
      chunk.giveUp();
      throw wrapError('Arena', status, 0, chunk.size);
    }
    this.#chunks.push(chunk);
    this.#capacity += chunk.size;
    return chunk;
  }

  // Writes the current chunk's bump offset back before the arena looks at all chunks.
  #leave(): void {
    if (this.#current !== undefined) this.#current.offset = this.#offset;
  }

  // Makes chunk the current one (the arena's chunks' offsets are up to date).
  #enter(chunk: Chunk | undefined): void {
    let elsewhere = 0;
    for (const other of this.#chunks) elsewhere += usedIn(other);
    // used = #usedElsewhere + #offset, with #offset the only field the inline path moves.
    this.#usedElsewhere = chunk === undefined ? elsewhere : elsewhere - chunk.offset;
    this.#current = chunk;
    this.#arrayBuffer = chunk === undefined ? NO_CHUNK_BUFFER : (chunk.arrayBuffer as ArrayBuffer);
    this.#low = chunk === undefined ? 0 : chunk.low;
    this.#base = chunk === undefined ? 0 : chunk.base;
    this.#offset = chunk === undefined ? 0 : chunk.offset;
    this.#limit = chunk === undefined ? 0 : chunk.limit;
  }

  /**
   * Ends the holding of every chunk reset in this run (at the end of the run, or
   * earlier when nothing else fits): the bump range becomes the largest free gap
   * below what was allocated since the reset, the spare range what lies past it;
   * a chunk with nothing allocated since starts over at 0.
   */
  #releaseHeld(): void {
    this.#leave();
    for (const chunk of this.#chunks) {
      if (!chunk.held) continue;
      chunk.held = false;
      const bumped = chunk.offset > chunk.heldOffset;
      const spared = chunk.spare > chunk.heldSpare;
      chunk.taken = usedIn(chunk);
      if (!bumped && !spared) {
        chunk.spare = chunk.limit = chunk.size;
      } else if (!spared) {
        // [heldOffset, offset) is live: [0, heldOffset) to bump, the rest of the chunk spare.
        chunk.limit = chunk.heldOffset;
        chunk.spare = chunk.offset;
      } else if (!bumped) {
        chunk.limit = chunk.heldSpare;
      } else {
        // Live at [heldOffset, offset) and [heldSpare, spare), in that order: the larger gap below.
        if (chunk.heldSpare - chunk.offset > chunk.heldOffset) {
          chunk.start = chunk.offset;
          chunk.limit = chunk.heldSpare;
          continue;
        }
        chunk.limit = chunk.heldOffset;
      }
      chunk.offset = chunk.start = 0;
    }
    this.#enter(this.#current);
  }

  #checkAlive(action: string): void {
    if (this.#destroyed) throw new AllocError('ERR_NOT_ALLOCATED', `cannot ${action} an arena that is destroyed`);
  }
}

// Bytes taken from a chunk since its last reset, padding included (its offset written back).
function usedIn(chunk: Chunk): number {
  return chunk.taken + chunk.offset - chunk.start;
}

// Bytes from chunk offset `offset` up to the next address that is a multiple of align.
function padding(chunk: Chunk, offset: number, align: number): number {
  if (align <= SMALL_ALIGN) return -(chunk.low + offset) & (align - 1);
  return (align - ((chunk.address + offset) % align)) % align;
}
