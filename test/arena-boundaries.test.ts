// Boundaries of Arena (lib/arena.ts) that its other test files leave open,
// over chunks whose placement the test chooses (the arena's own first chunk is
// page-aligned, so every offset below is exact; larger alignments come from
// Blocks cut here and handed to addMemory): where each allocation lands once
// a reset's held memory is released (every mix of bump and spare ranges
// allocated from since the reset), the counters used / available / capacity
// through growth, reset and destroy, and the exact messages; resets the
// runtime refuses, with the testing addon (test/faults) standing in for a
// runtime that holds a Buffer for work in flight (Bun) or will not wrap memory.
import path = require('path');
import { ReadableStream } from 'stream/web';
import { inspect } from 'util';
import bindings = require('bindings');

import type * as Sysalloc from '..';
import { addressOf, Arena, Block } from '..';
import { caught, ordinaryBlocks, runtimeMemory } from './helpers';

// Offsets from the arena's first chunk: debug mode renews used chunks at reset
// (test/debug.test.ts), so these tests run with it off.
ordinaryBlocks();

const endOfRun = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// An arena of one page-aligned chunk of `capacity` bytes and a function giving
// an allocation's offset in it.
function arenaAt(capacity: number): { arena: Arena; at: (buf: Uint8Array) => number } {
  const arena = new Arena({ capacity });
  const base = arena.regions()[0].address;
  return { arena, at: (buf) => Number(addressOf(buf) - base) };
}

const external = runtimeMemory ? describe.skip : describe;
const onRuntime = runtimeMemory ? describe : describe.skip;

