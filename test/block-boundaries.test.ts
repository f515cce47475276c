// Block (lib/block.ts) at the edges its other tests do not reach on this
// machine: the default alignment of a guarded block, which page-level options
// reach the OS (secure and the explicit false that overrides it), the message
// of each native status (no memory, a runtime that throws or refuses, the
// native guard, an mlock refused under each RLIMIT_MEMLOCK), page-backed
// blocks' flags, protect() and share() refused, free() of a Block from
// fromShared (SharedArrayBuffer and external views), free() refused while the
// runtime holds the buffer (Bun), debug mode's page-level Blocks and the
// fallback to ordinary ones on runtime memory, and util.inspect.
//
// The package is loaded over the testing addon (test/faults) behind an object
// whose functions answer what each case sets (a status, a page state, a lock
// limit) and record what the facade asked for; everything not set goes to the
// addon itself. So every case holds on every build and OS, runtime memory
// (npm run test:no-external) included, unless its name says otherwise.
import path = require('path');
import { ReadableStream } from 'stream/web';
import { inspect } from 'util';
import bindings = require('bindings');

import type * as Sysalloc from '..';
import type * as BlockModule from '../dist/block';

const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') });
const status = addon.status as Record<string, number>;

interface Answers {
  alloc?: number;
  pages?: number | 'plain';
  pageState?: number;
  lockLimit?: number;
  share?: number | [number, bigint];
  protect?: number;
  free?: number;
  huge?: boolean | number;
  source?: string;
  open?: unknown[];
  sharedFree?: number;
}
let answers: Answers = {};
const calls: { alloc: unknown[][]; pages: unknown[][]; share: number; free: unknown[][]; sharedFree: unknown[][] } = {
  alloc: [],
  pages: [],
  share: 0,
  free: [],
  sharedFree: [],
};
const fake = Object.create(addon, {
  blockAlloc: {
    value: (size: number, align: number, zero: boolean) => {
      calls.alloc.push([size, align, zero]);
      return answers.alloc ?? addon.blockAlloc(size, align, zero);
    },
  },
  blockAllocPages: {
    value: (size: number, align: number, options: number) => {
      calls.pages.push([size, align, options]);
      const answer = answers.pages;
      if (answer === undefined) return addon.blockAllocPages(size, align, options);
      // 'plain': an ordinary block stands in for a page-backed one (its flags come from pageState).
      return answer === 'plain' ? addon.blockAlloc(size, align, true) : answer;
    },
  },
  pageState: { value: (buffer: Uint8Array) => answers.pageState ?? addon.pageState(buffer) },
  lockLimit: { value: () => answers.lockLimit ?? addon.lockLimit() },
  lastError: { value: () => 'out of external memory (as reported)' },
  blockShare: {
    value: (buffer: Uint8Array, align: number) => {
      calls.share++;
      return answers.share ?? addon.blockShare(buffer, align);
    },
  },
  blockProtect: { value: (buffer: Uint8Array, access: number) => answers.protect ?? addon.blockProtect(buffer, access) },
  blockFree: {
    value: (buffer: Uint8Array, address?: number) => {
      calls.free.push([buffer, address]);
      return answers.free ?? addon.blockFree(buffer, address);
    },
  },
  hugePagesBacked: { value: (buffer: Uint8Array) => answers.huge ?? addon.hugePagesBacked(buffer) },
  sourceFor: { value: (size: number, align: number) => answers.source ?? addon.sourceFor(size, align) },
  sharedOpen: {
    value: (id: number, key: bigint, sab: boolean, offset: number, length: number, kind: number) =>
      answers.open ?? addon.sharedOpen(id, key, sab, offset, length, kind),
  },
  sharedFree: {
    value: (view: Uint8Array, holder: number) => {
      calls.sharedFree.push([view, holder]);
      return answers.sharedFree ?? addon.sharedFree(view, holder);
    },
  },
});

let lib!: typeof Sysalloc;
let isBlock!: (typeof BlockModule)['isBlock'];
jest.isolateModules(() => {
  jest.doMock('bindings', () => () => fake);
  lib = require('..');
  isBlock = (require('../dist/block') as typeof BlockModule).isBlock;
});
const { Block, AllocError } = lib;

