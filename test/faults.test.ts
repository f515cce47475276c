// Fault injection (native/fault.h). The published TypeScript facade runs here,
// unchanged, over the testing addon (test/faults/binding.gyp: the same native
// sources built with SYSALLOC_FAULT_INJECTION), in which the OS allocations
// from the n-th on can be made to fail. Every public path that asks the OS for
// memory must then throw ERR_NO_MEMORY, or return NULL with errno ENOMEM, leave
// every counter where it was, and work again once the fault is gone.
import path = require('path');
import bindings = require('bindings');

import type * as Sysalloc from '..';
import { native as published } from '../lib/native';

interface Testing {
  /** From the n-th OS allocation on, `count` of them fail; count 0 disarms. */
  faultArm(n: number, count: number): void;
  faultCalls(): number;
  faultInjected(): number;
  shimTable(table: bigint): void;
  malloc(n: number): bigint;
  calloc(count: number, size: number): bigint;
  realloc(p: bigint, n: number): bigint;
  alignedAlloc(align: number, n: number): bigint;
  free(p: bigint): void;
  usableSize(p: bigint): number;
  /** A thread of its own mallocs and frees n blocks through the table, and ends. */
  threadMallocFree(n: number): void;
  lastErrno(): number;
  systemMalloc(n: number): bigint;
  fill(p: bigint, n: number, seed: number): void;
  check(p: bigint, n: number, seed: number): boolean;
  isZero(p: bigint, n: number): boolean;
  readonly ENOMEM: number;
}

const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') });
const t: Testing = addon.testing;

// dist/native.js loads the addon with bindings('sysalloc'): hand it the testing one.
let lib!: typeof Sysalloc;
jest.isolateModules(() => {
  jest.doMock('bindings', () => () => addon);
  lib = require('..');
});

const MiB = 1 << 20;

// The switch fails OS allocations. On runtime memory (npm run test:no-external)
// blocks never ask the OS, so no fault reaches them: the OS cases are skipped
// there, visibly, and the test below asserts that instead.
const noExternalBuild = addon.sourceFor(4096, 4096) === 'runtime';
const osTest = noExternalBuild ? test.skip : test;
const osDescribe = noExternalBuild ? describe.skip : describe;

(noExternalBuild ? test : test.skip)('on runtime memory the switch never fires: blocks, Arena and Pool ask the OS for nothing', () => {
  const calls = t.faultCalls();
  t.faultArm(1, EVERY);
  try {
    using block = lib.Block.alloc(MiB);
    expect(block.source).toBe('runtime');
    using arena = new lib.Arena({ capacity: 4096, grow: true });
    arena.alloc(3 * MiB);
    using pool = new lib.Pool({ slotSize: 64, slots: 4 });
    pool.free(pool.alloc());
  } finally {
    t.faultArm(0, 0);
  }
  expect(t.faultCalls() - calls).toBe(0);
});
// faultArm's count for "every OS allocation from the n-th on".
const EVERY = Number.MAX_SAFE_INTEGER;

afterEach(() => t.faultArm(0, 0));

// These count the OS calls of ordinary blocks, one per Block; debug mode (npm run
// test:debug) serves Blocks page-level, whose refusals the test below checks.
lib.debug.disable();

// On runtime memory debug mode serves ordinary runtime blocks, which ask the OS for nothing (test/debug.test.ts).
(noExternalBuild ? test.skip : test)(`debug mode: a refused page-level mapping is ERR_NO_MEMORY and nothing is held${noExternalBuild ? ' [not on runtime memory: no page-level mapping there]' : ''}`, () => {
  lib.debug.enable({ reportAtExit: false });
  try {
    const before = lib.blockStats();
    const recorded = lib.debug.report().liveBlocks;
    t.faultArm(1, 1);
    expect(() => lib.Block.alloc(4096)).toThrow(expect.objectContaining({ code: 'ERR_NO_MEMORY' }));
    t.faultArm(0, 0);
    expect(lib.blockStats().liveBlocks).toBe(before.liveBlocks);
    expect(lib.debug.report().liveBlocks).toBe(recorded);
    const block = lib.Block.alloc(4096);
    expect(lib.debug.report().liveBlocks).toBe(recorded + 1);
    block.free();
  } finally {
    lib.debug.disable();
  }
});