external(`memory a reset released${runtimeMemory ? ' [not on runtime memory: a reset renews each used chunk there]' : ''}`, () => {
  test('nothing allocated since the reset: the chunk bumps from 0 again after the run, in every run that resets', async () => {
    const { arena, at } = arenaAt(4096);
    for (let run = 0; run < 3; run++) {
      arena.alloc(3000, 1);
      arena.reset();
      expect([arena.used, arena.available]).toEqual([0, 4096]);
      // Within the run the bump pointer stays where it was.
      arena.reset();
      expect(at(arena.alloc(16, 1))).toBe(3000);
      arena.reset();
      await endOfRun();
      expect(at(arena.alloc(16, 1))).toBe(0);
      expect([arena.used, arena.available]).toEqual([16, 4080]);
      arena.reset();
      await endOfRun();
    }
    arena.destroy();
  });

  // The chunk bumps [900, 1000) and keeps [3500, 4096) spare: 1000 bytes, reset,
  // 2500 after them, then 900 that fit only in the memory the reset released.
  function bumpAndSpare(): ReturnType<typeof arenaAt> {
    const t = arenaAt(4096);
    t.arena.alloc(1000, 1);
    t.arena.reset();
    expect(t.at(t.arena.alloc(2500, 1))).toBe(1000);
    expect(t.at(t.arena.alloc(900, 1))).toBe(0);
    expect([t.arena.used, t.arena.available]).toEqual([3400, 696]);
    return t;
  }

  test('only the spare range used since the reset: the chunk then bumps from 0 up to where the spare range was', () => {
    const { arena, at } = bumpAndSpare();
    arena.reset();
    expect([arena.used, arena.available]).toEqual([0, 4096]);
    expect(at(arena.alloc(500, 1))).toBe(3500); // [900, 1000) is too small: the spare range
    expect(arena.used).toBe(500);
    // Fits neither [900, 1000) nor [4000, 4096): the held memory is released, [0, 3500) bumps.
    expect(at(arena.alloc(2000, 1))).toBe(0);
    expect(at(arena.alloc(1500, 1))).toBe(2000); // up to 3500 exactly
    expect([arena.used, arena.available]).toEqual([4000, 96]);
    expect(at(arena.alloc(96, 1))).toBe(4000);
    expect([arena.used, arena.available]).toEqual([4096, 0]);
    expect(caught(() => arena.alloc(1, 1), 'ERR_NO_MEMORY').message).toBe(
      'arena has no room for 1 bytes aligned to 1 (capacity 4096, used 4096)',
    );
    arena.destroy();
  });

  test('both ranges used since the reset, the gap above the bump range larger: bumping goes on up to the spare allocations', () => {
    const { arena, at } = bumpAndSpare();
    arena.reset();
    expect(at(arena.alloc(50, 1))).toBe(900);
    expect(at(arena.alloc(500, 1))).toBe(3500);
    // [950, 3500) (2550 bytes) is larger than [0, 900): the bump range.
    expect(at(arena.alloc(2000, 1))).toBe(950);
    expect([arena.used, arena.available]).toEqual([2550, 1546]);
    expect(at(arena.alloc(550, 1))).toBe(2950); // up to 3500 exactly
    expect(at(arena.alloc(96, 1))).toBe(4000);
    expect([arena.used, arena.available]).toEqual([3196, 900]);
    // [0, 900) waits for the next reset.
    expect(caught(() => arena.alloc(1, 1), 'ERR_NO_MEMORY').message).toBe(
      'arena has no room for 1 bytes aligned to 1 (capacity 4096, used 3196)',
    );
    arena.destroy();
  });

  // The chunk bumps [1200, 2000) and keeps [3000, 4096) spare.
  function wideBump(): ReturnType<typeof arenaAt> {
    const t = arenaAt(4096);
    t.arena.alloc(2000, 1);
    t.arena.reset();
    expect(t.at(t.arena.alloc(1000, 1))).toBe(2000);
    expect(t.at(t.arena.alloc(1200, 1))).toBe(0);
    return t;
  }

  test('both ranges used, the gap above exactly as large as the one below: the chunk bumps from 0', () => {
    const { arena, at } = wideBump();
    arena.reset();
    expect(at(arena.alloc(600, 1))).toBe(1200);
    expect(at(arena.alloc(1000, 1))).toBe(3000);
    // [1800, 3000) and [0, 1200) are both 1200 bytes: the one below.
    expect(at(arena.alloc(1100, 1))).toBe(0);
    expect(at(arena.alloc(100, 1))).toBe(1100); // up to 1200 exactly
    expect([arena.used, arena.available]).toEqual([2800, 1296]);
    expect(at(arena.alloc(96, 1))).toBe(4000);
    expect(caught(() => arena.alloc(1, 1), 'ERR_NO_MEMORY').code).toBe('ERR_NO_MEMORY');
    arena.destroy();
  });

  test('both ranges used, the gap above one byte larger than the one below: bumping goes on above', () => {
    const { arena, at } = wideBump();
    arena.reset();
    expect(at(arena.alloc(599, 1))).toBe(1200);
    expect(at(arena.alloc(1000, 1))).toBe(3000);
    // [1799, 3000) is 1201 bytes, [0, 1200) 1200.
    expect(at(arena.alloc(1100, 1))).toBe(1799);
    expect(at(arena.alloc(101, 1))).toBe(2899); // up to 3000 exactly
    expect([arena.used, arena.available]).toEqual([2800, 1296]);
    arena.destroy();
  });

  test('only the bump range used since the reset: [0, the reset\'s offset) bumps, the rest of the chunk is spare', () => {
    const { arena, at } = wideBump(); // bumps [1200, 2000), spare [3000, 4096)
    arena.reset();
    expect(at(arena.alloc(700, 1))).toBe(1200);
    // Fits neither [1900, 2000) nor [3000, 4096) (1096 bytes): released, [0, 1200) bumps, [1900, 4096) is spare.
    expect(at(arena.alloc(1150, 1))).toBe(0);
    expect(at(arena.alloc(50, 1))).toBe(1150); // up to 1200 exactly
    expect(at(arena.alloc(2196, 1))).toBe(1900); // the whole spare range
    expect([arena.used, arena.available]).toEqual([700 + 1200 + 2196, 0]);
    arena.destroy();
  });

  test('nothing allocated since the reset: the whole chunk, its spare range included, bumps from 0 after the run', async () => {
    const { arena, at } = bumpAndSpare(); // bumps [900, 1000), spare [3500, 4096)
    arena.reset();
    await endOfRun();
    expect(at(arena.alloc(4096, 1))).toBe(0);
    arena.destroy();
  });

  test('a chunk not used since the last reset is left as it was by the next one: the chunk bumped from stays current', () => {
    const arena = new Arena({ capacity: 4096 });
    const block = Block.alloc(8192, { zero: false });
    arena.addMemory(block);
    const first = arena.regions()[0].address;
    arena.alloc(4000, 1);
    arena.reset(); // only the first chunk was used
    expect(addressOf(arena.alloc(5000, 1))).toBe(block.address); // [4000, 4096) is too small
    // Fits neither [5000, 8192) nor [4000, 4096): the first chunk is released and bumps from 0.
    expect(addressOf(arena.alloc(4000, 1))).toBe(first);
    expect(addressOf(arena.alloc(100, 1))).toBe(block.address + 5000n); // the second chunk is current again
    expect(addressOf(arena.alloc(16, 1))).toBe(block.address + 5100n);
    expect([arena.used, arena.available]).toEqual([9116, 3172]);
    arena.destroy();
  });

  test('releasing the held memory of one chunk leaves the bump range of a chunk not reset in the run as it was', () => {
    const arena = new Arena({ capacity: 4096 });
    const block = Block.alloc(8192, { zero: false });
    arena.addMemory(block);
    const first = arena.regions()[0].address;
    arena.alloc(4000, 1);
    arena.reset(); // the first chunk is held
    expect(addressOf(arena.alloc(4000, 1))).toBe(block.address); // the second chunk, current, not held
    // Fits nowhere, even once the first chunk is released.
    expect(caught(() => arena.alloc(4200, 1), 'ERR_NO_MEMORY').message).toBe(
      'arena has no room for 4200 bytes aligned to 1 (capacity 12288, used 4000)',
    );
    // The second chunk goes on bumping after its 4000 bytes.
    expect(addressOf(arena.alloc(3000, 1))).toBe(block.address + 4000n);
    expect(addressOf(arena.alloc(4096, 1))).toBe(first);
    arena.destroy();
  });

  test('held memory is released when a request fits no chunk, though another chunk has no held memory', () => {
    const arena = new Arena({ capacity: 8192 });
    arena.addMemory(Block.alloc(4096, { zero: false })); // never used, never held
    const first = arena.regions()[0].address;
    arena.alloc(8000, 1);
    arena.reset();
    expect(addressOf(arena.alloc(5000, 1))).toBe(first);
    expect([arena.used, arena.available]).toEqual([5000, 7288]);
    arena.destroy();
  });

  test('a reset made in a later microtask holds its memory until its own end-of-run microtask, whatever earlier resets queued', async () => {
    const { arena, at } = arenaAt(4096);
    arena.alloc(1000, 1);
    arena.reset(); // queues the end of this run
    const seen: number[] = [];
    const done = new Promise<void>((resolve) => {
      queueMicrotask(() => {
        // The end of the first run has come: the chunk starts over at 0.
        seen.push(at(arena.alloc(16, 1)));
        queueMicrotask(() => {
          seen.push(at(arena.alloc(16, 1)));
          resolve();
        });
        arena.reset();
      });
    });
    arena.alloc(1000, 1);
    arena.reset(); // the same run: nothing more is queued
    await done;
    // The reset in the microtask holds [0, 16) until the end-of-run microtask it queued.
    expect(seen).toEqual([0, 16]);
    await endOfRun();
    expect(at(arena.alloc(16, 1))).toBe(0);
    arena.destroy();
  });
});