// Whether this addon was built without external buffers: it serves runtime memory from the start.
const noExternalBuild = addon.sourceFor(4096, 4096) === 'runtime';
const NO_PAGES = 'no pages of its own to guard or wipe: a sibling test asserts the refusal';
const externalTest = noExternalBuild
  ? (name: string, fn: jest.ProvidesCallback) => test.skip(`${name} [not on runtime memory: ${NO_PAGES}]`, fn)
  : test;
const PAGES_SOURCE = process.platform === 'win32' ? 'VirtualAlloc' : 'mmap';
const PAGE = addon.pageSize as number;

// Debug mode (SYSALLOC_DEBUG=1 loads the package with it on) serves every Block page-level:
// the cases below set it themselves.
const debugAtLoad = lib.debug.enabled;
beforeEach(() => {
  lib.debug.disable();
  lib.debug.sample(0);
  answers = {};
  calls.alloc = [];
  calls.pages = [];
  calls.share = 0;
  calls.free = [];
  calls.sharedFree = [];
});
afterEach(() => {
  answers = {};
  addon.testing.runtimeMemory(noExternalBuild);
  lib.debug.disable();
  lib.debug.sample(0);
});
afterAll(() => {
  if (debugAtLoad) lib.debug.enable({ reportAtExit: false });
});

function thrown(fn: () => unknown): Sysalloc.AllocError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AllocError);
    return e as Sysalloc.AllocError;
  }
  throw new Error('expected an AllocError');
}

function error(fn: () => unknown): [string, string] {
  const e = thrown(fn);
  return [e.code, e.message];
}

const RUNTIME_WHY =
  "this runtime does not allow external buffers (napi_no_external_buffers_allowed: Electron, a V8 sandbox), so blocks are memory it allocates (block.source 'runtime'), " +
  'which sysalloc cannot guard, lock, wipe, keep out of core dumps, back with huge pages, protect or share';

describe('options and the alignment they give', () => {
  test('an ordinary Block is zero-filled unless zero is false, and is aligned to the size (a power of two) or the page', () => {
    Block.alloc(64).free();
    Block.alloc(64, { zero: false }).free();
    Block.alloc(64, { zero: true }).free();
    Block.alloc(100).free();
    Block.alloc(100, { align: 16 }).free();
    expect(calls.alloc).toEqual([
      [64, 64, true],
      [64, 64, false],
      [64, 64, true],
      [100, PAGE, true],
      [100, 16, true],
    ]);
    expect(calls.pages).toEqual([]);
  });

  test.each([
    [24, 8],
    [96, 32],
    [3 * 4096, 4096],
    [8192, 8192],
    [5 * 65536, 65536],
    [1 << 20, 1 << 20],
    [1, 1],
    [7, 1],
  ])('a guarded block of %d bytes whose largest power-of-two divisor is %d: aligned to that divisor, at most the default (the size or the page)', (size, divisor) => {
    answers.pages = status.noMemory;
    const align = Math.min(divisor, (size & (size - 1)) === 0 ? size : PAGE);
    expect(error(() => Block.alloc(size, { guard: true }))).toEqual(['ERR_NO_MEMORY', `the system allocator refused ${size} bytes aligned to ${align}`]);
    expect(calls.pages).toEqual([[size, align, 1]]);
  });

  test('only guard narrows the default alignment; an explicit align wins over it', () => {
    answers.pages = status.noMemory;
    thrown(() => Block.alloc(24, { lock: true }));
    thrown(() => Block.alloc(24, { secure: true, guard: false }));
    thrown(() => Block.alloc(24, { guard: true, align: 64 }));
    thrown(() => Block.alloc(24, { secure: true }));
    expect(calls.pages).toEqual([
      [24, PAGE, 2],
      [24, PAGE, 2 | 4 | 8],
      [24, 64, 1],
      [24, 8, 1 | 2 | 4 | 8],
    ]);
  });

  test('secure asks for guard, lock, wipe and dontDump; each explicit false takes one away; hugePages only when true', () => {
    answers.pages = status.noMemory;
    const cases: Array<[Sysalloc.BlockOptions, number]> = [
      [{ secure: true }, 15],
      [{ secure: true, guard: false }, 14],
      [{ secure: true, lock: false }, 13],
      [{ secure: true, wipe: false }, 11],
      [{ secure: true, dontDump: false }, 7],
      [{ secure: true, hugePages: true }, 31],
      [{ secure: true, hugePages: false }, 15],
      [{ secure: false, guard: true }, 1],
      [{ lock: true }, 2],
      [{ wipe: true }, 4],
      [{ dontDump: true }, 8],
      [{ hugePages: true }, 16],
      [{ guard: true, lock: true, wipe: true, dontDump: true, hugePages: true }, 31],
    ];
    for (const [options] of cases) thrown(() => Block.alloc(4096, { align: 4096, ...options }));
    expect(calls.pages.map((c) => c[2])).toEqual(cases.map((c) => c[1]));
    // Every option false, or secure false alone: an ordinary block.
    answers.alloc = status.noMemory;
    thrown(() => Block.alloc(4096, { secure: false, guard: false, lock: false, wipe: false, dontDump: false, hugePages: false }));
    expect(calls.pages.length).toBe(cases.length);
    expect(calls.alloc).toEqual([[4096, 4096, true]]);
  });

  test.each(['secure', 'guard', 'lock', 'wipe', 'dontDump', 'hugePages', 'zero'])('options.%s must be a boolean, named in the message', (name) => {
    expect(error(() => Block.alloc(64, { [name]: 1 } as Sysalloc.BlockOptions))).toEqual([
      'ERR_INVALID_PARAM',
      `options.${name} must be a boolean; got 1`,
    ]);
    expect(calls.pages).toEqual([]);
    expect(calls.alloc).toEqual([]);
  });

  test('options must be a plain object', () => {
    expect(error(() => Block.alloc(64, [] as Sysalloc.BlockOptions))).toEqual(['ERR_INVALID_PARAM', 'options must be a plain object; got an array']);
    expect(calls.alloc).toEqual([]);
  });
});

