// Pool (lib/pool.ts) where slots leave or come back, beyond
// test/pool-boundaries.test.ts: a checked pool retiring an added Block its
// caller freed while slots of that Block and of the Blocks on either side of
// it are held for the run and free (only that Block's slots leave, each counted
// once); fast mode's own memory moved away, again and again, beside a live slot
// of the next Block, and its replacement refused by the runtime; an added Block
// padded to the pool alignment by other than half an alignment; a checked
// pool's slots on runtime memory at an alignment above the page size; and the
// name of the shared option in its refusal. The testing addon (test/faults) stands in for a
// runtime without external buffers (testing.runtimeMemory) and for a wrap the
// runtime throws on (testing.refuseWrap).
import path = require('path');
import bindings = require('bindings');
import { ReadableStream } from 'stream/web';
import { inspect } from 'util';

import type * as Sysalloc from '..';

const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') });
let lib!: typeof Sysalloc;
jest.isolateModules(() => {
  jest.doMock('bindings', () => () => addon);
  lib = require('..');
});

// Whether this addon was built without external buffers: it serves runtime memory from the start.
const noExternalBuild = addon.sourceFor(4096, 4096) === 'runtime';
/** A test that holds only on external memory: skipped on runtime memory, saying why in its name. */
const onExternal =
  (why: string) =>
  (name: string, fn: jest.ProvidesCallback): void =>
    noExternalBuild ? test.skip(`${name} [not on runtime memory: ${why}]`, fn) : test(name, fn);

// Debug mode (SYSALLOC_DEBUG=1) holds a fast pool's freed slots too: off here.
beforeEach(() => {
  if (lib.debug.enabled) lib.debug.disable();
});
afterEach(() => {
  addon.testing.refuseWrap(0);
  addon.testing.runtimeMemory(noExternalBuild);
  if (lib.debug.enabled) lib.debug.disable();
});

const PENDING_EXCEPTION = 10; // napi_pending_exception
const MOVED = 'moved to another ArrayBuffer (a web byte stream, transfer() or a BYOB read)';

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

describe('a checked pool retires an added Block its caller freed', () => {
  // Own Block: slots 0 and 1; added Block B: slots 2 and 3; added Block C: slot 4 (the first after B).
  onExternal('a checked pool\'s slots are Blocks of their own there, freed at once, and addMemory is refused')(
    'only that Block\'s slots leave, held for the run or free; the held slots of the Blocks before and after it stay held, oldest first',
    async () => {
      const pool = new lib.Pool({ slotSize: 64, slots: 2, align: 64, checked: true });
      const own = pool.regions()[0].address;
      const b = lib.Block.alloc(128, { align: 4096, zero: false });
      const c = lib.Block.alloc(64, { align: 4096, zero: false });
      pool.addMemory(b);
      pool.addMemory(c);
      expect([pool.slots, pool.available]).toEqual([5, 5]);
      const bufs = Array.from({ length: 5 }, () => pool.alloc());
      expect(bufs.map(at)).toEqual([own, own + 64n, b.address, b.address + 64n, c.address]);
      // A run that frees own slot 1 and then B's slot 3: after it, 3 is on top of the free stack and 1 below.
      pool.free(bufs[1]);
      pool.free(bufs[3]);
      await turn();
      // This run: own slot 0, B's first slot (2) and C's only slot (4) are held, in that order.
      pool.free(bufs[0]);
      pool.free(bufs[2]);
      pool.free(bufs[4]);
      expect([pool.slots, pool.used, pool.available]).toEqual([5, 0, 5]);
      b.free();
      // Slot 3 is B's: B retires (slot 3 free, slot 2 held leave), and own slot 1, next on the free stack, comes back.
      const first = pool.alloc();
      expect(at(first)).toBe(own + 64n);
      expect([pool.slots, pool.used, pool.available]).toEqual([3, 1, 2]);
      expect(pool.regions().map((r) => r.address)).toEqual([own, c.address]);
      expect(inspect(pool)).toBe('Pool { slotSize: 64, align: 64, checked: true, used: 1, available: 2, regions: 2 }');
      // No other slot is free: the held ones, oldest first, own slot 0 then C's.
      const second = pool.alloc();
      const third = pool.alloc();
      expect([at(second), at(third)]).toEqual([own, c.address]);
      expect([pool.slots, pool.used, pool.available]).toEqual([3, 3, 0]);
      expect(codeAndMessage(() => pool.alloc())).toEqual(['ERR_NO_MEMORY', 'every slot of the pool is taken (3 slots of 64 bytes)']);
      pool.free(first);
      pool.free(second);
      pool.free(third);
      await turn();
      expect([pool.slots, pool.used, pool.available]).toEqual([3, 0, 3]);
      pool.destroy();
      expect(c.freed).toBe(true);
    },
  );

  // Where the runtime serves the memory, a checked pool takes no added Block (so none retires) and holds no slot.
  test('where the runtime serves the memory: addMemory is refused and a freed slot counts as available at once, the slot count unchanged', () => {
    addon.testing.runtimeMemory(true);
    const pool = new lib.Pool({ slotSize: 64, slots: 2, align: 64, checked: true });
    const block = lib.Block.alloc(128, { align: 4096, zero: false });
    expect(thrown(() => pool.addMemory(block)).code).toBe('ERR_INVALID_PARAM');
    const a = pool.alloc();
    const b = pool.alloc();
    pool.free(a);
    pool.free(b);
    expect([pool.slots, pool.used, pool.available, a.length, b.length]).toEqual([2, 0, 2, 0, 0]);
    block.free();
    pool.destroy();
  });
});

