// A shared pool (lib/shared-pool.ts) in the test's own process: its layout
// (control block, bitmap, slots at `first + i * stride`), which slot each
// alloc() takes, the full and destroyed states with their exact messages, which
// Buffers free() refuses, the counters every opening shares, and how an opening
// checks the region it was handed (a region crafted by a wrapper of the addon).
import path = require('path');
import bindings = require('bindings');
import { inspect, types } from 'util';

import * as sysalloc from '..';
import { externalFile } from './helpers';

const { AllocError, Pool, addressOf, MAX_SIZE } = sysalloc;
// On runtime memory (npm run test:no-external) every case below is skipped with
// the reason in its name; the one test there asserts the refusal instead.
const { test, describe, runtimeOnly } = externalFile('sharing is refused there (README, Runtimes without external buffers)');

runtimeOnly('on runtime memory sharing is refused: ERR_INVALID_PARAM', () => {
  let code: unknown;
  try {
    (() => new Pool({ slotSize: 8, slots: 2, shared: true }))();
  } catch (error) {
    code = (error as { code?: unknown }).code;
  }
  expect(code).toBe('ERR_INVALID_PARAM');
});
type Lib = typeof sysalloc;
const addon = bindings({ bindings: 'sysalloc', module_root: path.resolve(__dirname, '..') });

function caught(fn: () => unknown): InstanceType<typeof AllocError> {
  try {
    fn();
  } catch (error) {
    return error as InstanceType<typeof AllocError>;
  }
  throw new Error('expected a throw');
}
function expectError(fn: () => unknown, code: string, message: string, errorClass: unknown = AllocError): void {
  const error = caught(fn);
  expect(error).toBeInstanceOf(errorClass);
  expect([error.code, error.message]).toEqual([code, message]);
}

const shared = (slotSize: number, slots: number, more: object = {}) => new Pool({ slotSize, slots, shared: true, ...more });
/** Byte offset of a slot Buffer in the pool's region. */
const offsetIn = (pool: sysalloc.Pool, buf: Buffer) => Number(addressOf(buf) - pool.regions()[0].address);
const notMine = 'is not a slot this thread allocated from this pool: already freed, another thread\'s, from another pool, or never from one';

afterEach(() => jest.restoreAllMocks());

describe('layout', () => {
  test.each<[number, number, number, number, number, number]>([
    // slotSize, slots, align, stride, first (header 64 bytes + bitmap words, rounded up to align), region size
    [100, 5, 16, 112, 80, 80 + 4 * 112 + 100],
    [10, 3, 8, 16, 72, 72 + 2 * 16 + 10],
    [16, 33, 16, 16, 80, 80 + 32 * 16 + 16],
    [64, 2, 64, 64, 128, 128 + 64 + 64],
    [1, 32 * 15 + 1, 4, 4, 128, 128 + 480 * 4 + 1],
    [1, 32 * 14, 4, 4, 120, 120 + 447 * 4 + 1],
  ])('slotSize %d, %d slots, align %d: stride %d, slot 0 at %d, %d bytes', (slotSize, slots, align, stride, first, size) => {
    jest.spyOn(Math, 'random').mockReturnValue(0); // the search starts at bitmap word 0
    using pool = shared(slotSize, slots, { align });
    expect([pool.slotSize, pool.slots, pool.align, pool.stride, pool.used, pool.available]).toEqual([slotSize, slots, align, stride, 0, slots]);
    expect(pool.regions()).toEqual([{ address: expect.any(BigInt), size }]);
    const buf = pool.alloc();
    expect(offsetIn(pool, buf)).toBe(first);
    expect(offsetIn(pool, pool.alloc())).toBe(first + stride);
    expect(buf.length).toBe(slotSize);
  });

  test('the region is aligned to the page or to align, whichever is larger', () => {
    using small = shared(8, 4);
    expect(small.regions()[0].address % BigInt(sysalloc.pageSize())).toBe(0n);
    const big = Math.max(sysalloc.pageSize() * 4, 65536);
    using large = shared(8, 4, { align: big });
    expect(large.regions()[0].address % BigInt(big)).toBe(0n);
    expect(offsetIn(large, large.alloc())).toBe(big);
  });

  test('too many slots, or a region past MAX_SIZE, or a stride past 2^31 - 1: ERR_INVALID_PARAM naming slots', () => {
    const message = (slotSize: number, slots: number) =>
      `options.slots must be at most 16777216 slots whose memory fits in MAX_SIZE (with slotSize ${slotSize}); got ${slots}`;
    expectError(() => shared(1, 2 ** 24 + 1), 'ERR_INVALID_PARAM', message(1, 2 ** 24 + 1));
    expectError(() => shared(2 ** 31, 1), 'ERR_INVALID_PARAM', message(2 ** 31, 1));
    expectError(() => shared(2 ** 31 - 16, 2 ** 24), 'ERR_INVALID_PARAM', message(2 ** 31 - 16, 2 ** 24));
    expect(2 ** 24 * (2 ** 31 - 16)).toBeGreaterThan(MAX_SIZE);
  });

  test('a region of exactly 2^32 bytes is accepted (MAX_SIZE itself on Node 20)', () => {
    // 68 bytes of header and bitmap, then two slots of 2^31 - 34 bytes at align 1.
    using pool = shared(2 ** 31 - 34, 2, { align: 1 });
    expect(pool.regions()[0].size).toBe(2 ** 32);
    expect(MAX_SIZE).toBeGreaterThanOrEqual(2 ** 32);
  });

  test('the largest stride: one slot of 2^31 - 1 bytes', () => {
    using pool = shared(2 ** 31 - 1, 1, { align: 1 });
    expect([pool.stride, pool.slots]).toEqual([2 ** 31 - 1, 1]);
    expect(pool.regions()[0].size).toBe(68 + 2 ** 31 - 1);
  });

  test('the most slots: 2^24 of one byte', () => {
    using pool = shared(1, 2 ** 24, { align: 1 });
    expect([pool.slots, pool.available, pool.stride]).toEqual([2 ** 24, 2 ** 24, 1]);
    expect(pool.regions()[0].size).toBe((16 + 2 ** 19) * 4 + 2 ** 24);
  });
});

