// Handles that name shared memory and opening them in this thread (lib/shared.ts),
// in the test's own process: what share() hands out, which handles are refused
// and with which message, how each native status of opening becomes an
// AllocError, and which view (a Buffer over a SharedArrayBuffer, or an external
// Buffer) a thread gets. The native calls are observed (and their answers
// chosen) through a copy of the package loaded over a wrapper of the addon.
import path = require('path');
import bindings = require('bindings');
import { types } from 'util';

import * as sysalloc from '..';
import { externalFile } from './helpers';

const { AllocError, Block, Pool } = sysalloc;
// On runtime memory (npm run test:no-external) every case below is skipped with
// the reason in its name; the one test there asserts the refusal instead.
const { test, describe, runtimeOnly } = externalFile('sharing is refused there (README, Runtimes without external buffers)');

runtimeOnly('on runtime memory sharing is refused: ERR_INVALID_PARAM', () => {
  let code: unknown;
  try {
    (() => Block.alloc(4096).share())();
  } catch (error) {
    code = (error as { code?: unknown }).code;
  }
  expect(code).toBe('ERR_INVALID_PARAM');
});
type Lib = typeof sysalloc;
// The package's own addon (a local build), the one `..` loaded.
const addon = bindings({ bindings: 'sysalloc', module_root: path.resolve(__dirname, '..') });
const major = Number(process.versions.node.split('.')[0]);

function load(native: object): Lib {
  let lib!: Lib;
  jest.isolateModules(() => {
    jest.doMock('bindings', () => () => native);
    lib = require('..');
  });
  return lib;
}

function caught(fn: () => unknown): InstanceType<typeof AllocError> {
  try {
    fn();
  } catch (error) {
    return error as InstanceType<typeof AllocError>;
  }
  throw new Error('expected a throw');
}

const blockRefusal = 'Block.fromShared: handle must be a handle from share() of a live shared block of this process; got ';
const poolRefusal = 'Pool.fromShared: handle must be a handle from share() of a live shared pool of this process; got ';
const gone = 'the handle names no live shared memory of this process (released, or never made here)';

describe('share() and fromShared() in one thread', () => {
  test('sharedArrayBuffers is the addon\'s answer: false on Node 20, true on 22 and later', () => {
    expect(sysalloc.sharedArrayBuffers).toBe(addon.externalSharedArrayBuffer);
    expect(sysalloc.sharedArrayBuffers).toBe(major >= 22);
  });

  test('a handle is a frozen plain object of type, id and key; share() again names the same memory', () => {
    using block = Block.alloc(4096);
    const handle = block.share();
    expect(Object.isFrozen(handle)).toBe(true);
    expect(Object.getPrototypeOf(handle)).toBe(Object.prototype);
    expect(Object.keys(handle)).toEqual(['type', 'id', 'key']);
    expect(handle.type).toBe('sysalloc.SharedBlock');
    expect(Number.isInteger(handle.id) && handle.id > 0).toBe(true);
    expect(typeof handle.key).toBe('bigint');
    expect(block.share()).toEqual(handle);
  });

  test('fromShared opens the same memory: same address, size, alignment and bytes', () => {
    const block = Block.alloc(8192);
    block.buffer.fill(0x11);
    const opened = Block.fromShared(block.share());
    expect([opened.address, opened.size, opened.align, opened.shared]).toEqual([block.address, 8192, 8192, true]);
    expect(Buffer.isBuffer(opened.buffer)).toBe(true);
    expect(opened.buffer.length).toBe(8192);
    expect(types.isSharedArrayBuffer(opened.buffer.buffer)).toBe(sysalloc.sharedArrayBuffers);
    opened.buffer[100] = 0x22;
    expect(block.buffer[100]).toBe(0x22);
    opened.free();
    expect(caught(() => opened.free()).code).toBe('ERR_NOT_ALLOCATED');
    expect(block.buffer[100]).toBe(0x22);
    block.free();
  });

  test('a handle of a block freed by its only holder names nothing', () => {
    // (A SharedArrayBuffer view would hold the memory until collected: none is made here.)
    const block = Block.alloc(4096);
    const handle = block.share();
    block.free();
    const stale = caught(() => Block.fromShared(handle));
    expect([stale.code, stale.message]).toEqual(['ERR_NOT_ALLOCATED', `Block.fromShared: ${gone}`]);
  });

  test('a shared pool opened again in this thread shares its slots', () => {
    const pool = new Pool({ slotSize: 64, slots: 4, shared: true });
    const handle = pool.share();
    expect(Object.isFrozen(handle)).toBe(true);
    expect(handle.type).toBe('sysalloc.SharedPool');
    const other = Pool.fromShared(handle);
    const a = pool.alloc();
    const b = other.alloc();
    expect([pool.used, other.used]).toEqual([2, 2]);
    expect(a.byteOffset === b.byteOffset && a.buffer === b.buffer).toBe(false);
    other.free(b);
    other.destroy();
    pool.free(a);
    const key = { ...handle, key: handle.key ^ 1n };
    expect([caught(() => Pool.fromShared(key)).code, caught(() => Pool.fromShared(key)).message]).toEqual(['ERR_NOT_ALLOCATED', `Pool.fromShared: ${gone}`]);
    pool.destroy();
  });
});

