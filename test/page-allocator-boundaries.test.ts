// PageAllocator (lib/page-allocator.ts) at its boundaries: the exact message of
// every refusal (options, counts, alignments, indexes, a destroyed allocator);
// which memory each run is, across the allocator's own Block and Blocks added
// with addMemory, by page number and by address (alignment counts from address
// 0, whatever the page number); the room a run has in each region; the counts
// totalPages / usedPages / availablePages and isAllocated through addMemory,
// destroy and checked mode's runs held for the synchronous run, a region whose
// Block its caller freed and a free the runtime refuses. Blocks at a known
// offset inside a page are guarded Blocks, which end at a page boundary. The
// testing addon (test/faults) stands in for a runtime that refuses a wrap
// (testing.refuseWrap), that serves runtime memory (testing.runtimeMemory), or
// that holds a Buffer for work in flight (viewDetach answering runtimeRefused
// while `refuseDetach` is set: Bun).
import path = require('path');
import bindings = require('bindings');

import type * as Sysalloc from '..';

const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') });
let lib!: typeof Sysalloc;
let refuseDetach = false;
// A status viewWrap answers instead of wrapping (0: it wraps): the allocator's own wraps only, not Block.alloc's Buffer.
let refuseViewWrap = 0;
const RUNTIME_REFUSED = 5; // native.status.runtimeRefused
const refusing = Object.create(addon, {
  viewDetach: { value: (view: Uint8Array): number => (refuseDetach ? RUNTIME_REFUSED : addon.viewDetach(view)) },
  viewWrap: {
    value: (block: Uint8Array, offset: number, length: number): Buffer | number =>
      refuseViewWrap !== 0 ? refuseViewWrap : addon.viewWrap(block, offset, length),
  },
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
const onRuntime = noExternalBuild ? test : test.skip;
const CHECKED_REFUSED = 'a checked PageAllocator is refused there, see "on runtime memory"';
const GENERIC_FAILURE = 9; // napi_generic_failure
const MAX_PAGES = 2 ** 31 - 1;

afterEach(() => {
  refuseDetach = false;
  refuseViewWrap = 0;
  addon.testing.refuseWrap(0);
  addon.testing.runtimeMemory(noExternalBuild);
});

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
const hex = (n: bigint): string => `0x${n.toString(16)}`;
/** A microtask turn and a macrotask: a checked allocator's synchronous run has ended. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A Block of `size` bytes whose end is a page boundary on external memory (a
 * guarded Block sits as late as its alignment, 16, allows), so its address is
 * -size modulo the OS page. On runtime memory, where there are no guards, an
 * ordinary Block: the tests compute what they expect from its address.
 */
function blockEndingAtPage(size: number): Sysalloc.Block {
  return lib.Block.alloc(size, noExternalBuild ? { align: 16, zero: false } : { guard: true, align: 16, zero: false });
}

/** A Block of `pages` pages of `pageSize` at an address that is a multiple of the OS page: no lead. */
function alignedBlock(pages: number, pageSize: number): Sysalloc.Block {
  return lib.Block.alloc(pages * pageSize, { align: Math.max(pageSize, lib.pageSize()), zero: false });
}

describe('new PageAllocator: every refusal names the option, what it must be and the value', () => {
  test.each<[string, unknown, string]>([
    ['null', null, 'null'],
    ['undefined', undefined, 'undefined'],
    ['a number', 4, '4'],
    ['a string', 'pages', '"pages" (a string)'],
  ])('options %s: "options must be an object"', (_label, options, shown) => {
    expect(codeAndMessage(() => new lib.PageAllocator(options as never))).toEqual([
      'ERR_INVALID_PARAM',
      `options must be an object; got ${shown}`,
    ]);
  });

  test('pageSize: 16 is the least accepted, 8 is refused naming 16; not a power of two, or past 2^30, is refused by the alignment rule', () => {
    const least = new lib.PageAllocator({ pages: 3, pageSize: 16 });
    expect([least.pageSize, least.totalPages]).toEqual([16, 3]);
    least.destroy();
    expect(codeAndMessage(() => new lib.PageAllocator({ pages: 1, pageSize: 8 }))).toEqual([
      'ERR_INVALID_PARAM',
      'options.pageSize must be a power of two from 16 to 1073741824; got 8',
    ]);
    for (const pageSize of [15, 3000, 2 ** 31]) {
      expect(codeAndMessage(() => new lib.PageAllocator({ pages: 1, pageSize }))).toEqual([
        'ERR_INVALID_PARAM',
        `options.pageSize must be a power of two from 1 to 1073741824; got ${pageSize}`,
      ]);
    }
  });

  test('pageSize left out is the OS page size; given, it is kept as given', () => {
    const os = new lib.PageAllocator({ pages: 1 });
    expect(os.pageSize).toBe(lib.pageSize());
    os.destroy();
    const given = new lib.PageAllocator({ pages: 1, pageSize: 2 * lib.pageSize() });
    expect(given.pageSize).toBe(2 * lib.pageSize());
    given.destroy();
  });

  test('checked: anything but a boolean or undefined is refused; left out or false is fast mode', () => {
    for (const [checked, shown] of [['yes', '"yes" (a string)'], [1, '1'], [null, 'null']] as const) {
      expect(codeAndMessage(() => new lib.PageAllocator({ pages: 1, checked: checked as never }))).toEqual([
        'ERR_INVALID_PARAM',
        `options.checked must be a boolean; got ${shown}`,
      ]);
    }
    for (const options of [{ pages: 1 }, { pages: 1, checked: undefined }, { pages: 1, checked: false }]) {
      const pages = new lib.PageAllocator(options);
      expect(pages.checked).toBe(false);
      pages.destroy();
    }
  });

  onExternal(CHECKED_REFUSED)('checked: true is checked mode', () => {
    const pages = new lib.PageAllocator({ pages: 1, checked: true });
    expect(pages.checked).toBe(true);
    pages.destroy();
  });

  onRuntime('on runtime memory: checked: true is refused, naming the allocator', () => {
    const error = thrown(() => new lib.PageAllocator({ pages: 1, checked: true }));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toMatch(/^PageAllocator \{ checked: true \}: this runtime does not allow external buffers/);
  });

  test('pages: from 1 to the fewer of 2^31 - 1 and MAX_SIZE / pageSize, the bound in the message', () => {
    const bound = (pageSize: number): number => Math.min(MAX_PAGES, Math.floor(lib.MAX_SIZE / pageSize));
    for (const pageSize of [2 ** 30, 16]) {
      expect(codeAndMessage(() => new lib.PageAllocator({ pages: bound(pageSize) + 1, pageSize }))).toEqual([
        'ERR_INVALID_PARAM',
        `options.pages must be an integer from 1 to ${bound(pageSize)}; got ${bound(pageSize) + 1}`,
      ]);
      expect(codeAndMessage(() => new lib.PageAllocator({ pages: 0, pageSize }))).toEqual([
        'ERR_INVALID_PARAM',
        `options.pages must be an integer from 1 to ${bound(pageSize)}; got 0`,
      ]);
    }
    expect(codeAndMessage(() => new lib.PageAllocator({ pages: 1.5, pageSize: 16 }))[1]).toBe(
      `options.pages must be an integer from 1 to ${bound(16)}; got 1.5`,
    );
  });
});

describe('the first region', () => {
  test('one Block of pages * pageSize bytes at a multiple of the OS page, even for pages smaller than it', () => {
    const small = new lib.PageAllocator({ pages: 3, pageSize: 16 });
    const [region] = small.regions();
    expect(region.size).toBe(48);
    expect(region.address % BigInt(lib.pageSize())).toBe(0n);
    expect([small.totalPages, small.usedPages, small.availablePages]).toEqual([3, 0, 3]);
    expect(at(small.allocPages(3))).toBe(region.address);
    small.destroy();
  });

  test('pages larger than the OS page: the Block is aligned to the page size, so every page is whole', () => {
    // Three pages: a size that is not a power of two, which a Block would otherwise align to the OS page only.
    const pageSize = 16 * lib.pageSize();
    const big = new lib.PageAllocator({ pages: 3, pageSize });
    const [region] = big.regions();
    expect(region).toEqual({ address: region.address, size: 3 * pageSize });
    expect(region.address % BigInt(pageSize)).toBe(0n);
    expect(big.totalPages).toBe(3);
    const second = big.allocPagesAt(1, 1);
    expect([at(second), second.length]).toEqual([region.address + BigInt(pageSize), pageSize]);
    expect(at(big.allocPages(1))).toBe(region.address);
    big.destroy();
  });

  test('a first Block the allocator cannot wrap whole: the wrap\'s error, and the Block is freed', () => {
    const before = lib.blockStats().liveBlocks;
    refuseViewWrap = addon.status.noMemory;
    expect(codeAndMessage(() => new lib.PageAllocator({ pages: 2, pageSize: 4096 }))).toEqual([
      'ERR_NO_MEMORY',
      'PageAllocator: no memory to wrap 8192 bytes at offset 0',
    ]);
    refuseViewWrap = 0;
    expect(lib.blockStats().liveBlocks).toBe(before);
  });

  test('a Block from addMemory the allocator cannot wrap whole: the wrap\'s error, the Block stays its caller\'s and live', () => {
    const pages = new lib.PageAllocator({ pages: 2, pageSize: 4096 });
    const block = alignedBlock(2, 4096);
    refuseViewWrap = addon.status.noMemory;
    expect(codeAndMessage(() => pages.addMemory(block))).toEqual([
      'ERR_NO_MEMORY',
      'PageAllocator: no memory to wrap 8192 bytes at offset 0',
    ]);
    refuseViewWrap = 0;
    expect([block.freed, pages.totalPages]).toEqual([false, 2]);
    const arena = new lib.Arena({ capacity: 4096 });
    arena.addMemory(block); // no longer claimed by the page allocator
    arena.destroy();
    pages.destroy();
  });

  onRuntime('on runtime memory nothing is wrapped: a refused wrap changes nothing', () => {
    addon.testing.refuseWrap(GENERIC_FAILURE);
    const pages = new lib.PageAllocator({ pages: 2, pageSize: 4096 });
    const block = alignedBlock(2, 4096);
    pages.addMemory(block);
    addon.testing.refuseWrap(0);
    expect(pages.totalPages).toBe(4);
    pages.destroy();
    expect(block.freed).toBe(true);
  });
});

describe('argument refusals of allocPages, allocPagesAt and isAllocated', () => {
  test('allocPages: count from 1 to 2^31 - 1, align a power of two from 1 to 2^30', () => {
    const pages = new lib.PageAllocator({ pages: 4, pageSize: 16 });
    for (const count of [0, MAX_PAGES + 1, 1.5]) {
      expect(codeAndMessage(() => pages.allocPages(count))).toEqual([
        'ERR_INVALID_PARAM',
        `count must be an integer from 1 to 2147483647; got ${count}`,
      ]);
    }
    for (const align of [0, 3, 2 ** 31]) {
      expect(codeAndMessage(() => pages.allocPages(1, align))).toEqual([
        'ERR_INVALID_PARAM',
        `align must be a power of two from 1 to 1073741824; got ${align}`,
      ]);
    }
    // The largest count and alignment are valid requests that four pages have no room for.
    expect(codeAndMessage(() => pages.allocPages(MAX_PAGES))).toEqual([
      'ERR_NO_MEMORY',
      'no 2147483647 contiguous free pages aligned to 1 pages (4 of 4 pages free)',
    ]);
    // Alignment 2^30 is valid: a run at a multiple of 2^30 pages, or ERR_NO_MEMORY when the region has none.
    try {
      expect(at(pages.allocPages(1, 2 ** 30)) % BigInt(2 ** 30 * 16)).toBe(0n);
    } catch (e) {
      expect([(e as Sysalloc.AllocError).code, (e as Error).message]).toEqual([
        'ERR_NO_MEMORY',
        'no 1 contiguous free pages aligned to 1073741824 pages (4 of 4 pages free)',
      ]);
    }
    pages.destroy();
  });

  test('allocPagesAt and isAllocated: index an integer from 0 to the last page number, named in the message', () => {
    const pages = new lib.PageAllocator({ pages: 8, pageSize: 16 });
    for (const index of [-1, 8, 1.5, '0', Number.NaN]) {
      const shown = typeof index === 'string' ? '"0" (a string)' : String(index);
      expect(codeAndMessage(() => pages.allocPagesAt(index as number, 1))).toEqual([
        'ERR_INVALID_PARAM',
        `index must be an integer from 0 to 7; got ${shown}`,
      ]);
      expect(codeAndMessage(() => pages.isAllocated(index as number))).toEqual([
        'ERR_INVALID_PARAM',
        `index must be an integer from 0 to 7; got ${shown}`,
      ]);
    }
    expect(pages.isAllocated(7)).toBe(false);
    expect(at(pages.allocPagesAt(7, 1))).toBe(pages.regions()[0].address + 7n * 16n);
    expect([pages.isAllocated(7), pages.isAllocated(0)]).toEqual([true, false]);
    expect(at(pages.allocPagesAt(0, 1))).toBe(pages.regions()[0].address);
    expect(pages.isAllocated(0)).toBe(true);
    expect(codeAndMessage(() => pages.allocPagesAt(0, 2))).toEqual(['ERR_NO_MEMORY', 'page 0 of pages [0, 2) is already allocated']);
    pages.destroy();
  });

  test('a taken page: ERR_NO_MEMORY naming the first taken page and the run asked for', () => {
    const pages = new lib.PageAllocator({ pages: 8, pageSize: 16 });
    pages.allocPagesAt(3, 2);
    expect(codeAndMessage(() => pages.allocPagesAt(1, 4))).toEqual([
      'ERR_NO_MEMORY',
      'page 3 of pages [1, 5) is already allocated',
    ]);
    expect(codeAndMessage(() => pages.allocPagesAt(4, 3))).toEqual([
      'ERR_NO_MEMORY',
      'page 4 of pages [4, 7) is already allocated',
    ]);
    // The pages just outside the run are free.
    expect(at(pages.allocPagesAt(5, 3))).toBe(pages.regions()[0].address + 5n * 16n);
    expect(at(pages.allocPagesAt(0, 3))).toBe(pages.regions()[0].address);
    expect([pages.usedPages, pages.availablePages]).toEqual([8, 0]);
    pages.destroy();
  });
});

describe('regions added with addMemory', () => {
  test('pages are numbered through each region in turn; allocPagesAt\'s count reaches exactly the end of the page\'s region', () => {
    const counts = [2, 3, 1, 4, 2, 5];
    const pages = new lib.PageAllocator({ pages: counts[0], pageSize: 16 });
    const blocks = counts.slice(1).map((count) => alignedBlock(count, 16));
    for (const block of blocks) pages.addMemory(block);
    expect(pages.totalPages).toBe(17);
    const starts = [pages.regions()[0].address, ...blocks.map((b) => b.address)];
    let index = 0;
    for (let r = 0; r < counts.length; r++) {
      for (let i = 0; i < counts[r]; i++, index++) {
        const room = counts[r] - i;
        expect(codeAndMessage(() => pages.allocPagesAt(index, room + 1))).toEqual([
          'ERR_INVALID_PARAM',
          `count must be an integer from 1 to ${room}; got ${room + 1}`,
        ]);
        const run = pages.allocPagesAt(index, room);
        expect([at(run), run.length]).toEqual([starts[r] + BigInt(i * 16), room * 16]);
        pages.freePages(run);
      }
    }
    expect(codeAndMessage(() => pages.allocPagesAt(17, 1))[1]).toBe('index must be an integer from 0 to 16; got 17');
    pages.destroy();
  });

  test('a request is served by the first region with room, a region of exactly count pages included', () => {
    const pages = new lib.PageAllocator({ pages: 2, pageSize: 16 });
    const three = alignedBlock(3, 16);
    const four = alignedBlock(4, 16);
    pages.addMemory(three);
    pages.addMemory(four);
    expect(at(pages.allocPages(2))).toBe(pages.regions()[0].address);
    expect(at(pages.allocPages(3))).toBe(three.address);
    expect(at(pages.allocPages(4))).toBe(four.address);
    expect(codeAndMessage(() => pages.allocPages(1))).toEqual([
      'ERR_NO_MEMORY',
      'no 1 contiguous free pages aligned to 1 pages (0 of 9 pages free)',
    ]);
    pages.destroy();
  });

  test('what was allocated before addMemory stays allocated, and frees its whole run after it', () => {
    const pages = new lib.PageAllocator({ pages: 4, pageSize: 16 });
    const before = pages.allocPages(3);
    pages.addMemory(alignedBlock(2, 16));
    expect([0, 1, 2, 3, 4, 5].map((i) => pages.isAllocated(i))).toEqual([true, true, true, false, false, false]);
    expect([pages.totalPages, pages.usedPages, pages.availablePages]).toEqual([6, 3, 3]);
    // The one free page of the first region comes first.
    expect(at(pages.allocPages(1))).toBe(pages.regions()[0].address + 48n);
    pages.freePages(before);
    expect([pages.totalPages, pages.usedPages, pages.availablePages]).toEqual([6, 1, 5]);
    expect(at(pages.allocPages(3))).toBe(pages.regions()[0].address);
    pages.destroy();
  });

  test('a Block whose first whole page starts inside it: the pages start there, the bytes before stay unused', () => {
    const page = lib.pageSize();
    const pages = new lib.PageAllocator({ pages: 1, pageSize: page });
    const block = blockEndingAtPage(3 * page + page - 16);
    const lead = Number((BigInt(page) - (block.address % BigInt(page))) % BigInt(page));
    const whole = Math.floor((block.size - lead) / page);
    if (!noExternalBuild) expect([lead, whole]).toEqual([page - 16, 3]);
    pages.addMemory(block);
    expect(pages.totalPages).toBe(1 + whole);
    expect(pages.regions()[1]).toEqual({ address: block.address, size: block.size });
    const run = pages.allocPagesAt(1, whole);
    expect([at(run), run.length]).toEqual([block.address + BigInt(lead), whole * page]);
    expect(at(run) % BigInt(page)).toBe(0n);
    pages.freePages(run);
    pages.allocPages(1); // the first region's page
    expect(at(pages.allocPages(1))).toBe(block.address + BigInt(lead));
    pages.destroy();
  });

  test('a Block holding exactly one whole page is taken; one byte less is refused naming the page size, its size and address, and stays its caller\'s', () => {
    const page = lib.pageSize();
    const pages = new lib.PageAllocator({ pages: 1, pageSize: page });
    const one = blockEndingAtPage(page + page - 16);
    const lead = Number((BigInt(page) - (one.address % BigInt(page))) % BigInt(page));
    if (Math.floor((one.size - lead) / page) === 1) {
      pages.addMemory(one);
      expect(pages.totalPages).toBe(2);
      expect(at(pages.allocPagesAt(1, 1))).toBe(one.address + BigInt(lead));
    } else {
      one.free();
    }
    const short = lib.Block.alloc(page - 1, { align: 16, zero: false });
    const overlap = `block [${hex(short.address)}, ${hex(short.address + BigInt(page - 1))}) overlaps [${hex(short.address)}, ${hex(short.address + BigInt(page - 1))}), which this page allocator already manages`;
    expect(codeAndMessage(() => pages.addMemory(short))).toEqual([
      'ERR_INVALID_PARAM',
      `block must hold one whole page of ${page} bytes; got ${page - 1} bytes at ${hex(short.address)}`,
    ]);
    expect(pages.regions().length).toBe(noExternalBuild && pages.totalPages === 1 ? 1 : 2);
    // Refused, the Block is its caller's again: an allocator of smaller pages takes it.
    expect(short.freed).toBe(false);
    const small = new lib.PageAllocator({ pages: 1, pageSize: 16 });
    small.addMemory(short);
    expect(small.regions()[1]).toEqual({ address: short.address, size: page - 1 });
    expect(codeAndMessage(() => small.addMemory(short))).toEqual(['ERR_MEMORY_OVERLAP', overlap]);
    small.destroy();
    expect(short.freed).toBe(true);
    pages.destroy();
  });

  onExternal('nothing is wrapped there, see "on runtime memory nothing is wrapped"')('addMemory of a Block the runtime will not wrap: ERR_NO_MEMORY, the Block stays its caller\'s and the allocator as it was', () => {
    const pages = new lib.PageAllocator({ pages: 2, pageSize: 4096 });
    const block = alignedBlock(3, 4096);
    addon.testing.refuseWrap(GENERIC_FAILURE);
    expect(codeAndMessage(() => pages.addMemory(block))).toEqual([
      'ERR_NO_MEMORY',
      'PageAllocator: the JavaScript runtime could not wrap 12288 bytes at offset 0: Node-API status 9',
    ]);
    addon.testing.refuseWrap(0);
    expect(block.freed).toBe(false);
    expect([pages.totalPages, pages.regions().length]).toEqual([2, 1]);
    expect(codeAndMessage(() => pages.allocPagesAt(2, 1))[1]).toBe('index must be an integer from 0 to 1; got 2');
    // Once the runtime wraps it, the same Block is taken.
    pages.addMemory(block);
    expect(pages.totalPages).toBe(5);
    expect(at(pages.allocPagesAt(2, 3))).toBe(block.address);
    pages.destroy();
    expect(block.freed).toBe(true);
  });
});

describe('alignment counts pages from address 0, whatever their numbers', () => {
  // Pages of 16 bytes: a guarded Block of 2 * 4096 - 48 bytes starts 3 pages
  // past an OS page boundary, so page numbers and address pages differ in phase.
  const PAGE = 16;

  test.each([1, 2, 3, 5, 6])('first region of %i pages, then a Block 3 pages past an OS page: allocPages(1, align) is the lowest page at a multiple of align pages', (first) => {
    const pages = new lib.PageAllocator({ pages: first, pageSize: PAGE });
    const block = blockEndingAtPage(2 * 4096 - 48);
    if (!noExternalBuild) expect(Number(block.address % 4096n)).toBe(48);
    pages.addMemory(block);
    pages.allocPages(first); // the first region is full
    for (let align = 1; align <= 256; align *= 2) {
      const bytes = BigInt(align * PAGE);
      const expected = ((block.address + bytes - 1n) / bytes) * bytes;
      const run = pages.allocPages(1, align);
      expect([align, at(run)]).toEqual([align, expected]);
      expect(pages.isAllocated(first + Number((expected - block.address) / BigInt(PAGE)))).toBe(true);
      pages.freePages(run);
    }
    // A run of align pages at align: the same place, all of it inside the Block.
    const run = pages.allocPages(8, 8);
    expect(at(run)).toBe(((block.address + 127n) / 128n) * 128n);
    pages.destroy();
  });

  test('the first region is at a multiple of every alignment up to the OS page: page 0 serves them all', () => {
    const pages = new lib.PageAllocator({ pages: 512, pageSize: PAGE });
    const base = pages.regions()[0].address;
    for (let align = 1; align <= lib.pageSize() / PAGE; align *= 2) {
      const run = pages.allocPages(2, align);
      expect(at(run)).toBe(base);
      pages.freePages(run);
    }
    pages.destroy();
  });

  test('ERR_NO_MEMORY names the count, the alignment and the free pages of all regions', () => {
    const pages = new lib.PageAllocator({ pages: 8, pageSize: PAGE });
    pages.addMemory(alignedBlock(3, PAGE));
    pages.allocPagesAt(1, 1);
    pages.allocPagesAt(5, 1);
    expect(codeAndMessage(() => pages.allocPages(4, 4))).toEqual([
      'ERR_NO_MEMORY',
      'no 4 contiguous free pages aligned to 4 pages (9 of 11 pages free)',
    ]);
    expect(codeAndMessage(() => pages.allocPages(4))).toEqual([
      'ERR_NO_MEMORY',
      'no 4 contiguous free pages aligned to 1 pages (9 of 11 pages free)',
    ]);
    expect(at(pages.allocPages(3, 2))).toBe(pages.regions()[0].address + 32n);
    pages.destroy();
  });
});

describe('runtime memory', () => {
  test('a fast allocator takes a Block of runtime memory', () => {
    const pages = new lib.PageAllocator({ pages: 1, pageSize: 4096 });
    addon.testing.runtimeMemory(true);
    const block = alignedBlock(2, 4096);
    expect(block.source).toBe('runtime');
    pages.addMemory(block);
    expect(pages.totalPages).toBe(3);
    const run = pages.allocPagesAt(1, 2);
    expect(run.length).toBe(8192);
    pages.destroy();
    expect([block.freed, run.length]).toEqual([true, 0]);
  });
});

describe('freePages', () => {
  test('what is not a live run of this allocator: ERR_NOT_ALLOCATED naming its length', () => {
    const pages = new lib.PageAllocator({ pages: 4, pageSize: 16 });
    const other = new lib.PageAllocator({ pages: 4, pageSize: 16 });
    const run = pages.allocPages(2);
    const elsewhere = other.allocPages(2); // the same page number, 0, in another allocator
    const message = (bytes: number): string =>
      `buf (${bytes} bytes) is not a run of pages this allocator has allocated: already freed, part of a run, or from elsewhere`;
    expect(codeAndMessage(() => pages.freePages(elsewhere))).toEqual(['ERR_NOT_ALLOCATED', message(32)]);
    expect(codeAndMessage(() => pages.freePages(run.subarray(16)))).toEqual(['ERR_NOT_ALLOCATED', message(16)]);
    expect(codeAndMessage(() => pages.freePages(new Uint8Array(8)))).toEqual(['ERR_NOT_ALLOCATED', message(8)]);
    expect([pages.usedPages, other.usedPages]).toEqual([2, 2]);
    pages.freePages(run);
    expect(codeAndMessage(() => pages.freePages(run))).toEqual(['ERR_NOT_ALLOCATED', message(32)]);
    expect([pages.usedPages, pages.availablePages, pages.isAllocated(0)]).toEqual([0, 4, false]);
    other.freePages(elsewhere);
    pages.destroy();
    other.destroy();
  });

  test('a fast run freed is free at once: the next request takes its pages', () => {
    const pages = new lib.PageAllocator({ pages: 4, pageSize: 16 });
    const a = pages.allocPages(2);
    pages.allocPages(2);
    pages.freePages(a);
    expect([pages.isAllocated(0), pages.isAllocated(1), pages.isAllocated(2)]).toEqual([false, false, true]);
    expect(at(pages.allocPages(2))).toBe(pages.regions()[0].address);
    pages.destroy();
  });
});

describe('destroy', () => {
  test('frees every region; the counts read 0, no page numbers remain, every run reads length 0', () => {
    const pages = new lib.PageAllocator({ pages: 4, pageSize: 16 });
    const block = alignedBlock(2, 16);
    pages.addMemory(block);
    const runs = [pages.allocPages(1), pages.allocPagesAt(4, 2)];
    pages.destroy();
    expect(pages.destroyed).toBe(true);
    expect(block.freed).toBe(true);
    expect(runs.map((r) => r.length)).toEqual([0, 0]);
    expect([pages.totalPages, pages.usedPages, pages.availablePages]).toEqual([0, 0, 0]);
    expect(pages.regions()).toEqual([]);
    expect(codeAndMessage(() => pages.isAllocated(0))).toEqual(['ERR_INVALID_PARAM', 'index must be an integer from 0 to -1; got 0']);
  });

  test('a destroyed allocator refuses everything with ERR_NOT_ALLOCATED naming what was asked', () => {
    const pages = new lib.PageAllocator({ pages: 4, pageSize: 16 });
    const run = pages.allocPages(1);
    expect(pages.destroyed).toBe(false);
    pages.destroy();
    expect(codeAndMessage(() => pages.allocPages(1))).toEqual(['ERR_NOT_ALLOCATED', 'cannot allocate from a page allocator that is destroyed']);
    expect(codeAndMessage(() => pages.allocPagesAt(0, 1))).toEqual(['ERR_NOT_ALLOCATED', 'cannot allocate from a page allocator that is destroyed']);
    expect(codeAndMessage(() => pages.freePages(run))).toEqual(['ERR_NOT_ALLOCATED', 'cannot free into a page allocator that is destroyed']);
    expect(codeAndMessage(() => pages.destroy())).toEqual(['ERR_NOT_ALLOCATED', 'cannot destroy a page allocator that is destroyed']);
    const block = alignedBlock(1, 16);
    expect(codeAndMessage(() => pages.addMemory(block))).toEqual(['ERR_NOT_ALLOCATED', 'cannot add memory to a page allocator that is destroyed']);
    expect(block.freed).toBe(false);
    block.free();
    expect([pages.totalPages, pages.usedPages]).toEqual([0, 0]);
  });

  test('using: the allocator is destroyed at the end of its scope, and one destroyed already is left as it is', () => {
    let run!: Buffer;
    let kept!: Sysalloc.PageAllocator;
    {
      using pages = new lib.PageAllocator({ pages: 2, pageSize: 16 });
      run = pages.allocPages(1);
      kept = pages;
    }
    expect([kept.destroyed, run.length]).toEqual([true, 0]);
    expect(() => {
      using early = new lib.PageAllocator({ pages: 2, pageSize: 16 });
      early.destroy();
    }).not.toThrow();
  });
});

describe('checked mode', () => {
  const checkedTest = onExternal(CHECKED_REFUSED);

  checkedTest('allocPagesAt takes back the held runs that meet its pages, and only those: a run ending at its first page or starting at its end stays held', async () => {
    for (const [index, count] of [[0, 2], [2, 2], [1, 2]] as const) {
      const pages = new lib.PageAllocator({ pages: 8, pageSize: 4096, checked: true });
      const base = pages.regions()[0].address;
      const a = pages.allocPages(2); // pages 0, 1
      const b = pages.allocPages(2); // pages 2, 3
      pages.freePages(a);
      pages.freePages(b);
      const run = pages.allocPagesAt(index, count);
      expect(at(run)).toBe(base + BigInt(index * 4096));
      // Pages 4 to 7 are free; held pages allocPagesAt did not name stay held while they fit.
      const next = pages.allocPages(1);
      // [1, 3) meets both runs: page 0 is free now, and the lowest.
      expect(at(next)).toBe(index === 1 ? base : base + 4n * 4096n);
      pages.destroy();
    }
    await turn();
  });

  checkedTest('a run freed before addMemory is still held after it: isAllocated says false, and allocPages skips it while other pages fit', async () => {
    const pages = new lib.PageAllocator({ pages: 2, pageSize: 4096, checked: true });
    const base = pages.regions()[0].address;
    const a = pages.allocPages(1);
    pages.freePages(a);
    const block = alignedBlock(2, 4096);
    pages.addMemory(block);
    expect([0, 1, 2, 3].map((i) => pages.isAllocated(i))).toEqual([false, false, false, false]);
    expect([pages.usedPages, pages.availablePages, pages.totalPages]).toEqual([0, 4, 4]);
    expect(at(pages.allocPages(1))).toBe(base + 4096n);
    expect(at(pages.allocPages(1))).toBe(block.address);
    await turn();
    // The run has ended: page 0 is free again, and the lowest.
    const again = pages.allocPages(1);
    expect(at(again)).toBe(base);
    // And so for the next synchronous run.
    pages.freePages(again);
    expect(at(pages.allocPages(1))).toBe(block.address + 4096n);
    await turn();
    expect(at(pages.allocPages(1))).toBe(base);
    pages.destroy();
  });

  checkedTest('allocPagesAt in a Block its caller freed: ERR_NO_MEMORY naming the pages; the region\'s free pages leave the allocator', () => {
    const pages = new lib.PageAllocator({ pages: 2, pageSize: 4096, checked: true });
    const block = alignedBlock(3, 4096); // pages 2 to 4
    const after = alignedBlock(2, 4096); // pages 5 and 6
    pages.addMemory(block);
    pages.addMemory(after);
    const live = pages.allocPagesAt(2, 1);
    block.free(); // against the addMemory contract
    expect(codeAndMessage(() => pages.allocPagesAt(3, 2))).toEqual(['ERR_NO_MEMORY', 'pages [3, 5) are in a block its owner freed']);
    expect([pages.totalPages, pages.usedPages, pages.availablePages]).toEqual([5, 1, 4]);
    expect([2, 3, 4, 5, 6].map((i) => pages.isAllocated(i))).toEqual([true, true, true, false, false]);
    expect(codeAndMessage(() => pages.allocPagesAt(3, 1))).toEqual(['ERR_NO_MEMORY', 'page 3 of pages [3, 4) is already allocated']);
    // Its live run leaves with its pages when freed, at once.
    pages.freePages(live);
    expect([pages.totalPages, pages.usedPages, pages.availablePages]).toEqual([4, 0, 4]);
    expect(pages.isAllocated(2)).toBe(true);
    expect(pages.allocPages(2).length).toBe(8192);
    expect(at(pages.allocPages(2))).toBe(after.address);
    pages.destroy();
  });

  checkedTest('a held run of a region retired in the same run leaves the allocator at the end of the run', async () => {
    const pages = new lib.PageAllocator({ pages: 1, pageSize: 4096, checked: true });
    const block = alignedBlock(4, 4096);
    pages.addMemory(block);
    pages.allocPages(1); // page 0
    const held = pages.allocPagesAt(1, 2);
    pages.freePages(held); // held: pages 1, 2
    block.free(); // against the addMemory contract
    // Pages 3 and 4 are free: the first try finds the Block freed and retires its region.
    expect(codeAndMessage(() => pages.allocPagesAt(3, 1))).toEqual(['ERR_NO_MEMORY', 'pages [3, 4) are in a block its owner freed']);
    expect([pages.totalPages, pages.usedPages]).toEqual([3, 1]);
    await turn();
    expect([pages.totalPages, pages.usedPages, pages.availablePages]).toEqual([1, 1, 0]);
    expect([1, 2, 3, 4].map((i) => pages.isAllocated(i))).toEqual([true, true, true, true]);
    pages.destroy();
  });

  checkedTest('a free the runtime refuses (it holds the Buffer for work in flight): ERR_INVALID_PARAM, and the run stays allocated', () => {
    const pages = new lib.PageAllocator({ pages: 4, pageSize: 4096, checked: true });
    const run = pages.allocPages(2);
    refuseDetach = true;
    expect(codeAndMessage(() => pages.freePages(run))).toEqual([
      'ERR_INVALID_PARAM',
      'PageAllocator.freePages: cannot free 8192 bytes while the runtime holds their Buffer for work in flight ' +
        '(Bun holds a Buffer given to fs, zlib or crypto until the callback): they stay allocated; free them once that work has ended',
    ]);
    refuseDetach = false;
    expect([run.length, pages.usedPages, pages.isAllocated(0), pages.isAllocated(1)]).toEqual([8192, 2, true, true]);
    pages.freePages(run);
    expect([run.length, pages.usedPages, pages.isAllocated(0)]).toEqual([0, 0, false]);
    pages.destroy();
  });

  checkedTest('addMemory of something not a Block is refused as such, even where the runtime now serves the memory', () => {
    const pages = new lib.PageAllocator({ pages: 1, pageSize: 4096, checked: true });
    addon.testing.runtimeMemory(true);
    for (const [value, shown] of [[null, 'null'], [undefined, 'undefined'], [4096, '4096']] as const) {
      expect(codeAndMessage(() => pages.addMemory(value as never))).toEqual(['ERR_INVALID_PARAM', `block must be a Block; got ${shown}`]);
    }
    addon.testing.runtimeMemory(false);
    pages.destroy();
  });

  checkedTest('addMemory wraps nothing in checked mode; a run the allocator then cannot wrap is the wrap\'s error, and the region stays', () => {
    const pages = new lib.PageAllocator({ pages: 1, pageSize: 4096, checked: true });
    pages.allocPages(1);
    const block = alignedBlock(2, 4096);
    refuseViewWrap = addon.status.noMemory;
    pages.addMemory(block);
    expect(pages.totalPages).toBe(3);
    expect(codeAndMessage(() => pages.allocPages(2))).toEqual(['ERR_NO_MEMORY', 'PageAllocator: no memory to wrap 8192 bytes at offset 0']);
    expect(codeAndMessage(() => pages.allocPagesAt(2, 1))).toEqual(['ERR_NO_MEMORY', 'PageAllocator: no memory to wrap 4096 bytes at offset 4096']);
    refuseViewWrap = 0;
    expect([pages.totalPages, pages.usedPages]).toEqual([3, 1]);
    expect(at(pages.allocPages(2))).toBe(block.address);
    pages.destroy();
  });

  checkedTest('a run freed in a microtask stays held through the microtasks queued before the run ends', async () => {
    const pages = new lib.PageAllocator({ pages: 4, pageSize: 4096, checked: true });
    const base = pages.regions()[0].address;
    const c = pages.allocPages(1); // page 0
    const a = pages.allocPages(1); // page 1
    const b = pages.allocPages(1); // page 2
    let got = -1n;
    pages.freePages(a);
    queueMicrotask(() => {
      queueMicrotask(() => {
        got = at(pages.allocPages(1));
      });
      pages.freePages(c);
    });
    pages.freePages(b);
    await turn();
    // a and b came back when their run ended; c, freed after, was still held.
    expect(got).toBe(base + 4096n);
    expect(at(pages.allocPages(1))).toBe(base);
    pages.destroy();
  });

  checkedTest('addMemory of a Block of runtime memory is refused naming addMemory; the Block stays its caller\'s', () => {
    const pages = new lib.PageAllocator({ pages: 1, pageSize: 4096, checked: true });
    addon.testing.runtimeMemory(true);
    const block = alignedBlock(2, 4096);
    const error = thrown(() => pages.addMemory(block));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toMatch(/^PageAllocator\.addMemory of a checked page allocator: this runtime does not allow external buffers/);
    expect([block.freed, pages.totalPages]).toEqual([false, 1]);
    const fast = new lib.PageAllocator({ pages: 1, pageSize: 4096 });
    fast.addMemory(block);
    expect(fast.totalPages).toBe(3);
    fast.destroy();
    pages.destroy();
  });

  checkedTest('destroy detaches every live run and the held ones', () => {
    const pages = new lib.PageAllocator({ pages: 4, pageSize: 4096, checked: true });
    const live = pages.allocPages(1);
    const held = pages.allocPages(1);
    pages.freePages(held);
    pages.destroy();
    expect([live.length, held.length]).toEqual([0, 0]);
    expect(codeAndMessage(() => pages.freePages(live))).toEqual(['ERR_NOT_ALLOCATED', 'cannot free into a page allocator that is destroyed']);
  });
});
