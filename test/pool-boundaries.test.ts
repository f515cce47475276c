// Pool (lib/pool.ts) at its boundaries: which memory each slot is, across the
// pool's own Block and Blocks added with addMemory (cut here at page
// alignment, so without padding); the counts slots / used / available through
// checked mode's slots held for a run, retirement, memory moved away and
// destroy; the pages of slot numbers past 2^16; the most slots a pool holds
// (the refusing side: building exactly 2^24 slots takes seconds); debug mode's
// poison and its reports, caught in this process (process.abort stubbed); and
// the exact message of every refusal. The testing addon (test/faults) stands
// in for a runtime without external buffers (testing.runtimeMemory: a checked
// pool's slots are Blocks of their own), for a wrap the runtime throws on
// (testing.refuseWrap), for a refused OS allocation (testing.faultArm) and,
// with viewDetach answering runtimeRefused, for a runtime that holds a Buffer
// for work in flight (Bun).
import fs = require('fs');
import path = require('path');
import bindings = require('bindings');
import { ReadableStream } from 'stream/web';
import { inspect } from 'util';

import type * as Sysalloc from '..';

const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') });
let lib!: typeof Sysalloc;
let refuseDetach = false;
const RUNTIME_REFUSED = 5; // native.status.runtimeRefused
const refusing = Object.create(addon, {
  viewDetach: { value: (view: Uint8Array): number => (refuseDetach ? RUNTIME_REFUSED : addon.viewDetach(view)) },
});
jest.isolateModules(() => {
  jest.doMock('bindings', () => () => refusing);
  lib = require('..');
});

// Whether this addon was built without external buffers: it serves runtime memory from the start.
const noExternalBuild = addon.sourceFor(4096, 4096) === 'runtime';
/** A test that holds only on external memory: skipped on runtime memory, saying why in its name. */
const onExternal =
  (why: string) =>
  (name: string, fn: jest.ProvidesCallback): void =>
    noExternalBuild ? test.skip(`${name} [not on runtime memory: ${why}]`, fn) : test(name, fn);

// Each test chooses its mode: debug mode (SYSALLOC_DEBUG=1) changes which
// freed slot comes back when, so it is off here unless a test turns it on.
beforeEach(() => {
  if (lib.debug.enabled) lib.debug.disable();
});
afterEach(() => {
  jest.restoreAllMocks();
  refuseDetach = false;
  addon.testing.refuseWrap(0);
  addon.testing.faultArm(0, 0);
  addon.testing.runtimeMemory(noExternalBuild);
  if (lib.debug.enabled) lib.debug.disable();
});

// napi_status values from js_native_api_types.h.
const PENDING_EXCEPTION = 10;
const THREW = (length: number, offset: number): string =>
  `the JavaScript runtime could not wrap ${length} bytes at offset ${offset}: the runtime threw: simulated exception`;

const NOT_A_SLOT = 'is not a slot this pool has allocated: already freed, from another pool, part of a slot, or never from this pool';

function thrown(fn: () => unknown): Sysalloc.AllocError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(lib.AllocError);
    return e as Sysalloc.AllocError;
  }
  throw new Error('expected an AllocError');
}

function codeAndMessage(fn: () => unknown): [string, string] {
  const error = thrown(fn);
  return [error.code, error.message];
}

const at = (buf: Uint8Array): bigint => lib.addressOf(buf);

