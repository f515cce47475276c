// On runtime memory (a runtime that refuses external buffers: README "Runtimes
// without external buffers") every view an allocator hands out is a Buffer over
// its block's one ArrayBuffer, and cannot be detached alone. These tests pin
// that no view of released memory still reaches memory handed out again: after
// arena.reset(), a checked pool.free() and destroy(), the old views read length
// 0; a checked Heap or PageAllocator, which could not keep that promise there,
// is refused. The testing addon's runtimeMemory(true) switches an ordinary
// build to runtime memory; a build without external buffers (npm run
// test:no-external) is on it from the start.
import path = require('path');
import bindings = require('bindings');

import type * as Sysalloc from '..';

const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') });
let lib!: typeof Sysalloc;
jest.isolateModules(() => {
  jest.doMock('bindings', () => () => addon);
  lib = require('..');
});

const noExternalBuild = addon.sourceFor(4096, 4096) === 'runtime';

beforeEach(() => addon.testing.runtimeMemory(true));
afterEach(() => addon.testing.runtimeMemory(noExternalBuild));

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function caught(run: () => unknown): Sysalloc.AllocError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(lib.AllocError);
    return error as Sysalloc.AllocError;
  }
  throw new Error('expected an AllocError');
}

describe('Arena on runtime memory', () => {
  test('after reset() no earlier allocation reaches what the arena hands out again', async () => {
    const arena = new lib.Arena({ capacity: 8192, grow: true });
    expect(arena.regions().length).toBe(1);
    const old = [arena.alloc(64), arena.alloc(5000), arena.alloc(9000)];
    const part = old[0].subarray(8, 16);
    for (const buf of old) buf.fill(1);
    arena.reset();
    expect(old.map((b) => b.length)).toEqual([0, 0, 0]);
    expect(part.length).toBe(0);
    expect(arena.used).toBe(0);
    await turn();
    const fresh = [arena.alloc(64), arena.alloc(5000), arena.alloc(9000)];
    for (const buf of fresh) buf.fill(2);
    // Writes through the old views land nowhere; the new allocations keep their bytes.
    old[0][0] = 9;
    expect(() => part.fill(9)).toThrow(/detached/);
    for (const buf of fresh) expect(buf.every((b) => b === 2)).toBe(true);
    for (const buf of fresh) expect(buf.buffer).not.toBe(old[0].buffer);
    arena.destroy();
    expect(fresh.map((b) => b.length)).toEqual([0, 0, 0]);
  });

  test('a chunk from addMemory is released at reset too; capacity stays', async () => {
    const arena = new lib.Arena({ capacity: 4096 });
    const block = lib.Block.alloc(16384, { align: 4096 });
    arena.addMemory(block);
    const capacity = arena.capacity;
    const old: Buffer[] = [];
    for (let i = 0; i < 4; i++) old.push(arena.alloc(4096, 4096));
    arena.reset();
    expect(old.every((b) => b.length === 0)).toBe(true);
    expect(arena.capacity).toBe(capacity);
    await turn();
    const fresh: Buffer[] = [];
    for (let i = 0; i < 4; i++) fresh.push(arena.alloc(4096, 4096).fill(3));
    expect(fresh.every((b) => b.every((x) => x === 3))).toBe(true);
    arena.destroy();
  });

  test('many resets keep the live block count and bytes flat', async () => {
    const arena = new lib.Arena({ capacity: 4096, grow: true });
    arena.alloc(100);
    arena.alloc(8000);
    const before = lib.blockStats();
    for (let i = 0; i < 50; i++) {
      arena.reset();
      arena.alloc(100);
      arena.alloc(8000);
    }
    const after = lib.blockStats();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.liveBytes).toBe(before.liveBytes);
    arena.destroy();
  });
});

describe('Pool on runtime memory', () => {
  test('checked: a freed slot reads length 0 and never reaches the slot handed out next', async () => {
    const pool = new lib.Pool({ slotSize: 100, slots: 2, align: 64, checked: true });
    const a = pool.alloc();
    const b = pool.alloc();
    a.fill(1);
    b.fill(1);
    expect(Number(lib.addressOf(a)) % 64).toBe(0);
    pool.free(a);
    expect(a.length).toBe(0);
    expect(b.length).toBe(100);
    expect(() => pool.free(a)).toThrow(expect.objectContaining({ code: 'ERR_NOT_ALLOCATED' }));
    await turn();
    const c = pool.alloc();
    c.fill(2);
    a[0] = 9;
    expect(() => a.fill(9)).toThrow(/detached/);
    expect(c.every((x) => x === 2)).toBe(true);
    expect(b.every((x) => x === 1)).toBe(true);
    expect(pool.used).toBe(2);
    expect(pool.available).toBe(0);
    expect(() => pool.alloc()).toThrow(expect.objectContaining({ code: 'ERR_NO_MEMORY' }));
    pool.destroy();
    expect(b.length).toBe(0);
    expect(c.length).toBe(0);
  });

  test('checked: alloc and free in one run never hand out the same memory twice while a freed Buffer is readable', () => {
    const pool = new lib.Pool({ slotSize: 32, slots: 4, checked: true });
    const freed: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const buf = pool.alloc();
      buf.fill(i & 0xff);
      pool.free(buf);
      freed.push(buf);
    }
    expect(freed.every((b) => b.length === 0)).toBe(true);
    pool.destroy();
  });

  test('checked: slots are counted and freed; blocks go back at destroy', async () => {
    const before = lib.blockStats();
    const pool = new lib.Pool({ slotSize: 256, slots: 8, checked: true });
    const held = [pool.alloc(), pool.alloc(), pool.alloc()];
    pool.free(held[1]);
    expect(pool.used).toBe(2);
    expect(pool.available).toBe(6);
    expect(pool.slots).toBe(8);
    pool.destroy();
    expect(held.every((b) => b.length === 0)).toBe(true);
    const after = lib.blockStats();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  test('fast mode keeps its documented contract: destroy detaches every slot', () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 4 });
    const a = pool.alloc();
    pool.free(a);
    pool.destroy();
    expect(a.length).toBe(0);
  });
});

describe('Heap and PageAllocator on runtime memory', () => {
  test.each<[string, () => unknown, RegExp]>([
    ['a checked Heap', () => new lib.Heap({ capacity: 4096, checked: true }), /^Heap \{ checked: true \}: /],
    ['a checked PageAllocator', () => new lib.PageAllocator({ pages: 4, checked: true }), /^PageAllocator \{ checked: true \}: /],
  ])('%s is refused: ERR_INVALID_PARAM naming what and why', (_label, make, start) => {
    const before = lib.blockStats();
    const error = caught(make);
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toMatch(start);
    expect(error.message).toMatch(/napi_no_external_buffers_allowed/);
    expect(error.message).toMatch(/cannot be detached one by one/);
    expect(lib.blockStats().liveBlocks).toBe(before.liveBlocks);
  });

  test('a fast Heap and a fast PageAllocator work, and destroy detaches what they handed out', () => {
    const heap = new lib.Heap({ capacity: 4096 });
    const h = heap.alloc(100).fill(1);
    heap.free(h);
    const pages = new lib.PageAllocator({ pages: 4, pageSize: 4096 });
    const run = pages.allocPages(2);
    expect(Number(lib.addressOf(run)) % 4096).toBe(0);
    heap.destroy();
    pages.destroy();
    expect(h.length).toBe(0);
    expect(run.length).toBe(0);
  });
});
