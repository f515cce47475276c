// Boundaries of Heap's free-space core (lib/heap-core.ts) driven directly over
// address ranges (no memory is touched): the TLSF size classes at 2^30, 2^31,
// 2^32, 2^40 (the second word of its first-level bitmap) and 2^51, requests no
// class can hold, the last-resort scan with an alignment gap, exact fits, the
// physical links of blocks freed in every order and across retired regions, the
// reuse of allocation numbers, and the buddy free stacks when they compact.
// Every allocation is checked as in test/heap-core-model.test.ts: aligned,
// inside one live region, overlapping no other, of the size its strategy
// promises, with `used` the sum of them.
import { Buddy, HeapCore, Tlsf } from '../dist/heap-core';
import { Rng } from './family-helpers';

type Strategy = 'tlsf' | 'buddy';

interface Region {
  base: number;
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
const ceilPow2 = (n: number) => 2 ** Math.ceil(Math.log2(n));

class Tracked {
  readonly core: HeapCore;
  regions: Region[] = [];
  live = new Map<number, Live>();

  constructor(readonly strategy: Strategy) {
    this.core = strategy === 'tlsf' ? new Tlsf() : new Buddy();
  }

  add(address: number, offset: number, size: number): number {
    const region = this.regions.length;
    this.core.addRange(region, address, offset, size);
    this.regions.push({ base: address, start: address + offset, end: address + offset + size, retired: false });
    return region;
  }

  extent(size: number, align: number): number {
    return this.strategy === 'tlsf' ? ceil16(size) : Math.max(16, ceilPow2(size), align);
  }

  /** alloc(), every result checked; -1 passes through. */
  alloc(size: number, align: number): number {
    const id = this.core.alloc(size, align);
    if (id < 0) {
      expect(id).toBe(-1);
      return id;
    }
    const region = this.core.region[id];
    const r = this.regions[region];
    const extent = this.extent(size, align);
    const at = r === undefined ? NaN : r.base + this.core.offset[id];
    const fault = (what: string) => {
      throw new Error(`alloc(${size}, ${align}) returned ${id}: ${what} (region ${region}, at ${at}, size ${this.core.size[id]})`);
    };
    if (this.live.has(id)) fault('a number already live');
    if (r === undefined || r.retired) fault('no live region');
    if (this.core.size[id] !== extent) fault(`size is not ${extent}`);
    if (at % align !== 0 || at % 16 !== 0) fault('misaligned');
    if (!(at >= r.start && at + extent <= r.end)) fault('outside its region');
    for (const l of this.live.values()) {
      if (l.region === region && !(at + extent <= l.at || l.at + l.size <= at)) fault(`overlaps [${l.at}, ${l.at + l.size})`);
    }
    this.live.set(id, { region, at, size: extent });
    this.checkUsed();
    return id;
  }

  free(id: number): void {
    if (!this.live.has(id)) throw new Error(`free(${id}): not live`);
    this.core.free(id);
    this.live.delete(id);
    this.checkUsed();
  }

  retire(region: number): void {
    let taken = 0;
    for (const l of this.live.values()) if (l.region === region) taken += l.size;
    const r = this.regions[region];
    expect(this.core.retire(region)).toBe(r.end - r.start - taken);
    r.retired = true;
  }

  checkUsed(): void {
    let used = 0;
    for (const l of this.live.values()) used += l.size;
    if (this.core.used !== used) expect(this.core.used).toBe(used);
  }

  freeAll(): void {
    for (const id of [...this.live.keys()]) this.free(id);
  }