onRuntime('memory a reset released, on runtime memory', () => {
  test('each used chunk is renewed at reset: the next allocation starts a fresh chunk of the same size', () => {
    const arena = new Arena({ capacity: 4096 });
    const before = arena.regions()[0];
    const old = arena.alloc(3000, 1);
    arena.reset();
    expect(old.length).toBe(0);
    expect(arena.regions().map((r) => r.size)).toEqual([before.size]);
    const next = arena.alloc(4096, 1);
    expect(addressOf(next)).toBe(arena.regions()[0].address);
    arena.destroy();
  });
});

describe('where an allocation lands', () => {
  test('an allocation that exactly fills the current chunk stays in it, though an earlier chunk has room too', () => {
    const arena = new Arena({ capacity: 4096, grow: true });
    const base = arena.regions()[0].address;
    arena.alloc(4000, 1);
    const grown = arena.alloc(8128, 1); // a new chunk of 8192, current from now on
    const second = arena.regions()[1].address;
    expect(addressOf(grown)).toBe(second);
    // 64 bytes fit both [4000, 4096) of the first chunk and [8128, 8192) of the current one.
    expect(addressOf(arena.alloc(64, 1))).toBe(second + 8128n);
    // The current chunk is full: the next one comes from the first chunk that has room.
    expect(addressOf(arena.alloc(64, 1))).toBe(base + 4000n);
    expect([arena.used, arena.available, arena.capacity]).toEqual([4000 + 64 + 8192, 32, 4096 + 8192]);
    arena.destroy();
  });

  test('an aligned allocation from a chunk that is not the current one is padded to its alignment', () => {
    const arena = new Arena({ capacity: 4096 });
    const block = Block.alloc(8192, { zero: false });
    arena.addMemory(block);
    const first = arena.regions()[0].address;
    arena.alloc(100, 1);
    expect(addressOf(arena.alloc(8000, 1))).toBe(block.address); // the second chunk is current
    // [8000, 8192) is too small: the first chunk, from 100 padded to 128.
    expect(addressOf(arena.alloc(200, 64))).toBe(first + 128n);
    expect(addressOf(arena.alloc(16, 2048))).toBe(first + 2048n);
    expect([arena.used, arena.available]).toEqual([2064 + 8000, 12288 - 2064 - 8000]);
    arena.destroy();
  });

  test('an alignment above 2^30 counts the bytes already taken from the chunk', () => {
    const arena = new Arena({ capacity: 4096 });
    const block = Block.alloc(8192, { align: 2 ** 31, zero: false });
    arena.addMemory(block);
    arena.alloc(4096, 1); // the first chunk is full
    expect(addressOf(arena.alloc(1, 1))).toBe(block.address);
    // The next 2^31-aligned address is 2^31 - 1 bytes further: past the block.
    const error = caught(() => arena.alloc(16, 2 ** 31), 'ERR_NO_MEMORY');
    expect(error.message).toBe(`arena has no room for 16 bytes aligned to ${2 ** 31} (capacity ${4096 + 8192}, used 4097)`);
    expect(arena.used).toBe(4097);
    arena.destroy();
  });
});