/** A microtask turn and a macrotask: a checked pool's run has ended. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('slots across the pool\'s own Block and added Blocks', () => {
  // Blocks at a page boundary: no padding, so slot i of a block is at block.address + i * stride.
  const slotSize = 100;
  const align = 128;

  test('each added Block gives floor((size - slotSize) / stride) + 1 slots: 356 bytes give 3, 355 give 2, 100 give 1', () => {
    const pool = new lib.Pool({ slotSize, slots: 2, align });
    expect(pool.stride).toBe(128);
    const b3 = lib.Block.alloc(2 * 128 + 100, { align: 4096, zero: false });
    const b2 = lib.Block.alloc(2 * 128 + 99, { align: 4096, zero: false });
    const b1 = lib.Block.alloc(100, { align: 4096, zero: false });
    pool.addMemory(b3);
    expect([pool.slots, pool.available, pool.used]).toEqual([5, 5, 0]);
    pool.addMemory(b2);
    expect([pool.slots, pool.available, pool.used]).toEqual([7, 7, 0]);
    pool.addMemory(b1);
    expect([pool.slots, pool.available, pool.used]).toEqual([8, 8, 0]);
    expect(pool.regions()).toEqual([
      { address: pool.regions()[0].address, size: 128 + 100 },
      { address: b3.address, size: 356 },
      { address: b2.address, size: 355 },
      { address: b1.address, size: 100 },
    ]);
    pool.destroy();
  });

  test('the own Block is handed out first, then each added Block in the order added, lowest slot first', () => {
    const pool = new lib.Pool({ slotSize, slots: 2, align });
    const own = pool.regions()[0].address;
    const blocks = [356, 355, 100].map((size) => lib.Block.alloc(size, { align: 4096, zero: false }));
    for (const block of blocks) pool.addMemory(block);
    const bufs = Array.from({ length: 8 }, () => pool.alloc());
    expect(bufs.map(at)).toEqual([
      own,
      own + 128n,
      blocks[0].address,
      blocks[0].address + 128n,
      blocks[0].address + 256n,
      blocks[1].address,
      blocks[1].address + 128n,
      blocks[2].address,
    ]);
    for (const buf of bufs) expect(buf.length).toBe(slotSize);
    // Each slot holds its own bytes.
    bufs.forEach((buf, i) => buf.fill(i + 1));
    bufs.forEach((buf, i) => expect(buf.every((b) => b === i + 1)).toBe(true));
    expect([pool.used, pool.available]).toEqual([8, 0]);
    expect(codeAndMessage(() => pool.alloc())).toEqual(['ERR_NO_MEMORY', 'every slot of the pool is taken (8 slots of 100 bytes)']);
    // Freed in any order, the last freed comes back first, from whichever Block it lies in.
    for (const i of [6, 2, 7, 0]) pool.free(bufs[i]);
    expect([pool.used, pool.available]).toEqual([4, 4]);
    const again = Array.from({ length: 4 }, () => pool.alloc());
    expect(again.map(at)).toEqual([0, 7, 2, 6].map((i) => at(bufs[i])));
    for (const buf of [...again, bufs[1], bufs[3], bufs[4], bufs[5]]) pool.free(buf);
    expect([pool.used, pool.available, pool.slots]).toEqual([0, 8, 8]);
    pool.destroy();
    for (const buf of [...bufs, ...again]) expect(buf.length).toBe(0);
    for (const block of blocks) expect(block.freed).toBe(true);
  });

  test('a Buffer of an added Block is refused twice freed, as part of a slot, and as a copy of a slot at its very offset', () => {
    const pool = new lib.Pool({ slotSize, slots: 1, align });
    const block = lib.Block.alloc(356, { align: 4096, zero: false });
    pool.addMemory(block);
    pool.alloc();
    const first = pool.alloc();
    const second = pool.alloc();
    expect(at(second)).toBe(block.address + 128n);
    const copy = Buffer.from(second.buffer, second.byteOffset, second.length);
    expect(codeAndMessage(() => pool.free(copy))).toEqual([
      'ERR_NOT_ALLOCATED',
      `buf (100 bytes at offset ${second.byteOffset} of its ArrayBuffer) ${NOT_A_SLOT}`,
    ]);
    const part = second.subarray(1, 51);
    expect(codeAndMessage(() => pool.free(part))).toEqual([
      'ERR_NOT_ALLOCATED',
      `buf (50 bytes at offset ${second.byteOffset + 1} of its ArrayBuffer) ${NOT_A_SLOT}`,
    ]);
    // The block's last slot, never handed out, at its very offset.
    const third = Buffer.from(second.buffer, second.byteOffset + 128, 100);
    expect(thrown(() => pool.free(third)).code).toBe('ERR_NOT_ALLOCATED');
    pool.free(second);
    expect(thrown(() => pool.free(second)).message).toBe(`buf (100 bytes at offset ${second.byteOffset} of its ArrayBuffer) ${NOT_A_SLOT}`);
    pool.free(first);
    expect([pool.used, pool.available]).toEqual([1, 3]);
    pool.destroy();
  });

  test('a slot freed back into the own Block while the pool has added Blocks is the next one handed out', () => {
    const pool = new lib.Pool({ slotSize, slots: 3, align });
    const block = lib.Block.alloc(356, { align: 4096, zero: false });
    pool.addMemory(block);
    const a = pool.alloc();
    const b = pool.alloc();
    pool.free(a);
    expect(at(pool.alloc())).toBe(at(a));
    expect(at(pool.alloc())).toBe(at(b) + 128n);
    expect(at(pool.alloc())).toBe(block.address);
    pool.destroy();
  });
});

describe('refusals name what was refused', () => {
  test('a pool that is destroyed: alloc, free, addMemory, regions and destroy each say so; dispose does nothing', () => {
    const pool = new lib.Pool({ slotSize: 16, slots: 2 });
    const buf = pool.alloc();
    pool.destroy();
    expect([pool.destroyed, pool.slots, pool.used, pool.available]).toEqual([true, 0, 0, 0]);
    expect(codeAndMessage(() => pool.alloc())).toEqual(['ERR_NOT_ALLOCATED', 'cannot allocate from a pool that is destroyed']);
    expect(codeAndMessage(() => pool.free(buf))).toEqual(['ERR_NOT_ALLOCATED', 'cannot free into a pool that is destroyed']);
    const block = lib.Block.alloc(4096);
    expect(codeAndMessage(() => pool.addMemory(block))).toEqual(['ERR_NOT_ALLOCATED', 'cannot add memory to a pool that is destroyed']);
    expect(block.freed).toBe(false);
    block.free();
    expect(codeAndMessage(() => pool.regions())).toEqual(['ERR_NOT_ALLOCATED', 'cannot list the regions of a pool that is destroyed']);
    expect(codeAndMessage(() => pool.destroy())).toEqual(['ERR_NOT_ALLOCATED', 'cannot destroy a pool that is destroyed']);
    pool[Symbol.dispose]();
    expect(pool.destroyed).toBe(true);
  });

  test('free of what is not a typed array: ERR_INVALID_PARAM naming buf and the value, in both modes', () => {
    for (const checked of [false, true]) {
      const pool = new lib.Pool({ slotSize: 16, slots: 2, checked });
      expect(codeAndMessage(() => pool.free('slot' as unknown as Uint8Array))).toEqual([
        'ERR_INVALID_PARAM',
        'buf must be a Buffer from this pool; got "slot" (a string)',
      ]);
      expect(codeAndMessage(() => pool.free(new ArrayBuffer(16) as unknown as Uint8Array))).toEqual([
        'ERR_INVALID_PARAM',
        'buf must be a Buffer from this pool; got an ArrayBuffer',
      ]);
      pool.destroy();
    }
  });

  test('free of a typed array that is no Uint8Array, or of a foreign Buffer: ERR_NOT_ALLOCATED describing it, in both modes', () => {
    for (const checked of [false, true]) {
      const pool = new lib.Pool({ slotSize: 16, slots: 2, checked });
      const slot = pool.alloc();
      expect(codeAndMessage(() => pool.free(new Uint16Array(8) as unknown as Uint8Array))).toEqual([
        'ERR_NOT_ALLOCATED',
        `buf (an Uint16Array) ${NOT_A_SLOT}`,
      ]);
      expect(codeAndMessage(() => pool.free(new DataView(new ArrayBuffer(16)) as unknown as Uint8Array))).toEqual([
        'ERR_NOT_ALLOCATED',
        `buf (a DataView) ${NOT_A_SLOT}`,
      ]);
      // Far past any slot of this pool, in slot numbers of a later page.
      const far = new Uint8Array(new ArrayBuffer(2 << 20), 1 << 20, 16);
      expect(codeAndMessage(() => pool.free(far))).toEqual(['ERR_NOT_ALLOCATED', `buf (16 bytes at offset ${1 << 20} of its ArrayBuffer) ${NOT_A_SLOT}`]);
      const foreign = Buffer.alloc(16);
      expect(codeAndMessage(() => pool.free(foreign))).toEqual([
        'ERR_NOT_ALLOCATED',
        `buf (16 bytes at offset ${foreign.byteOffset} of its ArrayBuffer) ${NOT_A_SLOT}`,
      ]);
      expect(pool.used).toBe(1);
      pool.free(slot);
      expect(pool.used).toBe(0);
      pool.destroy();
    }
  });

  test('share() of a pool not created shared: ERR_INVALID_PARAM saying only a shared pool can; shared reads false', () => {
    const pool = new lib.Pool({ slotSize: 16, slots: 2 });
    expect(pool.shared).toBe(false);
    expect(codeAndMessage(() => pool.share())).toEqual(['ERR_INVALID_PARAM', 'only a pool created with { shared: true } can be shared']);
    pool.destroy();
  });

  test('every method and getter called on what is not a Pool names itself and the value', () => {
    const proto = lib.Pool.prototype as unknown as Record<PropertyKey, unknown>;
    const getter = (name: string) => (Object.getOwnPropertyDescriptor(lib.Pool.prototype, name) as PropertyDescriptor).get as () => unknown;
    for (const name of ['shared', 'used', 'available', 'slots', 'destroyed']) {
      expect(codeAndMessage(() => getter(name).call({}))).toEqual(['ERR_INVALID_PARAM', `Pool.${name} must be called on a Pool; got an Object`]);
    }
    for (const name of ['share', 'alloc', 'free', 'addMemory', 'regions', 'destroy']) {
      expect(codeAndMessage(() => (proto[name] as () => unknown).call(7))).toEqual(['ERR_INVALID_PARAM', `Pool.${name} must be called on a Pool; got 7`]);
    }
    expect(codeAndMessage(() => (proto[Symbol.dispose] as () => unknown).call(null))).toEqual([
      'ERR_INVALID_PARAM',
      'Pool[Symbol.dispose] must be called on a Pool; got null',
    ]);
    const show = proto[Symbol.for('nodejs.util.inspect.custom')] as () => string;
    expect(show.call({})).toBe('Pool <not a Pool>');
  });

  test('util.inspect shows the shape, used, available and live regions; destroyed once destroyed', () => {
    const pool = new lib.Pool({ slotSize: 24, slots: 3, align: 8 });
    const buf = pool.alloc();
    expect(inspect(pool)).toBe('Pool { slotSize: 24, align: 8, checked: false, used: 1, available: 2, regions: 1 }');
    pool.free(buf);
    pool.destroy();
    expect(inspect(pool)).toBe('Pool { slotSize: 24, align: 8, checked: false, destroyed }');
  });
});

describe('the most slots a pool holds', () => {
  const MAX = 2 ** 24;

  test('a pool holds at most 2^24 slots: options.slots above it is refused with the bound, at any slot size', () => {
    expect(codeAndMessage(() => new lib.Pool({ slotSize: 1, slots: MAX + 1, align: 1 }))).toEqual([
      'ERR_INVALID_PARAM',
      `options.slots must be an integer from 1 to ${MAX}; got ${MAX + 1}`,
    ]);
  });

  test('a large slot size lowers the bound to the slots one Block of MAX_SIZE can hold: floor((MAX_SIZE - slotSize) / stride) + 1', () => {
    const slotSize = 2 ** 30 + 1;
    const stride = 2 ** 30 + 16;
    const bound = Math.floor((lib.MAX_SIZE - slotSize) / stride) + 1;
    expect(bound).toBeLessThan(MAX);
    expect(codeAndMessage(() => new lib.Pool({ slotSize, slots: bound + 1 }))).toEqual([
      'ERR_INVALID_PARAM',
      `options.slots must be an integer from 1 to ${bound}; got ${bound + 1}`,
    ]);
  });

  test('addMemory past 2^24 slots is refused, naming the counts, before any list is built; the Block stays its caller\'s', () => {
    const pool = new lib.Pool({ slotSize: 1, slots: 1, align: 1 });
    const block = lib.Block.alloc(MAX, { zero: false });
    expect(codeAndMessage(() => pool.addMemory(block))).toEqual([
      'ERR_INVALID_PARAM',
      `a pool holds at most ${MAX} slots; this one has 1 and the block would add ${MAX}`,
    ]);
    expect([block.freed, pool.slots, pool.available, pool.regions().length]).toEqual([false, 1, 1, 1]);
    block.free();
    pool.destroy();
  });
});

describe('slot numbers past one page of 2^16', () => {
  test('a pool of 2^16 + 1 slots hands out every one, the last in the second page, and takes each back', () => {
    const slots = 2 ** 16 + 1;
    const pool = new lib.Pool({ slotSize: 1, slots, align: 1 });
    const base = pool.regions()[0].address;
    const bufs: Buffer[] = [];
    for (let i = 0; i < slots; i++) bufs.push(pool.alloc());
    expect(at(bufs[slots - 1]) - base).toBe(BigInt(slots - 1));
    expect(at(bufs[2 ** 16 - 1]) - base).toBe(BigInt(2 ** 16 - 1));
    expect([pool.used, pool.available]).toEqual([slots, 0]);
    pool.free(bufs[slots - 1]);
    pool.free(bufs[0]);
    expect(thrown(() => pool.free(bufs[slots - 1])).code).toBe('ERR_NOT_ALLOCATED');
    for (let i = 1; i < slots - 1; i++) pool.free(bufs[i]);
    expect([pool.used, pool.available]).toEqual([0, slots]);
    pool.destroy();
  });

  test('addMemory grows the last page: Buffers handed out before it are still taken back, and the new slots after them', () => {
    const pool = new lib.Pool({ slotSize: 16, slots: 3 });
    const before = [pool.alloc(), pool.alloc(), pool.alloc()];
    const block = lib.Block.alloc(4096, { align: 4096, zero: false });
    pool.addMemory(block);
    const added = pool.alloc();
    expect(at(added)).toBe(block.address);
    for (const buf of before) pool.free(buf);
    pool.free(added);
    expect([pool.used, pool.available, pool.slots]).toEqual([0, 3 + 256, 3 + 256]);
    for (const buf of before) expect(thrown(() => pool.free(buf)).code).toBe('ERR_NOT_ALLOCATED');
    pool.destroy();
  });

  test('addMemory of a second page: slot numbers 2^16 on lie in a new page, and the full first page keeps its Buffers', () => {
    const pool = new lib.Pool({ slotSize: 1, slots: 2 ** 16, align: 1 });
    const last = [];
    for (let i = 0; i < 2 ** 16; i++) last[0] = pool.alloc();
    const block = lib.Block.alloc(4096, { align: 4096, zero: false });
    pool.addMemory(block);
    const added = [pool.alloc(), pool.alloc()];
    expect(added.map(at)).toEqual([block.address, block.address + 1n]);
    pool.free(added[1]);
    pool.free(last[0]);
    expect(at(pool.alloc())).toBe(at(last[0]));
    expect(at(pool.alloc())).toBe(block.address + 1n);
    expect([pool.used, pool.slots]).toEqual([2 ** 16 + 2, 2 ** 16 + 4096]);
    pool.destroy();
  });
});

describe('a checked pool holds the slots freed in a run', () => {
  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once')('held slots count as available; one comes back, oldest first, only when no other slot is free; after the run, last freed first', async () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 4, align: 64, checked: true });
    const base = pool.regions()[0].address;
    const a = pool.alloc();
    const b = pool.alloc();
    const c = pool.alloc();
    pool.free(a);
    pool.free(b);
    expect([pool.used, pool.available, pool.slots]).toEqual([1, 3, 4]);
    expect(inspect(pool)).toBe('Pool { slotSize: 64, align: 64, checked: true, used: 1, available: 3, regions: 1 }');
    expect(at(pool.alloc())).toBe(base + 192n); // the never-used slot first
    const fromHeld = pool.alloc();
    expect(at(fromHeld)).toBe(base); // then a's, the oldest held
    expect([pool.used, pool.available]).toEqual([3, 1]);
    await turn();
    expect([pool.used, pool.available]).toEqual([3, 1]);
    pool.free(c);
    await turn();
    pool.free(fromHeld);
    await turn();
    expect([pool.used, pool.available]).toEqual([1, 3]);
    expect(at(pool.alloc())).toBe(base); // the last freed first
    expect(at(pool.alloc())).toBe(base + 128n);
    pool.destroy();
  });

  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once')('a run that frees and allocates more than 64 held slots gets each back oldest first, and the counts stay right', async () => {
    const n = 150;
    const pool = new lib.Pool({ slotSize: 16, slots: n, checked: true });
    const base = pool.regions()[0].address;
    const bufs = Array.from({ length: n }, () => pool.alloc());
    // Freed in an order of their own: 0, 2, 4, ..., then 1, 3, 5, ...
    const order = [...Array(n).keys()].sort((x, y) => (x % 2) - (y % 2) || x - y);
    for (const i of order) pool.free(bufs[i]);
    expect([pool.used, pool.available]).toEqual([0, n]);
    const again: Buffer[] = [];
    for (let k = 0; k < n; k++) {
      again.push(pool.alloc());
      expect([pool.used, pool.available]).toEqual([k + 1, n - k - 1]);
    }
    expect(again.map((buf) => Number(at(buf) - base) / 16)).toEqual(order);
    expect(thrown(() => pool.alloc()).code).toBe('ERR_NO_MEMORY');
    // Half back, in the same run: held again after the compaction.
    for (let k = 0; k < 100; k++) pool.free(again[k]);
    expect([pool.used, pool.available]).toEqual([n - 100, 100]);
    for (let k = 0; k < 100; k++) expect(Number(at(pool.alloc()) - base) / 16).toBe(order[k]);
    expect([pool.used, pool.available]).toEqual([n, 0]);
    await turn();
    expect([pool.used, pool.available]).toEqual([n, 0]);
    pool.destroy();
  });

  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once, and addMemory is refused')('a slot of an added Block freed in the run, then the Block freed by its caller: retirement drops it from slots and available', () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 1, align: 64, checked: true });
    const added = lib.Block.alloc(256, { align: 4096, zero: false });
    pool.addMemory(added);
    expect([pool.slots, pool.available]).toEqual([5, 5]);
    const own = pool.alloc();
    const first = pool.alloc();
    const second = pool.alloc();
    expect([at(first), at(second)]).toEqual([added.address, added.address + 64n]);
    pool.free(first); // held for this run
    expect([pool.slots, pool.available, pool.used]).toEqual([5, 3, 2]);
    added.free();
    expect(codeAndMessage(() => pool.alloc())).toEqual(['ERR_NO_MEMORY', 'every slot of the pool is taken (2 slots of 64 bytes)']);
    // The two free slots and the held one left; own and second are live.
    expect([pool.slots, pool.available, pool.used]).toEqual([2, 0, 2]);
    expect(pool.regions()).toHaveLength(1);
    pool.free(second);
    expect([pool.slots, pool.available, pool.used]).toEqual([1, 0, 1]);
    // It left because its Block did, not because its memory moved: no "more slots left" in the message.
    expect(codeAndMessage(() => pool.alloc())).toEqual(['ERR_NO_MEMORY', 'every slot of the pool is taken (1 slots of 64 bytes)']);
    pool.free(own);
    expect([pool.slots, pool.available, pool.used]).toEqual([1, 1, 0]);
    expect(inspect(pool)).toBe('Pool { slotSize: 64, align: 64, checked: true, used: 0, available: 1, regions: 1 }');
    pool.destroy();
  });

  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once')('a Buffer another holder detached leaves the pool when freed; ERR_NO_MEMORY then counts it', () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 2, checked: true });
    const a = pool.alloc();
    const b = pool.alloc();
    addon.viewDetach(a); // as a transfer of its memory would
    expect(a.length).toBe(0);
    pool.free(a);
    expect([pool.slots, pool.used, pool.available]).toEqual([1, 1, 0]);
    expect(codeAndMessage(() => pool.alloc())).toEqual([
      'ERR_NO_MEMORY',
      'every slot of the pool is taken (1 slots of 64 bytes; 1 more slots left the pool when their memory was moved to another ArrayBuffer (a web byte stream, transfer() or a BYOB read))',
    ]);
    pool.free(b);
    expect([pool.slots, pool.used, pool.available]).toEqual([1, 0, 1]);
    pool.destroy();
  });

  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once through their Block')('free while the runtime holds the Buffer for work in flight (Bun): refused, the slot stays allocated', () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 2, checked: true });
    const a = pool.alloc();
    refuseDetach = true;
    const error = thrown(() => pool.free(a));
    expect([error.code, error.message]).toEqual([
      'ERR_INVALID_PARAM',
      'Pool.free: cannot free 64 bytes while the runtime holds their Buffer for work in flight (Bun holds a Buffer given to fs, zlib or crypto until the callback): they stay allocated; free them once that work has ended',
    ]);
    expect([pool.used, pool.available, a.length]).toEqual([1, 1, 64]);
    refuseDetach = false;
    pool.free(a);
    expect([pool.used, pool.available, a.length]).toEqual([0, 2, 0]);
    pool.destroy();
  });

  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once, and addMemory is refused')('destroy detaches every live Buffer, of the own and of added Blocks, and frees the added Blocks', () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 2, checked: true });
    const added = lib.Block.alloc(128, { align: 4096, zero: false });
    pool.addMemory(added);
    const bufs = [pool.alloc(), pool.alloc(), pool.alloc()];
    expect(bufs.map((b) => b.length)).toEqual([64, 64, 64]);
    const freed = pool.alloc();
    pool.free(freed); // held in this run when destroy comes
    pool.destroy();
    expect(bufs.map((b) => b.length)).toEqual([0, 0, 0]);
    expect(added.freed).toBe(true);
  });

  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once, and addMemory is refused')('destroy after a retirement: the retired Block stays the caller\'s freed Block, the others are freed', () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 1, checked: true });
    const added = lib.Block.alloc(128, { align: 4096, zero: false });
    const kept = lib.Block.alloc(128, { align: 4096, zero: false });
    pool.addMemory(added);
    pool.addMemory(kept);
    const own = pool.alloc();
    added.free();
    const next = pool.alloc(); // retires `added`, then comes from `kept`
    expect(at(next)).toBe(kept.address);
    expect([pool.slots, pool.available, pool.used]).toEqual([3, 1, 2]);
    expect(pool.regions().map((r) => r.address)).toEqual([pool.regions()[0].address, kept.address]);
    pool.destroy();
    expect([own.length, next.length, kept.freed]).toEqual([0, 0, true]);
  });
});

describe('a checked pool where the runtime serves the memory: each slot is a Block of its own', () => {
  test('slots count up front; each alloc is a Block at the slot alignment; regions() lists the live ones; free detaches', () => {
    addon.testing.runtimeMemory(true);
    const pool = new lib.Pool({ slotSize: 40, slots: 3, align: 64, checked: true });
    expect([pool.slots, pool.used, pool.available, pool.stride]).toEqual([3, 0, 3, 64]);
    expect(pool.regions()).toEqual([]);
    const a = pool.alloc();
    const b = pool.alloc();
    expect([a.length, b.length]).toEqual([40, 40]);
    expect(at(a) % 64n).toBe(0n);
    expect(at(b) % 64n).toBe(0n);
    expect(pool.regions()).toEqual([
      { address: at(a), size: 40 },
      { address: at(b), size: 40 },
    ]);
    expect([pool.used, pool.available]).toEqual([2, 1]);
    expect(inspect(pool)).toBe('Pool { slotSize: 40, align: 64, checked: true, used: 2, available: 1, regions: 2 }');
    pool.free(a);
    expect(a.length).toBe(0);
    expect([pool.used, pool.available]).toEqual([1, 2]);
    expect(pool.regions()).toEqual([{ address: at(b), size: 40 }]);
    expect(codeAndMessage(() => pool.free(a))).toEqual(['ERR_NOT_ALLOCATED', `buf (0 bytes at offset 0 of its ArrayBuffer) ${NOT_A_SLOT}`]);
    const c = pool.alloc();
    const d = pool.alloc();
    expect(codeAndMessage(() => pool.alloc())).toEqual(['ERR_NO_MEMORY', 'every slot of the pool is taken (3 slots of 40 bytes)']);
    pool.destroy();
    expect([b.length, c.length, d.length]).toEqual([0, 0, 0]);
    expect([pool.slots, pool.used, pool.available]).toEqual([0, 0, 0]);
  });

  test('a pool of 2^16 + 1 such slots hands out its first slot from the first page of slot numbers', () => {
    addon.testing.runtimeMemory(true);
    const pool = new lib.Pool({ slotSize: 16, slots: 2 ** 16 + 1, checked: true });
    const a = pool.alloc();
    const b = pool.alloc();
    expect([a.length, b.length, pool.used, pool.available]).toEqual([16, 16, 2, 2 ** 16 - 1]);
    pool.free(a);
    pool.free(b);
    expect([pool.used, pool.available]).toEqual([0, 2 ** 16 + 1]);
    pool.destroy();
  });

  test('addMemory is refused, naming why a block cannot be cut into slots there', () => {
    addon.testing.runtimeMemory(true);
    const pool = new lib.Pool({ slotSize: 40, slots: 3, checked: true });
    const block = lib.Block.alloc(4096);
    expect(codeAndMessage(() => pool.addMemory(block))).toEqual([
      'ERR_INVALID_PARAM',
      "Pool.addMemory of a checked pool: this runtime does not allow external buffers (napi_no_external_buffers_allowed: Electron, a V8 sandbox), so blocks are memory it allocates (block.source 'runtime'), and a view of it cannot be detached alone: each slot of a checked pool is an allocation of its own there, so a block cannot be cut into slots",
    ]);
    expect(block.freed).toBe(false);
    block.free();
    pool.destroy();
  });
});

/** Moves view's memory to another ArrayBuffer, as a web byte stream does with a chunk it is given. */
async function move(view: Uint8Array): Promise<Uint8Array> {
  const stream = new ReadableStream({
    type: 'bytes',
    start(controller) {
      controller.enqueue(view);
      controller.close();
    },
  });
  const { value } = await stream.getReader().read();
  return value as Uint8Array;
}