  /**
   * With nothing live, each live region is one free block again: TLSF hands it
   * out whole (largest first, so a request never lands in a larger region).
   */
  expectWhole(): void {
    expect(this.live.size).toBe(0);
    const regions = [...this.regions.entries()].filter(([, r]) => !r.retired).sort(([, a], [, b]) => b.end - b.start - (a.end - a.start));
    const whole: number[] = [];
    for (const [, r] of regions) {
      const id = this.alloc(r.end - r.start, 16);
      expect(id).toBeGreaterThanOrEqual(0);
      const got = this.regions[this.core.region[id]];
      expect(got.end - got.start).toBe(r.end - r.start);
      expect(got.base + this.core.offset[id]).toBe(got.start);
      whole.push(id);
    }
    for (const id of whole) this.free(id);
  }
}

describe('allocation numbers', () => {
  test.each<Strategy>(['tlsf', 'buddy'])(
    '%s: a freed allocation number is handed out again, so 1000 alloc/free cycles keep the record tables at 64 entries',
    (strategy) => {
      const h = new Tracked(strategy);
      h.add(2 ** 32, 0, 1 << 20);
      const kept = [h.alloc(100, 16), h.alloc(3000, 64)];
      for (let i = 0; i < 1000; i++) h.free(h.alloc(16 + (i % 50) * 16, i % 3 === 0 ? 256 : 16));
      for (const id of kept) h.free(id);
      expect(h.core.region.length).toBe(64);
      expect(h.core.used).toBe(0);
    },
  );

  test('tlsf: an exact fit leaves no empty block behind: 64 allocations that fill a region take 64 records', () => {
    const h = new Tracked('tlsf');
    h.add(2 ** 32, 0, 64 * 16);
    for (let i = 0; i < 64; i++) expect(h.alloc(16, 16)).toBeGreaterThanOrEqual(0);
    expect(h.alloc(1, 1)).toBe(-1);
    expect(h.core.region.length).toBe(64);
    h.freeAll();
    h.expectWhole();
  });

  test('tlsf: an aligned allocation that needs no gap makes no gap block: 63 of 32 bytes aligned to 32 and the free rest take 64 records', () => {
    const h = new Tracked('tlsf');
    h.add(2 ** 32, 0, 64 * 32);
    for (let i = 0; i < 63; i++) expect(h.alloc(32, 32)).toBeGreaterThanOrEqual(0);
    // The last 32 bytes hold 32 aligned to 32, but good fit looks for 32 + 32 - 16 bytes.
    expect(h.alloc(32, 32)).toBe(-1);
    expect(h.core.region.length).toBe(64);
    h.freeAll();
    h.expectWhole();
  });
});

describe('tlsf: size classes from 2^30 to 2^51', () => {
  test.each([30, 31, 32, 39, 40, 41, 51])(
    'a free block of 2^%d bytes is the largest hint, is handed out whole, holds a 16-byte request, and a request 16 bytes larger fails',
    (k) => {
      const h = new Tracked('tlsf');
      h.add(2 ** 52, 0, 2 ** k);
      expect(h.core.largestHint).toBe(2 ** k);
      expect(h.alloc(2 ** k + 16, 16)).toBe(-1);
      const whole = h.alloc(2 ** k, 16);
      expect(whole).toBeGreaterThanOrEqual(0);
      expect(h.core.offset[whole]).toBe(0);
      expect(h.core.largestHint).toBe(0);
      expect(h.alloc(16, 16)).toBe(-1);
      h.free(whole);
      expect(h.core.largestHint).toBe(2 ** k);
      const small = h.alloc(16, 16);
      expect(small).toBeGreaterThanOrEqual(0);
      expect(h.core.largestHint).toBe(2 ** k - 16);
      h.free(small);
      h.expectWhole();
    },
  );

  test.each([
    // [free blocks, request]
    [[2 ** 30], 2 ** 30 + 16],
    [[2 ** 30], 2 ** 32],
    [[2 ** 31], 2 ** 31 + 16],
    [[2 ** 31, 2 ** 30], 2 ** 31 + 2 ** 29],
    [[2 ** 32 + 16], 2 ** 32 + 2 ** 26],
    [[1024, 2 ** 39], 2 ** 39 + 16],
    [[1024, 2 ** 39], 2 ** 40],
    [[1024, 2 ** 40 + 2 ** 35], 2 ** 41],
  ])('a request larger than every free block fails (blocks %j, request %d)', (blocks, request) => {
    const h = new Tracked('tlsf');
    for (const [i, size] of blocks.entries()) h.add(2 ** 42 * (i + 1), 0, size);
    expect(h.alloc(request, 16)).toBe(-1);
    // and each block is still whole
    h.expectWhole();
  });

  test('a 2^40 block (the second word of the first-level bitmap) beside a 256-byte one: taking it clears its bit, small requests still find the small block', () => {
    const h = new Tracked('tlsf');
    h.add(2 ** 42, 0, 256);
    h.add(2 ** 44, 0, 2 ** 40);
    expect(h.core.largestHint).toBe(2 ** 40);
    const big = h.alloc(2 ** 40, 16);
    expect(h.core.region[big]).toBe(1);
    expect(h.core.largestHint).toBe(256);
    const small = h.alloc(16, 16);
    expect(h.core.region[small]).toBe(0);
    expect(h.core.largestHint).toBe(240);
    h.free(small);
    h.free(big);
    expect(h.core.largestHint).toBe(2 ** 40);
    h.expectWhole();
  });

  test('requests no size class can hold (2^53 - 2^46 bytes, 2^53 - 16 bytes aligned to 32) fail', () => {
    const h = new Tracked('tlsf');
    h.add(2 ** 52, 0, 2 ** 51);
    h.add(2 ** 40, 0, 4096);
    expect(h.alloc(2 ** 53 - 2 ** 46, 16)).toBe(-1);
    expect(h.alloc(2 ** 53 - 16, 32)).toBe(-1);
    expect(h.alloc(2 ** 53 - 16, 16)).toBe(-1);
    h.expectWhole();
  });
});

describe('tlsf: good fit', () => {
  test('a request takes a block of the smallest non-empty class that holds it (64- and 96-byte blocks, 16 bytes wanted)', () => {
    const h = new Tracked('tlsf');
    h.add(2 ** 32, 0, 96);
    h.add(2 ** 33, 0, 64);
    h.add(2 ** 34, 0, 80);
    expect(h.core.region[h.alloc(16, 16)]).toBe(1);
    expect(h.core.region[h.alloc(64, 16)]).toBe(2);
    expect(h.core.region[h.alloc(80, 16)]).toBe(0);
  });

  test('a request of exactly a class bound (2^30) takes a block of that class, not the next one', () => {
    const h = new Tracked('tlsf');
    h.add(2 ** 42, 0, 2 ** 30 + 2 ** 25);
    h.add(2 ** 43, 0, 2 ** 30);
    const id = h.alloc(2 ** 30, 16);
    expect(h.core.region[id]).toBe(1);
    expect(h.core.largestHint).toBe(2 ** 30 + 2 ** 25);
  });

  test.each([0, 16])(
    'a stretch of exactly size + align - 16 bytes holds an aligned request wherever it starts (start %d past a multiple of 32)',
    (misalign) => {
      const h = new Tracked('tlsf');
      h.add(2 ** 32 + misalign, 0, 32);
      const id = h.alloc(16, 32);
      expect(id).toBeGreaterThanOrEqual(0);
      h.free(id);
      h.expectWhole();
    },
  );

  test.each([
    [16, false],
    [32, true],
  ])(
    'the last-resort scan of the class below counts the alignment gap (an 8192-byte stretch %d bytes past a multiple of 4096, 4128 bytes aligned to 4096 fit: %s)',
    (misalign, fits) => {
      const h = new Tracked('tlsf');
      h.add(2 ** 36 + misalign, 0, 8192);
      const id = h.alloc(4128, 4096);
      expect(id >= 0).toBe(fits);
      h.freeAll();
      h.expectWhole();
    },
  );
});

describe('tlsf: physical links', () => {
  test('an allocation moved by its alignment gap keeps its neighbours: freeing the gap, the block between and it leaves the region whole', () => {
    const h = new Tracked('tlsf');
    // 4080 bytes of gap before the 4096-aligned block, no tail.
    h.add(2 ** 32 + 16, 0, 4080 + 64);
    const aligned = h.alloc(64, 4096);
    expect(h.core.offset[aligned]).toBe(4080);
    const front = h.alloc(16, 16);
    expect(h.core.offset[front]).toBe(0);
    // [front][free 4064][aligned]: freeing front merges the free block after it.
    h.free(front);
    h.free(aligned);
    h.expectWhole();
  });

  // Every order of freeing a handful of allocations, in a region whose start
  // moves the first allocation (aligned) behind a gap block.
  const patterns: [number, number][][] = [
    [
      [64, 4096],
      [16, 16],
      [32, 16],
      [48, 64],
      [16, 16],
    ],
    [
      [16, 16],
      [256, 256],
      [16, 16],
      [4000, 16],
      [16, 4096],
    ],
  ];
  const permutations = (n: number): number[][] =>
    n === 0 ? [[]] : permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));

