// ManagedRegion (lib/managed-region.ts), the Block every Arena, Pool, Heap and
// PageAllocator manages, driven directly over Blocks cut here: which Blocks
// addMemory adopts or refuses and the exact message of each refusal, the whole
// view and where the Block starts in its ArrayBuffer, what a region reads once
// its memory moved away, what destroy (releaseAll) detaches and frees, the
// error each native wrap status maps to, and the refusals of a checked Heap or
// PageAllocator on memory the runtime allocates. The testing addon
// (test/faults) stands in for a runtime that refuses external buffers
// (testing.runtimeMemory) or a wrap (testing.refuseWrap); a runtime that
// refuses to detach a Buffer it holds for work in flight (Bun) is this addon
// with viewDetach answering runtimeRefused while `refuseDetach` is set.
import path = require('path');
import bindings = require('bindings');
import { ReadableStream } from 'stream/web';

import type * as Sysalloc from '..';
import type * as Managed from '../dist/managed-region';
import type * as NativeModule from '../dist/native';

const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') });
let lib!: typeof Sysalloc;
let mr!: typeof Managed;
let native!: (typeof NativeModule)['native'];
let refuseDetach = false;
const RUNTIME_REFUSED = 5; // native.status.runtimeRefused
const refusing = Object.create(addon, {
  viewDetach: { value: (view: Uint8Array): number => (refuseDetach ? RUNTIME_REFUSED : addon.viewDetach(view)) },
});
jest.isolateModules(() => {
  jest.doMock('bindings', () => () => refusing);
  lib = require('..');
  mr = require('../dist/managed-region');
  native = (require('../dist/native') as typeof NativeModule).native;
});

// Whether this addon was built without external buffers: it serves runtime memory from the start.
const noExternalBuild = addon.sourceFor(4096, 4096) === 'runtime';
const externalTest = noExternalBuild ? test.skip : test;
// napi_status values from js_native_api_types.h.
const napi = { pending_exception: 10 };

afterEach(() => {
  refuseDetach = false;
  addon.testing.refuseWrap(0);
  addon.testing.runtimeMemory(noExternalBuild);
});

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

function thrown(fn: () => unknown): Sysalloc.AllocError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(lib.AllocError);
    return e as Sysalloc.AllocError;
  }
  throw new Error('expected an AllocError');
}

const RUNTIME_WHY =
  "this runtime does not allow external buffers (napi_no_external_buffers_allowed: Electron, a V8 sandbox), so blocks are memory it allocates (block.source 'runtime'), " +
  'whose views of one region cannot be detached one by one, so a freed allocation could not read length 0 before its memory is handed out again; ' +
  'use checked: false (a freed Buffer still reaches the memory, as documented for fast mode) or a checked Pool';

describe('a new region', () => {
  test('takes the Block as it is: address, size, fromCaller, not runtime, no view, not moved', () => {
    using block = lib.Block.alloc(8192, { align: 64 });
    for (const fromCaller of [true, false]) {
      const region = new mr.ManagedRegion('Heap', block, fromCaller);
      expect(region.block).toBe(block);
      expect(region.address).toBe(Number(block.address));
      expect(region.size).toBe(8192);
      expect(region.fromCaller).toBe(fromCaller);
      expect(region.runtime).toBe(noExternalBuild);
      expect(region.retired).toBe(false);
      expect([region.view, region.arrayBuffer, region.base]).toEqual([undefined, undefined, 0]);
      expect(region.moved).toBe(false);
      expect(region.describe()).toEqual({ address: block.address, size: 8192 });
      region.disown();
    }
  });

  test('a Block of runtime memory is marked runtime; its view starts at base in the ArrayBuffer and reads the Block', () => {
    addon.testing.runtimeMemory(true);
    using block = lib.Block.alloc(4096, { align: 4096 });
    expect(block.source).toBe('runtime');
    block.buffer.fill(0x5a, 0, 16);
    const region = new mr.ManagedRegion('Arena', block, true);
    expect(region.runtime).toBe(true);
    expect(region.wrapWhole()).toBeUndefined();
    const view = region.view as Buffer;
    expect(view.length).toBe(4096);
    expect(region.arrayBuffer).toBe(view.buffer);
    expect(region.base).toBe(view.byteOffset);
    // The runtime's ArrayBuffer starts before the aligned block: base is where the Block is in it.
    expect(region.base).toBe(block.buffer.byteOffset);
    expect([...new Uint8Array(region.arrayBuffer as ArrayBuffer, region.base, 17)]).toEqual([...Array(16).fill(0x5a), 0]);
    expect(region.detachView()).toBe(true);
    region.disown();
  });

  test('an address whose end is beyond 2^53 is refused; one ending at 2^53 - 1 is taken', () => {
    const top = BigInt(Number.MAX_SAFE_INTEGER);
    const fake = (address: bigint, size: number) => ({ address, size, source: 'mmap' }) as unknown as Sysalloc.Block;
    const region = new mr.ManagedRegion('Pool', fake(top - 16n, 16), true);
    expect(region.address).toBe(Number.MAX_SAFE_INTEGER - 16);
    expect(() => new mr.ManagedRegion('Pool', fake(top - 16n, 17), true)).toThrow(
      new Error(`sysalloc: block address ${hex(top - 16n)} is beyond 2^53; arithmetic on it would be inexact`),
    );
  });
});