test('the facade runs over the testing addon; the published addon has no switch', () => {
  expect(lib.shim.pointers().table).toBe(addon.shimPointers().table);
  expect(lib.shim.pointers().table).not.toBe(published.shimPointers().table);
  expect(typeof t.faultArm).toBe('function');
  expect('testing' in published).toBe(false);
});

osTest('the switch fails exactly the calls it was armed for', () => {
  lib.trimBlockCache();
  const calls = t.faultCalls();
  const injected = t.faultInjected();
  t.faultArm(2, 1);
  const first = lib.Block.alloc(4096);
  expect(() => lib.Block.alloc(4096)).toThrow(expect.objectContaining({ code: 'ERR_NO_MEMORY' }));
  const third = lib.Block.alloc(4096);
  expect([t.faultCalls() - calls, t.faultInjected() - injected]).toEqual([3, 1]);
  first.free();
  third.free();
});

// ---- Block, Arena, Pool

interface BlockCounters {
  liveBlocks: number;
  liveBytes: number;
  /** Regions the OS handed out and has not had back, beyond the cached ones. */
  outstanding: number;
}

function blockCounters(): BlockCounters {
  const s = lib.blockStats();
  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  return {
    liveBlocks: s.liveBlocks,
    liveBytes: s.liveBytes,
    outstanding: sum(s.osAllocations) - sum(s.osReleases) - s.cachedBlocks,
  };
}

function expectNoMemory(error: unknown): void {
  expect(error).toBeInstanceOf(lib.AllocError);
  expect((error as Sysalloc.AllocError).code).toBe('ERR_NO_MEMORY');
}

interface Sweep {
  /** OS allocations the operation makes when none fails. */
  calls: number;
  /** The n for which the operation threw ERR_NO_MEMORY. */
  failedAt: number[];
}

/**
 * Runs op with the n-th OS allocation failing (once, or with `every` each one
 * from the n-th on), for n = 1, 2, ... until op no longer reaches the n-th: so
 * every OS allocation op makes is failed in turn. op must clean up after itself
 * (`using`), whether it returns or throws. The block cache is emptied before
 * each run, so that every block op asks for comes from the OS; after each run
 * the counters must be back where they were.
 */
function sweep(op: () => void, every = false): Sweep {
  const failedAt: number[] = [];
  for (let n = 1; n < 100; n++) {
    lib.trimBlockCache();
    const before = blockCounters();
    const injected = t.faultInjected();
    t.faultArm(n, every ? EVERY : 1);
    let error: unknown;
    try {
      op();
    } catch (e) {
      error = e;
    }
    const fired = t.faultInjected() > injected;
    t.faultArm(0, 0);
    addon.drainQuarantine(); // what the microtask after this turn would do
    lib.trimBlockCache();
    expect(blockCounters()).toEqual(before);
    if (error !== undefined) {
      expectNoMemory(error);
      expect(fired).toBe(true);
      failedAt.push(n);
    } else if (!fired) {
      return { calls: n - 1, failedAt };
    }
  }
  throw new Error('the operation kept asking the OS for memory');
}

