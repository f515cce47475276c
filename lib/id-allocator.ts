import { Bitmap } from './bitmap';
import { AllocError, invalidParam } from './errors';
import { checkAlign, checkSize } from './validate';

/** The most ids an IdAllocator holds: indices stay int32. */
export const MAX_IDS = 2 ** 31;

export interface IdAllocatorOptions {
  /** How many ids, 0 .. size - 1: from 1 to 2^31. */
  size: number;
}

/**
 * Integer ids from 0 to size - 1, each allocated and freed on its own or in
 * contiguous aligned ranges: a bitmap in JavaScript, searched a 32-bit word at
 * a time, lowest id first. No native memory.
 */
export class IdAllocator {
  readonly size: number;
  #map: Bitmap;
  #used = 0;
  // Every id below it is allocated: where single-id searches start.
  #low = 0;

  constructor(options: IdAllocatorOptions) {
    if (typeof options !== 'object' || options === null) throw invalidParam('options', 'an object', options);
    this.size = checkSize('options.size', options.size, MAX_IDS);
    this.#map = new Bitmap(this.size);
  }

  /**
   * The first of `count` contiguous free ids, starting at a multiple of
   * `align` (a power of two), now allocated: the lowest such range.
   * ERR_NO_MEMORY when there is none.
   */
  allocId(count: number = 1, align: number = 1): number {
    if (count !== 1 || align !== 1) {
      checkSize('count', count, this.size);
      checkAlign('align', align, MAX_IDS);
    }
    const first = this.#map.findClear(count, align, 0, count === 1 && align === 1 ? this.#low : 0, this.size);
    if (first < 0) {
      throw new AllocError(
        'ERR_NO_MEMORY',
        `no ${count} contiguous free ids aligned to ${align} (size ${this.size}, used ${this.#used})`,
      );
    }
    this.#map.set(first, first + count);
    this.#used += count;
    if (count === 1 && align === 1) this.#low = first + 1;
    return first;
  }

  /** Allocates this very id. ERR_NO_MEMORY when it is already allocated. */
  allocFixedId(id: number): void {
    this.#checkId('id', id);
    if (this.#map.test(id)) throw new AllocError('ERR_NO_MEMORY', `id ${id} is already allocated`);
    this.#map.set(id, id + 1);
    this.#used++;
  }

  /**
   * Frees ids [id, id + count). ERR_NOT_ALLOCATED, and nothing changes, when any
   * of them is not allocated.
   */
  freeId(id: number, count: number = 1): void {
    this.#checkId('id', id);
    checkSize('count', count, this.size - id);
    const map = this.#map;
    if (!map.allSet(id, id + count)) {
      const free = map.firstClear(id, id + count);
      throw new AllocError('ERR_NOT_ALLOCATED', `id ${free} is not allocated (freeing ${count} from ${id})`);
    }
    map.clear(id, id + count);
    this.#used -= count;
    if (id < this.#low) this.#low = id;
  }

  isAllocated(id: number): boolean {
    this.#checkId('id', id);
    return this.#map.test(id);
  }

  /** Ids allocated. */
  get used(): number {
    return this.#used;
  }

  /** Ids free: size - used. */
  get available(): number {
    return this.size - this.#used;
  }

  #checkId(name: string, id: unknown): void {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= this.size) {
      throw invalidParam(name, `an integer from 0 to ${this.size - 1}`, id);
    }
  }
}