describe('the whole view', () => {
  test('wrapWhole makes one Buffer over the whole Block at base 0 (external memory); detachView ends it', () => {
    using block = lib.Block.alloc(4096);
    block.buffer.fill(7);
    const region = new mr.ManagedRegion('Arena', block, true);
    expect(region.wrapWhole()).toBeUndefined();
    const view = region.view as Buffer;
    expect(view.length).toBe(4096);
    expect(view[4095]).toBe(7);
    expect(region.arrayBuffer).toBe(view.buffer);
    expect(region.base).toBe(view.byteOffset);
    expect(region.moved).toBe(false);
    expect(region.detachView()).toBe(true);
    expect([region.view, region.arrayBuffer]).toEqual([undefined, undefined]);
    expect(region.moved).toBe(false);
    if (!noExternalBuild) expect(view.length).toBe(0);
    // Without a view, detachView has nothing to do and still succeeds.
    expect(region.detachView()).toBe(true);
    // The address is free for a view again.
    expect(region.wrapWhole()).toBeUndefined();
    expect(region.detachView()).toBe(true);
    region.disown();
  });

  test('wrapWhole of a freed Block: the notAllocated status, no view', () => {
    const block = lib.Block.alloc(4096);
    const region = new mr.ManagedRegion('Arena', block, true);
    block.free();
    expect(region.wrapWhole()).toBe(native.status.notAllocated);
    expect([region.view, region.arrayBuffer, region.base]).toEqual([undefined, undefined, 0]);
    expect(region.moved).toBe(false);
    expect(region.wrap(0, 16)).toBe(native.status.notAllocated);
    region.release();
  });

  test('wrap makes a Buffer of its own over part of the Block', () => {
    using block = lib.Block.alloc(4096);
    block.buffer[100] = 42;
    const region = new mr.ManagedRegion('Pool', block, true);
    const part = region.wrap(100, 16) as Buffer;
    expect(typeof part).toBe('object');
    expect(part.length).toBe(16);
    expect(part[0]).toBe(42);
    expect(mr.detachChecked(part)).toBe(true);
    if (!noExternalBuild) expect(part.length).toBe(0);
    // A Buffer detached already counts as detached.
    expect(mr.detachChecked(part)).toBe(true);
    region.disown();
  });
});

