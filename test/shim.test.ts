// The shim's JavaScript surface, and one table per rule of native/include/sysalloc.h,
// each row asserting exact results through the function table, as a C library calls it.
import fs = require('fs');
import path = require('path');

import { shim, includeDir, ShimStats } from '..';
import { consumers as c } from './consumers';

const MiB = 1 << 20;
const GRANULE = 4 * MiB;

type Counter = Exclude<keyof ShimStats, 'peakBytes' | 'liveBlocks'>;

/**
 * Asserts how every counter moved since `before`: the named ones by exactly
 * that much, the rest not at all. liveBlocks must move by allocations - frees,
 * and peakBytes must be max(old peak, old live + maxLive), maxLive being the
 * highest live bytes rose above its start during the step (default: liveBytes).
 */
function expectDelta(before: ShimStats, change: Partial<Record<Counter, number>> & { maxLive?: number }): void {
  const after = shim.stats();
  const { maxLive, ...counters } = change;
  const want = {
    allocations: 0,
    reallocations: 0,
    frees: 0,
    liveBytes: 0,
    foreignFrees: 0,
    invalidFrees: 0,
    ...counters,
  };
  want.liveBytes += 0; // -n for n = 0 is -0, which toEqual tells from 0
  expect({
    allocations: after.allocations - before.allocations,
    reallocations: after.reallocations - before.reallocations,
    frees: after.frees - before.frees,
    liveBytes: after.liveBytes - before.liveBytes,
    foreignFrees: after.foreignFrees - before.foreignFrees,
    invalidFrees: after.invalidFrees - before.invalidFrees,
  }).toEqual(want);
  expect(after.liveBlocks - before.liveBlocks).toBe(want.allocations - want.frees);
  expect(after.peakBytes).toBe(Math.max(before.peakBytes, before.liveBytes + (maxLive ?? Math.max(0, want.liveBytes))));
}

beforeAll(() => {
  expect(c.setApi(shim.pointers().table)).toBe(1);
});

describe('JavaScript surface', () => {
  test('pointers() gives every function and the table as distinct non-zero bigints', () => {
    const p = shim.pointers();
    const names = ['malloc', 'calloc', 'realloc', 'free', 'alignedAlloc', 'usableSize', 'stats', 'table'] as const;
    for (const name of names) {
      expect(typeof p[name]).toBe('bigint');
      expect(p[name]).not.toBe(0n);
    }
    expect(new Set(names.map((n) => p[n])).size).toBe(names.length);
    expect(p.version).toBe(1);
  });

  test('the table holds version 1, its size, and the same function addresses, in header order', () => {
    const p = shim.pointers();
    const first = c.readU64(p.table);
    expect(first & 0xffffffffn).toBe(1n); // version
    expect(first >> 32n).toBe(8n + 7n * 8n); // size: two uint32 and seven function pointers
    const order = ['malloc', 'calloc', 'realloc', 'free', 'alignedAlloc', 'usableSize', 'stats'] as const;
    order.forEach((name, i) => expect(c.readU64(p.table + 8n + 8n * BigInt(i))).toBe(p[name]));
  });

  test('setApi refuses an address that is not a table', () => {
    expect(() => c.setApi(0n)).toThrow('not a sysalloc_api table');
    expect(c.setApi(shim.pointers().table)).toBe(1);
  });

  test('stats() from JavaScript equals the table\'s stats function', () => {
    expect(shim.stats()).toEqual(c.stats());
    expect(Object.keys(shim.stats()).sort()).toEqual(
      ['allocations', 'foreignFrees', 'frees', 'invalidFrees', 'liveBlocks', 'liveBytes', 'peakBytes', 'reallocations'],
    );
  });

  test('includeDir is the absolute folder holding sysalloc.h', () => {
    expect(path.isAbsolute(includeDir)).toBe(true);
    expect(fs.readFileSync(path.join(includeDir, 'sysalloc.h'), 'utf8')).toContain('struct sysalloc_api');
  });
});

describe('rule: a 16-byte header keeps malloc alignment and holds the size at p - 16', () => {
  test.each([0, 1, 15, 16, 17, 100, 128, 129, 4096, 65536, MiB, MiB + 1, 5 * MiB])('malloc(%d)', (n) => {
    const before = shim.stats();
    const p = c.malloc(n);
    expect(p).not.toBe(0n);
    expect(p % 16n).toBe(0n);
    expect(c.readU64(p - 16n)).toBe(BigInt(n));
    expect(c.usableSize(p)).toBe(BigInt(n));
    c.fill(p, n, 7);
    expect(c.check(p, n, 7)).toBe(true);
    expectDelta(before, { allocations: 1, liveBytes: n });
    c.free(p);
    expectDelta(before, { allocations: 1, frees: 1, maxLive: n });
  });
});