describe('handles refused before any native call', () => {
  let live: sysalloc.Block;
  let handle: sysalloc.SharedBlockHandle;
  beforeAll(() => {
    live = Block.alloc(4096);
    handle = live.share();
  });
  afterAll(() => live.free());

  let reads = 0;
  const getter = (value: unknown) => ({ get: () => (reads++, value), enumerable: true });

  test.each<[string, () => unknown, string]>([
    ['null', () => null, 'null'],
    ['undefined', () => undefined, 'undefined'],
    ['a number', () => 42, '42'],
    ['the type string', () => 'sysalloc.SharedBlock', '"sysalloc.SharedBlock" (a string)'],
    ['a function with the fields', () => Object.assign(() => 0, handle), 'a function'],
    ['a Proxy over a handle', () => new Proxy(handle, {}), 'a Proxy'],
    ['a handle without its type', () => ({ id: handle.id, key: handle.key }), 'an Object'],
    ['a pool handle', () => ({ ...handle, type: 'sysalloc.SharedPool' }), 'an Object'],
    ['an id as a string', () => ({ ...handle, id: String(handle.id) }), 'an Object'],
    ['a key as a number', () => ({ ...handle, key: Number(handle.key & 0xffffn) }), 'an Object'],
    ['fields inherited from a handle', () => Object.create(handle), 'an Object'],
    ['the type behind a getter', () => Object.defineProperties({ id: handle.id, key: handle.key }, { type: getter(handle.type) }), 'an Object'],
    ['the id behind a getter', () => Object.defineProperties({ type: handle.type, key: handle.key }, { id: getter(handle.id) }), 'an Object'],
    ['the key behind a getter', () => Object.defineProperties({ type: handle.type, id: handle.id }, { key: getter(handle.key) }), 'an Object'],
  ])('Block.fromShared(%s): ERR_NOT_ALLOCATED, no getter or trap run', (_label, make, shown) => {
    reads = 0;
    const error = caught(() => Block.fromShared(make() as sysalloc.SharedBlockHandle));
    expect(error).toBeInstanceOf(AllocError);
    expect([error.code, error.message]).toEqual(['ERR_NOT_ALLOCATED', blockRefusal + shown]);
    expect(reads).toBe(0);
  });

  test('Pool.fromShared names a pool in its message, and refuses a block handle', () => {
    for (const [value, shown] of [[null, 'null'], [handle, 'an Object'], [{ ...handle, type: 'sysalloc.SharedPool', id: -0.5, key: 1 }, 'an Object']] as const) {
      const error = caught(() => Pool.fromShared(value as unknown as sysalloc.SharedPoolHandle));
      expect([error.code, error.message]).toEqual(['ERR_NOT_ALLOCATED', poolRefusal + shown]);
    }
  });

  test('a block handle retyped as a pool handle names memory of another kind', () => {
    const error = caught(() => Pool.fromShared({ ...handle, type: 'sysalloc.SharedPool' } as sysalloc.SharedPoolHandle));
    expect([error.code, error.message]).toEqual(['ERR_NOT_ALLOCATED', `Pool.fromShared: ${gone}`]);
  });
});

