import { Bitmap } from './bitmap';
import { Block, disposeSymbol, isBlock } from './block';
import { AllocError, invalidParam } from './errors';
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
import { allocationOf, tag, taggedBuffer } from './tagged-buffer';
import { checkAlign, checkSize, MAX_SIZE } from './validate';

const TaggedBuffer = taggedBuffer;

/** The most pages one PageAllocator manages: page numbers stay int32. */
export const MAX_PAGES = 2 ** 31 - 1;

export interface PageAllocatorOptions {
  /** Pages in the first region, which the allocator allocates as one Block aligned to the page size. */
  pages: number;
  /** Bytes per page: a power of two from 16 to 2^30; default the OS page size. */
  pageSize?: number;
  /**
   * Give each run of pages a Buffer of its own and detach it on freePages, so
   * that a Buffer kept after free reads length 0 (one native call and external
   * buffer per allocation). Default false: runs are views over the region's one
   * ArrayBuffer, and a stale Buffer still reaches the pages.
   */
  checked?: boolean;
}

// Fast mode: with its view, whose ArrayBuffer every run's Buffer shares.
class PageRegion extends ManagedRegion {
  /** Byte offset in the block of its first whole page. */
  readonly lead: number;
  /** Number of the region's first page among all the allocator's pages. */
  readonly firstPage: number;
  readonly count: number;
  /** The page number of the region's first page counted from address 0: alignment by address. */
  readonly addressPage: number;

  constructor(block: Block, fromCaller: boolean, pageSize: number, firstPage: number) {
    super('PageAllocator', block, fromCaller);
    this.lead = padTo(this.address, pageSize);
    this.count = Math.floor((this.size - this.lead) / pageSize);
    this.firstPage = firstPage;
    this.addressPage = (this.address + this.lead) / pageSize;
  }
}

/**
 * Pages of one fixed size over page-aligned memory, a bit per page, searched a
 * 32-bit word at a time (lowest address first). Pages are numbered from 0 across
 * the first region and every one added with addMemory, in that order; a run
 * never spans two regions.
 */
