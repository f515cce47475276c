// The facade turns each native failure status into its AllocError, on every OS:
// the OS refusing memory (made to happen by the fault-injecting testing addon,
// test/faults, which fails the allocator calls themselves) is ERR_NO_MEMORY with
// the size and the alignment, whatever the size, MAX_SIZE included, and nothing
// is left allocated. The runtime's own failures (which no fault switch reaches)
// are checked over the same addon with blockAlloc answering each status.
import path = require('path');
import bindings = require('bindings');

import type * as Sysalloc from '..';

const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') });
const EVERY = Number.MAX_SAFE_INTEGER;

function load(native: object): typeof Sysalloc {
  let lib!: typeof Sysalloc;
  jest.isolateModules(() => {
    jest.doMock('bindings', () => () => native);
    lib = require('..');
  });
  return lib;
}

function caught(fn: () => unknown): Sysalloc.AllocError {
  try {
    fn();
  } catch (error) {
    return error as Sysalloc.AllocError;
  }
  throw new Error('expected a throw');
}

// On runtime memory (npm run test:no-external) no block asks the OS, so the fault
// switch cannot refuse one: skipped there, visibly (test/faults.test.ts asserts the switch never fires).
const noExternalBuild = addon.sourceFor(4096, 4096) === 'runtime';

(noExternalBuild ? describe.skip : describe)('the OS refusing memory', () => {
  const lib = load(addon);
  afterEach(() => addon.testing.faultArm(0, 0));

  test.each([
    [4096, undefined, 4096],
    [5000, 64, 64],
    [3 << 20, 1 << 21, 1 << 21],
  ])('Block.alloc(%d, align %s): ERR_NO_MEMORY naming size and alignment, no live block', (size, align, shown) => {
    lib.trimBlockCache();
    const live = lib.blockStats().liveBlocks;
    addon.testing.faultArm(1, EVERY);
    const error = caught(() => lib.Block.alloc(size, align === undefined ? undefined : { align }));
    expect(error).toBeInstanceOf(lib.AllocError);
    expect([error.code, error.message]).toEqual(['ERR_NO_MEMORY', `the system allocator refused ${size} bytes aligned to ${shown}`]);
    expect(lib.blockStats().liveBlocks).toBe(live);
    addon.testing.faultArm(0, 0);
    lib.Block.alloc(size).free();
  });

  test('MAX_SIZE passes validation and reaches the allocator; MAX_SIZE + 1 does not', () => {
    addon.testing.faultArm(1, EVERY);
    const calls = addon.testing.faultCalls();
    const refused = caught(() => lib.Block.alloc(lib.MAX_SIZE, { align: 4096, zero: false }));
    expect([refused.code, refused.message]).toEqual(['ERR_NO_MEMORY', `the system allocator refused ${lib.MAX_SIZE} bytes aligned to 4096`]);
    expect(addon.testing.faultCalls()).toBeGreaterThan(calls);
    const after = addon.testing.faultCalls();
    const invalid = caught(() => lib.Block.alloc(lib.MAX_SIZE + 1, { align: 4096, zero: false }));
    expect(invalid.code).toBe('ERR_INVALID_PARAM');
    expect(addon.testing.faultCalls()).toBe(after);
  });

  test('an Arena and a Pool that cannot get their first block: ERR_NO_MEMORY, nothing left', () => {
    lib.trimBlockCache();
    const live = lib.blockStats().liveBlocks;
    addon.testing.faultArm(1, EVERY);
    const arena = caught(() => new lib.Arena({ capacity: 8192 }));
    expect([arena.code, arena.message]).toEqual(['ERR_NO_MEMORY', 'the system allocator refused 8192 bytes aligned to 4096']);
    const pool = caught(() => new lib.Pool({ slotSize: 100, slots: 10, align: 64 }));
    expect([pool.code, pool.message]).toEqual(['ERR_NO_MEMORY', 'the system allocator refused 1252 bytes aligned to 4096']); // 9 strides of 128 and a slot
    expect(lib.blockStats().liveBlocks).toBe(live);
  });
});

describe('each native status of blockAlloc', () => {
  let answer: number | undefined;
  const native = {
    ...addon,
    blockAlloc: (size: number, align: number, zero: boolean) => answer ?? addon.blockAlloc(size, align, zero),
    lastError: () => 'out of external memory (as reported)',
  };
  const lib = load(native);
  // The statuses of blockAlloc, the ordinary path: debug mode (npm run test:debug) serves Blocks page-level.
  lib.debug.disable();
  afterEach(() => (answer = undefined));

  test.each<[string, string, string]>([
    ['noMemory', 'ERR_NO_MEMORY', 'the system allocator refused 4096 bytes aligned to 4096'],
    ['runtimeThrew', 'ERR_NO_MEMORY', 'the JavaScript runtime could not make a Buffer over 4096 bytes aligned to 4096: out of external memory (as reported)'],
    ['runtimeRefused', 'ERR_NO_MEMORY', 'the JavaScript runtime could not make a Buffer over 4096 bytes aligned to 4096: out of external memory (as reported)'],
    ['invalidParam', 'ERR_INVALID_PARAM', 'size 4096 with align 4096 was refused by the native guard'],
  ])('%s: %s', (status, code, message) => {
    answer = addon.status[status];
    const error = caught(() => lib.Block.alloc(4096));
    expect(error).toBeInstanceOf(lib.AllocError);
    expect([error.code, error.message]).toEqual([code, message]);
    answer = undefined;
    expect(lib.Block.alloc(4096).size).toBe(4096);
  });
});