osDescribe('Block.alloc', () => {
  const cases: [number, Sysalloc.BlockOptions | undefined][] = [
    [4096, undefined], // posix_memalign / _aligned_malloc
    [100, { align: 64, zero: false }],
    [65536, { zero: true }],
    [MiB, undefined], // mmap / VirtualAlloc
    [3 * MiB + 1, { align: 2 * MiB, zero: false }],
  ];

  test.each(cases)('%d bytes %j: one OS allocation; refused, ERR_NO_MEMORY and nothing held', (size, options) => {
    const op = () => {
      using block = lib.Block.alloc(size, options);
      block.buffer.fill(7);
    };
    expect(sweep(op)).toEqual({ calls: 1, failedAt: [1] });
    expect(sweep(op, true)).toEqual({ calls: 1, failedAt: [1] });
  });

  test('the error names the request, and the next allocation succeeds', () => {
    lib.trimBlockCache();
    t.faultArm(1, 1);
    expect(() => lib.Block.alloc(5000, { align: 4096 })).toThrow(
      expect.objectContaining({ code: 'ERR_NO_MEMORY', message: 'the system allocator refused 5000 bytes aligned to 4096' }),
    );
    using block = lib.Block.alloc(5000, { align: 4096 });
    expect(block.buffer.every((x) => x === 0)).toBe(true);
  });

  test('a region from the block cache needs no OS allocation, so no fault reaches it', () => {
    lib.trimBlockCache();
    lib.Block.alloc(2 * MiB).free();
    addon.drainQuarantine(); // what the microtask after this turn would do
    const injected = t.faultInjected();
    t.faultArm(1, EVERY);
    using again = lib.Block.alloc(2 * MiB);
    expect(again.buffer.every((x) => x === 0)).toBe(true);
    expect(t.faultInjected()).toBe(injected);
  });
});

osDescribe('Arena', () => {
  test('constructor: one OS allocation; refused, ERR_NO_MEMORY and nothing held', () => {
    const op = () => {
      using arena = new lib.Arena({ capacity: 100000 });
      arena.alloc(100).fill(1);
    };
    expect(sweep(op)).toEqual({ calls: 1, failedAt: [1] });
  });

  test('growing: every chunk is one OS allocation; each refusal is ERR_NO_MEMORY and nothing is held', () => {
    const op = () => {
      using arena = new lib.Arena({ capacity: 4096, grow: true });
      arena.alloc(4096).fill(1);
      arena.alloc(100).fill(2); // a second chunk, 8192 bytes
      arena.alloc(MiB).fill(3); // a chunk of its own
    };
    expect(sweep(op)).toEqual({ calls: 3, failedAt: [1, 2, 3] });
    expect(sweep(op, true)).toEqual({ calls: 3, failedAt: [1, 2, 3] });
  });

  test('a chunk the OS refuses leaves the arena as it was; it grows once the fault is gone', () => {
    lib.trimBlockCache();
    const before = blockCounters();
    const arena = new lib.Arena({ capacity: 4096, grow: true });
    const first = arena.alloc(4000);
    first.fill(9);
    const state = () => [arena.capacity, arena.used, arena.available, arena.regions().length];
    const was = state();
    t.faultArm(1, 1);
    let error: unknown;
    try {
      arena.alloc(200);
    } catch (e) {
      error = e;
    }
    expectNoMemory(error);
    expect(state()).toEqual(was);
    expect(first.every((x) => x === 9)).toBe(true);
    const fits = arena.alloc(64); // still room in the first chunk
    expect(fits.length).toBe(64);
    const grown = arena.alloc(200);
    expect(grown.length).toBe(200);
    expect(arena.regions().length).toBe(2);
    arena.reset();
    arena.destroy();
    addon.drainQuarantine(); // what the microtask after this turn would do
    lib.trimBlockCache();
    expect(blockCounters()).toEqual(before);
  });

  test('alloc within a chunk, reset and addMemory ask the OS for nothing', () => {
    using arena = new lib.Arena({ capacity: 65536 });
    const extra = lib.Block.alloc(8192);
    const calls = t.faultCalls();
    for (let i = 0; i < 100; i++) arena.alloc(100);
    arena.reset();
    arena.addMemory(extra);
    arena.alloc(60000);
    arena.alloc(8000);
    expect(t.faultCalls()).toBe(calls);
  });
});

(noExternalBuild ? describe.skip : describe).each([false, true])('Pool (checked: %s)', (checked) => {
  test('constructor: one OS allocation; refused, ERR_NO_MEMORY and nothing held', () => {
    const op = () => {
      using pool = new lib.Pool({ slotSize: 4096, slots: 64, align: 4096, checked });
      pool.alloc().fill(1);
    };
    expect(sweep(op)).toEqual({ calls: 1, failedAt: [1] });
    expect(sweep(op, true)).toEqual({ calls: 1, failedAt: [1] });
  });

  test('alloc, free and addMemory ask the OS for nothing', () => {
    using pool = new lib.Pool({ slotSize: 256, slots: 4, checked });
    const extra = lib.Block.alloc(4096);
    const calls = t.faultCalls();
    const slots = Array.from({ length: 4 }, () => pool.alloc());
    slots.forEach((s) => pool.free(s));
    pool.addMemory(extra);
    const more = Array.from({ length: 20 }, () => pool.alloc());
    more.forEach((s) => pool.free(s));
    expect(t.faultCalls()).toBe(calls);
  });
});