describe('rule: aligned_alloc gives the alignment asked for (16 at least), any size', () => {
  const alignments = [1, 2, 8, 16, 32, 64, 256, 4096, 65536, 2 * MiB, GRANULE, 2 * GRANULE, 4 * GRANULE];
  const sizes = [0, 1, 100, 5000, 3 * MiB];
  const rows = alignments.flatMap((a) => sizes.map((n) => [a, n]));
  test.each(rows)('aligned_alloc(%d, %d)', (a, n) => {
    const before = shim.stats();
    const p = c.alignedAlloc(a, n);
    expect(p).not.toBe(0n);
    expect(p % BigInt(Math.max(a, 16))).toBe(0n);
    expect(c.readU64(p - 16n)).toBe(BigInt(n));
    expect(c.usableSize(p)).toBe(BigInt(n));
    c.fill(p, n, a);
    expect(c.check(p, n, a)).toBe(true);
    expectDelta(before, { allocations: 1, liveBytes: n });
    const q = c.realloc(p, n + 100);
    expect(q % 16n).toBe(0n);
    expect(c.check(q, n, a)).toBe(true);
    expect(c.usableSize(q)).toBe(BigInt(n + 100));
    c.free(q);
    expectDelta(before, { allocations: 1, reallocations: 1, frees: 1, maxLive: n + 100 });
  });

  test.each([0, 3, 24, 48, 100, 2 ** 40 + 1])('alignment %d is not a power of two: NULL, errno EINVAL, nothing counted', (a) => {
    const before = shim.stats();
    expect(c.alignedAlloc(a, 64)).toBe(0n);
    expect(c.lastErrno()).toBe(c.EINVAL);
    expectDelta(before, {});
  });
});

describe('rule: malloc(0) and its kin return a unique non-NULL pointer of size 0', () => {
  const calls: [string, () => bigint][] = [
    ['malloc(0)', () => c.malloc(0)],
    ['calloc(0, 5)', () => c.calloc(0, 5)],
    ['calloc(5, 0)', () => c.calloc(5, 0)],
    ['realloc(NULL, 0)', () => c.realloc(0n, 0)],
    ['aligned_alloc(64, 0)', () => c.alignedAlloc(64, 0)],
  ];
  test.each(calls)('%s', (_name, call) => {
    const before = shim.stats();
    const p = call();
    const q = call();
    expect(p).not.toBe(0n);
    expect(q).not.toBe(0n);
    expect(q).not.toBe(p);
    expect(c.usableSize(p)).toBe(0n);
    expectDelta(before, { allocations: 2 });
    c.free(p);
    c.free(q);
    expectDelta(before, { allocations: 2, frees: 2 });
  });
});

describe('rule: free(NULL) does nothing, and free never changes errno', () => {
  test.each([
    ['NULL', () => 0n],
    ['a live block', () => c.malloc(100)],
    ['a large block', () => c.malloc(3 * MiB)],
    ['a foreign pointer', () => c.systemMalloc(100)],
  ])('free(%s)', (name, make) => {
    const p = make();
    const before = shim.stats();
    c.free(p);
    expect(c.lastErrno()).toBe(0);
    if (name === 'NULL') expectDelta(before, {});
    else if (name === 'a foreign pointer') expectDelta(before, { foreignFrees: 1 });
    else expectDelta(before, { frees: 1, liveBytes: -(name === 'a live block' ? 100 : 3 * MiB) });
  });

  test('a double free leaves errno alone too', () => {
    const p = c.malloc(100);
    c.free(p);
    c.free(p);
    expect(c.lastErrno()).toBe(0);
  });
});

describe('rule: realloc(NULL, n) is malloc(n)', () => {
  test.each([1, 100, 4096, 2 * MiB])('realloc(NULL, %d)', (n) => {
    const before = shim.stats();
    const p = c.realloc(0n, n);
    expect(p).not.toBe(0n);
    expect(p % 16n).toBe(0n);
    expect(c.usableSize(p)).toBe(BigInt(n));
    expectDelta(before, { allocations: 1, liveBytes: n });
    c.free(p);
  });
});

describe('rule: realloc(p, 0) frees p and returns NULL', () => {
  test.each([
    [0, 16],
    [1, 16],
    [100, 16],
    [5000, 4096],
    [2 * MiB, 16],
    [100, 2 * GRANULE],
  ])('realloc(<block of %d, aligned to %d>, 0)', (n, a) => {
    const p = c.alignedAlloc(a, n);
    const before = shim.stats();
    expect(c.realloc(p, 0)).toBe(0n);
    expectDelta(before, { frees: 1, liveBytes: -n });
    expect(c.usableSize(p)).toBe(0n);
  });

  test('realloc(<foreign>, 0) frees it with the system allocator', () => {
    const p = c.systemMalloc(100);
    const before = shim.stats();
    expect(c.realloc(p, 0)).toBe(0n);
    expectDelta(before, { foreignFrees: 1 });
  });
});