/**
 * Runs fn with the report of a broken poison caught: the report's text
 * (written to stderr) is returned and the stop (process.abort) throws instead.
 */
function reportOf(fn: () => unknown): string {
  let text = '';
  jest.spyOn(fs, 'writeSync').mockImplementation((fd: unknown, data: unknown) => {
    if (fd === 2) text += String(data);
    return 0;
  });
  jest.spyOn(process, 'abort').mockImplementation(() => {
    throw new Error('stopped');
  });
  expect(fn).toThrow('stopped');
  jest.restoreAllMocks();
  return text;
}

const poisonHead = (byte: number, slot: bigint, value: string, size: number, found: string): string =>
  `\nsysalloc debug: use after free: byte ${byte} of a freed Pool slot (at 0x${(slot + BigInt(byte)).toString(16)}) was written: ` +
  `it holds 0x${value}, not the poison 0xdd; found ${found}\nthe memory of a Pool slot of ${size} bytes at 0x${slot.toString(16)}, freed\n  allocated at:\n`;

describe('debug mode: a freed slot holds the poison 0xdd until it is handed out again', () => {
  test('fast: a freed slot reads 0xdd through the kept Buffer, is held until no other slot is free, and comes back intact', () => {
    lib.debug.enable({ reportAtExit: false });
    const pool = new lib.Pool({ slotSize: 32, slots: 3 });
    const a = pool.alloc().fill(7);
    const b = pool.alloc();
    pool.free(a);
    expect(a.every((x) => x === 0xdd)).toBe(true);
    expect([pool.used, pool.available]).toEqual([1, 2]);
    const c = pool.alloc(); // the never-used slot
    expect(at(c)).not.toBe(at(a));
    const again = pool.alloc();
    expect(at(again)).toBe(at(a));
    expect(again.every((x) => x === 0xdd)).toBe(true);
    expect(codeAndMessage(() => pool.alloc())).toEqual(['ERR_NO_MEMORY', 'every slot of the pool is taken (3 slots of 32 bytes)']);
    for (const buf of [b, c, again]) pool.free(buf);
    expect([pool.used, pool.available, pool.slots]).toEqual([0, 3, 3]);
    pool.destroy();
  });

  test('fast: a byte written into a freed slot is reported when the slot is handed out again, naming the byte, its value and the slot', () => {
    lib.debug.enable({ reportAtExit: false });
    const pool = new lib.Pool({ slotSize: 32, slots: 1, align: 64 });
    const a = pool.alloc();
    pool.free(a);
    a[5] = 7;
    const text = reportOf(() => pool.alloc());
    expect(text.startsWith(poisonHead(5, at(a), '07', 32, 'when the slot was handed out again'))).toBe(true);
    // Both sites are this file's lines: where the slot was allocated, then where it was freed.
    const [allocated, freed] = text.split('  freed at:\n');
    expect(allocated).toMatch(/allocated at:\n {4}.*pool-boundaries\.test\.ts:\d+/);
    expect(freed).toMatch(/^ {4}.*pool-boundaries\.test\.ts:\d+/);
  });

  test('fast, in an added Block: the report names the slot\'s own address', () => {
    lib.debug.enable({ reportAtExit: false });
    const pool = new lib.Pool({ slotSize: 32, slots: 1, align: 64 });
    const block = lib.Block.alloc(4096, { align: 4096, zero: false });
    pool.addMemory(block);
    pool.alloc();
    pool.alloc();
    const third = pool.alloc();
    expect(at(third)).toBe(block.address + 64n);
    pool.free(third);
    third[31] = 0x41;
    const text = reportOf(() => pool.destroy());
    expect(text.startsWith(poisonHead(31, block.address + 64n, '41', 32, 'at destroy()'))).toBe(true);
  });

  test('fast: destroy with every held slot intact reports nothing and frees the pool', () => {
    lib.debug.enable({ reportAtExit: false });
    const pool = new lib.Pool({ slotSize: 32, slots: 3 });
    const bufs = [pool.alloc(), pool.alloc(), pool.alloc()];
    for (const buf of bufs) pool.free(buf);
    const abort = jest.spyOn(process, 'abort').mockImplementation(() => {
      throw new Error('stopped');
    });
    pool.destroy();
    expect(abort).not.toHaveBeenCalled();
    expect(bufs.map((b) => b.length)).toEqual([0, 0, 0]);
  });

  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once, neither held nor poisoned')('checked: the freed Buffer reads length 0, the slot\'s memory holds 0xdd; a byte written there is reported at destroy()', () => {
    lib.debug.enable({ reportAtExit: false });
    const pool = new lib.Pool({ slotSize: 48, slots: 2, checked: true });
    const a = pool.alloc().fill(1);
    const address = at(a);
    pool.free(a);
    expect(a.length).toBe(0);
    for (const i of [0, 47]) expect(addon.testing.peekByte(address, i)).toBe(0xdd);
    addon.testing.pokeByte(address, 9);
    const text = reportOf(() => pool.destroy());
    expect(text.startsWith(poisonHead(9, address, '5a', 48, 'at destroy()'))).toBe(true);
  });

  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once, neither held nor poisoned')('checked, in an added Block: the poison is written at the freed slot\'s own offset', () => {
    lib.debug.enable({ reportAtExit: false });
    const pool = new lib.Pool({ slotSize: 48, slots: 1, checked: true });
    const block = lib.Block.alloc(128, { align: 4096, zero: false });
    pool.addMemory(block);
    const bufs = [pool.alloc(), pool.alloc(), pool.alloc()].map((b) => b.fill(1));
    expect(bufs.slice(1).map(at)).toEqual([block.address, block.address + 48n]);
    pool.free(bufs[2]);
    for (const i of [0, 47]) expect(addon.testing.peekByte(block.address + 48n, i)).toBe(0xdd);
    expect([bufs[0][0], bufs[1][47]]).toEqual([1, 1]);
    pool.free(bufs[0]);
    pool.free(bufs[1]);
    pool.destroy();
  });

  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once, neither held nor poisoned')('checked: a held slot handed out again with its poison broken is reported then', () => {
    lib.debug.enable({ reportAtExit: false });
    const pool = new lib.Pool({ slotSize: 48, slots: 1, checked: true });
    const a = pool.alloc();
    const address = at(a);
    pool.free(a);
    addon.testing.pokeByte(address, 0);
    const text = reportOf(() => pool.alloc());
    expect(text.startsWith(poisonHead(0, address, '5a', 48, 'when the slot was handed out again'))).toBe(true);
  });

  test('fast: when the region\'s memory moved away, its held slots come back free with the new memory, unchecked', async () => {
    lib.debug.enable({ reportAtExit: false });
    const pool = new lib.Pool({ slotSize: 32, slots: 3 });
    const [old] = pool.regions();
    const a = pool.alloc();
    const b = pool.alloc();
    pool.free(a);
    a[0] = 1; // broken poison, but its memory leaves with the move
    expect([pool.used, pool.available]).toEqual([1, 2]);
    const moved = await move(b);
    expect(moved.length).toBe(32);
    const [fresh] = pool.regions();
    expect(fresh.address).not.toBe(old.address);
    expect([pool.used, pool.available, pool.slots]).toEqual([0, 3, 3]);
    const abort = jest.spyOn(process, 'abort');
    const again = [pool.alloc(), pool.alloc(), pool.alloc()];
    for (const buf of again) expect(at(buf) >= fresh.address && at(buf) < fresh.address + BigInt(fresh.size)).toBe(true);
    expect(abort).not.toHaveBeenCalled();
    pool.destroy();
  });
});