describe('fast mode: the own region\'s memory moved away', () => {
  test('a live slot of the Block added after it stays live: only the own region\'s slots come back free', async () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 2, align: 64 });
    const block = lib.Block.alloc(128, { align: 4096, zero: false });
    pool.addMemory(block);
    const own = [pool.alloc(), pool.alloc()];
    const added = pool.alloc(); // slot 2, the first after the own region's two
    expect(at(added)).toBe(block.address);
    await move(own[0]);
    const [fresh] = pool.regions(); // looks: the own region gets new memory
    expect([pool.slots, pool.used, pool.available]).toEqual([4, 1, 3]);
    const again = [pool.alloc(), pool.alloc(), pool.alloc()];
    // Every slot of the moved region came back free, the highest on top; then the added Block's free one.
    expect(again.map(at)).toEqual([fresh.address + 64n, fresh.address, block.address + 64n]);
    expect(codeAndMessage(() => pool.alloc())).toEqual(['ERR_NO_MEMORY', 'every slot of the pool is taken (4 slots of 64 bytes)']);
    expect(added.length).toBe(64);
    pool.free(added);
    expect(at(pool.alloc())).toBe(block.address);
    pool.destroy();
  });

  test('is replaced each time it moves: twice moved, the pool keeps every slot and hands them out in the newest memory', async () => {
    const pool = new lib.Pool({ slotSize: 64, slots: 2, align: 64 });
    const [first] = pool.regions();
    await move(pool.alloc());
    const [second] = pool.regions();
    expect(second.address).not.toBe(first.address);
    expect([pool.slots, pool.used, pool.available]).toEqual([2, 0, 2]);
    const live = pool.alloc();
    expect(at(live)).toBe(second.address);
    await move(live);
    const [third] = pool.regions();
    expect(third.size).toBe(128);
    expect(third.address).not.toBe(second.address);
    expect([pool.slots, pool.used, pool.available]).toEqual([2, 0, 2]);
    expect(inspect(pool)).toBe('Pool { slotSize: 64, align: 64, checked: false, used: 0, available: 2, regions: 1 }');
    const again = [pool.alloc(), pool.alloc()];
    expect(again.map(at)).toEqual([third.address, third.address + 64n]);
    expect(codeAndMessage(() => pool.alloc())).toEqual(['ERR_NO_MEMORY', 'every slot of the pool is taken (2 slots of 64 bytes)']);
    pool.destroy();
    expect(again.map((b) => b.length)).toEqual([0, 0]);
  });

  test('is replaced at the pool alignment when that is above the page size: every slot is kept, at the same offsets', async () => {
    const align = 2 ** 20;
    const pool = new lib.Pool({ slotSize: 64, slots: 2, align });
    const [old] = pool.regions();
    expect(old.size).toBe(align + 64);
    await move(pool.alloc());
    const [fresh] = pool.regions();
    expect(fresh.address).not.toBe(old.address);
    expect(fresh.address % BigInt(align)).toBe(0n);
    expect([pool.slots, pool.used, pool.available]).toEqual([2, 0, 2]);
    const again = [pool.alloc(), pool.alloc()];
    expect(again.map(at).sort((x, y) => Number(x - y))).toEqual([fresh.address, fresh.address + BigInt(align)]);
    pool.destroy();
  });

  onExternal('the region is the runtime\'s own ArrayBuffer, no view is wrapped')(
    'when the runtime refuses to wrap the new memory, the own region\'s slots leave, counted in ERR_NO_MEMORY, and an added Block serves',
    async () => {
      const pool = new lib.Pool({ slotSize: 64, slots: 2, align: 64 });
      const block = lib.Block.alloc(128, { align: 4096, zero: false });
      pool.addMemory(block);
      const own = pool.alloc();
      await move(own);
      addon.testing.refuseWrap(PENDING_EXCEPTION);
      const regions = pool.regions(); // looks: new memory is allocated, but no view of it can be made
      addon.testing.refuseWrap(0);
      expect(regions).toEqual([{ address: block.address, size: 128 }]);
      expect([pool.slots, pool.used, pool.available]).toEqual([2, 0, 2]);
      const added = [pool.alloc(), pool.alloc()];
      expect(added.map(at)).toEqual([block.address, block.address + 64n]);
      expect(codeAndMessage(() => pool.alloc())).toEqual([
        'ERR_NO_MEMORY',
        `every slot of the pool is taken (2 slots of 64 bytes; 2 more slots left the pool when their memory was ${MOVED})`,
      ]);
      pool.free(added[1]);
      expect(at(pool.alloc())).toBe(block.address + 64n);
      pool.destroy();
      expect(block.freed).toBe(true);
    },
  );

  // What the test above asserts instead where the runtime serves the memory (the testing addon serves it so in every build).
  test('where the runtime serves the memory no view is wrapped: a refused wrap does not stop the replacement, every slot is kept', async () => {
    addon.testing.runtimeMemory(true);
    const pool = new lib.Pool({ slotSize: 64, slots: 2, align: 64 });
    const [old] = pool.regions();
    await move(pool.alloc());
    addon.testing.refuseWrap(PENDING_EXCEPTION);
    const [fresh] = pool.regions();
    addon.testing.refuseWrap(0);
    expect(fresh.address).not.toBe(old.address);
    expect([pool.slots, pool.used, pool.available]).toEqual([2, 0, 2]);
    expect([pool.alloc(), pool.alloc()].map(at).sort((x, y) => Number(x - y))).toEqual([fresh.address, fresh.address + 64n]);
    pool.destroy();
  });
});