describe('native statuses at alloc', () => {
  test.each<[string, string, string]>([
    ['noMemory', 'ERR_NO_MEMORY', 'the system allocator refused 5000 bytes aligned to 64'],
    ['runtimeThrew', 'ERR_NO_MEMORY', 'the JavaScript runtime could not make a Buffer over 5000 bytes aligned to 64: out of external memory (as reported)'],
    ['runtimeRefused', 'ERR_NO_MEMORY', 'the JavaScript runtime could not make a Buffer over 5000 bytes aligned to 64: out of external memory (as reported)'],
    ['invalidParam', 'ERR_INVALID_PARAM', 'size 5000 with align 64 was refused by the native guard'],
    ['notAllocated', 'ERR_INVALID_PARAM', 'size 5000 with align 64 was refused by the native guard'],
  ])('a page-backed block refused with %s: %s naming size and alignment', (name, code, message) => {
    answers.pages = status[name];
    expect(error(() => Block.alloc(5000, { wipe: true, align: 64 }))).toEqual([code, message]);
  });

  const lockCases: Array<[number, string]> =
    process.platform === 'win32'
      ? [[1 << 20, '1048576 bytes']]
      : [
          [-1, 'unlimited'],
          [0, '0 bytes (ulimit -l 0)'],
          [8388608, '8388608 bytes (ulimit -l 8192)'],
          [65535, '65535 bytes (ulimit -l 63)'],
        ];
  test.each(lockCases)('mlock (VirtualLock) refused with the limit at %d: ERR_NO_MEMORY naming the pages and the limit', (limit, shown) => {
    answers.pages = status.lockRefused;
    answers.lockLimit = limit;
    const pages = Math.ceil(5000 / PAGE) * PAGE;
    const message =
      process.platform === 'win32'
        ? `VirtualLock refused to lock ${pages} bytes: the process's minimum working-set size is ${limit} bytes (SetProcessWorkingSetSize raises it)`
        : `mlock refused to lock ${pages} bytes: RLIMIT_MEMLOCK is ${shown}, counted over every page the process has locked`;
    expect(error(() => Block.alloc(5000, { lock: true }))).toEqual(['ERR_NO_MEMORY', message]);
  });

  test('a lock refused for a whole number of pages names exactly those pages', () => {
    answers.pages = status.lockRefused;
    answers.lockLimit = 0;
    expect(thrown(() => Block.alloc(2 * PAGE, { lock: true })).message).toMatch(new RegExp(`^(mlock|VirtualLock) refused to lock ${2 * PAGE} bytes: `));
  });

  test('page-level options on a runtime that refuses external buffers: ERR_INVALID_PARAM naming the options set to true', () => {
    answers.pages = status.externalRefused;
    expect(error(() => Block.alloc(4096, { secure: true, guard: true, lock: false, hugePages: true }))).toEqual([
      'ERR_INVALID_PARAM',
      `options.secure, options.guard, options.hugePages: ${RUNTIME_WHY}`,
    ]);
    expect(error(() => Block.alloc(4096, { wipe: true, dontDump: true }))).toEqual(['ERR_INVALID_PARAM', `options.wipe, options.dontDump: ${RUNTIME_WHY}`]);
    expect(error(() => Block.alloc(4096, { lock: true }))).toEqual(['ERR_INVALID_PARAM', `options.lock: ${RUNTIME_WHY}`]);
    // Never served as an ordinary block instead.
    expect(calls.alloc).toEqual([]);
  });
});