  test.each(patterns.map((p, i) => [i, p] as const))(
    'freed in every order, the allocations of pattern %d leave their region whole',
    (_, pattern) => {
      for (const misalign of [0, 16, 2048]) {
        for (const order of permutations(pattern.length)) {
          const h = new Tracked('tlsf');
          h.add(2 ** 32 + misalign, 0, 3 * 4096);
          const ids = pattern.map(([size, align]) => h.alloc(size, align));
          expect(ids.filter((id) => id < 0)).toEqual([]);
          for (const i of order) h.free(ids[i]);
          h.expectWhole();
        }
      }
    },
  );

  test('allocations of a retired region freed in every order leave the numbers they free intact for the regions added meanwhile', () => {
    const pattern: [number, number][] = [
      [64, 4096],
      [16, 16],
      [32, 16],
      [48, 64],
    ];
    for (const misalign of [0, 16]) {
      for (const order of permutations(pattern.length)) {
        const h = new Tracked('tlsf');
        h.add(2 ** 32 + misalign, 0, 3 * 4096);
        const ids = pattern.map(([size, align]) => h.alloc(size, align));
        h.retire(0);
        const others: number[] = [];
        for (const i of order) {
          h.free(ids[i]);
          // A new region takes the number just given back for its free block,
          // which an aligned allocation then moves behind a gap block.
          h.add(2 ** 40 + h.regions.length * 2 ** 20, 16, 8192);
          others.push(h.alloc(32, 32));
          others.push(h.alloc(16 * (i + 1), 16));
        }
        for (const id of others.reverse()) h.free(id);
        h.expectWhole();
      }
    }
  });

