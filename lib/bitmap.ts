// A bitmap searched a 32-bit word at a time, for PageAllocator and IdAllocator.
// Bit i is word i >> 5, bit i & 31; a set bit is taken. Indices stay below 2^31.

/** Bits lo .. hi - 1 of a word, 0 <= lo < hi <= 32, as an int32 mask. */
function mask(lo: number, hi: number): number {
  return (-1 << lo) & (-1 >>> (32 - hi));
}

/** Index of the lowest set bit of a non-zero int32. */
function lowest(bits: number): number {
  return 31 - Math.clz32(bits & -bits);
}

export class Bitmap {
  readonly words: Int32Array;

  constructor(readonly bits: number) {
    this.words = new Int32Array(Math.ceil(bits / 32));
  }

  test(index: number): boolean {
    return (this.words[index >> 5] & (1 << (index & 31))) !== 0;
  }

  /** Sets bits [start, end). */
  set(start: number, end: number): void {
    this.#apply(start, end, true);
  }

  /** Clears bits [start, end). */
  clear(start: number, end: number): void {
    this.#apply(start, end, false);
  }

  /** The first set bit in [start, end), or -1. */
  firstSet(start: number, end: number): number {
    return this.#first(start, end, 0);
  }

  /** The first clear bit in [start, end), or -1. */
  firstClear(start: number, end: number): number {
    return this.#first(start, end, -1);
  }

  /** Whether every bit in [start, end) is set. */
  allSet(start: number, end: number): boolean {
    return this.#first(start, end, -1) < 0;
  }

  /**
   * The lowest index p in [start, end - count] with p = phase (mod align) whose
   * bits [p, p + count) are all clear; -1 when there is none. align is a power
   * of two; the scan skips a whole word of taken bits at a time.
   */
  findClear(count: number, align: number, phase: number, start: number, end: number): number {
    const m = align - 1;
    let p = start + ((phase - start) & m);
    while (p + count <= end) {
      const taken = this.#first(p, p + count, 0);
      if (taken < 0) return p;
      const free = this.#first(taken + 1, end, -1);
      if (free < 0) return -1;
      p = free + ((phase - free) & m);
    }
    return -1;
  }

  // invert 0: looks for a set bit; -1: for a clear one.
  #first(start: number, end: number, invert: number): number {
    if (start >= end) return -1;
    const words = this.words;
    const last = (end - 1) >> 5;
    let w = start >> 5;
    let bits = (words[w] ^ invert) & (-1 << (start & 31));
    for (;;) {
      if (w === last) bits &= -1 >>> (31 - ((end - 1) & 31));
      if (bits !== 0) return (w << 5) + lowest(bits);
      if (w === last) return -1;
      bits = words[++w] ^ invert;
    }
  }

  #apply(start: number, end: number, value: boolean): void {
    const words = this.words;
    let w = start >> 5;
    const last = (end - 1) >> 5;
    for (let lo = start & 31; w <= last; w++, lo = 0) {
      const hi = w === last ? ((end - 1) & 31) + 1 : 32;
      const bits = mask(lo, hi);
      words[w] = value ? words[w] | bits : words[w] & ~bits;
    }
  }
}