describe('page-backed blocks', () => {
  // PageFlags (native/blocks.h): 1 page-backed, 2 guarded, 4 locked, 8 wipe, 16 dontDump, 32 huge; the access above bit 8.
  test.each([
    [1, { guarded: false, locked: false, wipes: false, dontDump: false }],
    [1 | 2, { guarded: true, locked: false, wipes: false, dontDump: false }],
    [1 | 4, { guarded: false, locked: true, wipes: false, dontDump: false }],
    [1 | 8, { guarded: false, locked: false, wipes: true, dontDump: false }],
    [1 | 16, { guarded: false, locked: false, wipes: false, dontDump: true }],
    [1 | 2 | 4 | 8 | 16, { guarded: true, locked: true, wipes: true, dontDump: true }],
  ])('page state %d: the flags the OS granted, read from the low byte only', (flags, expected) => {
    answers.pages = 'plain';
    answers.pageState = flags | (2 << 8);
    const block = Block.alloc(4096, { secure: true });
    expect({ guarded: block.guarded, locked: block.locked, wipes: block.wipes, dontDump: block.dontDump }).toEqual(expected);
    expect(block.pageBacked).toBe(true);
    expect(block.source).toBe(PAGES_SOURCE);
    expect(block.protection).toBe('readwrite');
    block.free();
    // locked is false once freed; the other flags stay as granted.
    expect({ guarded: block.guarded, locked: block.locked, wipes: block.wipes, dontDump: block.dontDump }).toEqual({ ...expected, locked: false });
  });

  test('a page state with only access bits: the block is not page-backed, its source is the ordinary one', () => {
    answers.pages = 'plain';
    answers.pageState = 2 << 8;
    answers.source = 'posix_memalign';
    const block = Block.alloc(4096, { wipe: true });
    expect([block.pageBacked, block.guarded, block.locked, block.wipes, block.dontDump]).toEqual([false, false, false, false, false]);
    expect(block.source).toBe('posix_memalign');
    block.free();
  });

  test('hugePages: true only when huge pages were asked for, the OS says so now, and the block is live', () => {
    answers.pages = 'plain';
    answers.pageState = 1 | 32;
    const huge = Block.alloc(4096, { hugePages: true });
    answers.huge = true;
    expect(huge.hugePages).toBe(true);
    answers.huge = false;
    expect(huge.hugePages).toBe(false);
    answers.huge = status.notAllocated;
    expect(huge.hugePages).toBe(false);
    answers.huge = true;
    huge.free();
    expect(huge.hugePages).toBe(false);

    answers.pageState = 1 | 2;
    const guarded = Block.alloc(4096, { guard: true });
    expect(guarded.hugePages).toBe(false);
    guarded.free();
  });

  externalTest('a real guarded, wiped block: its flags, the source of its pages, and the address as allocated', () => {
    const block = Block.alloc(24, { guard: true, wipe: true });
    expect([block.align, block.pageBacked, block.guarded, block.wipes, block.locked, block.source]).toEqual([8, true, true, true, false, PAGES_SOURCE]);
    expect(Number(block.address) % 8).toBe(0);
    block.free();
  });

  test('on runtime memory a real guarded, wiped block is refused, naming both options, and nothing is allocated', () => {
    // The testing addon serves runtime memory on any build while this is set.
    addon.testing.runtimeMemory(true);
    const live = lib.blockStats().liveBlocks;
    expect(error(() => Block.alloc(24, { guard: true, wipe: true }))).toEqual(['ERR_INVALID_PARAM', `options.guard, options.wipe: ${RUNTIME_WHY}`]);
    expect(calls.pages).toEqual([[24, 8, 1 | 4]]);
    expect(calls.alloc).toEqual([]);
    expect(lib.blockStats().liveBlocks).toBe(live);
    addon.testing.runtimeMemory(noExternalBuild);
  });
});