describe('a runtime that refuses to detach (Bun, a Buffer held for work in flight)', () => {
  test('the stand-in answers runtimeRefused', () => {
    expect(native.status.runtimeRefused).toBe(RUNTIME_REFUSED);
  });

  externalTest('detachView: false, and the whole view stays, still reading the Block; true once the runtime lets go', () => {
    using block = lib.Block.alloc(4096);
    block.buffer[10] = 77;
    const region = new mr.ManagedRegion('Heap', block, true);
    expect(region.wrapWhole()).toBeUndefined();
    const view = region.view as Buffer;
    const arrayBuffer = region.arrayBuffer;
    refuseDetach = true;
    expect(region.detachView()).toBe(false);
    expect(region.view).toBe(view);
    expect(region.arrayBuffer).toBe(arrayBuffer);
    expect([view.length, view[10]]).toEqual([4096, 77]);
    refuseDetach = false;
    expect(region.detachView()).toBe(true);
    expect([region.view, view.length]).toEqual([undefined, 0]);
    region.disown();
  });

  externalTest('detachChecked: false and the Buffer untouched', () => {
    using block = lib.Block.alloc(4096);
    const region = new mr.ManagedRegion('Heap', block, true);
    const part = region.wrap(0, 64) as Buffer;
    refuseDetach = true;
    expect(mr.detachChecked(part)).toBe(false);
    expect(part.length).toBe(64);
    refuseDetach = false;
    expect(mr.detachChecked(part)).toBe(true);
    expect(part.length).toBe(0);
    region.disown();
  });

  externalTest('a checked Heap refuses the free with heldByRuntime: the allocation stays live until freed again', () => {
    const heap = new lib.Heap({ capacity: 4096, checked: true });
    const buf = heap.alloc(48);
    const used = heap.used;
    refuseDetach = true;
    const error = thrown(() => heap.free(buf));
    expect([error.code, error.message]).toEqual(['ERR_INVALID_PARAM', mr.heldByRuntime('Heap.free', 48).message]);
    expect([heap.used, buf.length]).toEqual([used, 48]);
    refuseDetach = false;
    heap.free(buf);
    expect([heap.used, buf.length]).toEqual([0, 0]);
    heap.destroy();
  });
});

describe('memory moved away', () => {
  test('a region whose ArrayBuffer went into a web byte stream reads moved; the stream has its bytes', async () => {
    using block = lib.Block.alloc(4096);
    const region = new mr.ManagedRegion('Arena', block, true);
    expect(region.wrapWhole()).toBeUndefined();
    const view = region.view as Buffer;
    view.fill(3, 0, 8);
    const stream = new ReadableStream({
      type: 'bytes',
      start(controller) {
        controller.enqueue(view);
        controller.close();
      },
    });
    const { value } = await stream.getReader().read();
    expect(region.moved).toBe(true);
    expect(view.length).toBe(0);
    expect((value as Uint8Array).length).toBe(4096);
    expect([...(value as Uint8Array).subarray(0, 9)]).toEqual([3, 3, 3, 3, 3, 3, 3, 3, 0]);
    // Forgetting the moved view: no longer moved, and nothing was refused.
    expect(region.detachView()).toBe(true);
    expect(region.moved).toBe(false);
    region.disown();
  });
});

describe('ownership: disown, release, giveUp', () => {
  test('disown gives the Block back live and free to be added elsewhere', () => {
    using block = lib.Block.alloc(4096);
    const region = new mr.ManagedRegion('Heap', block, true);
    expect(() => mr.adoptable('Pool', 'this pool', block, [])).toThrow(/is already managed by a Heap$/);
    region.disown();
    expect(block.freed).toBe(false);
    expect(mr.adoptable('Pool', 'this pool', block, [])).toBe(block);
  });

  test("release frees the allocator's Block and forgets its owner; a Block its caller freed already is left as it is", () => {
    const block = lib.Block.alloc(4096);
    const region = new mr.ManagedRegion('Arena', block, false);
    region.release();
    expect(block.freed).toBe(true);
    const again = lib.Block.alloc(4096);
    const other = new mr.ManagedRegion('Arena', again, true);
    again.free();
    expect(() => other.release()).not.toThrow();
    expect(again.freed).toBe(true);
  });

  test("giveUp: a Block from addMemory goes back to its caller live; the allocator's own is freed", () => {
    using caller = lib.Block.alloc(4096);
    const own = lib.Block.alloc(4096);
    const fromCaller = new mr.ManagedRegion('PageAllocator', caller, true);
    const fromAllocator = new mr.ManagedRegion('PageAllocator', own, false);
    fromCaller.giveUp();
    fromAllocator.giveUp();
    expect(caller.freed).toBe(false);
    expect(own.freed).toBe(true);
    expect(mr.adoptable('Arena', 'this arena', caller, [])).toBe(caller);
  });
});