// ---- the shim, called through its function table as a C driver calls it

describe('shim', () => {
  type ShimStats = Sysalloc.ShimStats;
  let baseline: ShimStats;

  beforeAll(() => t.shimTable(lib.shim.pointers().table));
  beforeEach(() => {
    baseline = lib.shim.stats();
  });
  afterEach(() => {
    const after = lib.shim.stats();
    expect([after.liveBlocks, after.liveBytes]).toEqual([baseline.liveBlocks, baseline.liveBytes]);
  });

  /** The call failed as the header says: NULL, errno ENOMEM, a fault injected, no counter moved. */
  function expectRefused(p: bigint, before: ShimStats, injected: number): void {
    expect(p).toBe(0n);
    expect(t.lastErrno()).toBe(t.ENOMEM);
    expect(t.faultInjected()).toBeGreaterThan(injected);
    expect(lib.shim.stats()).toEqual(before);
  }

  /**
   * With every OS allocation failing, calls call() until it returns NULL:
   * the blocks it returned before came from the shim's own caches (freed
   * blocks, spans kept mapped) and are freed at the end. The NULL must be a
   * refusal by the OS. Then, the fault gone, call() succeeds. Returns the
   * pointer of that last call.
   */
  function untilRefused(call: () => bigint): bigint {
    const served: bigint[] = [];
    for (let i = 0; i < 1e6; i++) {
      const before = lib.shim.stats();
      const injected = t.faultInjected();
      t.faultArm(1, EVERY);
      const p = call();
      t.faultArm(0, 0);
      if (p !== 0n) {
        served.push(p);
        continue;
      }
      expectRefused(p, before, injected);
      const ok = call();
      expect(ok).not.toBe(0n);
      served.forEach((q) => t.free(q));
      return ok;
    }
    throw new Error('the shim never asked the OS for memory');
  }

  test.each([1000, 100000, MiB, 5 * MiB, 40 * MiB])('malloc(%d): NULL with ENOMEM when the OS refuses, then works', (n) => {
    const p = untilRefused(() => t.malloc(n));
    expect(t.usableSize(p)).toBe(n);
    t.fill(p, n, 1);
    expect(t.check(p, n, 1)).toBe(true);
    t.free(p);
  });

  test.each([
    [10, 100],
    [1, 300000],
    [3, 3 * MiB],
  ])('calloc(%d, %d): NULL with ENOMEM when the OS refuses, then zeroed', (count, size) => {
    const p = untilRefused(() => t.calloc(count, size));
    expect(t.isZero(p, count * size)).toBe(true);
    t.free(p);
  });

  test.each([
    [64, 1000],
    [4096, 200000],
    [2 * MiB, 100], // larger than any size class: granules of its own
    [16 * MiB, 5 * MiB], // larger than a granule
  ])('aligned_alloc(%d, %d): NULL with ENOMEM when the OS refuses, then aligned', (align, n) => {
    const p = untilRefused(() => t.alignedAlloc(align, n));
    expect(p % BigInt(align)).toBe(0n);
    t.fill(p, n, 2);
    expect(t.check(p, n, 2)).toBe(true);
    t.free(p);
  });

  // realloc: the old block must come out of a refusal as it was (C17 7.22.3.5).
  // Blocks served from the shim's caches are kept until the end, as in untilRefused.
  function reallocRefused(from: number, to: number): void {
    const served: bigint[] = [];
    for (let i = 0; i < 1e6; i++) {
      const p = t.malloc(from);
      t.fill(p, from, 3);
      const before = lib.shim.stats();
      const injected = t.faultInjected();
      t.faultArm(1, EVERY);
      const q = t.realloc(p, to);
      t.faultArm(0, 0);
      if (q !== 0n) {
        served.push(q);
        continue;
      }
      expectRefused(q, before, injected);
      expect(t.usableSize(p)).toBe(from);
      expect(t.check(p, from, 3)).toBe(true);
      const r = t.realloc(p, to);
      expect(r).not.toBe(0n);
      expect(t.check(r, Math.min(from, to), 3)).toBe(true);
      t.free(r);
      served.forEach((b) => t.free(b));
      return;
    }
    throw new Error('realloc never asked the OS for memory');
  }

  test.each([
    [100, 300000], // to a larger class
    [5 * MiB, 40 * MiB], // a large block grows: in place, or moved
    [5 * MiB, 200000], // a large block moves into a class
  ])('realloc(%d -> %d): NULL with ENOMEM when the OS refuses, the block intact', (from, to) => {
    reallocRefused(from, to);
  });

  test('realloc of a large block: each OS allocation on the way failed in turn, the contents always intact', () => {
    const from = 5 * MiB;
    const to = 40 * MiB;
    const outcomes: string[] = [];
    for (let n = 1; n < 100; n++) {
      const p = t.malloc(from);
      t.fill(p, from, 4);
      const before = lib.shim.stats();
      const injected = t.faultInjected();
      t.faultArm(n, 1);
      const q = t.realloc(p, to);
      const fired = t.faultInjected() > injected;
      t.faultArm(0, 0);
      if (q === 0n) {
        expectRefused(q, before, injected);
        expect(t.check(p, from, 4)).toBe(true);
        t.free(p);
        outcomes.push('refused');
        continue;
      }
      expect(t.usableSize(q)).toBe(to);
      expect(t.check(q, from, 4)).toBe(true);
      t.free(q);
      if (!fired) break;
      // The first way failed (growing in place) and the second (moving) worked.
      outcomes.push(q === p ? 'in place' : 'moved');
    }
    // At least the growth itself asked the OS and was refused once.
    expect(outcomes.length).toBeGreaterThanOrEqual(1);
    expect(outcomes.every((o) => o === 'refused' || o === 'moved')).toBe(true);
  });

  test('realloc of a foreign pointer: NULL with ENOMEM, the pointer still the system allocator\'s', () => {
    const p = t.systemMalloc(100);
    t.fill(p, 100, 5);
    const before = lib.shim.stats();
    const injected = t.faultInjected();
    t.faultArm(1, EVERY);
    const q = t.realloc(p, 20 * MiB);
    t.faultArm(0, 0);
    expectRefused(q, before, injected);
    expect(t.check(p, 100, 5)).toBe(true);
    const r = t.realloc(p, 20 * MiB);
    expect(t.check(r, 100, 5)).toBe(true);
    expect(lib.shim.stats().foreignFrees).toBe(before.foreignFrees + 1);
    t.free(r);
  });
});

