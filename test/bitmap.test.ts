// The bitmap under IdAllocator and PageAllocator, against a plain array: every
// query over every [start, end) of small maps whose sizes sit on both sides of
// the 32-bit word boundaries, after seeded random set/clear runs. The word
// arithmetic (masks of the first and last word, the lowest set bit) is where a
// slip hides; exhaustive ranges leave it nowhere to hide.
import { Bitmap } from '../dist/bitmap';
import { Rng, withSeed } from './family-helpers';

class Model {
  readonly bits: Uint8Array;
  constructor(size: number) {
    this.bits = new Uint8Array(size);
  }
  fill(start: number, end: number, value: number): void {
    this.bits.fill(value, start, end);
  }
  first(start: number, end: number, value: number): number {
    for (let i = start; i < end; i++) if (this.bits[i] === value) return i;
    return -1;
  }
  findClear(count: number, align: number, phase: number, start: number, end: number): number {
    for (let p = start; p + count <= end; p++) {
      if (((p - phase) & (align - 1)) !== 0) continue;
      if (this.first(p, p + count, 1) < 0) return p;
    }
    return -1;
  }
}

function check(map: Bitmap, model: Model, size: number): void {
  for (let i = 0; i < size; i++) {
    if (map.test(i) !== (model.bits[i] === 1)) throw new Error(`test(${i})`);
  }
  for (let start = 0; start <= size; start++) {
    for (let end = start; end <= size; end++) {
      const set = map.firstSet(start, end);
      const clear = map.firstClear(start, end);
      const all = map.allSet(start, end);
      if (set !== model.first(start, end, 1)) throw new Error(`firstSet(${start}, ${end}) = ${set}, expected ${model.first(start, end, 1)}`);
      if (clear !== model.first(start, end, 0)) throw new Error(`firstClear(${start}, ${end}) = ${clear}, expected ${model.first(start, end, 0)}`);
      if (all !== (model.first(start, end, 0) < 0)) throw new Error(`allSet(${start}, ${end}) = ${all}`);
    }
  }
}

const SIZES = [1, 2, 31, 32, 33, 63, 64, 65, 97];

describe('Bitmap against an array', () => {
  test.each(SIZES)('%d bits: set, clear and every query over every range', (size) => {
    withSeed(`Bitmap ${size}`, (rng: Rng) => {
      const map = new Bitmap(size);
      const model = new Model(size);
      expect(map.words.length).toBe(Math.ceil(size / 32));
      check(map, model, size);
      for (let round = 0; round < 12; round++) {
        const start = rng.int(0, size - 1);
        const end = rng.int(start + 1, size);
        const value = round % 3 === 2 ? 0 : 1;
        if (value) map.set(start, end);
        else map.clear(start, end);
        model.fill(start, end, value);
        check(map, model, size);
      }
    });
  });

  test('set and clear touch exactly [start, end), across and inside words', () => {
    for (const [start, end] of [[0, 1], [31, 32], [31, 33], [32, 64], [1, 96], [33, 65], [0, 97], [64, 65], [96, 97]]) {
      const map = new Bitmap(97);
      const model = new Model(97);
      map.set(start, end);
      model.fill(start, end, 1);
      for (let i = 0; i < 97; i++) expect([i, map.test(i)]).toEqual([i, model.bits[i] === 1]);
      map.set(0, 97);
      map.clear(start, end);
      model.fill(0, 97, 1);
      model.fill(start, end, 0);
      for (let i = 0; i < 97; i++) expect([i, map.test(i)]).toEqual([i, model.bits[i] === 1]);
    }
  });

  test('findClear: the lowest fit of count bits at phase modulo align', () => {
    withSeed('Bitmap findClear', (rng: Rng) => {
      const size = 130;
      for (let round = 0; round < 40; round++) {
        const map = new Bitmap(size);
        const model = new Model(size);
        for (let k = rng.int(0, 8); k > 0; k--) {
          const start = rng.int(0, size - 1);
          const end = Math.min(size, start + rng.int(1, 40));
          map.set(start, end);
          model.fill(start, end, 1);
        }
        for (const align of [1, 2, 4, 32, 64]) {
          for (const count of [1, 2, 3, 31, 32, 33, 70]) {
            const phase = rng.int(0, align - 1);
            const start = rng.int(0, 40);
            const end = rng.int(start, size);
            const got = map.findClear(count, align, phase, start, end);
            const want = model.findClear(count, align, phase, start, end);
            if (got !== want) throw new Error(`findClear(${count}, ${align}, ${phase}, ${start}, ${end}) = ${got}, expected ${want}`);
          }
        }
      }
    });
  });

  test('findClear at the exact end: a fit that ends at `end` is found, one past it is not', () => {
    const map = new Bitmap(64);
    map.set(0, 60);
    expect(map.findClear(4, 1, 0, 0, 64)).toBe(60);
    expect(map.findClear(5, 1, 0, 0, 64)).toBe(-1);
    expect(map.findClear(4, 4, 0, 0, 64)).toBe(60);
    expect(map.findClear(2, 4, 2, 0, 64)).toBe(62);
    expect(map.findClear(1, 1, 0, 0, 60)).toBe(-1);
    expect(map.findClear(1, 1, 0, 61, 64)).toBe(61);
  });

  test('the top bit of a word is a bit like the others', () => {
    const map = new Bitmap(64);
    map.set(31, 32);
    expect([map.firstSet(0, 64), map.test(31), map.test(30), map.test(32)]).toEqual([31, true, false, false]);
    map.set(63, 64);
    expect(map.firstSet(32, 64)).toBe(63);
    map.set(0, 64);
    map.clear(31, 32);
    expect(map.firstClear(0, 64)).toBe(31);
  });
});