describe('rule: realloc keeps min(old, new) bytes, in place or moved', () => {
  const rows = [
    [100, 112],
    [112, 100],
    [16, 17],
    [100, 100000],
    [100000, 100],
    [100000, 3 * MiB],
    [3 * MiB, 5 * MiB],
    [5 * MiB, 3 * MiB],
    [3 * MiB, 40 * MiB],
    [40 * MiB, 5 * MiB],
    [5 * MiB, 100],
  ];
  test.each(rows)('realloc(<%d bytes>, %d)', (from, to) => {
    const p = c.malloc(from);
    c.fill(p, from, from % 251);
    const before = shim.stats();
    const q = c.realloc(p, to);
    expect(q).not.toBe(0n);
    expect(q % 16n).toBe(0n);
    expect(c.check(q, Math.min(from, to), from % 251)).toBe(true);
    expect(c.usableSize(q)).toBe(BigInt(to));
    expect(c.readU64(q - 16n)).toBe(BigInt(to));
    c.fill(q, to, 3);
    expectDelta(before, { reallocations: 1, liveBytes: to - from });
    c.free(q);
  });
});

describe('rule: calloc zero-fills, and overflow of count * size fails with ENOMEM', () => {
  test.each([16, 1000, 70000, MiB, 3 * MiB])('calloc(1, %d) over memory just freed dirty', (n) => {
    const dirty = c.malloc(n);
    c.fill(dirty, n, 0x5a);
    c.free(dirty);
    const before = shim.stats();
    const p = c.calloc(1, n);
    expect(c.isZero(p, n)).toBe(true);
    expectDelta(before, { allocations: 1, liveBytes: n });
    c.free(p);
  });

  const rows: [bigint, bigint][] = [
    [2n ** 32n, 2n ** 32n],
    [c.SIZE_MAX, 2n],
    [2n, c.SIZE_MAX],
    [c.SIZE_MAX / 2n + 1n, 2n],
    [3n, c.SIZE_MAX / 3n + 1n],
  ];
  test.each(rows)('calloc(%s, %s) overflows: NULL, errno ENOMEM, nothing counted', (count, size) => {
    const before = shim.stats();
    expect(c.calloc(count, size)).toBe(0n);
    expect(c.lastErrno()).toBe(c.ENOMEM);
    expectDelta(before, {});
  });
});

describe('rule: a size that overflows with the header, passes PTRDIFF_MAX or that the OS refuses fails with ENOMEM', () => {
  const rows: [string, () => bigint][] = [
    ['malloc(SIZE_MAX)', () => c.malloc(c.SIZE_MAX)],
    ['malloc(SIZE_MAX - 15)', () => c.malloc(c.SIZE_MAX - 15n)],
    ['malloc(SIZE_MAX - 16)', () => c.malloc(c.SIZE_MAX - 16n)],
    ['malloc(PTRDIFF_MAX + 1)', () => c.malloc(c.PTRDIFF_MAX + 1n)],
    ['malloc(PTRDIFF_MAX - 2^30): the OS refuses', () => c.malloc(c.PTRDIFF_MAX - 2n ** 30n)],
    ['calloc(1, SIZE_MAX - 8)', () => c.calloc(1, c.SIZE_MAX - 8n)],
    ['aligned_alloc(4096, SIZE_MAX - 4095)', () => c.alignedAlloc(4096, c.SIZE_MAX - 4095n)],
    ['aligned_alloc(2^62, 2^62)', () => c.alignedAlloc(2n ** 62n, 2n ** 62n)],
    ['realloc(NULL, SIZE_MAX)', () => c.realloc(0n, c.SIZE_MAX)],
  ];
  test.each(rows)('%s: NULL, errno ENOMEM, nothing counted', (_name, call) => {
    const before = shim.stats();
    expect(call()).toBe(0n);
    expect(c.lastErrno()).toBe(c.ENOMEM);
    expectDelta(before, {});
  });

  test.each([
    [100, c.SIZE_MAX - 15n],
    [100, c.PTRDIFF_MAX + 1n],
    [3 * MiB, c.SIZE_MAX],
    [3 * MiB, c.PTRDIFF_MAX - 2n ** 30n],
  ])('realloc(<%d bytes>, %s) fails and leaves the block as it was', (n, size) => {
    const p = c.malloc(n);
    c.fill(p, n, 9);
    const before = shim.stats();
    expect(c.realloc(p, size)).toBe(0n);
    expect(c.lastErrno()).toBe(c.ENOMEM);
    expectDelta(before, {});
    expect(c.usableSize(p)).toBe(BigInt(n));
    expect(c.check(p, n, 9)).toBe(true);
    c.free(p);
  });
});