describe('protect()', () => {
  test('an invalid mode: ERR_INVALID_PARAM naming the three modes, before any other check', () => {
    const block = Block.alloc(64);
    for (const [mode, shown] of [
      ['write', '"write" (a string)'],
      ['', '"" (a string)'],
      [1, '1'],
      [undefined, 'undefined'],
      [{ toString: () => 'read' }, 'an Object'],
    ] as Array<[unknown, string]>) {
      expect(error(() => block.protect(mode as Sysalloc.Protection))).toEqual(['ERR_INVALID_PARAM', `mode must be 'none', 'read' or 'readwrite'; got ${shown}`]);
    }
    block.free();
    expect(error(() => block.protect('nope' as Sysalloc.Protection))).toEqual(['ERR_INVALID_PARAM', `mode must be 'none', 'read' or 'readwrite'; got "nope" (a string)`]);
    expect(error(() => block.protect('read'))).toEqual(['ERR_NOT_ALLOCATED', 'cannot protect a block that is already freed (size 64, align 64)']);
  });

  test('a block that is not page-backed: ERR_INVALID_PARAM naming its size and source; on runtime memory the runtime refusal', () => {
    answers.source = 'posix_memalign';
    const block = Block.alloc(100, { align: 16 });
    expect(error(() => block.protect('read'))).toEqual([
      'ERR_INVALID_PARAM',
      'block.protect needs a page-backed block; this block of 100 bytes came from posix_memalign, whose pages may hold other memory: ' +
        'allocate it with guard, lock, wipe, dontDump, hugePages or secure',
    ]);
    answers.source = 'runtime';
    expect(error(() => block.protect('none'))).toEqual(['ERR_INVALID_PARAM', `block.protect(): ${RUNTIME_WHY}`]);
    expect(block.protection).toBe('readwrite');
    answers.source = undefined;
    block.free();
  });

  test('each status of the native protect: ok sets the protection, a refusal keeps the old one', () => {
    answers.pages = 'plain';
    answers.pageState = 1 | 2;
    const block = Block.alloc(64, { guard: true });
    for (const mode of ['read', 'none', 'readwrite'] as const) {
      answers.protect = status.ok;
      block.protect(mode);
      expect(block.protection).toBe(mode);
    }
    answers.protect = status.protectRefused;
    expect(error(() => block.protect('read'))).toEqual(['ERR_NO_MEMORY', "the OS refused to make the pages of a 64-byte block 'read'"]);
    expect(block.protection).toBe('readwrite');
    answers.protect = status.notAllocated;
    expect(error(() => block.protect('none'))).toEqual(['ERR_NOT_ALLOCATED', 'cannot protect a block that is already freed (size 64, align 64)']);
    expect(block.protection).toBe('readwrite');
    answers.protect = undefined;
    block.free();
  });
});