describe('methods on something that is not an Arena, and util.inspect', () => {
  const proto = Arena.prototype as unknown as Record<string | symbol, (...args: unknown[]) => unknown>;
  const getter = (name: string) => Object.getOwnPropertyDescriptor(Arena.prototype, name)?.get as () => unknown;
  test.each([
    ['Arena.alloc', () => proto.alloc.call({}, 16)],
    ['Arena.reset', () => proto.reset.call({})],
    ['Arena.addMemory', () => proto.addMemory.call({}, undefined)],
    ['Arena.used', () => getter('used').call({})],
    ['Arena.capacity', () => getter('capacity').call({})],
    ['Arena.available', () => getter('available').call({})],
    ['Arena.destroyed', () => getter('destroyed').call({})],
    ['Arena.regions', () => proto.regions.call({})],
    ['Arena.destroy', () => proto.destroy.call({})],
    ['Arena[Symbol.dispose]', () => proto[Symbol.dispose].call({})],
  ])('%s names itself', (name, call) => {
    const error = caught(call, 'ERR_INVALID_PARAM');
    expect(error.message).toBe(`${name} must be called on an Arena; got an Object`);
  });

  test('util.inspect shows align, grow, capacity, used and chunks, or destroyed; on another object it says so', () => {
    const arena = new Arena({ capacity: 4096, grow: true });
    arena.alloc(4000, 1);
    arena.alloc(100, 1);
    expect(inspect(arena)).toBe(`Arena { align: ${arena.align}, grow: true, capacity: ${4096 + 8192}, used: 4100, chunks: 2 }`);
    const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');
    expect(proto[inspectSymbol].call({})).toBe('Arena <not an Arena>');
    arena.destroy();
    expect(inspect(arena)).toBe(`Arena { align: ${arena.align}, grow: true, destroyed }`);
  });
});