describe('adoptable: the owner named in the refusal', () => {
  test.each<[Managed.OwnerKind, Managed.OwnerKind, string]>([
    ['Pool', 'Pool', 'another Pool'],
    ['Arena', 'Arena', 'another Arena'],
    ['Heap', 'Arena', 'an Arena'],
    ['Arena', 'Heap', 'a Heap'],
    ['Heap', 'PageAllocator', 'a PageAllocator'],
    ['PageAllocator', 'Pool', 'a Pool'],
  ])('a %s adding a Block a %s manages: "already managed by %s"', (kind, owner, named) => {
    using block = lib.Block.alloc(4096);
    const start = Number(block.address);
    const region = new mr.ManagedRegion(owner, block, true);
    const error = thrown(() => mr.adoptable(kind, 'this one', block, []));
    expect(error.code).toBe('ERR_MEMORY_OVERLAP');
    expect(error.message).toBe(`block [${hex(start)}, ${hex(start + 4096)}) is already managed by ${named}`);
    region.disown();
  });

  test('the same Block twice is an overlap with itself, checked before its owner', () => {
    using block = lib.Block.alloc(4096);
    const start = Number(block.address);
    const region = new mr.ManagedRegion('Pool', block, true);
    const error = thrown(() => mr.adoptable('Pool', 'this pool', block, [region]));
    expect(error.code).toBe('ERR_MEMORY_OVERLAP');
    expect(error.message).toBe(
      `block [${hex(start)}, ${hex(start + 4096)}) overlaps [${hex(start)}, ${hex(start + 4096)}), which this pool already manages`,
    );
    region.disown();
  });

  test('addMemory of a Block a Heap holds, to that Heap or to a Pool: refused, naming the range and the owner', () => {
    const outer = lib.Block.alloc(16384, { align: 4096 });
    const heap = new lib.Heap({ capacity: 4096, checked: false });
    heap.addMemory(outer);
    const start = Number(outer.address);
    const error = thrown(() => heap.addMemory(outer));
    expect(error.code).toBe('ERR_MEMORY_OVERLAP');
    expect(error.message).toMatch(
      new RegExp(`^block \\[${hex(start)}, ${hex(start + 16384)}\\) overlaps \\[${hex(start)}, ${hex(start + 16384)}\\), which this heap already manages$`),
    );
    const pool = new lib.Pool({ slotSize: 64, slots: 1 });
    expect(thrown(() => pool.addMemory(outer)).message).toBe(`block [${hex(start)}, ${hex(start + 16384)}) is already managed by a Heap`);
    pool.destroy();
    expect(heap.regions().length).toBe(2);
    heap.destroy();
    // The heap owned it from addMemory on: destroy frees it.
    expect(outer.freed).toBe(true);
  });
});

describe('releaseAll (destroy)', () => {
  function regionWithParts(): { block: Sysalloc.Block; region: Managed.ManagedRegion; parts: Buffer[] } {
    const block = lib.Block.alloc(4096);
    block.buffer.fill(9);
    const region = new mr.ManagedRegion('Heap', block, false);
    // The parts first: one view at a time per address, and the whole view starts at offset 0.
    const parts = [region.wrap(64, 32) as Buffer, region.wrap(1024, 32) as Buffer];
    expect(region.wrapWhole()).toBeUndefined();
    return { block, region, parts };
  }

  externalTest('checked: every live allocation and every whole view reads length 0, every Block is freed', () => {
    const a = regionWithParts();
    const b = regionWithParts();
    const views = [a.region.view as Buffer, b.region.view as Buffer];
    mr.releaseAll([a.region, b.region], [a.parts[0], undefined, b.parts[1], a.parts[1]], true);
    expect([...a.parts, b.parts[1]].map((p) => p.length)).toEqual([0, 0, 0]);
    // Not in `live`: left to the runtime, still reading the memory it keeps.
    expect(b.parts[0].length).toBe(32);
    expect(b.parts[0][0]).toBe(9);
    expect(views.map((v) => v.length)).toEqual([0, 0]);
    expect([a.region.view, b.region.view]).toEqual([undefined, undefined]);
    expect([a.block.freed, b.block.freed]).toEqual([true, true]);
    mr.detachChecked(b.parts[0]);
  });

  externalTest('fast: the live allocations are left as they are (each keeps its memory), the whole views end', () => {
    const a = regionWithParts();
    mr.releaseAll([a.region], a.parts, false);
    expect(a.parts.map((p) => p.length)).toEqual([32, 32]);
    expect(a.parts[1][31]).toBe(9);
    expect(a.region.view).toBeUndefined();
    expect(a.block.freed).toBe(true);
    for (const p of a.parts) mr.detachChecked(p);
  });
});