/**
 * A Block whose address is `offset` modulo `modulus` (offset a multiple of the
 * page size, modulus a power of two above it): allocated at the offset's own
 * alignment until the allocator places one there. The tries are freed.
 */
function blockAt(size: number, offset: number, modulus: number): Sysalloc.Block {
  const align = offset & -offset;
  const tries: Sysalloc.Block[] = [];
  try {
    for (let i = 0; i < 64; i++) {
      const block = lib.Block.alloc(size, { align, zero: false });
      if (Number(block.address % BigInt(modulus)) === offset) return block;
      tries.push(block);
      tries.push(lib.Block.alloc(align * (1 + (i & 1)), { align, zero: false })); // shift the next placement
    }
  } finally {
    for (const block of tries) block.free();
  }
  throw new Error(`no Block of ${size} bytes at ${offset} modulo ${modulus} in 64 tries`);
}

describe('addMemory pads a Block to the pool alignment: up to the next multiple of it', () => {
  // A quarter of the alignment past a boundary: the padding is three quarters (not a quarter, not a half).
  const page = 4096;
  const align = 4 * page;
  const slotSize = 100;

  test('a Block a quarter of the alignment past a boundary gives one slot, three quarters in, with exactly room for it', () => {
    const pool = new lib.Pool({ slotSize, slots: 1, align });
    const block = blockAt(3 * page + slotSize, page, align);
    pool.addMemory(block);
    expect([pool.slots, pool.available]).toEqual([2, 2]);
    pool.alloc(); // the own Block's slot first
    const added = pool.alloc();
    expect(at(added)).toBe(block.address + BigInt(3 * page));
    expect(at(added) % BigInt(align)).toBe(0n);
    pool.destroy();
  });

  test('one byte less is refused, naming the slot, the alignment, the size and the address', () => {
    const pool = new lib.Pool({ slotSize, slots: 1, align });
    const block = blockAt(3 * page + slotSize - 1, page, align);
    expect(codeAndMessage(() => pool.addMemory(block))).toEqual([
      'ERR_INVALID_PARAM',
      `block must hold one slot of ${slotSize} bytes aligned to ${align}; got ${3 * page + slotSize - 1} bytes at 0x${block.address.toString(16)}`,
    ]);
    expect([pool.slots, block.freed]).toEqual([1, false]);
    block.free();
    pool.destroy();
  });
});

describe('a checked pool where the runtime serves the memory: each slot is a Block of its own', () => {
  test('each slot lies at the pool alignment, also above the page size', () => {
    addon.testing.runtimeMemory(true);
    const align = 2 ** 20;
    const pool = new lib.Pool({ slotSize: 40, slots: 3, align, checked: true });
    const bufs = [pool.alloc(), pool.alloc(), pool.alloc()];
    expect(bufs.map((b) => [b.length, at(b) % BigInt(align)])).toEqual([
      [40, 0n],
      [40, 0n],
      [40, 0n],
    ]);
    expect(pool.regions()).toEqual(bufs.map((b) => ({ address: at(b), size: 40 })));
    pool.destroy();
  });
});

describe('options.shared is checked by its name', () => {
  test('a value that is no boolean: ERR_INVALID_PARAM naming options.shared and the value', () => {
    expect(codeAndMessage(() => new lib.Pool({ slotSize: 16, slots: 2, shared: 'yes' as unknown as boolean }))).toEqual([
      'ERR_INVALID_PARAM',
      'options.shared must be a boolean; got "yes" (a string)',
    ]);
    expect(codeAndMessage(() => new lib.Pool({ slotSize: 16, slots: 2, shared: 1 as unknown as boolean }))).toEqual([
      'ERR_INVALID_PARAM',
      'options.shared must be a boolean; got 1',
    ]);
  });
});
