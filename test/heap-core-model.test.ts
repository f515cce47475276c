// The two strategies behind Heap (lib/heap-core.ts) driven directly over
// address ranges (no memory is touched, so regions may sit anywhere below 2^53
// and be of any size), each step checked against a model of the free space:
// every allocation is aligned, inside a live region, overlaps no other and
// takes exactly the bytes its strategy promises (TLSF: the size rounded up to
// 16; buddy: the smallest power of two >= size, align and 16); `used` is the sum
// of them; alloc fails only when the model agrees nothing fits (TLSF: no free
// stretch of size + align - 16; buddy: no free aligned block of the order);
// retire() returns the region's free bytes; largestHint is the largest free
// block (buddy) or one within its size class (TLSF). Fixed seeds: the same
// sequences every run.
import { Buddy, HeapCore, Tlsf } from '../dist/heap-core';
import { Rng } from './family-helpers';

type Strategy = 'tlsf' | 'buddy';

interface Region {
  start: number;
  end: number;
  retired: boolean;
}
interface Live {
  region: number;
  at: number;
  size: number;
}

const ceil16 = (n: number) => Math.ceil(n / 16) * 16;
const ceilPow2 = (n: number) => {
  let p = 1;
  while (p < n) p *= 2;
  return p;
};

class Checked {
  readonly core: HeapCore;
  regions: Region[] = [];
  live = new Map<number, Live>();
  base: number[] = [];
  fails = 0;

  constructor(readonly strategy: Strategy) {
    this.core = strategy === 'tlsf' ? new Tlsf() : new Buddy();
  }

  extent(size: number, align: number): number {
    return this.strategy === 'tlsf' ? ceil16(size) : Math.max(16, ceilPow2(size), align);
  }

  addRange(address: number, offset: number, size: number): number {
    const region = this.regions.length;
    this.core.addRange(region, address, offset, size);
    this.regions.push({ start: address + offset, end: address + offset + size, retired: false });
    this.base.push(address);
    this.check();
    return region;
  }

  /** Free stretches of the live regions, [start, end), by region. */
  freeSpace(): [number, number, number][] {
    const out: [number, number, number][] = [];
    this.regions.forEach((r, region) => {
      if (r.retired) return;
      const taken = [...this.live.values()].filter((l) => l.region === region).sort((a, b) => a.at - b.at);
      let at = r.start;
      for (const l of taken) {
        if (l.at > at) out.push([region, at, l.at]);
        at = l.at + l.size;
      }
      if (r.end > at) out.push([region, at, r.end]);
    });
    return out;
  }

  /** The largest free block of order >= minOrder a buddy heap could hand out, 0 if none. */
  largestBuddy(minOrder = 4): number {
    let best = 0;
    for (const [, a, b] of this.freeSpace()) {
      for (let k = 52; k >= minOrder; k--) {
        const p = 2 ** k;
        if (p <= best) break;
        const m = Math.ceil(a / p) * p;
        if (m + p <= b) {
          best = p;
          break;
        }
      }
    }
    return best;
  }

  alloc(size: number, align: number): number {
    const before = this.freeSpace();
    const id = this.core.alloc(size, align);
    const extent = this.extent(size, align);
    if (this.strategy === 'tlsf') {
      const search = align <= 16 ? ceil16(size) : ceil16(size) + align - 16;
      const fits = before.some(([, a, b]) => b - a >= search);
      if (fits) expect(id).toBeGreaterThanOrEqual(0);
    } else {
      const fits = extent <= 2 ** 52 && before.some(([, a, b]) => Math.ceil(a / extent) * extent + extent <= b);
      expect(id >= 0).toBe(fits);
    }
    if (id < 0) {
      this.fails++;
      this.check();
      return id;
    }
    expect(this.live.has(id)).toBe(false);
    const region = this.core.region[id];
    const at = this.base[region] + this.core.offset[id];
    expect(this.core.size[id]).toBe(extent);
    expect(at % align).toBe(0);
    expect(at % 16).toBe(0);
    // Inside one free stretch of a live region.
    expect(before.some(([r, a, b]) => r === region && a <= at && at + extent <= b)).toBe(true);
    this.live.set(id, { region, at, size: extent });
    this.check();
    return id;
  }

  free(id: number): void {
    this.core.free(id);
    this.live.delete(id);
    this.check();
  }

  retire(region: number): void {
    const free = this.freeSpace().filter(([r]) => r === region).reduce((sum, [, a, b]) => sum + b - a, 0);
    expect(this.core.retire(region)).toBe(free);
    this.regions[region].retired = true;
    this.check();
  }