describe('fast mode: memory moved out of a region', () => {
  test('the own region is replaced with new memory of the same slots, all free; an added one leaves, counted in ERR_NO_MEMORY', async () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 2, align: 64 });
    const block = lib.Block.alloc(192, { align: 4096, zero: false });
    pool.addMemory(block);
    const own = [pool.alloc(), pool.alloc()];
    const added = [pool.alloc(), pool.alloc()];
    expect(added.map(at)).toEqual([block.address, block.address + 64n]);
    await move(added[1]);
    expect(added[0].length).toBe(0);
    expect(own.map((b) => b.length)).toEqual([64, 64]);
    expect(inspect(pool)).toBe('Pool { slotSize: 64, align: 64, checked: false, used: 2, available: 0, regions: 1 }');
    expect([pool.slots, pool.used, pool.available]).toEqual([2, 2, 0]);
    expect(codeAndMessage(() => pool.alloc())).toEqual([
      'ERR_NO_MEMORY',
      'every slot of the pool is taken (2 slots of 64 bytes; 3 more slots left the pool when their memory was moved to another ArrayBuffer (a web byte stream, transfer() or a BYOB read))',
    ]);
    pool.free(added[0]); // its memory left: nothing to do
    expect([pool.slots, pool.used, pool.available]).toEqual([2, 2, 0]);
    const [old] = pool.regions();
    await move(own[0]);
    expect(own[1].length).toBe(0);
    const [fresh] = pool.regions();
    expect(fresh.address).not.toBe(old.address);
    expect([pool.slots, pool.used, pool.available]).toEqual([2, 0, 2]);
    const again = [pool.alloc(), pool.alloc()].map(at).sort((x, y) => Number(x - y));
    expect(again).toEqual([fresh.address, fresh.address + 64n]);
    pool.destroy();
  });
});