describe('destroy', () => {
  test('counters are 0, `destroyed` is true, Symbol.dispose does nothing more', () => {
    const arena = new Arena({ capacity: 4096 });
    const block = Block.alloc(4096);
    arena.addMemory(block);
    const buf = arena.alloc(100, 1);
    expect([arena.used, arena.available, arena.capacity, arena.destroyed]).toEqual([100, 8092, 8192, false]);
    arena[Symbol.dispose]();
    expect([arena.used, arena.available, arena.capacity, arena.destroyed]).toEqual([0, 0, 0, true]);
    expect(buf.length).toBe(0);
    expect(block.freed).toBe(true);
    arena[Symbol.dispose]();
    expect(arena.destroyed).toBe(true);
    expect(caught(() => arena.alloc(1), 'ERR_NOT_ALLOCATED').message).toBe('cannot allocate from an arena that is destroyed');
  });
});

// Moves an allocation's memory (its chunk's whole ArrayBuffer) into another ArrayBuffer, as a web byte stream does.
async function move(view: Uint8Array): Promise<Uint8Array> {
  const stream = new ReadableStream({
    type: 'bytes',
    start(controller) {
      controller.enqueue(view);
      controller.close();
    },
  });
  return (await stream.getReader().read()).value as Uint8Array;
}

describe('chunks whose memory moved away', () => {
  test('a moved chunk that is not the current one is replaced; the current chunk stays current', async () => {
    const arena = new Arena({ capacity: 4096, grow: true });
    const a = arena.alloc(4096, 1);
    arena.alloc(100, 1); // a second chunk of 8192, current
    const moved = await move(a);
    const regions = arena.regions(); // replaces the first chunk
    expect(regions.map((r) => r.size)).toEqual([4096, 8192]);
    expect(addressOf(arena.alloc(16, 1))).toBe(regions[1].address + 100n);
    expect([arena.used, arena.capacity]).toEqual([116, 12288]);
    arena.destroy();
    expect(moved.length).toBe(4096);
  });

  test('two chunks from addMemory next to each other in the list, both moved, both leave; the current chunk stays current', async () => {
    const arena = new Arena({ capacity: 4096, grow: true });
    const first = arena.regions()[0].address;
    arena.addMemory(Block.alloc(8192, { zero: false }));
    arena.addMemory(Block.alloc(8192, { zero: false }));
    arena.alloc(4000, 1);
    const b = arena.alloc(8192, 1);
    const c = arena.alloc(8192, 1);
    arena.alloc(200, 1); // a new chunk of 8192, current
    const movedB = await move(b);
    const movedC = await move(c);
    const regions = arena.regions();
    expect(regions.map((r) => r.size)).toEqual([4096, 8192]);
    expect(regions[0].address).toBe(first);
    expect(addressOf(arena.alloc(16, 1))).toBe(regions[1].address + 200n);
    expect([arena.used, arena.capacity]).toEqual([4216, 12288]);
    arena.destroy();
    expect([movedB.length, movedC.length]).toEqual([8192, 8192]);
  });
});