  check(): void {
    let used = 0;
    for (const l of this.live.values()) used += l.size;
    expect(this.core.used).toBe(used);
    const space = this.freeSpace();
    const hint = this.core.largestHint;
    if (this.strategy === 'buddy') {
      expect(hint).toBe(this.largestBuddy());
    } else if (space.length === 0) {
      expect(hint).toBe(0);
    } else {
      const sizes = space.map(([, a, b]) => b - a);
      const max = Math.max(...sizes);
      expect(sizes).toContain(hint);
      // The head of the largest non-empty class: within 1/32 of the largest, exact below 512 bytes.
      if (max < 512) expect(hint).toBe(max);
      else expect(max - hint).toBeLessThan(max / 32);
    }
  }
}

function randomRun(strategy: Strategy, seed: number, ops: number): Checked {
  const rng = new Rng(seed);
  const h = new Checked(strategy);
  const ids: number[] = [];
  const addRegion = () => {
    const address = 2 ** 32 + rng.int(0, 1 << 16) * 16;
    const offset = rng.pick([0, 16, 48, 4096]);
    h.addRange(address, offset, rng.int(1, 1 << 12) * 16);
  };
  addRegion();
  for (let op = 0; op < ops; op++) {
    const r = rng.next();
    if (r < 0.5 || ids.length === 0) {
      const size = rng.chance(0.7) ? rng.int(1, 600) : rng.int(1, 1 << 15);
      const align = rng.chance(0.6) ? 1 : rng.pow2(12);
      const id = h.alloc(size, align);
      if (id >= 0) ids.push(id);
    } else if (r < 0.97) {
      const i = rng.int(0, ids.length - 1);
      h.free(ids[i]);
      ids[i] = ids[ids.length - 1];
      ids.pop();
    } else if (r < 0.995 || h.regions.length < 2) {
      addRegion();
    } else {
      const live = h.regions.map((x, i) => (x.retired ? -1 : i)).filter((i) => i >= 0);
      if (live.length > 1) h.retire(rng.pick(live));
    }
  }
  for (const id of ids) h.free(id);
  return h;
}

describe.each<Strategy>(['tlsf', 'buddy'])('%s', (strategy) => {
  test.each([1, 2, 3])('random operations against the model, seed %d', (seed) => {
    const h = randomRun(strategy, seed * 7919, 700);
    expect(h.live.size).toBe(0);
    expect(h.core.used).toBe(0);
  });

  test('everything freed: each live region is one free block again', () => {
    const h = new Checked(strategy);
    h.addRange(2 ** 32, 0, 1 << 16);
    h.addRange(2 ** 33 + 4096, 16, 3 << 12);
    const ids: number[] = [];
    for (let i = 0; i < 200; i++) {
      const id = h.alloc(16 + (i % 7) * 48, i % 5 === 0 ? 256 : 16);
      if (id >= 0) ids.push(id);
    }
    expect(ids.length).toBeGreaterThan(64); // past the first size of the record tables
    for (let i = 0; i < ids.length; i += 2) h.free(ids[i]);
    for (let i = 1; i < ids.length; i += 2) h.free(ids[i]);
    const whole = h.alloc(1 << 16, strategy === 'buddy' ? 1 << 16 : 16);
    expect(whole).toBeGreaterThanOrEqual(0);
    expect(h.core.offset[whole]).toBe(0);
  });

  test('a retired region hands out nothing more; its allocations leave with their bytes', () => {
    const h = new Checked(strategy);
    const a = h.addRange(2 ** 32, 0, 1 << 14);
    const kept = h.alloc(1000, 16);
    const other = h.alloc(5000, 64);
    h.retire(a);
    expect(h.alloc(16, 16)).toBe(-1);
    h.free(kept);
    expect(h.alloc(16, 16)).toBe(-1);
    h.addRange(2 ** 34, 0, 1 << 14);
    const next = h.alloc(1000, 16);
    expect(h.core.region[next]).toBe(1);
    h.free(other);
    h.free(next);
    expect(h.core.used).toBe(0);
  });
});