describe('alloc', () => {
  test('one bitmap word: slots in order from the lowest, then ERR_NO_MEMORY; a freed slot is the next taken', () => {
    using pool = shared(100, 5);
    const bufs = Array.from({ length: 5 }, () => pool.alloc());
    expect(bufs.map((b) => offsetIn(pool, b))).toEqual([80, 192, 304, 416, 528]);
    expect([pool.used, pool.available]).toEqual([5, 0]);
    expectError(() => pool.alloc(), 'ERR_NO_MEMORY', 'every slot of the shared pool is taken (5 slots of 100 bytes, over all threads)');
    pool.free(bufs[3]);
    pool.free(bufs[1]);
    expect([pool.used, pool.available]).toEqual([3, 2]);
    expect(offsetIn(pool, pool.alloc())).toBe(192);
    expect(offsetIn(pool, pool.alloc())).toBe(416);
  });

  test('bits past the last slot are never handed out; a whole last word is', () => {
    for (const slots of [1, 31, 33, 63, 64, 65]) {
      using pool = shared(4, slots, { align: 4 });
      const seen = new Set<number>();
      for (let i = 0; i < slots; i++) seen.add(offsetIn(pool, pool.alloc()));
      expect(seen.size).toBe(slots);
      const first = pool.regions()[0].size - (slots - 1) * 4 - 4;
      expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: slots }, (_, i) => first + i * 4));
      expect(caught(() => pool.alloc()).code).toBe('ERR_NO_MEMORY');
    }
  });

  test('a slot freed in a later bitmap word is taken again, and only it', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    using pool = shared(4, 96, { align: 4 });
    const bufs = Array.from({ length: 96 }, () => pool.alloc());
    const slot = (b: Buffer) => (offsetIn(pool, b) - 76) / 4;
    expect(bufs.map(slot)).toEqual(Array.from({ length: 96 }, (_, i) => i));
    for (const i of [40, 70]) pool.free(bufs[i]);
    expect([pool.used, pool.available]).toEqual([94, 2]);
    expect([slot(pool.alloc()), slot(pool.alloc())].sort((x, y) => x - y)).toEqual([40, 70]);
    expect(caught(() => pool.alloc()).code).toBe('ERR_NO_MEMORY');
  });

  test('each opening starts at a random bitmap word and goes round the words from there', () => {
    const random = jest.spyOn(Math, 'random').mockReturnValue(0.99);
    using pool = shared(4, 96, { align: 4 }); // 3 words: starts at word 2
    random.mockReturnValue(0.5);
    using other = Pool.fromShared(pool.share()); // starts at word 1
    const first = 76; // (16 + 3) * 4
    const slot = (b: Buffer) => (offsetIn(pool, b) - first) / 4;
    expect(slot(pool.alloc())).toBe(64);
    expect(slot(other.alloc())).toBe(32);
    for (let i = 1; i < 32; i++) pool.alloc();
    expect(slot(pool.alloc())).toBe(0); // word 2 full: round to word 0
    expect(slot(pool.alloc())).toBe(1); // and stays there
    expect([pool.used, other.used]).toEqual([35, 35]);
  });
});