// The testing addon (test/faults) stands in for a runtime that holds a Buffer
// for work in flight and refuses to detach it (Bun: viewDetach answers
// runtimeRefused for a view of `refuseDetach` bytes) and for one that refuses to
// wrap memory (testing.refuseWrap).
const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') });
let refuseDetach: (view: Uint8Array) => boolean = () => false;
const RUNTIME_REFUSED = 5; // native.status.runtimeRefused
const refusing = Object.create(addon, {
  viewDetach: { value: (view: Uint8Array): number => (refuseDetach(view) ? RUNTIME_REFUSED : addon.viewDetach(view)) },
});
let lib!: typeof Sysalloc;
jest.isolateModules(() => {
  jest.doMock('bindings', () => () => refusing);
  lib = require('..');
});
// Whether this addon was built without external buffers: it serves runtime memory from the start.
const noExternalBuild = addon.sourceFor(4096, 4096) === 'runtime';
const GENERIC_FAILURE = 9; // napi_generic_failure

// The AllocError (of the isolated copy) fn throws.
function thrown(fn: () => unknown): Sysalloc.AllocError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(lib.AllocError);
    return e as Sysalloc.AllocError;
  }
  throw new Error('expected an AllocError');
}

describe('resets the runtime refuses', () => {
  let debugWas = false;
  beforeAll(() => {
    debugWas = lib.debug.enabled;
    lib.debug.disable();
  });
  afterAll(() => {
    if (debugWas) lib.debug.enable({ reportAtExit: process.env.SYSALLOC_DEBUG_REPORT !== '0' });
  });
  afterEach(() => {
    refuseDetach = () => false;
    addon.testing.refuseWrap(0);
  });

  const held = (size: number) =>
    `Arena.reset: a chunk of ${size} bytes was left as it was because the runtime holds a Buffer in it ` +
    'for work in flight (Bun holds a Buffer given to fs, zlib or crypto until the callback); ' +
    'its allocations stay valid; reset again once that work has ended';

  // An arena of two chunks, 4096 and 8192 bytes, with `a` filling the first and `b` in the second.
  function twoChunks(): { arena: Sysalloc.Arena; a: Buffer; b: Buffer } {
    const arena = new lib.Arena({ capacity: 4096 });
    arena.addMemory(lib.Block.alloc(8192, { zero: false }));
    const a = arena.alloc(4096, 1);
    const b = arena.alloc(100, 1);
    return { arena, a, b };
  }

  (noExternalBuild ? test.skip : test)(`a chunk whose view the runtime holds is left as it was, the others are reset; the error names it${noExternalBuild ? ' [not on runtime memory: a reset renews each used chunk there, see below]' : ''}`, () => {
    const { arena, a, b } = twoChunks();
    refuseDetach = (view) => view.length === 8192;
    const error = thrown(() => arena.reset());
    expect([error.code, error.message]).toEqual(['ERR_INVALID_PARAM', held(8192)]);
    expect([a.length, b.length]).toEqual([0, 100]);
    expect([arena.used, arena.available, arena.capacity]).toEqual([100, 12188, 12288]);
    // The first chunk was reset: it serves again; the second goes on after b.
    const second = arena.regions()[1].address;
    expect(addressOf(arena.alloc(8092, 1))).toBe(second + 100n);
    refuseDetach = () => false;
    arena.reset();
    expect(b.length).toBe(0);
    expect(arena.used).toBe(0);
    arena.destroy();
  });

  (noExternalBuild ? test.skip : test)(`when the runtime holds views of two chunks, the error names the first${noExternalBuild ? ' [not on runtime memory: a reset renews each used chunk there, see below]' : ''}`, () => {
    const { arena, a, b } = twoChunks();
    refuseDetach = () => true;
    expect(thrown(() => arena.reset()).message).toBe(held(4096));
    expect([a.length, b.length]).toEqual([4096, 100]);
    expect([arena.used, arena.capacity]).toEqual([4196, 12288]);
    refuseDetach = () => false;
    arena.destroy();
  });

  (noExternalBuild ? test : test.skip)('on runtime memory a reset renews each used chunk and frees the old block: no error, its views read length 0, the arena goes on with new chunks', () => {
    const { arena, a, b } = twoChunks();
    const before = arena.regions();
    refuseDetach = () => true;
    arena.reset();
    expect([a.length, b.length]).toEqual([0, 0]);
    const after = arena.regions();
    expect(after.map((r) => r.size)).toEqual([4096, 8192]);
    expect(after.map((r) => r.address)).not.toEqual(before.map((r) => r.address));
    expect([arena.used, arena.available, arena.capacity]).toEqual([0, 12288, 12288]);
    arena.destroy();
  });

  (noExternalBuild ? test.skip : test)(`chunks the runtime will not wrap again at reset leave the arena; the error names the first${noExternalBuild ? ' [not on runtime memory: nothing is wrapped there, see below]' : ''}`, () => {
    const { arena, a, b } = twoChunks();
    addon.testing.refuseWrap(GENERIC_FAILURE);
    const error = thrown(() => arena.reset());
    addon.testing.refuseWrap(0);
    expect([error.code, error.message]).toEqual([
      'ERR_NO_MEMORY',
      'Arena.reset: the JavaScript runtime could not wrap 4096 bytes at offset 0: Node-API status 9',
    ]);
    expect([a.length, b.length]).toEqual([0, 0]);
    expect(arena.regions()).toEqual([]);
    expect([arena.used, arena.available, arena.capacity]).toEqual([0, 0, 0]);
    expect(thrown(() => arena.alloc(1, 1)).message).toBe('arena has no room for 1 bytes aligned to 1 (capacity 0, used 0)');
    arena.destroy();
  });

  (noExternalBuild ? test.skip : test)(`addMemory of a block the runtime will not wrap: ERR_NO_MEMORY, the block stays its caller's, live, and the arena as it was${noExternalBuild ? ' [not on runtime memory: nothing is wrapped there, see below]' : ''}`, () => {
    const arena = new lib.Arena({ capacity: 4096 });
    const before = arena.regions();
    const block = lib.Block.alloc(8192, { zero: false });
    addon.testing.refuseWrap(GENERIC_FAILURE);
    const error = thrown(() => arena.addMemory(block));
    addon.testing.refuseWrap(0);
    expect([error.code, error.message]).toEqual([
      'ERR_NO_MEMORY',
      'Arena: the JavaScript runtime could not wrap 8192 bytes at offset 0: Node-API status 9',
    ]);
    expect(block.freed).toBe(false);
    block.buffer.fill(7);
    expect(arena.regions()).toEqual(before);
    expect([arena.used, arena.available, arena.capacity]).toEqual([0, 4096, 4096]);
    // The block can be handed over again once the runtime wraps it.
    arena.addMemory(block);
    expect(arena.capacity).toBe(12288);
    arena.destroy();
    expect(block.freed).toBe(true);
  });

  (noExternalBuild ? test : test.skip)('on runtime memory addMemory wraps nothing: a refused wrap changes nothing', () => {
    const arena = new lib.Arena({ capacity: 4096 });
    const block = lib.Block.alloc(8192, { zero: false });
    addon.testing.refuseWrap(GENERIC_FAILURE);
    arena.addMemory(block);
    addon.testing.refuseWrap(0);
    expect(arena.capacity).toBe(12288);
    arena.destroy();
    expect(block.freed).toBe(true);
  });

  (noExternalBuild ? test : test.skip)('on runtime memory a reset wraps nothing: a refused wrap changes nothing', () => {
    const { arena, a } = twoChunks();
    addon.testing.refuseWrap(GENERIC_FAILURE);
    arena.reset();
    addon.testing.refuseWrap(0);
    expect(a.length).toBe(0);
    expect([arena.used, arena.capacity]).toEqual([0, 12288]);
    arena.destroy();
  });
});