// Two copies of sysalloc in one process, as two versions of the package in
// node_modules give (here the published addon and the testing one): each must
// keep to its own memory and its own threads. They shared the key of their
// thread-exit handler (a GNU unique symbol), so a thread that used the copy
// loaded first was cleaned up by the other one: its counters landed in the
// wrong copy, and the first copy kept a freed thread list (a use after free).
describe('two copies of sysalloc in one process', () => {
  afterAll(() => t.shimTable(addon.shimPointers().table));

  test('a thread that used one copy is cleaned up by that copy only', () => {
    const copies = [published, addon as typeof published];
    for (const copy of copies) {
      t.shimTable(copy.shimPointers().table);
      t.free(t.malloc(16)); // each copy sets up its thread-exit handling
    }
    for (const [i, copy] of copies.entries()) {
      const other = copies[1 - i];
      const mine = copy.shimStats();
      const theirs = other.shimStats();
      t.shimTable(copy.shimPointers().table);
      t.threadMallocFree(1000);
      const after = copy.shimStats();
      expect([after.allocations - mine.allocations, after.frees - mine.frees]).toEqual([1000, 1000]);
      expect([after.liveBlocks, after.liveBytes]).toEqual([mine.liveBlocks, mine.liveBytes]);
      expect(other.shimStats()).toEqual(theirs);
    }
  });
});