describe('share()', () => {
  test('each refusal of the native share: no memory, runtime memory, a block gone', () => {
    const block = Block.alloc(4096);
    answers.share = status.noMemory;
    expect(error(() => block.share())).toEqual(['ERR_NO_MEMORY', 'no memory to share the block']);
    answers.share = status.externalRefused;
    expect(error(() => block.share())).toEqual(['ERR_INVALID_PARAM', `block.share(): ${RUNTIME_WHY}`]);
    answers.share = status.notAllocated;
    expect(error(() => block.share())).toEqual(['ERR_NOT_ALLOCATED', 'cannot share a block that is already freed (size 4096, align 4096)']);
    expect(block.shared).toBe(false);
    block.free();
  });

  test('a Block is named once: a second share() returns the same name without asking again', () => {
    const block = Block.alloc(4096);
    answers.share = [7, 12345n];
    expect(block.share()).toEqual({ type: 'sysalloc.SharedBlock', id: 7, key: 12345n });
    expect(block.shared).toBe(true);
    answers.share = status.noMemory;
    expect(block.share()).toEqual({ type: 'sysalloc.SharedBlock', id: 7, key: 12345n });
    expect(calls.share).toBe(1);
    answers.share = undefined;
    block.free();
    expect(error(() => block.share())).toEqual(['ERR_NOT_ALLOCATED', 'cannot share a block that is already freed (size 4096, align 4096)']);
  });
});

describe('free()', () => {
  test('free hands the native layer the address read at alloc', () => {
    const block = Block.alloc(4096);
    const address = Number(block.address);
    block.free();
    expect(calls.free).toHaveLength(1);
    expect(calls.free[0][1]).toBe(address);
  });

  test('a runtime holding the buffer (Bun): ERR_INVALID_PARAM, the block stays live and frees later', () => {
    const block = Block.alloc(4096);
    block.buffer[0] = 5;
    answers.free = status.runtimeRefused;
    expect(error(() => block.free())).toEqual([
      'ERR_INVALID_PARAM',
      'cannot free a block of 4096 bytes while the runtime holds its buffer for work in flight ' +
        '(Bun holds a Buffer given to fs, zlib or crypto until the callback): the block stays live; free it once that work has ended',
    ]);
    expect([block.freed, block.buffer.length, block.buffer[0]]).toEqual([false, 4096, 5]);
    answers.free = undefined;
    block.free();
    expect([block.freed, block.buffer.length]).toEqual([true, 0]);
  });

  test('any other native refusal: ERR_NOT_ALLOCATED, the Block not marked freed', () => {
    const block = Block.alloc(4096);
    answers.free = status.notAllocated;
    expect(error(() => block.free())).toEqual(['ERR_NOT_ALLOCATED', 'cannot free a block that is already freed (size 4096, align 4096)']);
    expect(block.freed).toBe(false);
    answers.free = undefined;
    block.free();
    expect(error(() => block.free())).toEqual(['ERR_NOT_ALLOCATED', 'cannot free a block that is already freed (size 4096, align 4096)']);
  });

  test('Symbol.dispose frees a live block once and leaves a freed one alone', () => {
    const block = Block.alloc(64);
    block[Symbol.dispose]();
    expect(block.freed).toBe(true);
    block[Symbol.dispose]();
    expect(calls.free).toHaveLength(1);
  });

  test('the address read before the memory moved to another ArrayBuffer (a web byte stream) stays the address of that memory', async () => {
    const block = Block.alloc(4096);
    const address = block.address;
    const stream = new ReadableStream({
      type: 'bytes',
      start(controller) {
        controller.enqueue(block.buffer);
        controller.close();
      },
    });
    const moved = (await stream.getReader().read()).value as Uint8Array;
    expect(block.buffer.length).toBe(0);
    expect(lib.addressOf(moved)).toBe(address);
    expect(block.address).toBe(address);
    expect(block.freed).toBe(false);
    block.free();
    expect(block.freed).toBe(true);
  });

  test('the address: kept from its first read, ERR_NOT_ALLOCATED once freed', () => {
    const block = Block.alloc(64);
    const address = block.address;
    expect(block.address).toBe(address);
    block.free();
    expect(error(() => block.address)).toEqual(['ERR_NOT_ALLOCATED', 'cannot read the address of a block that is already freed (size 64, align 64)']);
  });
});