describe('a wrap the runtime refuses', () => {
  onExternal('a region there is the runtime\'s own ArrayBuffer, no view is wrapped')('addMemory to a fast pool: refused the same way; the Block stays its caller\'s and the pool unchanged', () => {
    const pool = new lib.Pool({ slotSize: 100, slots: 1, align: 128 });
    const block = lib.Block.alloc(356, { align: 4096, zero: false });
    addon.testing.refuseWrap(PENDING_EXCEPTION);
    expect(codeAndMessage(() => pool.addMemory(block))).toEqual(['ERR_NO_MEMORY', `Pool: ${THREW(356, 0)}`]);
    addon.testing.refuseWrap(0);
    expect([block.freed, pool.slots, pool.available, pool.regions().length]).toEqual([false, 1, 1, 1]);
    pool.addMemory(block);
    expect(pool.slots).toBe(4);
    pool.destroy();
  });

  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once')('alloc from a checked pool: ERR_NO_MEMORY naming the slot\'s offset and size; the slot stays free', () => {
    const pool = new lib.Pool({ slotSize: 100, slots: 2, align: 128, checked: true });
    const a = pool.alloc();
    addon.testing.refuseWrap(PENDING_EXCEPTION);
    expect(codeAndMessage(() => pool.alloc())).toEqual(['ERR_NO_MEMORY', `Pool.alloc: ${THREW(100, 128)}`]);
    addon.testing.refuseWrap(0);
    expect([pool.used, pool.available, pool.slots]).toEqual([1, 1, 2]);
    expect(at(pool.alloc())).toBe(at(a) + 128n);
    pool.destroy();
  });

  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once, neither held nor poisoned')('debug mode, checked: a slot whose poison could not be written is not checked when handed out again', () => {
    lib.debug.enable({ reportAtExit: false });
    const pool = new lib.Pool({ slotSize: 48, slots: 1, checked: true });
    const a = pool.alloc().fill(3);
    const address = at(a);
    addon.testing.refuseWrap(PENDING_EXCEPTION);
    pool.free(a);
    addon.testing.refuseWrap(0);
    expect(addon.testing.peekByte(address, 0)).toBe(3);
    const abort = jest.spyOn(process, 'abort').mockImplementation(() => {
      throw new Error('stopped');
    });
    const again = pool.alloc();
    expect(at(again)).toBe(address);
    expect(again[47]).toBe(3);
    pool.free(again); // poisoned this time, and intact at destroy
    pool.destroy();
    expect(abort).not.toHaveBeenCalled();
  });
});