  test.each([1, 2, 3, 4])('random operations with frequent retirements leave every live region whole, seed %d', (seed) => {
    const rng = new Rng(seed * 104729);
    const h = new Tracked('tlsf');
    const ids: number[] = [];
    const addRegion = () => h.add(2 ** 36 + h.regions.length * 2 ** 16 + rng.pick([0, 16, 48, 2064]), rng.pick([0, 16]), rng.int(8, 512) * 16);
    addRegion();
    for (let op = 0; op < 1500; op++) {
      const r = rng.next();
      if (r < 0.45 || ids.length === 0) {
        const id = h.alloc(rng.int(1, 1200), rng.chance(0.6) ? 16 : rng.pow2(12));
        if (id >= 0) ids.push(id);
      } else if (r < 0.9) {
        const i = rng.int(0, ids.length - 1);
        h.free(ids[i]);
        ids[i] = ids[ids.length - 1];
        ids.pop();
      } else if (r < 0.95) {
        addRegion();
      } else {
        const live = h.regions.map((x, i) => (x.retired ? -1 : i)).filter((i) => i >= 0);
        if (live.length > 1) h.retire(rng.pick(live));
      }
    }
    h.freeAll();
    h.expectWhole();
  });
});

describe('buddy: free stacks', () => {
  test('a stack compacted when it is full (128 entries, 31 of them live) still lists every free block', () => {
    const h = new Tracked('buddy');
    h.add(2 ** 32, 0, 4096);
    const ids: number[] = [];
    for (let i = 0; i < 256; i++) ids.push(h.alloc(16, 16));
    expect(ids.filter((id) => id < 0)).toEqual([]);
    // 127 free blocks of 16 bytes, none with a free buddy: the stack of order 4 holds 127 entries.
    for (let i = 0; i < 254; i += 2) h.free(ids[i]);
    // 97 of them merge with their buddy: their entries are stale.
    for (let i = 1; i < 194; i += 2) h.free(ids[i]);
    // The 128th entry: stale ones outnumber the 31 free blocks, the stack is compacted.
    h.free(ids[254]);
    const again: number[] = [];
    for (let i = 0; i < 31; i++) again.push(h.alloc(16, 16));
    expect(again.filter((id) => id < 0)).toEqual([]);
    // The merged blocks are still there, as 32-byte and larger blocks.
    const big = h.alloc(1024, 1024);
    expect(big).toBeGreaterThanOrEqual(0);
    h.freeAll();
    const whole = h.alloc(4096, 4096);
    expect(h.core.offset[whole]).toBe(0);
    h.free(whole);
  });

  test('a free stack compacted every few releases keeps handing out each free block once', () => {
    const h = new Tracked('buddy');
    h.add(2 ** 32, 0, 4096);
    const ids: number[] = [];
    for (let i = 0; i < 256; i++) ids.push(h.alloc(16, 16));
    // Free a block, take one back, free it, free its buddy: one stale entry per pair.
    for (let i = 0; i < 256; i += 2) {
      h.free(ids[i]);
      const back = h.alloc(16, 16);
      expect(back).toBeGreaterThanOrEqual(0);
      h.free(back);
      h.free(ids[i + 1]);
    }
    expect(h.core.used).toBe(0);
    const whole = h.alloc(4096, 16);
    expect(h.core.offset[whole]).toBe(0);
    h.free(whole);
  });
});