describe('rule: the peak is the highest live bytes ever reached', () => {
  test.each([1, 4096, 3 * MiB])('raising live bytes %d above the old peak moves the peak by exactly that', (extra) => {
    const start = shim.stats();
    const n = start.peakBytes - start.liveBytes + extra;
    const p = c.malloc(n);
    expect(shim.stats().peakBytes).toBe(start.peakBytes + extra);
    c.free(p);
    const small = c.malloc(10);
    c.free(small);
    expectDelta(start, { allocations: 2, frees: 2, maxLive: n });
  });
});

describe('pointers the shim never issued: handed to the system allocator, counted, never a crash', () => {
  // 200000 bytes is past glibc's mmap threshold: a chunk glibc maps by itself.
  const sizes = [1, 100, 5000, 200000, 3 * MiB];

  test.each(sizes)('usable_size of a foreign block of %d is the system allocator\'s', (n) => {
    const p = c.systemMalloc(n);
    const before = shim.stats();
    expect(c.usableSize(p)).toBe(c.systemUsableSize(p));
    expect(c.usableSize(p) >= BigInt(n)).toBe(true);
    c.free(p);
    expectDelta(before, { foreignFrees: 1 });
  });

  test.each(sizes.flatMap((n) => [[n, 50], [n, 300000]]))('realloc(<foreign block of %d>, %d) moves it into the shim', (n, m) => {
    const p = c.systemMalloc(n);
    c.fill(p, n, 77);
    const before = shim.stats();
    const q = c.realloc(p, m);
    expect(q).not.toBe(0n);
    expect(c.check(q, Math.min(n, m), 77)).toBe(true);
    expect(c.readU64(q - 16n)).toBe(BigInt(m));
    expectDelta(before, { allocations: 1, foreignFrees: 1, liveBytes: m });
    c.free(q);
    expectDelta(before, { allocations: 1, frees: 1, foreignFrees: 1, maxLive: m });
  });
});

describe('pointers into the shim that are not live blocks: counted in invalidFrees, nothing changed', () => {
  const blocks: [string, number, number][] = [
    ['malloc(0)', 0, 16],
    ['malloc(100)', 100, 16],
    ['malloc(5000)', 5000, 16],
    ['malloc(1 MiB)', MiB, 16],
    ['malloc(3 MiB)', 3 * MiB, 16],
    ['aligned_alloc(64, 100)', 100, 64],
    ['aligned_alloc(4096, 100)', 100, 4096],
    ['aligned_alloc(8 MiB, 10)', 10, 2 * GRANULE],
  ];

  test.each(blocks)('double free of %s', (_name, n, a) => {
    const p = c.alignedAlloc(a, n);
    const before = shim.stats();
    c.free(p);
    c.free(p);
    expectDelta(before, { frees: 1, invalidFrees: 1, liveBytes: -n });
    expect(c.usableSize(p)).toBe(0n);
    expect(c.realloc(p, 10)).toBe(0n);
    expect(c.lastErrno()).toBe(c.EINVAL);
    expectDelta(before, { frees: 1, invalidFrees: 2, liveBytes: -n });
    // Nothing was corrupted: the next blocks of the size are distinct and keep their contents.
    const next = [1, 2, 3, 4].map((seed) => {
      const q = c.alignedAlloc(a, n);
      c.fill(q, n, seed);
      return q;
    });
    expect(new Set(next).size).toBe(4);
    next.forEach((q, i) => expect(c.check(q, n, i + 1)).toBe(true));
    next.forEach((q) => c.free(q));
  });

  test.each(blocks.filter(([, n]) => n >= 100).flatMap(([name, n, a]) => [1, 8, 16, 48].map((off) => [name, n, a, off] as const)))(
    'free of %s plus %d',
    (_name, n, a, off) => {
      const p = c.alignedAlloc(a, n);
      c.fill(p, n, 5);
      const before = shim.stats();
      c.free(p + BigInt(off));
      expect(c.usableSize(p + BigInt(off))).toBe(0n);
      expectDelta(before, { invalidFrees: 1 });
      expect(c.check(p, n, 5)).toBe(true);
      expect(c.usableSize(p)).toBe(BigInt(n));
      c.free(p);
      expectDelta(before, { invalidFrees: 1, frees: 1, liveBytes: -n });
    },
  );

  test('free of a pointer just below a block\'s header, and into a retired granule', () => {
    const p = c.malloc(3 * MiB);
    const before = shim.stats();
    c.free(p - 32n);
    c.free(p);
    c.free(p + 16n); // the granule is now the shim's, retired
    expectDelta(before, { frees: 1, invalidFrees: 2, liveBytes: -3 * MiB });
  });

  test('usable_size(NULL) is 0', () => {
    expect(c.usableSize(0n)).toBe(0n);
  });
});