describe('debug mode over two regions', () => {
  test('memory moved out of the own region frees its held slots only: a slot held in an added Block stays held', async () => {
    lib.debug.enable({ reportAtExit: false });
    const pool = new lib.Pool({ slotSize: 64, slots: 1, align: 64 });
    const block = lib.Block.alloc(128, { align: 4096, zero: false });
    pool.addMemory(block);
    const own = pool.alloc();
    const first = pool.alloc();
    const second = pool.alloc();
    expect([at(first), at(second)]).toEqual([block.address, block.address + 64n]);
    pool.free(first); // held, poisoned
    await move(own);
    expect([pool.slots, pool.used, pool.available]).toEqual([3, 2, 1]); // the getters do not look
    const fresh = pool.alloc(); // the own region's slot, in new memory, before the held one
    expect(at(fresh)).toBe(pool.regions()[0].address);
    expect([pool.used, pool.available]).toEqual([2, 1]);
    expect(at(pool.alloc())).toBe(block.address); // the held slot last, its poison intact
    expect(codeAndMessage(() => pool.alloc())).toEqual(['ERR_NO_MEMORY', 'every slot of the pool is taken (3 slots of 64 bytes)']);
    pool.destroy();
  });
});

describe('fast mode: a slot Buffer freed right after its memory moved', () => {
  test('settles the pool at once: every live slot is free in the new memory, the highest first', async () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 4, align: 64 });
    const live = [pool.alloc(), pool.alloc(), pool.alloc()];
    await move(live[0]);
    expect([pool.used, pool.available]).toEqual([3, 1]); // the getters do not look
    // A detached Buffer reads offset 0, as slot 0 would: its free must not take the inline path.
    pool.free(live[0]);
    expect([pool.used, pool.available]).toEqual([0, 4]);
    pool.free(live[2]); // likewise gone: accepted, nothing changes
    expect([pool.used, pool.available]).toEqual([0, 4]);
    const [fresh] = pool.regions();
    const again = [pool.alloc(), pool.alloc(), pool.alloc(), pool.alloc()];
    expect(again.map((b) => Number(at(b) - fresh.address) / 64)).toEqual([2, 1, 0, 3]);
    pool.destroy();
  });

  // Where the runtime serves the memory no OS allocation can be refused: the own region is always replaced (the describe above).
  onExternal('the runtime serves the memory, no OS allocation to refuse')('when the OS refuses new memory for the own region, its slots leave and an added Block serves alloc and free', async () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 1, align: 64 });
    const block = lib.Block.alloc(256, { align: 4096, zero: false });
    pool.addMemory(block);
    const own = pool.alloc();
    await move(own);
    addon.testing.faultArm(1, 1); // the next OS allocation fails
    const first = pool.alloc(); // finds the own region moved; its replacement is refused
    addon.testing.faultArm(0, 0);
    expect(pool.regions()).toEqual([{ address: block.address, size: 256 }]);
    expect([pool.slots, pool.used, pool.available]).toEqual([4, 1, 3]);
    const rest = [pool.alloc(), pool.alloc(), pool.alloc()];
    expect([first, ...rest].map((b) => at(b) - block.address)).toEqual([0n, 64n, 128n, 192n]);
    expect(codeAndMessage(() => pool.alloc())).toEqual([
      'ERR_NO_MEMORY',
      'every slot of the pool is taken (4 slots of 64 bytes; 1 more slots left the pool when their memory was moved to another ArrayBuffer (a web byte stream, transfer() or a BYOB read))',
    ]);
    pool.free(rest[0]);
    expect(at(pool.alloc())).toBe(block.address + 64n);
    pool.destroy();
    expect(block.freed).toBe(true);
  });
});