describe('free', () => {
  test('refuses anything but a slot Buffer this opening handed out and holds', () => {
    using pool = shared(100, 5);
    using other = shared(100, 5);
    const a = pool.alloc();
    const b = other.alloc();
    const region = a.buffer;
    for (const buf of [
      Buffer.alloc(100),
      a.subarray(0),
      Buffer.from(region, a.byteOffset, 100),
      Buffer.from(region, a.byteOffset + 112, 100), // the next slot, not handed out
      Buffer.from(region, a.byteOffset + 8, 92), // inside a slot
      Buffer.from(region, a.byteOffset - 16, 16), // the control block
      b,
    ]) {
      expectError(() => pool.free(buf), 'ERR_NOT_ALLOCATED', `buf (a Buffer) ${notMine}`);
    }
    expectError(() => pool.free(new Uint8Array(a.buffer, a.byteOffset, 100)), 'ERR_NOT_ALLOCATED', `buf (an Uint8Array) ${notMine}`);
    for (const [value, shown] of [[{}, 'an Object'], [null, 'null'], [undefined, 'undefined'], [a.buffer, types.isSharedArrayBuffer(a.buffer) ? 'a SharedArrayBuffer' : 'an ArrayBuffer']] as const) {
      expectError(() => pool.free(value as unknown as Buffer), 'ERR_INVALID_PARAM', `buf must be a Buffer from this pool; got ${shown}`);
    }
    expect(pool.used).toBe(1);
    pool.free(a);
    expect(pool.used).toBe(0);
    expectError(() => pool.free(a), 'ERR_NOT_ALLOCATED', `buf (a Buffer) ${notMine}`);
    other.free(b);
  });

  test('a slot taken through another opening is not this one\'s to free', () => {
    for (const checked of [false, true]) {
      using pool = shared(16, 8, { checked });
      using other = Pool.fromShared(pool.share());
      const theirs = other.alloc();
      expectError(() => pool.free(theirs), 'ERR_NOT_ALLOCATED', `buf (a Buffer) ${notMine}`);
      expect(pool.used).toBe(1);
      other.free(theirs);
      expect(pool.used).toBe(0);
    }
  });

  test('checked mode: each slot is a Buffer of its own, freed once; a copy of it is refused', () => {
    using pool = shared(10, 3, { checked: true, align: 8 });
    expect(pool.checked).toBe(true);
    const a = pool.alloc();
    const b = pool.alloc();
    expect([offsetIn(pool, a), offsetIn(pool, b), a.byteOffset, a.buffer.byteLength]).toEqual([72, 88, 0, 10]);
    expectError(() => pool.free(Buffer.from(a.buffer)), 'ERR_NOT_ALLOCATED', `buf (a Buffer) ${notMine}`);
    pool.free(a);
    expect(a.length).toBe(0);
    expectError(() => pool.free(a), 'ERR_NOT_ALLOCATED', `buf (a Buffer) ${notMine}`);
    expect(offsetIn(pool, pool.alloc())).toBe(72);
    expect(pool.used).toBe(2);
    pool.free(b);
  });
});