describe('debug mode: a reset renews each used chunk of the arena\'s own', () => {
  let debugWas = false;
  beforeAll(() => {
    debugWas = lib.debug.enabled;
    lib.debug.enable({ reportAtExit: false });
  });
  afterAll(() => {
    lib.debug.disable();
    if (debugWas) lib.debug.enable({ reportAtExit: process.env.SYSALLOC_DEBUG_REPORT !== '0' });
  });
  afterEach(() => {
    addon.testing.faultArm(0, 0);
    addon.testing.runtimeMemory(noExternalBuild);
  });

  (noExternalBuild ? test.skip : test)(`a fresh chunk of the same size in the same place of the list; a chunk from addMemory and an unused one stay${noExternalBuild ? ' [not on runtime memory: every used chunk is renewed there, see below]' : ''}`, () => {
    const arena = new lib.Arena({ capacity: 4096 });
    const given = lib.Block.alloc(8192, { zero: false });
    const unused = lib.Block.alloc(16384, { zero: false });
    arena.addMemory(given);
    arena.addMemory(unused);
    const before = arena.regions();
    const a = arena.alloc(4096, 1);
    const b = arena.alloc(100, 1);
    arena.reset();
    expect([a.length, b.length]).toEqual([0, 0]);
    const after = arena.regions();
    expect(after.map((r) => r.size)).toEqual([4096, 8192, 16384]);
    expect(after[0].address).not.toBe(before[0].address);
    expect(after.slice(1)).toEqual(before.slice(1));
    expect([arena.used, arena.available, arena.capacity]).toEqual([0, 28672, 28672]);
    // The fresh chunk serves from its start at once; the one from addMemory is held past b.
    expect(addressOf(arena.alloc(4096, 1))).toBe(after[0].address);
    expect(addressOf(arena.alloc(8092, 1))).toBe(given.address + 100n);
    arena.destroy();
  });

  test('the fresh chunk has the alignment of the one it replaces and is renewed again at the next reset', () => {
    const arena = new lib.Arena({ capacity: 4096, align: 2 ** 20 });
    const seen = new Set<bigint>();
    for (let i = 0; i < 3; i++) {
      const [region] = arena.regions();
      expect(region.address % BigInt(2 ** 20)).toBe(0n);
      seen.add(region.address);
      arena.alloc(100, 1);
      arena.reset();
    }
    expect(seen.size).toBe(3);
    arena.destroy();
  });

  (noExternalBuild ? test.skip : test)(`without memory for a fresh chunk, the chunk is reset as usual${noExternalBuild ? ' [not on runtime memory: blocks ask the OS for nothing there, see below]' : ''}`, () => {
    const arena = new lib.Arena({ capacity: 4096 });
    const before = arena.regions();
    const a = arena.alloc(1000, 1);
    addon.testing.faultArm(1, Number.MAX_SAFE_INTEGER);
    arena.reset();
    addon.testing.faultArm(0, 0);
    expect(a.length).toBe(0);
    expect(arena.regions()).toEqual(before);
    expect([arena.used, arena.capacity]).toEqual([0, 4096]);
    // Held until the run ends: bumping goes on after a.
    expect(addressOf(arena.alloc(16, 1))).toBe(before[0].address + 1000n);
    arena.destroy();
  });

  test('on runtime memory every used chunk is renewed, one from addMemory too; an unused one stays', () => {
    addon.testing.runtimeMemory(true);
    const arena = new lib.Arena({ capacity: 4096 });
    arena.addMemory(lib.Block.alloc(8192, { zero: false }));
    arena.addMemory(lib.Block.alloc(16384, { zero: false }));
    const before = arena.regions();
    const a = arena.alloc(4096, 1);
    const b = arena.alloc(100, 1);
    arena.reset();
    expect([a.length, b.length]).toEqual([0, 0]);
    const after = arena.regions();
    expect(after.map((r) => r.size)).toEqual([4096, 8192, 16384]);
    expect(after[0].address).not.toBe(before[0].address);
    expect(after[1].address).not.toBe(before[1].address);
    expect(after[2]).toEqual(before[2]);
    expect([arena.used, arena.available, arena.capacity]).toEqual([0, 28672, 28672]);
    expect(addressOf(arena.alloc(4096, 1))).toBe(after[0].address);
    expect(addressOf(arena.alloc(8192, 1))).toBe(after[1].address);
    arena.destroy();
  });
});