describe('a Block from fromShared', () => {
  test('a SharedArrayBuffer view (holder 0): free() lets go of it without a native call; the view taken before keeps the bytes', () => {
    const memory = new SharedArrayBuffer(256);
    new Uint8Array(memory)[3] = 9;
    answers.open = [memory, 0, 5, 77n, 256, 64];
    const block = Block.fromShared({ type: 'sysalloc.SharedBlock', id: 5, key: 77n } as Sysalloc.SharedBlockHandle);
    expect([block.size, block.align, block.shared, block.buffer.length, block.buffer[3]]).toEqual([256, 64, true, 256, 9]);
    expect(block.share()).toEqual({ type: 'sysalloc.SharedBlock', id: 5, key: 77n });
    expect(calls.share).toBe(0);
    const before = block.buffer;
    block.free();
    expect(block.freed).toBe(true);
    expect(block.buffer).not.toBe(before);
    expect(block.buffer.length).toBe(0);
    expect(before[3]).toBe(9);
    expect(calls.sharedFree).toEqual([]);
    expect(calls.free).toEqual([]);
    expect(error(() => block.free())).toEqual(['ERR_NOT_ALLOCATED', 'cannot free a block that is already freed (size 256, align 64)']);
  });

  test('an external view (holder n): free() gives it back through sharedFree and keeps the (detached) view', () => {
    const view = Buffer.alloc(128);
    answers.open = [view, 3, 6, 78n, 128, 16];
    answers.sharedFree = status.ok;
    const block = Block.fromShared({ type: 'sysalloc.SharedBlock', id: 6, key: 78n } as Sysalloc.SharedBlockHandle);
    expect(block.buffer).toBe(view);
    block.free();
    expect(calls.sharedFree).toEqual([[view, 3]]);
    expect([block.freed, block.buffer]).toEqual([true, view]);
    expect(block.buffer).toBe(view);
    expect(calls.free).toEqual([]);
  });

  test('an external view sharedFree refuses: ERR_NOT_ALLOCATED, the Block stays live', () => {
    const view = Buffer.alloc(128);
    answers.open = [view, 4, 6, 78n, 128, 16];
    answers.sharedFree = status.notAllocated;
    const block = Block.fromShared({ type: 'sysalloc.SharedBlock', id: 6, key: 78n } as Sysalloc.SharedBlockHandle);
    expect(error(() => block.free())).toEqual(['ERR_NOT_ALLOCATED', 'cannot free a block that is already freed (size 128, align 16)']);
    expect([block.freed, block.buffer]).toEqual([false, view]);
    answers.sharedFree = status.ok;
    block.free();
    expect(block.freed).toBe(true);
  });
});

