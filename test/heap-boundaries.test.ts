// Heap (lib/heap.ts) at its boundaries: the exact message of every refusal
// (options, alloc, free, addMemory, a destroyed heap), which memory each
// allocation is across the heap's own region, regions it grows and Blocks
// added with addMemory, the size of each region a growing heap adds (the
// request that just fits the next region, the one that needs a region of its
// own, the most a region holds), and checked mode's allocations held for a
// run, a refused wrap and a region retired while allocations are held. The
// testing addon (test/faults) stands in for a runtime that refuses a wrap
// (testing.refuseWrap), for a refused OS allocation (testing.faultArm) and for
// a runtime without external buffers (testing.runtimeMemory).
import path = require('path');
import bindings = require('bindings');

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
const CHECKED_REFUSED = 'a checked Heap is refused there (the last describe)';

afterEach(() => {
  addon.testing.refuseWrap(0);
  addon.testing.faultArm(0, 0);
  addon.testing.runtimeMemory(noExternalBuild);
});

// napi_status values from js_native_api_types.h.
const PENDING_EXCEPTION = 10;
const THREW = (length: number, offset: number): string =>
  `the JavaScript runtime could not wrap ${length} bytes at offset ${offset}: the runtime threw: simulated exception`;
const MAX_BUDDY_REGION = 2 ** 35;
const NOT_OURS = 'is not an allocation of this heap: already freed, part or a copy of one, from another allocator, or never from this heap';

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
const sizes = (heap: Sysalloc.Heap): number[] => heap.regions().map((r) => r.size);
const counts = (heap: Sysalloc.Heap): number[] => [heap.capacity, heap.used, heap.available];
/** A microtask turn and a macrotask: a checked heap's run has ended. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('options are checked, each refusal naming the option and the value', () => {
  test('options itself must be an object', () => {
    for (const [value, got] of [
      [null, 'null'],
      [undefined, 'undefined'],
      [4096, '4096'],
      ['tlsf', '"tlsf" (a string)'],
    ] as const) {
      expect(codeAndMessage(() => new lib.Heap(value as never))).toEqual(['ERR_INVALID_PARAM', `options must be an object; got ${got}`]);
    }
  });

  test('capacity: an integer from 16 to MAX_SIZE; 16 itself makes a heap of 16 bytes', () => {
    const requirement = `options.capacity must be an integer from 16 to ${lib.MAX_SIZE}`;
    for (const [value, got] of [
      ['4096', '"4096" (a string)'],
      [undefined, 'undefined'],
      [15, '15'],
      [0, '0'],
      [16.5, '16.5'],
      [NaN, 'NaN'],
      [lib.MAX_SIZE + 1, String(lib.MAX_SIZE + 1)],
      [Infinity, 'Infinity'],
    ] as const) {
      expect(codeAndMessage(() => new lib.Heap({ capacity: value as never }))).toEqual(['ERR_INVALID_PARAM', `${requirement}; got ${got}`]);
    }
    for (const strategy of ['tlsf', 'buddy'] as const) {
      const heap = new lib.Heap({ capacity: 16, strategy });
      expect([...counts(heap), sizes(heap)]).toEqual([16, 0, 16, [16]]);
      const buf = heap.alloc(16);
      expect(at(buf)).toBe(heap.regions()[0].address);
      expect(codeAndMessage(() => heap.alloc(1))).toEqual([
        'ERR_NO_MEMORY',
        'heap has no free block for 1 bytes aligned to 16 (capacity 16, used 16, largest free block about 0)',
      ]);
      heap.destroy();
    }
  });

  test("strategy: 'tlsf' (the default) or 'buddy'; a buddy heap's capacity is at most 2^35", () => {
    expect(codeAndMessage(() => new lib.Heap({ capacity: 4096, strategy: 'first-fit' as never }))).toEqual([
      'ERR_INVALID_PARAM',
      `options.strategy must be 'tlsf' or 'buddy'; got "first-fit" (a string)`,
    ]);
    expect(codeAndMessage(() => new lib.Heap({ capacity: 4096, strategy: 'TLSF' as never }))).toEqual([
      'ERR_INVALID_PARAM',
      `options.strategy must be 'tlsf' or 'buddy'; got "TLSF" (a string)`,
    ]);
    const heap = new lib.Heap({ capacity: 4096, strategy: undefined });
    expect(heap.strategy).toBe('tlsf');
    // tlsf: 100 bytes take 112; buddy would take 128.
    heap.alloc(100);
    expect(heap.used).toBe(112);
    heap.destroy();
    // Where MAX_SIZE is 2^32 (Node 20) every capacity above 2^35 is refused as above MAX_SIZE first.
    expect(codeAndMessage(() => new lib.Heap({ capacity: MAX_BUDDY_REGION + 16, strategy: 'buddy' }))).toEqual([
      'ERR_INVALID_PARAM',
      lib.MAX_SIZE > MAX_BUDDY_REGION
        ? `options.capacity must be at most ${MAX_BUDDY_REGION} with strategy 'buddy'; got ${MAX_BUDDY_REGION + 16}`
        : `options.capacity must be an integer from 16 to ${lib.MAX_SIZE}; got ${MAX_BUDDY_REGION + 16}`,
    ]);
  });

  const bigBuddy =
    lib.MAX_SIZE < MAX_BUDDY_REGION
      ? (name: string, fn: jest.ProvidesCallback): void => test.skip(`${name} [not where MAX_SIZE is below 2^35 (Node 20): refused as above MAX_SIZE, the test above]`, fn)
      : onExternal('the runtime serves the memory, no OS allocation to refuse');
  bigBuddy('a buddy heap of exactly 2^35 bytes is accepted: it asks the OS for them (refused here)', () => {
    addon.testing.faultArm(1, 1);
    const error = thrown(() => new lib.Heap({ capacity: MAX_BUDDY_REGION, strategy: 'buddy', align: 1 << 20 }));
    addon.testing.faultArm(0, 0);
    expect(error.code).toBe('ERR_NO_MEMORY');
    expect(error.message).not.toMatch(/must be/);
    expect(addon.testing.faultInjected()).toBeGreaterThan(0);
  });

  onExternal('the runtime serves the memory, no OS allocation to refuse')('a heap of exactly MAX_SIZE bytes is accepted: it asks the OS for them (refused here)', () => {
    addon.testing.faultArm(1, 1);
    const error = thrown(() => new lib.Heap({ capacity: lib.MAX_SIZE }));
    addon.testing.faultArm(0, 0);
    expect(error.code).toBe('ERR_NO_MEMORY');
    expect(error.message).not.toMatch(/must be/);
  });

  test('grow and checked: booleans, false by default', () => {
    for (const name of ['grow', 'checked'] as const) {
      expect(codeAndMessage(() => new lib.Heap({ capacity: 4096, [name]: 1 }))).toEqual(['ERR_INVALID_PARAM', `options.${name} must be a boolean; got 1`]);
      expect(codeAndMessage(() => new lib.Heap({ capacity: 4096, [name]: null }))).toEqual(['ERR_INVALID_PARAM', `options.${name} must be a boolean; got null`]);
    }
    const heap = new lib.Heap({ capacity: 4096, grow: false, checked: false });
    const plain = new lib.Heap({ capacity: 4096 });
    expect([heap.grow, heap.checked, plain.grow, plain.checked]).toEqual([false, false, false, false]);
    // Not growing: a request the region cannot hold is refused.
    expect(thrown(() => plain.alloc(8192)).code).toBe('ERR_NO_MEMORY');
    expect(plain.regions().length).toBe(1);
    // Fast: a freed Buffer keeps its length.
    const buf = plain.alloc(64);
    plain.free(buf);
    expect(buf.length).toBe(64);
    heap.destroy();
    plain.destroy();
  });

  test('align: a power of two; the page size by default and at least; a larger one aligns the region', () => {
    const page = lib.pageSize();
    expect(codeAndMessage(() => new lib.Heap({ capacity: 4096, align: 3 }))).toEqual([
      'ERR_INVALID_PARAM',
      `options.align must be a power of two from 1 to ${lib.MAX_ALIGN}; got 3`,
    ]);
    const small = new lib.Heap({ capacity: 4096, align: 16 });
    const plain = new lib.Heap({ capacity: 4096 });
    const large = new lib.Heap({ capacity: 4096, align: 1 << 20 });
    expect([small.align, plain.align, large.align]).toEqual([page, page, 1 << 20]);
    expect(large.regions()[0].address % BigInt(1 << 20)).toBe(0n);
    small.destroy();
    plain.destroy();
    large.destroy();
  });
});

describe('alloc: arguments, and ERR_NO_MEMORY saying what was asked and what is left', () => {
  test('size: an integer from 1 to MAX_SIZE', () => {
    const heap = new lib.Heap({ capacity: 4096 });
    const requirement = `size must be an integer from 1 to ${lib.MAX_SIZE}`;
    for (const [value, got] of [
      [0, '0'],
      [-1, '-1'],
      [1.5, '1.5'],
      [NaN, 'NaN'],
      ['16', '"16" (a string)'],
      [undefined, 'undefined'],
      [lib.MAX_SIZE + 1, String(lib.MAX_SIZE + 1)],
    ] as const) {
      expect(codeAndMessage(() => heap.alloc(value as never))).toEqual(['ERR_INVALID_PARAM', `${requirement}; got ${got}`]);
    }
    // MAX_SIZE itself is a size: this heap has no block for it.
    expect(codeAndMessage(() => heap.alloc(lib.MAX_SIZE))).toEqual([
      'ERR_NO_MEMORY',
      `heap has no free block for ${lib.MAX_SIZE} bytes aligned to 16 (capacity 4096, used 0, largest free block about 4096)`,
    ]);
    expect(heap.alloc(1).length).toBe(1);
    heap.destroy();
  });

  test('align: a power of two from 1 to MAX_ALIGN, checked before anything is allocated', () => {
    const heap = new lib.Heap({ capacity: 4096 });
    const requirement = `align must be a power of two from 1 to ${lib.MAX_ALIGN}`;
    for (const [value, got] of [
      [0, '0'],
      [-16, '-16'],
      [1.5, '1.5'],
      [3, '3'],
      [24, '24'],
      [NaN, 'NaN'],
      ['16', '"16" (a string)'],
      [null, 'null'],
      [lib.MAX_ALIGN * 2, String(lib.MAX_ALIGN * 2)],
    ] as const) {
      expect(codeAndMessage(() => heap.alloc(16, value as never))).toEqual(['ERR_INVALID_PARAM', `${requirement}; got ${got}`]);
    }
    expect(heap.used).toBe(0);
    heap.destroy();
    // Checked before the heap's own state: a destroyed heap still names the bad align.
    expect(codeAndMessage(() => heap.alloc(16, 3))).toEqual(['ERR_INVALID_PARAM', `${requirement}; got 3`]);
  });

  test('align: 1 and 16 (the default) hand out consecutive granules; 64 skips to the next multiple', () => {
    const heap = new lib.Heap({ capacity: 4096 });
    const base = heap.regions()[0].address;
    const a = heap.alloc(1, 1);
    const b = heap.alloc(1);
    const c = heap.alloc(1, 64);
    expect([a, b, c].map((x) => at(x) - base)).toEqual([0n, 16n, 64n]);
    expect(heap.regions().length).toBe(1);
    heap.destroy();
  });

  test.each(['tlsf', 'buddy'] as const)('%s: ERR_NO_MEMORY names the size, align, capacity, used and the largest free block', (strategy) => {
    const heap = new lib.Heap({ capacity: 4096, strategy });
    heap.alloc(100);
    const [used, largest] = strategy === 'tlsf' ? [112, 3984] : [128, 2048];
    expect(codeAndMessage(() => heap.alloc(4000, 32))).toEqual([
      'ERR_NO_MEMORY',
      `heap has no free block for 4000 bytes aligned to 32 (capacity 4096, used ${used}, largest free block about ${largest})`,
    ]);
    // The slow path, for an align not given as a plain power of two, says the same.
    expect(thrown(() => heap.alloc(4000, 2 ** 31)).message).toMatch(/^heap has no free block for 4000 bytes aligned to 2147483648 \(/);
    heap.destroy();
  });
});

describe('which memory each allocation is', () => {
  test.each(['tlsf', 'buddy'] as const)('%s: allocations from the own region and from added Blocks are views of that memory, freed back to it', (strategy) => {
    const heap = new lib.Heap({ capacity: 4096, strategy });
    const own = heap.regions()[0].address;
    const first = lib.Block.alloc(8192, { align: 8192, zero: false });
    const second = lib.Block.alloc(16384, { align: 16384, zero: false });
    heap.addMemory(first);
    heap.addMemory(second);
    expect(heap.regions()).toEqual([
      { address: own, size: 4096 },
      { address: first.address, size: 8192 },
      { address: second.address, size: 16384 },
    ]);
    expect(counts(heap)).toEqual([4096 + 8192 + 16384, 0, 4096 + 8192 + 16384]);
    const big = heap.alloc(16384);
    const mid = heap.alloc(8192);
    const small = heap.alloc(4096);
    expect([at(big), at(mid), at(small)]).toEqual([second.address, first.address, own]);
    // Each is a view of the Block's memory: what one writes the Block reads.
    big.fill(1);
    mid.fill(2);
    small.fill(3);
    expect([second.buffer[0], second.buffer[16383], first.buffer[0], first.buffer[8191]]).toEqual([1, 1, 2, 2]);
    expect(counts(heap)).toEqual([28672, 28672, 0]);
    heap.free(mid);
    expect(counts(heap)).toEqual([28672, 20480, 8192]);
    expect(at(heap.alloc(8192))).toBe(first.address);
    heap.destroy();
    expect([first.freed, second.freed, big.length, small.length]).toEqual([true, true, 0, 0]);
  });

  test('a Block of exactly 16 aligned bytes is accepted; 15 are refused and stay the caller\'s', () => {
    const heap = new lib.Heap({ capacity: 4096 });
    const sixteen = lib.Block.alloc(16, { align: 16, zero: false });
    heap.addMemory(sixteen);
    expect(counts(heap)).toEqual([4112, 0, 4112]);
    const fifteen = lib.Block.alloc(15, { align: 16, zero: false });
    expect(codeAndMessage(() => heap.addMemory(fifteen))).toEqual([
      'ERR_INVALID_PARAM',
      `block must hold 16 bytes at a 16-byte aligned address; got 15 bytes at 0x${fifteen.address.toString(16)}`,
    ]);
    expect([fifteen.freed, heap.regions().length, heap.capacity]).toEqual([false, 2, 4112]);
    // Still its caller's: another allocator takes it.
    const arena = new lib.Arena({ capacity: 4096 });
    arena.addMemory(fifteen);
    arena.destroy();
    expect(fifteen.freed).toBe(true);
    heap.alloc(4096);
    expect(at(heap.alloc(16))).toBe(sixteen.address);
    heap.destroy();
  });

  test('refusals of addMemory leave the heap as it was', () => {
    const heap = new lib.Heap({ capacity: 4096 });
    const block = lib.Block.alloc(8192, { zero: false });
    heap.addMemory(block);
    const [start, end] = [block.address, block.address + 8192n].map((n) => `0x${n.toString(16)}`);
    expect(codeAndMessage(() => heap.addMemory(block))).toEqual([
      'ERR_MEMORY_OVERLAP',
      `block [${start}, ${end}) overlaps [${start}, ${end}), which this heap already manages`,
    ]);
    expect([sizes(heap), heap.capacity]).toEqual([[4096, 8192], 4096 + 8192]);
    expect(codeAndMessage(() => heap.addMemory(Buffer.alloc(64) as never))).toEqual(['ERR_INVALID_PARAM', 'block must be a Block; got a Buffer']);
    const freed = lib.Block.alloc(4096, { zero: false });
    freed.free();
    expect(codeAndMessage(() => heap.addMemory(freed))).toEqual(['ERR_NOT_ALLOCATED', `cannot add a freed block (size 4096, align ${lib.pageSize()}) to this heap`]);
    expect([sizes(heap), heap.capacity]).toEqual([[4096, 8192], 4096 + 8192]);
    heap.destroy();
  });
});

describe('free: exactly what alloc returned, each refusal saying why', () => {
  test('what is not a Buffer or typed array: ERR_INVALID_PARAM naming it', () => {
    const heap = new lib.Heap({ capacity: 4096 });
    for (const [value, got] of [
      [null, 'null'],
      [undefined, 'undefined'],
      [5, '5'],
      ['buf', '"buf" (a string)'],
      [{}, 'an Object'],
      [new ArrayBuffer(16), 'an ArrayBuffer'],
    ] as const) {
      expect(codeAndMessage(() => heap.free(value as never))).toEqual(['ERR_INVALID_PARAM', `buf must be a Buffer from this heap; got ${got}`]);
    }
    heap.destroy();
    expect(codeAndMessage(() => heap.free(null as never))).toEqual(['ERR_INVALID_PARAM', 'buf must be a Buffer from this heap; got null']);
  });

  test('a view that is not an allocation: ERR_NOT_ALLOCATED naming its kind and length; nothing changes', () => {
    const heap = new lib.Heap({ capacity: 4096 });
    const buf = heap.alloc(100);
    for (const [view, kind, length] of [
      [buf.subarray(0, 50), 'a Buffer', 50],
      [Buffer.from(buf), 'a Buffer', 100],
      [new DataView(buf.buffer, buf.byteOffset, 100), 'a DataView', 100],
    ] as const) {
      expect(codeAndMessage(() => heap.free(view as never))).toEqual(['ERR_NOT_ALLOCATED', `buf (${kind} of ${length} bytes) ${NOT_OURS}`]);
    }
    expect(heap.used).toBe(112);
    heap.free(buf);
    expect(codeAndMessage(() => heap.free(buf))).toEqual(['ERR_NOT_ALLOCATED', `buf (a Buffer of 100 bytes) ${NOT_OURS}`]);
    expect(heap.used).toBe(0);
    heap.destroy();
  });

  test('an allocation of another heap with the same number is refused', () => {
    const heap = new lib.Heap({ capacity: 4096 });
    const other = new lib.Heap({ capacity: 4096 });
    const mine = heap.alloc(64);
    const theirs = other.alloc(64);
    expect(codeAndMessage(() => heap.free(theirs))).toEqual(['ERR_NOT_ALLOCATED', `buf (a Buffer of 64 bytes) ${NOT_OURS}`]);
    expect([heap.used, other.used]).toEqual([64, 64]);
    heap.free(mine);
    other.free(theirs);
    heap.destroy();
    other.destroy();
  });
});

describe('a destroyed heap', () => {
  test('alloc, free, addMemory and destroy each say so; its counts read 0 and it lists no region; dispose does nothing', () => {
    const heap = new lib.Heap({ capacity: 4096, grow: true });
    const buf = heap.alloc(64);
    heap.alloc(8000); // a second region
    heap.destroy();
    expect([heap.destroyed, ...counts(heap), heap.regions()]).toEqual([true, 0, 0, 0, []]);
    expect(buf.length).toBe(0);
    expect(codeAndMessage(() => heap.alloc(16))).toEqual(['ERR_NOT_ALLOCATED', 'cannot allocate from a heap that is destroyed']);
    expect(codeAndMessage(() => heap.alloc(16, 2 ** 31))).toEqual(['ERR_NOT_ALLOCATED', 'cannot allocate from a heap that is destroyed']);
    expect(codeAndMessage(() => heap.free(buf))).toEqual(['ERR_NOT_ALLOCATED', 'cannot free into a heap that is destroyed']);
    const block = lib.Block.alloc(4096, { zero: false });
    expect(codeAndMessage(() => heap.addMemory(block))).toEqual(['ERR_NOT_ALLOCATED', 'cannot add memory to a heap that is destroyed']);
    expect(block.freed).toBe(false);
    block.free();
    expect(codeAndMessage(() => heap.destroy())).toEqual(['ERR_NOT_ALLOCATED', 'cannot destroy a heap that is destroyed']);
    heap[Symbol.dispose]();
    expect(heap.destroyed).toBe(true);
  });

  test('dispose destroys a live heap', () => {
    const heap = new lib.Heap({ capacity: 4096 });
    const buf = heap.alloc(16);
    expect(heap.destroyed).toBe(false);
    heap[Symbol.dispose]();
    expect([heap.destroyed, buf.length, heap.capacity]).toEqual([true, 0, 0]);
  });
});

describe('a growing heap: the size of each region it adds', () => {
  // A fresh tlsf region must hold size + ceil(size / 32) + align + 32 bytes.
  test('tlsf: a request needing exactly the next region\'s size takes it, and the next region doubles', () => {
    const heap = new lib.Heap({ capacity: 4096, grow: true });
    heap.alloc(4096);
    // 7897 + 247 + 16 + 32 = 8192: the next region (twice the first capacity's power of two).
    const a = heap.alloc(7897);
    expect(sizes(heap)).toEqual([4096, 8192]);
    expect(at(a)).toBe(heap.regions()[1].address);
    heap.alloc(1000); // does not fit the 288 bytes left: a region of 16384
    expect(sizes(heap)).toEqual([4096, 8192, 16384]);
    expect(counts(heap)).toEqual([4096 + 8192 + 16384, 4096 + 7904 + 1008, 288 + 16384 - 1008]);
    heap.destroy();
  });

  test('tlsf: the next region is twice the capacity rounded up to a power of two', () => {
    const heap = new lib.Heap({ capacity: 5000, grow: true });
    expect([sizes(heap), heap.capacity]).toEqual([[5000], 4992]);
    heap.alloc(4992);
    heap.alloc(16);
    expect(sizes(heap)).toEqual([5000, 16384]);
    heap.destroy();
  });

  test('tlsf: a request needing more than the next region gets a region of its own, the power of two it needs; the next region stays', () => {
    const heap = new lib.Heap({ capacity: 4096, grow: true });
    heap.alloc(4096);
    // 15825 + 495 + 32 + 32 = 16384; 15826 + 495 + 32 + 32 = 16385.
    const exact = heap.alloc(15825, 32);
    expect(sizes(heap)).toEqual([4096, 16384]);
    const next = heap.alloc(4096); // the next region is still 8192
    expect(sizes(heap)).toEqual([4096, 16384, 8192]);
    const over = heap.alloc(15826, 32); // more than the next region (now 16384)
    expect(sizes(heap)).toEqual([4096, 16384, 8192, 32768]);
    expect([exact, next, over].map(at)).toEqual([1, 2, 3].map((i) => heap.regions()[i].address));
    heap.destroy();
  });

  test('tlsf: an allocation aligned above the regions\' alignment, from a region just grown, is a view at its aligned place in that region', () => {
    const heap = new lib.Heap({ capacity: 4096, grow: true });
    heap.alloc(4096);
    const buf = heap.alloc(100, 1 << 20).fill(7);
    const region = heap.regions()[1];
    expect(at(buf) % BigInt(1 << 20)).toBe(0n);
    expect(at(buf) >= region.address && at(buf) + 100n <= region.address + BigInt(region.size)).toBe(true);
    expect([buf.length, buf[99]]).toEqual([100, 7]);
    heap.free(buf);
    expect(heap.used).toBe(4096);
    heap.destroy();
  });

  test.each(['tlsf', 'buddy'] as const)('%s: a grown region is aligned to options.align even when that is above its size', (strategy) => {
    const heap = new lib.Heap({ capacity: 4096, strategy, grow: true, align: 1 << 20 });
    heap.alloc(4096);
    const buf = heap.alloc(16);
    const regions = heap.regions();
    expect(sizes(heap)).toEqual([4096, 8192]);
    expect(regions.map((r) => r.address % BigInt(1 << 20))).toEqual([0n, 0n]);
    expect(at(buf)).toBe(regions[1].address);
    heap.destroy();
  });

  test('tlsf: after everything is freed, a request the region cannot hold comes from a region grown for it', () => {
    const heap = new lib.Heap({ capacity: 4096, grow: true });
    heap.free(heap.alloc(4096));
    const buf = heap.alloc(8000);
    expect(sizes(heap)).toEqual([4096, 16384]);
    expect([at(buf), buf.length, heap.used]).toEqual([heap.regions()[1].address, 8000, 8000]);
    heap.destroy();
  });

  test('tlsf: a request no region can hold is refused without asking for memory', () => {
    const heap = new lib.Heap({ capacity: 4096, grow: true });
    expect(codeAndMessage(() => heap.alloc(lib.MAX_SIZE))).toEqual([
      'ERR_NO_MEMORY',
      `no region can hold ${lib.MAX_SIZE} bytes aligned to 16 (regions hold at most ${lib.MAX_SIZE} bytes)`,
    ]);
    expect(sizes(heap)).toEqual([4096]);
    heap.destroy();
  });

  test('buddy: regions are powers of two aligned to their size; a request or align above the next region gets one of its own', () => {
    const heap = new lib.Heap({ capacity: 4096, strategy: 'buddy', grow: true });
    heap.alloc(4096);
    const a = heap.alloc(8192); // exactly the next region
    expect(sizes(heap)).toEqual([4096, 8192]);
    const b = heap.alloc(16385); // more than the next (16384): 32768 of its own
    expect(sizes(heap)).toEqual([4096, 8192, 32768]);
    const c = heap.alloc(16, 65536); // aligned above the next region: 65536 of its own
    expect(sizes(heap)).toEqual([4096, 8192, 32768, 65536]);
    const d = heap.alloc(16384); // the next region, still 16384
    expect(sizes(heap)).toEqual([4096, 8192, 32768, 65536, 16384]);
    const e = heap.alloc(1 << 20); // a region of its own, aligned to its size
    const regions = heap.regions();
    expect([a, b, c, d, e].map(at)).toEqual([1, 2, 3, 4, 5].map((i) => regions[i].address));
    for (const region of regions.slice(1)) expect(region.address % BigInt(region.size)).toBe(0n);
    heap.destroy();
  });

  test('buddy: the first region is aligned to its size, so all of it is one block', () => {
    const heap = new lib.Heap({ capacity: 1 << 20, strategy: 'buddy' });
    const [region] = heap.regions();
    expect(region.address % BigInt(1 << 20)).toBe(0n);
    expect(at(heap.alloc(1 << 20))).toBe(region.address);
    heap.destroy();
  });

  test('buddy: a request above 2^35 bytes is refused without asking for memory (where MAX_SIZE allows the size)', () => {
    const heap = new lib.Heap({ capacity: 4096, strategy: 'buddy', grow: true });
    expect(codeAndMessage(() => heap.alloc(MAX_BUDDY_REGION + 1))).toEqual(
      lib.MAX_SIZE > MAX_BUDDY_REGION
        ? ['ERR_NO_MEMORY', `no region can hold ${MAX_BUDDY_REGION + 1} bytes aligned to 16 (regions hold at most ${MAX_BUDDY_REGION} bytes)`]
        : ['ERR_INVALID_PARAM', `size must be an integer from 1 to ${lib.MAX_SIZE}; got ${MAX_BUDDY_REGION + 1}`],
    );
    expect(sizes(heap)).toEqual([4096]);
    heap.destroy();
  });
});

describe('a wrap the runtime refuses', () => {
  onExternal('a region there is the runtime\'s own ArrayBuffer, no view is wrapped')('addMemory to a fast heap: ERR_NO_MEMORY naming the size; the Block stays its caller\'s and the heap unchanged', () => {
    const heap = new lib.Heap({ capacity: 4096 });
    const block = lib.Block.alloc(8192, { zero: false });
    addon.testing.refuseWrap(PENDING_EXCEPTION);
    expect(codeAndMessage(() => heap.addMemory(block))).toEqual(['ERR_NO_MEMORY', `Heap: ${THREW(8192, 0)}`]);
    addon.testing.refuseWrap(0);
    expect([block.freed, sizes(heap), heap.capacity]).toEqual([false, [4096], 4096]);
    heap.addMemory(block);
    expect(heap.capacity).toBe(4096 + 8192);
    heap.destroy();
  });

  onExternal(CHECKED_REFUSED)('alloc from a checked heap: ERR_NO_MEMORY naming the offset and size; the block stays free', () => {
    const heap = new lib.Heap({ capacity: 4096, checked: true });
    const a = heap.alloc(100);
    addon.testing.refuseWrap(PENDING_EXCEPTION);
    expect(codeAndMessage(() => heap.alloc(200))).toEqual(['ERR_NO_MEMORY', `Heap.alloc: ${THREW(200, 112)}`]);
    addon.testing.refuseWrap(0);
    expect(counts(heap)).toEqual([4096, 112, 3984]);
    expect(at(heap.alloc(200))).toBe(at(a) + 112n);
    heap.destroy();
  });

  onExternal('the runtime serves the memory, no OS allocation to refuse')('a growing heap whose new region the OS refuses: ERR_NO_MEMORY, and the heap unchanged', () => {
    const heap = new lib.Heap({ capacity: 4096, grow: true });
    heap.alloc(4096);
    addon.testing.faultArm(1, 1);
    expect(thrown(() => heap.alloc(16)).code).toBe('ERR_NO_MEMORY');
    addon.testing.faultArm(0, 0);
    expect([sizes(heap), heap.capacity]).toEqual([[4096], 4096]);
    heap.alloc(16);
    expect(sizes(heap)).toEqual([4096, 8192]);
    heap.destroy();
  });
});

describe('checked mode: allocations freed in a run are held until it ends', () => {
  onExternal(CHECKED_REFUSED)('a freed allocation reads length 0 and leaves used at once; its block comes back after the run', async () => {
    const heap = new lib.Heap({ capacity: 4096, checked: true });
    const a = heap.alloc(64);
    const b = heap.alloc(64);
    const where = at(a);
    expect(at(b) - where).toBe(64n);
    heap.free(a);
    expect([a.length, ...counts(heap)]).toEqual([0, 4096, 64, 4032]);
    // Held in this run: the next allocation goes past b.
    const c = heap.alloc(64);
    expect(at(c)).toBe(at(b) + 64n);
    await turn();
    expect(counts(heap)).toEqual([4096, 128, 3968]);
    const d = heap.alloc(64);
    expect(at(d)).toBe(where);
    // A second run holds and releases the same way.
    const [past, last] = [at(c) + 64n, at(c)];
    heap.free(d);
    heap.free(c);
    expect(at(heap.alloc(64))).toBe(past);
    await turn();
    // Both back, the last freed first.
    expect([at(heap.alloc(64)), at(heap.alloc(64))]).toEqual([last, where]);
    heap.destroy();
  });

  onExternal(CHECKED_REFUSED)('a held allocation of a region whose Block its caller freed leaves the heap with that region once nothing else fits', async () => {
    const heap = new lib.Heap({ capacity: 4096, checked: true });
    const block = lib.Block.alloc(16384, { align: 4096, zero: false });
    heap.addMemory(block);
    const own = heap.alloc(4096);
    const first = heap.alloc(4096);
    const second = heap.alloc(4096);
    expect([at(first), at(second)]).toEqual([block.address, block.address + 4096n]);
    heap.free(first); // held
    block.free(); // against the addMemory contract
    // The next block in the freed region cannot be wrapped: the region retires (its 8192 free bytes leave);
    // nothing else fits, so the held allocation is released, and its 4096 bytes leave with the region.
    expect(codeAndMessage(() => heap.alloc(4096))).toEqual([
      'ERR_NO_MEMORY',
      'heap has no free block for 4096 bytes aligned to 16 (capacity 8192, used 8192, largest free block about 0)',
    ]);
    expect(counts(heap)).toEqual([8192, 8192, 0]);
    await turn();
    expect(counts(heap)).toEqual([8192, 8192, 0]);
    heap.free(second); // in the retired region: leaves at once
    expect(counts(heap)).toEqual([4096, 4096, 0]);
    heap.free(own);
    await turn();
    expect(counts(heap)).toEqual([4096, 0, 4096]);
    heap.destroy();
  });
});

describe('checked mode: destroy', () => {
  onExternal(CHECKED_REFUSED)('detaches every live allocation, and what was held in the run no longer counts', () => {
    const heap = new lib.Heap({ capacity: 4096, checked: true });
    const block = lib.Block.alloc(8192, { zero: false });
    heap.addMemory(block);
    const a = heap.alloc(4096);
    const b = heap.alloc(4096);
    const c = heap.alloc(100);
    heap.free(c); // held when destroy comes, in the same run
    expect(counts(heap)).toEqual([4096 + 8192, 8192, 4096]);
    heap.destroy();
    expect([a.length, b.length, block.freed, ...counts(heap)]).toEqual([0, 0, true, 0, 0, 0]);
  });

  onExternal(CHECKED_REFUSED)('addMemory takes only a Block: what merely looks like a runtime Block is refused as not a Block', () => {
    const heap = new lib.Heap({ capacity: 4096, checked: true });
    expect(codeAndMessage(() => heap.addMemory({ source: 'runtime', size: 4096 } as never))).toEqual([
      'ERR_INVALID_PARAM',
      'block must be a Block; got an Object',
    ]);
    heap.destroy();
  });
});

// What the checked tests above assert instead where the runtime serves the
// memory (the testing addon serves it so in every build).
describe('where the runtime serves the memory', () => {
  const REFUSED =
    'this runtime does not allow external buffers (napi_no_external_buffers_allowed: Electron, a V8 sandbox), so blocks are memory it allocates';
  test('a checked heap is refused, naming Heap; a fast one hands out views of its region', () => {
    addon.testing.runtimeMemory(true);
    const error = thrown(() => new lib.Heap({ capacity: 4096, checked: true }));
    expect([error.code, error.message.startsWith(`Heap { checked: true }: ${REFUSED}`)]).toEqual(['ERR_INVALID_PARAM', true]);
    const heap = new lib.Heap({ capacity: 4096 });
    const [region] = heap.regions();
    const a = heap.alloc(100);
    const b = heap.alloc(100);
    expect([at(a) - region.address, at(b) - region.address]).toEqual([0n, 112n]);
    heap.free(a);
    expect(at(heap.alloc(100))).toBe(region.address);
    // A fast heap takes a Block the runtime allocated.
    const block = lib.Block.alloc(8192, { zero: false });
    expect(block.source).toBe('runtime');
    heap.addMemory(block);
    expect(at(heap.alloc(8192))).toBe(block.address);
    heap.destroy();
    expect(b.length).toBe(0);
  });

  test('no view is wrapped: a refused wrap does not stop addMemory to a fast heap', () => {
    addon.testing.runtimeMemory(true);
    const heap = new lib.Heap({ capacity: 4096 });
    const block = lib.Block.alloc(8192, { zero: false });
    addon.testing.refuseWrap(PENDING_EXCEPTION);
    heap.addMemory(block);
    addon.testing.refuseWrap(0);
    expect([heap.capacity, at(heap.alloc(8192))]).toEqual([4096 + 8192, block.address]);
    heap.destroy();
  });

  onExternal(CHECKED_REFUSED)('a checked heap made on external memory is refused a Block the runtime allocated; the Block stays its caller\'s', () => {
    const heap = new lib.Heap({ capacity: 4096, checked: true });
    addon.testing.runtimeMemory(true);
    const block = lib.Block.alloc(4096, { zero: false });
    const error = thrown(() => heap.addMemory(block));
    expect([error.code, error.message.startsWith(`Heap.addMemory of a checked heap: ${REFUSED}`), block.freed]).toEqual(['ERR_INVALID_PARAM', true, false]);
    expect(heap.regions().length).toBe(1);
    heap.destroy();
    block.free();
  });
});