describe('the errors', () => {
  test('heldByRuntime: ERR_INVALID_PARAM naming the method and the bytes kept', () => {
    const error = mr.heldByRuntime('Heap.free', 48);
    expect(error).toBeInstanceOf(lib.AllocError);
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toBe(
      'Heap.free: cannot free 48 bytes while the runtime holds their Buffer for work in flight ' +
        '(Bun holds a Buffer given to fs, zlib or crypto until the callback): they stay allocated; free them once that work has ended',
    );
  });

  test.each<[string, number, string, string]>([
    ['notAllocated', 3, 'ERR_NOT_ALLOCATED', 'this pool: a block it manages was freed by someone else'],
    ['noMemory', 2, 'ERR_NO_MEMORY', 'this pool: no memory to wrap 64 bytes at offset 128'],
    ['invalidParam', 1, 'ERR_INVALID_PARAM', 'this pool: the native guard refused a view of 64 bytes at offset 128'],
    ['an unknown status', 99, 'ERR_INVALID_PARAM', 'this pool: the native guard refused a view of 64 bytes at offset 128'],
  ])('wrapError of %s: %s', (_label, status, code, message) => {
    const error = mr.wrapError('this pool', status, 128, 64);
    expect(error).toBeInstanceOf(lib.AllocError);
    expect([error.code, error.message]).toEqual([code, message]);
  });

  externalTest('wrapError of a wrap the runtime threw on, or refused: ERR_NO_MEMORY with the runtime\'s reason', () => {
    using block = lib.Block.alloc(4096);
    const region = new mr.ManagedRegion('Heap', block, true);
    addon.testing.refuseWrap(napi.pending_exception);
    const status = region.wrap(128, 64);
    addon.testing.refuseWrap(0);
    expect(status).toBe(native.status.runtimeThrew);
    const threw = mr.wrapError('this heap', status as number, 128, 64);
    expect([threw.code, threw.message]).toEqual([
      'ERR_NO_MEMORY',
      'this heap: the JavaScript runtime could not wrap 64 bytes at offset 128: the runtime threw: simulated exception',
    ]);
    const refused = mr.wrapError('this heap', native.status.runtimeRefused, 0, 4096);
    expect([refused.code, refused.message]).toEqual([
      'ERR_NO_MEMORY',
      'this heap: the JavaScript runtime could not wrap 4096 bytes at offset 0: the runtime threw: simulated exception',
    ]);
    region.disown();
  });
});

describe('refuseCheckedOnRuntime', () => {
  externalTest('with external memory: a checked Heap or PageAllocator, and addMemory of an external Block, are accepted', () => {
    using block = lib.Block.alloc(4096);
    expect(mr.refuseCheckedOnRuntime('Heap')).toBeUndefined();
    expect(mr.refuseCheckedOnRuntime('PageAllocator', block)).toBeUndefined();
  });

  test('where the runtime serves the memory: a checked Heap or PageAllocator is refused', () => {
    addon.testing.runtimeMemory(true);
    for (const kind of ['Heap', 'PageAllocator'] as const) {
      const error = thrown(() => mr.refuseCheckedOnRuntime(kind));
      expect([error.code, error.message]).toEqual(['ERR_INVALID_PARAM', `${kind} { checked: true }: ${RUNTIME_WHY}`]);
    }
  });

  test.each<['Heap' | 'PageAllocator', string]>([
    ['Heap', 'Heap.addMemory of a checked heap'],
    ['PageAllocator', 'PageAllocator.addMemory of a checked page allocator'],
  ])('a Block of runtime memory added to a checked %s is refused, naming addMemory', (kind, what) => {
    addon.testing.runtimeMemory(true);
    using runtimeBlock = lib.Block.alloc(4096);
    expect(runtimeBlock.source).toBe('runtime');
    const error = thrown(() => mr.refuseCheckedOnRuntime(kind, runtimeBlock));
    expect([error.code, error.message]).toEqual(['ERR_INVALID_PARAM', `${what}: ${RUNTIME_WHY}`]);
  });
});

test('hex: lower-case digits after 0x', () => {
  expect(mr.hex(0)).toBe('0x0');
  expect(mr.hex(0xabcdef123)).toBe('0xabcdef123');
});