describe('fast mode: an alloc right after the memory moved', () => {
  test('finds the region detached and hands out a slot of its new memory', async () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 2, align: 64 });
    const [old] = pool.regions();
    const a = pool.alloc();
    await move(a);
    const b = pool.alloc(); // no method looked before: the inline path meets the detached ArrayBuffer
    expect(b.length).toBe(64);
    const [fresh] = pool.regions();
    expect(fresh.address).not.toBe(old.address);
    // The moved slot's number came back free on top: slot 0, in the new memory.
    expect(at(b) - fresh.address).toBe(0n);
    expect([pool.used, pool.available]).toEqual([1, 1]);
    pool.free(b);
    pool.destroy();
  });
});

describe('a fast pool on memory the runtime allocates: slots over the runtime\'s ArrayBuffer, past where the Block starts in it', () => {
  test('each slot is at the region address plus its offset, freed by the inline path, and refused as part of a slot', () => {
    addon.testing.runtimeMemory(true);
    const pool = new lib.Pool({ slotSize: 40, slots: 3, align: 64 });
    const [region] = pool.regions();
    expect(region.size).toBe(2 * 64 + 40);
    const bufs = [pool.alloc(), pool.alloc(), pool.alloc()];
    expect(bufs.map((b) => at(b) - region.address)).toEqual([0n, 64n, 128n]);
    expect(inspect(pool)).toBe('Pool { slotSize: 40, align: 64, checked: false, used: 3, available: 0, regions: 1 }');
    expect(thrown(() => pool.free(bufs[1].subarray(8))).code).toBe('ERR_NOT_ALLOCATED');
    pool.free(bufs[1]);
    pool.free(bufs[2]);
    expect([pool.used, pool.available]).toEqual([1, 2]);
    expect(at(pool.alloc())).toBe(region.address + 128n);
    expect(thrown(() => pool.free(bufs[1])).code).toBe('ERR_NOT_ALLOCATED');
    pool.destroy();
    expect(bufs[0].length).toBe(0);
  });

  test('an added runtime Block: its slots start at its own address', () => {
    addon.testing.runtimeMemory(true);
    const pool = new lib.Pool({ slotSize: 40, slots: 1, align: 64 });
    const block = lib.Block.alloc(168, { align: 4096, zero: false });
    expect(block.source).toBe('runtime');
    pool.addMemory(block);
    pool.alloc();
    const added = [pool.alloc(), pool.alloc(), pool.alloc()];
    expect(added.map((b) => at(b) - block.address)).toEqual([0n, 64n, 128n]);
    pool.free(added[1]);
    expect(at(pool.alloc())).toBe(block.address + 64n);
    pool.destroy();
  });
});