describe('destroy', () => {
  test('returns this opening\'s slots, leaves the others\', and every later call is refused', () => {
    for (const checked of [false, true]) {
      const pool = shared(16, 8, { checked });
      const other = Pool.fromShared(pool.share());
      const mine = [pool.alloc(), pool.alloc()];
      const theirs = other.alloc();
      expect(other.used).toBe(3);
      pool.destroy();
      expect([other.used, other.available]).toEqual([1, 7]);
      expect([pool.destroyed, pool.used, pool.available, pool.slots, pool.shared]).toEqual([true, 0, 0, 0, true]);
      // Fast mode over a SharedArrayBuffer (Node 22 and later): the slot Buffers keep reaching the memory (documented).
      const kept = !checked && sysalloc.sharedArrayBuffers ? 16 : 0;
      expect(mine.map((b) => b.length)).toEqual([kept, kept]);
      expect(inspect(pool)).toBe(`Pool { shared, slotSize: 16, align: 16, checked: ${checked}, destroyed }`);
      expectError(() => pool.alloc(), 'ERR_NOT_ALLOCATED', 'cannot allocate from a pool that is destroyed');
      expectError(() => pool.free(mine[0]), 'ERR_NOT_ALLOCATED', 'cannot free into a pool that is destroyed');
      expectError(() => pool.free(theirs), 'ERR_NOT_ALLOCATED', 'cannot free into a pool that is destroyed');
      expectError(() => pool.share(), 'ERR_NOT_ALLOCATED', 'cannot share a pool that is destroyed');
      expectError(() => pool.regions(), 'ERR_NOT_ALLOCATED', 'cannot list the regions of a pool that is destroyed');
      expectError(() => pool.destroy(), 'ERR_NOT_ALLOCATED', 'cannot destroy a pool that is destroyed');
      pool[Symbol.dispose]();
      expect(theirs.length).toBe(16);
      other.free(theirs);
      expect(other.used).toBe(0);
      other[Symbol.dispose]();
      expect(other.destroyed).toBe(true);
      other[Symbol.dispose]();
    }
  });
});

describe('the rest of the Pool interface', () => {
  test('inspect, shared, addMemory', () => {
    using pool = shared(100, 5);
    pool.alloc();
    expect(inspect(pool)).toBe('Pool { shared, slotSize: 100, align: 16, checked: false, used: 1, available: 4 }');
    expect(pool.shared).toBe(true);
    expect(pool).toBeInstanceOf(Pool);
    expectError(() => pool.addMemory(sysalloc.Block.alloc(4096)), 'ERR_INVALID_PARAM', 'a shared pool cannot take more memory: its slots are fixed when it is created');
  });

  test('each method and getter called on something else names itself', () => {
    using pool = shared(8, 2);
    const proto = Object.getPrototypeOf(pool) as Record<string | symbol, unknown>;
    for (const name of ['share', 'alloc', 'free', 'regions', 'addMemory', 'destroy']) {
      expectError(() => (proto[name] as () => unknown).call({}), 'ERR_INVALID_PARAM', `Pool.${name} must be called on a Pool; got an Object`);
    }
    expectError(() => (proto[Symbol.dispose] as () => unknown).call(1), 'ERR_INVALID_PARAM', 'Pool[Symbol.dispose] must be called on a Pool; got 1');
    for (const name of ['shared', 'used', 'available', 'slots', 'destroyed']) {
      const get = Object.getOwnPropertyDescriptor(proto, name)!.get!;
      expectError(() => get.call(null), 'ERR_INVALID_PARAM', `Pool.${name} must be called on a Pool; got null`);
    }
    expect((proto[inspect.custom] as () => string).call({})).toBe('Pool <not a Pool>');
  });
});