export class PageAllocator {
  readonly pageSize: number;
  readonly checked: boolean;
  #regions: PageRegion[] = [];
  #map = new Bitmap(0);
  // Pages numbered so far (every region), and pages the allocator holds (less retired ones).
  #numbered = 0;
  #total = 0;
  #used = 0;
  #destroyed = false;
  // The Buffer of each live run, by first page; its length in pages.
  #live: (Buffer | undefined)[] = [];
  #length = new Int32Array(0);
  // Checked mode: runs freed in this synchronous run (by first page), still
  // taken in #map and marked in #heldMap until the run ends (#endRun, a
  // microtask queued at the run's first free) or until nothing else fits.
  #held: number[] = [];
  #heldMap = new Bitmap(0);
  #armed = false;
  #endRun = (): void => {
    this.#armed = false;
    this.#releaseHeld(0, this.#numbered);
  };

  constructor(options: PageAllocatorOptions) {
    if (typeof options !== 'object' || options === null) throw invalidParam('options', 'an object', options);
    this.pageSize = options.pageSize === undefined ? native.pageSize : checkAlign('options.pageSize', options.pageSize, 2 ** 30);
    if (this.pageSize < 16) throw invalidParam('options.pageSize', 'a power of two from 16 to 1073741824', options.pageSize);
    if (options.checked !== undefined && typeof options.checked !== 'boolean') {
      throw invalidParam('options.checked', 'a boolean', options.checked);
    }
    this.checked = options.checked ?? false;
    if (this.checked) refuseCheckedOnRuntime('PageAllocator');
    const pages = checkSize('options.pages', options.pages, Math.min(MAX_PAGES, Math.floor(MAX_SIZE / this.pageSize)));
    const block = Block.alloc(pages * this.pageSize, { align: Math.max(this.pageSize, native.pageSize), zero: false });
    this.#addRegion(new PageRegion(block, false, this.pageSize, this.#numbered));
  }

  /**
   * `count` contiguous free pages whose first address is a multiple of
   * `align` pages (a power of two), as one Buffer of count * pageSize bytes.
   * ERR_NO_MEMORY when no region has such a run.
   */
  allocPages(count: number, align: number = 1): Buffer {
    this.#checkAlive('allocate from');
    checkSize('count', count, MAX_PAGES);
    checkAlign('align', align, 2 ** 30);
    for (let round = 0; round < 2; round++) {
      for (const region of this.#regions) {
        if (region.count < count || region.retired) continue;
        const phase = ((region.firstPage - (region.addressPage % align)) % align + align) % align;
        const first = this.#map.findClear(count, align, phase, region.firstPage, region.firstPage + region.count);
        if (first >= 0) {
          const buf = this.#take(region, first, count);
          if (buf !== undefined) return buf;
          return this.allocPages(count, align);
        }
      }
      // Nothing else fits: the runs freed in this synchronous run come back now.
      if (this.#held.length === 0) break;
      this.#releaseHeld(0, this.#numbered);
    }
    throw new AllocError(
      'ERR_NO_MEMORY',
      `no ${count} contiguous free pages aligned to ${align} pages (${this.availablePages} of ${this.#total} pages free)`,
    );
  }

  /**
   * Pages [index, index + count) as one Buffer. ERR_INVALID_PARAM when they are
   * not all in one region, ERR_NO_MEMORY when any of them is taken.
   */
  allocPagesAt(index: number, count: number): Buffer {
    this.#checkAlive('allocate from');
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= this.#numbered) {
      throw invalidParam('index', `an integer from 0 to ${this.#numbered - 1}`, index);
    }
    const region = this.#regionOf(index);
    const room = region.firstPage + region.count - index;
    checkSize('count', count, room);
    // These very pages were asked for: those freed in this run come back now.
    if (this.#held.length !== 0) this.#releaseHeld(index, index + count);
    const taken = this.#map.firstSet(index, index + count);
    if (taken >= 0) {
      throw new AllocError('ERR_NO_MEMORY', `page ${taken} of pages [${index}, ${index + count}) is already allocated`);
    }
    const buf = this.#take(region, index, count);
    if (buf === undefined) {
      throw new AllocError('ERR_NO_MEMORY', `pages [${index}, ${index + count}) are in a block its owner freed`);
    }
    return buf;
  }

  /**
   * Frees a run: exactly a Buffer allocPages or allocPagesAt returned.
   * ERR_NOT_ALLOCATED for a run freed already, part of one, a copy, or a Buffer
   * from elsewhere; ERR_INVALID_PARAM for what is not a Buffer or typed array.
   */
  freePages(buf: Uint8Array): void {
    const first = allocationOf(buf);
    if (first < 0 || this.#live[first] !== buf) {
      if (!ArrayBuffer.isView(buf)) throw invalidParam('buf', 'a Buffer from this page allocator', buf);
      throw new AllocError(
        'ERR_NOT_ALLOCATED',
        this.#destroyed
          ? 'cannot free into a page allocator that is destroyed'
          : `buf (${buf.byteLength} bytes) is not a run of pages this allocator has allocated: already freed, part of a run, or from elsewhere`,
      );
    }
    const count = this.#length[first];
    if (this.checked && !detachChecked(buf)) throw heldByRuntime('PageAllocator.freePages', buf.byteLength);
    this.#live[first] = undefined;
    this.#used -= count;
    if (this.checked) {
      // A retired region's pages stay taken and leave the allocator.
      if (this.#regionOf(first).retired) {
        this.#total -= count;
        return;
      }
      this.#held.push(first);
      this.#heldMap.set(first, first + count);
      if (!this.#armed) {
        this.#armed = true;
        queueMicrotask(this.#endRun);
      }
      return;
    }
    this.#map.clear(first, first + count);
  }

  // Frees the held runs that meet pages [start, end).
  #releaseHeld(start: number, end: number): void {
    let kept = 0;
    for (const first of this.#held) {
      const count = this.#length[first];
      if (first >= end || first + count <= start) {
        this.#held[kept++] = first;
        continue;
      }
      this.#heldMap.clear(first, first + count);
      // A run of a region retired meanwhile leaves the allocator with its pages.
      if (this.#regionOf(first).retired) this.#total -= count;
      else this.#map.clear(first, first + count);
    }
    this.#held.length = kept;
  }

  /**
   * Hands the allocator more memory: the whole pages of `block` (by address)
   * are numbered after every page before them. It owns the block from now on
   * and frees it at destroy: do not free or use it yourself.
   */
  addMemory(block: Block): void {
    this.#checkAlive('add memory to');
    if (this.checked && isBlock(block)) refuseCheckedOnRuntime('PageAllocator', block);
    const region = new PageRegion(adoptable('PageAllocator', 'this page allocator', block, this.#regions), true, this.pageSize, this.#numbered);
    if (region.count < 1) {
      region.disown();
      throw new AllocError(
        'ERR_INVALID_PARAM',
        `block must hold one whole page of ${this.pageSize} bytes; got ${region.size} bytes at ${hex(region.address)}`,
      );
    }
    this.#addRegion(region);
  }

  /** Pages in every region (less those of a block its owner freed, in checked mode). */
  get totalPages(): number {
    return this.#total;
  }

  get usedPages(): number {
    return this.#used;
  }

  /** totalPages - usedPages. */
  get availablePages(): number {
    return this.#total - this.#used;
  }

  /** Whether page `index` is allocated. */
  isAllocated(index: number): boolean {
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= this.#numbered) {
      throw invalidParam('index', `an integer from 0 to ${this.#numbered - 1}`, index);
    }
    return this.#map.test(index) && (this.#held.length === 0 || !this.#heldMap.test(index));
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** The address range of every block the allocator takes pages from. */
  regions(): MemoryRegion[] {
    return this.#regions.map((region) => region.describe());
  }

  /** Frees every region: each run's Buffer reads length 0. ERR_NOT_ALLOCATED when already destroyed. */
  destroy(): void {
    this.#checkAlive('destroy');
    this.#destroyed = true;
    releaseAll(this.#regions, this.#live, this.checked);
    this.#regions = [];
    this.#live = [];
    this.#held = [];
    this.#heldMap = new Bitmap(0);
    this.#map = new Bitmap(0);
    this.#total = 0;
    this.#numbered = 0;
    this.#used = 0;
  }

  [disposeSymbol](): void {
    if (!this.#destroyed) this.destroy();
  }

  // The run's Buffer; undefined when the region had to be retired (checked mode).
  #take(region: PageRegion, first: number, count: number): Buffer | undefined {
    const offset = region.lead + (first - region.firstPage) * this.pageSize;
    const length = count * this.pageSize;
    let buf: Buffer;
    if (this.checked) {
      const view = region.wrap(offset, length);
      if (typeof view === 'number') {
        if (view !== native.status.notAllocated || !region.block.freed) throw wrapError('PageAllocator', view, offset, length);
        this.#retire(region);
        return undefined;
      }
      buf = tag(view, first);
    } else {
      buf = new TaggedBuffer(region.arrayBuffer as ArrayBuffer, region.base + offset, length, first);
    }
    this.#map.set(first, first + count);
    this.#used += count;
    this.#live[first] = buf;
    this.#length[first] = count;
    return buf;
  }

  // Checked mode: the caller of addMemory freed the region's Block. Its free
  // pages are marked taken and leave the allocator now, its live runs when freed.
  #retire(region: PageRegion): void {
    region.retired = true;
    const end = region.firstPage + region.count;
    for (let p = region.firstPage; p < end; p++) {
      if (this.#map.test(p)) continue;
      this.#map.set(p, p + 1);
      this.#total--;
    }
  }

  // On failure a Block from addMemory goes back to its caller.
  #addRegion(region: PageRegion): void {
    const count = region.count;
    if (this.#numbered + count > MAX_PAGES) {
      region.giveUp();
      throw invalidParam('block', `at most ${MAX_PAGES - this.#numbered} more pages`, count);
    }
    if (!this.checked) {
      const status = region.wrapWhole();
      if (status !== undefined) {
        region.giveUp();
        throw wrapError('PageAllocator', status, 0, region.size);
      }
    }
    const numbered = this.#numbered + count;
    const map = new Bitmap(numbered);
    map.words.set(this.#map.words);
    const heldMap = new Bitmap(numbered);
    heldMap.words.set(this.#heldMap.words);
    const length = new Int32Array(numbered);
    length.set(this.#length);
    this.#regions.push(region);
    this.#map = map;
    this.#heldMap = heldMap;
    this.#length = length;
    this.#numbered = numbered;
    this.#total += count;
  }

  #regionOf(page: number): PageRegion {
    const regions = this.#regions;
    let lo = 0;
    let hi = regions.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (regions[mid].firstPage <= page) lo = mid;
      else hi = mid - 1;
    }
    return regions[lo];
  }

  #checkAlive(action: string): void {
    if (this.#destroyed) throw new AllocError('ERR_NOT_ALLOCATED', `cannot ${action} a page allocator that is destroyed`);
  }
}

// Bytes from address up to the next multiple of align (exact: address < 2^53).
function padTo(address: number, align: number): number {
  return (align - (address % align)) % align;
}