describe('tlsf: sizes, alignments and addresses past 2^31', () => {
  test('a region of 2^36 bytes: sizes from 2^31 - 16 to 2^32, alignments up to 2^33', () => {
    const h = new Checked('tlsf');
    h.addRange(2 ** 40 + 2 ** 30 + 48, 16, 2 ** 36);
    const ids: number[] = [];
    for (const [size, align] of [
      [0x7ffffff0, 16],
      [0x7ffffff1, 16],
      [2 ** 31, 1],
      [2 ** 31 + 5, 2 ** 31],
      [3 * 2 ** 30 + 1, 2 ** 30],
      [2 ** 30 + 16, 2 ** 31 * 2],
      [100, 2 ** 33],
      [2 ** 32 + 17, 64],
    ]) {
      ids.push(h.alloc(size, align));
    }
    expect(ids.filter((id) => id < 0)).toEqual([]);
    for (const id of ids.reverse()) h.free(id);
    expect(h.alloc(2 ** 36, 16)).toBeGreaterThanOrEqual(0);
  });

  test('a stretch one granule short of size + align - 16 fails only if its start is badly placed', () => {
    for (const misalign of [0, 16, 48, 4080]) {
      const h = new Checked('tlsf');
      // One free stretch of 8192 bytes whose start is `misalign` past a multiple of 4096.
      h.addRange(2 ** 36 + misalign, 0, 8192);
      const id = h.alloc(8192 - 4096 + 16, 4096); // needs 4112 after the padding
      const padding = (4096 - misalign) % 4096;
      expect(id >= 0).toBe(padding + 4112 <= 8192);
    }
  });

  test('good fit: the smallest class that surely holds the request, then the class below it as a last resort', () => {
    const h = new Checked('tlsf');
    // Free blocks of 1040 (class [1024, 1056)), 1056 (class [1056, 1088)) and 2080 bytes.
    h.addRange(2 ** 32, 0, 1040);
    h.addRange(2 ** 33, 0, 1056);
    h.addRange(2 ** 34, 0, 2080);
    const regionOf = (id: number) => (id < 0 ? -1 : h.core.region[id]);
    // 1040 bytes needed: class [1024, 1056) does not surely hold them; the 1056-byte block does.
    expect(regionOf(h.alloc(1030, 16))).toBe(1);
    // Next the 2080-byte block, whose other 1040 bytes go back into class [1024, 1056), last in first out.
    expect(regionOf(h.alloc(1030, 16))).toBe(2);
    // No class above holds a block now: the class below is scanned, newest first.
    expect(regionOf(h.alloc(1030, 16))).toBe(2);
    expect(regionOf(h.alloc(1030, 16))).toBe(0);
    expect(h.alloc(1030, 16)).toBe(-1);
    expect(h.core.largestHint).toBe(16);
  });
});

describe('buddy: orders past 2^31 and many free blocks of one order', () => {
  test('a region of 2^33 bytes: sizes past 2^31 and 2^32 take their power of two', () => {
    const h = new Checked('buddy');
    h.addRange(2 ** 40, 0, 2 ** 33);
    const a = h.alloc(2 ** 31 + 1, 16);
    const b = h.alloc(2 ** 32 - 5, 16);
    expect([h.core.size[a], h.core.size[b]]).toEqual([2 ** 32, 2 ** 32]);
    expect(h.alloc(16, 16)).toBe(-1);
    h.free(a);
    const c = h.alloc(2 ** 31, 2 ** 31);
    h.free(b);
    h.free(c);
    expect(h.alloc(2 ** 33, 16)).toBeGreaterThanOrEqual(0);
  });

  test('hundreds of free blocks of one order, freed and taken in turn (the stacks grow and compact)', () => {
    const h = new Checked('buddy');
    const size = 4096 - 32;
    h.addRange(2 ** 32 + 16, 0, size);
    const ids: number[] = [];
    // Unchecked in the loops (the model is quadratic), checked after each phase.
    const take = () => {
      const id = h.core.alloc(16, 16);
      if (id >= 0) h.live.set(id, { region: 0, at: h.base[0] + h.core.offset[id], size: 16 });
      return id;
    };
    const give = (id: number) => {
      h.core.free(id);
      h.live.delete(id);
    };
    for (let id = take(); id >= 0; id = take()) ids.push(id);
    expect(ids.length).toBe(size / 16);
    h.check();
    // Every other one freed: no merges, 127 free blocks of order 4.
    for (let i = 0; i < ids.length; i += 2) give(ids[i]);
    h.check();
    expect(h.freeSpace().length).toBe(ids.length / 2);
    for (let round = 0; round < 4; round++) {
      const again: number[] = [];
      for (let i = 0; i < ids.length; i += 2) again.push(take());
      expect(again.filter((id) => id < 0)).toEqual([]);
      expect(take()).toBe(-1);
      for (const id of again) give(id);
      h.check();
    }
    for (let i = 1; i < ids.length; i += 2) give(ids[i]);
    h.check();
    // [2^32 + 16, 2^32 + 4080) holds no aligned 2048 bytes: its largest blocks are 1024.
    expect(h.core.largestHint).toBe(1024);
    expect(h.alloc(1024, 1024)).toBeGreaterThanOrEqual(0);
  });
});