describe('debug mode and sampling', () => {
  test('debug mode asks for pages with the debug bit, alone or with the page-level options', () => {
    answers.pages = status.noMemory;
    lib.debug.enable({ reportAtExit: false });
    thrown(() => Block.alloc(4096));
    thrown(() => Block.alloc(4096, { lock: true }));
    expect(calls.pages).toEqual([
      [4096, 4096, 32],
      [4096, 4096, 2 | 32],
    ]);
    expect(calls.alloc).toEqual([]);
  });

  test('a sampled block is guarded and debug; with page-level options only the debug bit is added', () => {
    answers.pages = status.noMemory;
    lib.debug.sample(1);
    thrown(() => Block.alloc(4096));
    thrown(() => Block.alloc(4096, { lock: true }));
    expect(calls.pages).toEqual([
      [4096, 4096, 32 | 1],
      [4096, 4096, 2 | 32],
    ]);
  });

  test('debug mode on runtime memory: an ordinary block (zero-filled as asked), recorded nowhere; a refusal of it names size and alignment', () => {
    answers.pages = status.externalRefused;
    lib.debug.enable({ reportAtExit: false });
    const live = lib.debug.report().liveBlocks;
    const block = Block.alloc(4096, { zero: false });
    expect(calls.alloc).toEqual([[4096, 4096, false]]);
    expect([block.pageBacked, block.size, block.align, block.buffer.length]).toEqual([false, 4096, 4096, 4096]);
    expect(lib.debug.report().liveBlocks).toBe(live);
    block.free();
    expect(block.freed).toBe(true);
    answers.alloc = status.noMemory;
    expect(error(() => Block.alloc(4096))).toEqual(['ERR_NO_MEMORY', 'the system allocator refused 4096 bytes aligned to 4096']);
  });

  test('a page-level block made in debug mode is in the debug report until freed, and is not page-backed unless asked', () => {
    answers.pages = 'plain';
    answers.pageState = 1 | 2;
    lib.debug.enable({ reportAtExit: false });
    const live = lib.debug.report().liveBlocks;
    const block = Block.alloc(4096);
    expect(block.pageBacked).toBe(false);
    expect(lib.debug.report().liveBlocks).toBe(live + 1);
    const guarded = Block.alloc(4096, { guard: true });
    expect([guarded.pageBacked, guarded.guarded]).toEqual([true, true]);
    expect(lib.debug.report().liveBlocks).toBe(live + 2);
    block.free();
    guarded.free();
    expect(lib.debug.report().liveBlocks).toBe(live);
  });

  test('with debug mode off an ordinary Block never asks for pages, and neither it nor a page-level Block is in the report', () => {
    const live = lib.debug.report().liveBlocks;
    const block = Block.alloc(64);
    expect(calls.pages).toEqual([]);
    expect(calls.alloc).toHaveLength(1);
    answers.pages = 'plain';
    answers.pageState = 1 | 2;
    const guarded = Block.alloc(4096, { guard: true });
    expect(calls.pages).toEqual([[4096, 4096, 1]]);
    expect(lib.debug.report().liveBlocks).toBe(live);
    block.free();
    guarded.free();
  });

  test('a Block from fromShared in debug mode is in the report until freed', () => {
    lib.debug.enable({ reportAtExit: false });
    const live = lib.debug.report().liveBlocks;
    answers.open = [new SharedArrayBuffer(64), 0, 5, 77n, 64, 64];
    const block = Block.fromShared({ type: 'sysalloc.SharedBlock', id: 5, key: 77n } as Sysalloc.SharedBlockHandle);
    expect(lib.debug.report().liveBlocks).toBe(live + 1);
    block.free();
    expect(lib.debug.report().liveBlocks).toBe(live);
  });
});

describe('what is not a Block', () => {
  const proto = Block.prototype as unknown as Record<string | symbol, unknown>;
  const getter = (name: string) => Object.getOwnPropertyDescriptor(Block.prototype, name)!.get!;
  test.each(['shared', 'buffer', 'freed', 'address', 'source', 'pageBacked', 'guarded', 'locked', 'wipes', 'dontDump', 'hugePages', 'protection'])(
    'Block.%s on a plain object: ERR_INVALID_PARAM naming the getter',
    (name) => {
      expect(error(() => getter(name).call({}))).toEqual(['ERR_INVALID_PARAM', `Block.${name} must be called on a Block; got an Object`]);
    },
  );

  test.each(['share', 'protect', 'free'])('Block.%s on a plain object: ERR_INVALID_PARAM naming the method', (name) => {
    expect(error(() => (proto[name] as (m?: string) => unknown).call({}, 'read'))).toEqual([
      'ERR_INVALID_PARAM',
      `Block.${name} must be called on a Block; got an Object`,
    ]);
  });

  test('isBlock: true for a Block, false for an object posing as one, null and a primitive', () => {
    const block = Block.alloc(64);
    expect(isBlock(block)).toBe(true);
    expect(isBlock(Object.create(Block.prototype))).toBe(false);
    expect(isBlock(new Proxy(block, {}))).toBe(false);
    expect(isBlock(null)).toBe(false);
    expect(isBlock(undefined)).toBe(false);
    expect(isBlock('block')).toBe(false);
    block.free();
    expect(isBlock(block)).toBe(true);
  });

  test('util.inspect: size, alignment and the address while live; freed after free; a plain object is not a Block', () => {
    const block = Block.alloc(64);
    expect(inspect(block)).toBe(`Block { size: 64, align: 64, live at 0x${block.address.toString(16)} }`);
    block.free();
    expect(inspect(block)).toBe('Block { size: 64, align: 64, freed }');
    const custom = proto[Symbol.for('nodejs.util.inspect.custom')] as () => string;
    expect(custom.call({})).toBe('Block <not a Block>');
  });
});