describe('a shared pool is a Pool', () => {
  onExternal('sharing is refused there')('instanceof Pool, shared reads true; options.slots is checked the same way', () => {
    const pool = new lib.Pool({ slotSize: 16, slots: 2, shared: true });
    expect(pool).toBeInstanceOf(lib.Pool);
    expect([pool.shared, pool.slots, pool.slotSize]).toEqual([true, 2, 16]);
    pool.destroy();
    expect(codeAndMessage(() => new lib.Pool({ slotSize: 16, slots: 0, shared: true }))).toEqual([
      'ERR_INVALID_PARAM',
      `options.slots must be an integer from 1 to ${lib.MAX_SIZE}; got 0`,
    ]);
  });
});

// What the tests above that hold only on external memory assert instead where
// the runtime serves the memory (the testing addon serves it so in every build).
describe('where the runtime serves the memory', () => {
  test('a checked pool holds no slot: a freed slot\'s number comes back in the same run, with new memory, and counts at once', () => {
    addon.testing.runtimeMemory(true);
    const pool = new lib.Pool({ slotSize: 64, slots: 2, checked: true });
    const a = pool.alloc();
    const b = pool.alloc();
    pool.free(a);
    expect([a.length, pool.used, pool.available]).toEqual([0, 1, 1]);
    const c = pool.alloc();
    expect([c.length, pool.used, pool.available]).toEqual([64, 2, 0]);
    expect(pool.regions().map((r) => r.address)).toEqual([at(b), at(c)]);
    pool.free(b);
    pool.free(c);
    expect([pool.slots, pool.used, pool.available]).toEqual([2, 0, 2]);
    pool.destroy();
  });

  test('debug mode: a checked pool\'s freed slot is neither held nor poisoned; it comes back at once', () => {
    addon.testing.runtimeMemory(true);
    lib.debug.enable({ reportAtExit: false });
    const pool = new lib.Pool({ slotSize: 48, slots: 1, checked: true });
    const a = pool.alloc();
    pool.free(a);
    expect([a.length, pool.used, pool.available]).toEqual([0, 0, 1]);
    const again = pool.alloc();
    expect(again.length).toBe(48);
    pool.free(again);
    pool.destroy();
  });

  test('no view is wrapped: a refused wrap does not stop addMemory to a fast pool or an alloc from a checked one', () => {
    addon.testing.runtimeMemory(true);
    const fast = new lib.Pool({ slotSize: 100, slots: 1, align: 128 });
    const checked = new lib.Pool({ slotSize: 100, slots: 1, checked: true });
    const block = lib.Block.alloc(356, { align: 4096, zero: false });
    addon.testing.refuseWrap(PENDING_EXCEPTION);
    fast.addMemory(block);
    const slot = checked.alloc();
    addon.testing.refuseWrap(0);
    expect([fast.slots, slot.length]).toEqual([4, 100]);
    fast.destroy();
    checked.destroy();
  });

  test('shared: true is refused, naming Pool', () => {
    addon.testing.runtimeMemory(true);
    expect(codeAndMessage(() => new lib.Pool({ slotSize: 16, slots: 2, shared: true }))).toEqual([
      'ERR_INVALID_PARAM',
      "Pool: this runtime does not allow external buffers (napi_no_external_buffers_allowed: Electron, a V8 sandbox), so blocks are memory it allocates (block.source 'runtime'), which sysalloc cannot guard, lock, wipe, keep out of core dumps, back with huge pages, protect or share",
    ]);
  });
});