describe('opening checks the region it is handed', () => {
  // The region sharedOpen answers with: an external Buffer of `bytes` (holder 7) and its size.
  let region: { buf: Buffer; size: number } | undefined;
  let frees: number[] = [];
  // What opening one slot of a checked pool answers, when set.
  let partAnswer: number | undefined;
  const lib: Lib = (() => {
    const native = {
      ...addon,
      sharedOpen: (id: number, key: bigint, sab: boolean, offset: number, length: number, kind: number) => {
        if (length !== 0 && partAnswer !== undefined) return partAnswer;
        return region === undefined ? addon.sharedOpen(id, key, sab, offset, length, kind) : [region.buf, 7, id, key, region.size, 4096];
      },
      sharedFree: (view: Uint8Array, holder: number) => (holder === 7 ? (frees.push(holder), 0) : addon.sharedFree(view, holder)),
    };
    let out!: Lib;
    jest.isolateModules(() => {
      jest.doMock('bindings', () => () => native);
      out = require('..');
    });
    return out;
  })();
  const handle = { type: 'sysalloc.SharedPool', id: 1, key: 1n } as const;
  afterEach(() => {
    region = undefined;
    frees = [];
    partAnswer = undefined;
  });

  // A valid header: 3 slots of 10 bytes, stride 12, slot 0 right after the header and one bitmap word (68).
  function craft(change: Partial<Record<'magic' | 'slotSize' | 'stride' | 'slots' | 'first' | 'used' | 'checked' | 'align', number>> = {}, size = 68 + 2 * 12 + 10, bytes = 128): void {
    // The view starts 64 bytes into its ArrayBuffer: offsets count from the view.
    const buf = Buffer.from(new ArrayBuffer(bytes + 64), 64, bytes);
    const ctl = new Int32Array(buf.buffer, 64, bytes >> 2);
    const h = { magic: 0x53504f4c, slotSize: 10, stride: 12, slots: 3, first: 68, used: 1, checked: 0, align: 4, ...change };
    ctl.set([h.magic, h.slotSize, h.stride, h.slots, h.first, h.used, h.checked, h.align]);
    if (ctl.length > 16) ctl[16] = 0b001 | ~0b111; // slot 0 taken, bits past slot 2 taken
    region = { buf, size };
  }

  test('a header that fits exactly is opened with what it says', () => {
    craft();
    const pool = lib.Pool.fromShared(handle);
    expect([pool.slotSize, pool.stride, pool.slots, pool.align, pool.checked, pool.used, pool.available]).toEqual([10, 12, 3, 4, false, 1, 2]);
    const buf = pool.alloc();
    expect([buf.byteOffset, buf.length, buf.buffer]).toEqual([64 + 68 + 12, 10, region!.buf.buffer]);
    const last = pool.alloc();
    expect(last.byteOffset).toBe(64 + 68 + 24);
    expect(caught(() => pool.alloc()).code).toBe('ERR_NO_MEMORY');
    pool.free(buf);
    pool.free(last);
    expect(pool.used).toBe(1);
    expect(frees).toEqual([]);
    pool.destroy();
    expect(frees).toEqual([7]);
  });

  test('stride equal to slotSize, and a checked flag, are read as such', () => {
    craft({ stride: 10, checked: 1 }, 68 + 20 + 10);
    const pool = lib.Pool.fromShared(handle);
    expect([pool.stride, pool.checked]).toEqual([10, true]);
    pool.destroy();
  });

  test('a checked pool whose slot cannot be opened: the error names Pool.alloc and the slot is free again', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    using pool = new lib.Pool({ slotSize: 8, slots: 2, shared: true, checked: true });
    partAnswer = addon.status.noMemory;
    const error = caught(() => pool.alloc());
    expect(error).toBeInstanceOf(lib.AllocError);
    expect([error.code, error.message]).toEqual(['ERR_NO_MEMORY', 'Pool.alloc: no memory, or the runtime could not make a view over it']);
    expect([pool.used, pool.available]).toEqual([0, 2]);
    partAnswer = undefined;
    const a = pool.alloc();
    const b = pool.alloc();
    expect(offsetIn(pool, b) - offsetIn(pool, a)).toBe(pool.stride);
    pool.free(a);
    pool.free(b);
  });

  test.each<[string, () => void]>([
    ['a region smaller than the header', () => craft({}, 60, 60)],
    ['a region of exactly the header', () => craft({}, 64, 64)],
    ['another magic number', () => craft({ magic: 0x53504f4d })],
    ['slotSize 0', () => craft({ slotSize: 0 })],
    ['a stride below slotSize', () => craft({ stride: 9 })],
    ['no slots', () => craft({ slots: 0 })],
    ['slot 0 inside the bitmap', () => craft({ first: 67 })],
    ['the last slot one byte past the region', () => craft({}, 68 + 2 * 12 + 9)],
    ['a negative slot count', () => craft({ slots: -1 })],
  ])('%s: ERR_NOT_ALLOCATED, and the view is closed', (_label, make) => {
    make();
    expectError(() => lib.Pool.fromShared(handle), 'ERR_NOT_ALLOCATED', 'Pool.fromShared: the handle names no shared pool', lib.AllocError);
    expect(frees).toEqual([7]);
  });
});