describe('the native side of opening, observed', () => {
  type Call = [string, ...unknown[]];
  let calls: Call[] = [];
  let openAnswer: number | undefined;
  let createAnswer: number | undefined;
  let freeAnswer: number | undefined;
  // A SharedArrayBuffer view as a runtime with external SharedArrayBuffers returns one: [sab, holder 0, ...].
  let sabAnswer: SharedArrayBuffer | undefined;
  function wrapper(externalSharedArrayBuffer: boolean) {
    return {
      ...addon,
      externalSharedArrayBuffer,
      sharedOpen: (id: number, key: bigint, sab: boolean, offset: number, length: number, kind: number) => {
        calls.push(['open', id, key, sab, offset, length, kind]);
        if (openAnswer !== undefined) return openAnswer;
        if (sabAnswer !== undefined) return [sabAnswer, 0, id, key, sabAnswer.byteLength, 4096];
        return addon.sharedOpen(id, key, false, offset, length, kind);
      },
      sharedCreate: (size: number, align: number, zero: boolean, sab: boolean, kind: number) => {
        calls.push(['create', size, align, zero, sab, kind]);
        if (createAnswer !== undefined) return createAnswer;
        return addon.sharedCreate(size, align, zero, false, kind);
      },
      sharedFree: (view: Uint8Array, holder: number) => {
        calls.push(['free', holder]);
        return freeAnswer ?? addon.sharedFree(view, holder);
      },
    };
  }
  const plain = load(wrapper(false));
  const sab = load(wrapper(true));
  afterEach(() => {
    calls = [];
    openAnswer = createAnswer = freeAnswer = undefined;
    sabAnswer = undefined;
  });

  test('sharedArrayBuffers follows the addon', () => {
    expect([plain.sharedArrayBuffers, sab.sharedArrayBuffers]).toEqual([false, true]);
  });

  test.each<[string, string, string]>([
    ['notAllocated', 'ERR_NOT_ALLOCATED', gone],
    ['invalidParam', 'ERR_INVALID_PARAM', 'refused by the native guard'],
    ['noMemory', 'ERR_NO_MEMORY', 'no memory, or the runtime could not make a view over it'],
    ['runtimeThrew', 'ERR_NO_MEMORY', 'no memory, or the runtime could not make a view over it'],
    ['runtimeRefused', 'ERR_NO_MEMORY', 'no memory, or the runtime could not make a view over it'],
    ['externalRefused', 'ERR_INVALID_PARAM', "this runtime does not allow external buffers (napi_no_external_buffers_allowed: Electron, a V8 sandbox), so blocks are memory it allocates (block.source 'runtime'), which sysalloc cannot guard, lock, wipe, keep out of core dumps, back with huge pages, protect or share"],
  ])('opening answered %s: %s', (status, code, message) => {
    using block = plain.Block.alloc(4096);
    const handle = block.share();
    openAnswer = addon.status[status];
    const error = caught(() => plain.Block.fromShared(handle));
    expect(error).toBeInstanceOf(plain.AllocError);
    expect([error.code, error.message]).toEqual([code, `Block.fromShared: ${message}`]);
    const pool = new plain.Pool({ slotSize: 8, slots: 2, shared: true });
    const poolError = caught(() => plain.Pool.fromShared(pool.share()));
    expect([poolError.code, poolError.message]).toEqual([code, `Pool.fromShared: ${message}`]);
    openAnswer = undefined;
    pool.destroy();
  });

  test.each<[string, string, string]>([
    ['noMemory', 'ERR_NO_MEMORY', 'no memory, or the runtime could not make a view over it'],
    ['invalidParam', 'ERR_INVALID_PARAM', 'refused by the native guard'],
    ['externalRefused', 'ERR_INVALID_PARAM', "this runtime does not allow external buffers (napi_no_external_buffers_allowed: Electron, a V8 sandbox), so blocks are memory it allocates (block.source 'runtime'), which sysalloc cannot guard, lock, wipe, keep out of core dumps, back with huge pages, protect or share"],
  ])('creating a shared pool answered %s: %s', (status, code, message) => {
    createAnswer = addon.status[status];
    const error = caught(() => new plain.Pool({ slotSize: 8, slots: 2, shared: true }));
    expect([error.code, error.message]).toEqual([code, `Pool: ${message}`]);
  });

  test('a whole region is asked as a SharedArrayBuffer only where the runtime makes them, with the kind of the handle', () => {
    for (const lib of [plain, sab]) {
      const block = lib.Block.alloc(4096);
      const handle = block.share();
      const opened = lib.Block.fromShared(handle);
      const pool = new lib.Pool({ slotSize: 8, slots: 2, shared: true });
      const other = lib.Pool.fromShared(pool.share());
      const expected = lib.sharedArrayBuffers;
      expect(calls.filter((c) => c[0] !== 'free')).toEqual([
        ['open', handle.id, handle.key, expected, 0, 0, addon.sharedKind.block],
        ['create', expect.any(Number), 4096, false, expected, addon.sharedKind.pool],
        ['open', pool.share().id, pool.share().key, expected, 0, 0, addon.sharedKind.pool],
      ]);
      calls = [];
      other.destroy();
      pool.destroy();
      opened.free();
      block.free();
    }
  });

  test('a checked shared pool opens each slot as a part, never as a SharedArrayBuffer', () => {
    for (const lib of [plain, sab]) {
      const pool = new lib.Pool({ slotSize: 24, slots: 3, shared: true, checked: true });
      const handle = pool.share();
      calls = [];
      const slot = pool.alloc();
      expect(slot.length).toBe(24);
      expect(calls).toEqual([['open', handle.id, handle.key, false, expect.any(Number), 24, addon.sharedKind.pool]]);
      pool.free(slot);
      pool.destroy();
    }
  });

  test('a SharedArrayBuffer view (holder 0) becomes a Buffer over the whole of it, and closing it calls nothing', () => {
    using block = sab.Block.alloc(4096);
    const handle = block.share();
    sabAnswer = new SharedArrayBuffer(8192);
    const opened = sab.Block.fromShared(handle);
    expect(Buffer.isBuffer(opened.buffer)).toBe(true);
    expect(opened.buffer.buffer).toBe(sabAnswer);
    expect([opened.buffer.byteOffset, opened.buffer.length, opened.size]).toEqual([0, 8192, 8192]);
    new Uint8Array(sabAnswer)[7] = 9;
    expect(opened.buffer[7]).toBe(9);
    calls = [];
    opened.free();
    expect(calls).toEqual([]);
    expect(opened.buffer.length).toBe(0);
  });

  test('an external view (holder not 0) is that Buffer itself; closing it frees that holder, and a refusal is ERR_NOT_ALLOCATED', () => {
    using block = plain.Block.alloc(4096);
    const opened = plain.Block.fromShared(block.share());
    expect(types.isSharedArrayBuffer(opened.buffer.buffer)).toBe(false);
    expect(opened.buffer.length).toBe(4096);
    calls = [];
    freeAnswer = addon.status.notAllocated;
    expect(caught(() => opened.free()).code).toBe('ERR_NOT_ALLOCATED');
    expect(calls.length).toBe(1);
    expect(calls[0][0]).toBe('free');
    expect(calls[0][1]).not.toBe(0);
    freeAnswer = undefined;
    opened.free();
    expect(opened.buffer.length).toBe(0);
  });
});
