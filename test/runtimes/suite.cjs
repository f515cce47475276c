'use strict';
// The runtime-neutral behaviour suite: plain JavaScript over the built package
// (dist/ and the addon) with its own small harness, so that it runs unchanged
// under Node, Bun and Deno (scripts/test-runtimes.sh). It covers what a user
// of each runtime touches: Block, Arena, Pool, the alignment helpers, the
// error codes, blockStats, the debug mode, and the shim's table called from
// another addon.
// Prints one line per test and closes with exactly `N passed, N failed`; the
// exit status is 1 when any test failed.
//
//   node --expose-gc test/runtimes/suite.cjs [filter]   the tests whose name contains filter
//   ... suite.cjs --list                                one test name per line
//   ... suite.cjs --only NAME                           exactly that test
//
// It must stay plain CommonJS: no jest, no TypeScript, no node:test.

const process = require('process');
const path = require('path');
const root = path.join(__dirname, '..', '..');
const sysalloc = require(path.join(root, 'dist', 'index.js'));
const { Block, Arena, Pool, AllocError, alignUp, alignDown, isAligned, addressOf, pageSize, blockSource, blockStats,
  trimBlockCache, MAX_SIZE, MAX_ALIGN, shim } = sysalloc;

const runtime = typeof globalThis.Bun !== 'undefined' ? `bun ${globalThis.Bun.version}`
  : typeof globalThis.Deno !== 'undefined' ? `deno ${globalThis.Deno.version.deno}`
    : `node ${process.versions.node}`;

// ---- the harness ----------------------------------------------------------

const tests = [];
function test(name, fn) {
  tests.push({ name, fn });
}

class AssertionFailed extends Error {}

function fail(message) {
  throw new AssertionFailed(message);
}

function show(value) {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Error) return `${value.name}(${value.code ?? ''}): ${value.message}`;
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
  } catch {
    return String(value);
  }
}

function eq(actual, expected, what) {
  if (!Object.is(actual, expected)) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}

function ok(condition, what) {
  if (condition !== true) fail(`${what}: expected true, got ${show(condition)}`);
}

function deepEq(actual, expected, what) {
  const a = show(actual);
  const e = show(expected);
  if (a !== e) fail(`${what}: expected ${e}, got ${a}`);
}

// Runs fn, which must throw an AllocError with this code; returns the error.
function throwsCode(fn, code, what) {
  let error;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  if (error === undefined) fail(`${what}: expected AllocError ${code}, nothing was thrown`);
  if (!(error instanceof AllocError)) fail(`${what}: expected AllocError ${code}, got ${show(error)}`);
  eq(error.code, code, `${what}: code`);
  ok(error instanceof Error, `${what}: instanceof Error`);
  eq(error.name, 'AllocError', `${what}: name`);
  return error;
}

// Node and Deno (--expose-gc, --v8-flags=--expose-gc): gc(); Bun: Bun.gc(true).
const collect = typeof globalThis.gc === 'function' ? () => globalThis.gc()
  : typeof globalThis.Bun !== 'undefined' ? () => globalThis.Bun.gc(true) : undefined;

function turn() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function live() {
  const s = blockStats();
  return { liveBlocks: s.liveBlocks, liveBytes: s.liveBytes };
}

// ---- Block ----------------------------------------------------------------

test('Block.alloc: size, alignment, zero fill, source', () => {
  for (const [size, align] of [[1, 1], [100, 16], [4096, 4096], [65536, 65536], [1000, 4096], [1 << 20, 1 << 20], [3 << 20, 1 << 21]]) {
    const b = Block.alloc(size, { align });
    try {
      eq(b.size, size, `size ${size}`);
      eq(b.align, align, `align ${size}`);
      eq(b.buffer.length, size, `buffer.length ${size}`);
      eq(b.address % BigInt(align), 0n, `address % align (${size}, ${align})`);
      eq(addressOf(b.buffer), b.address, `addressOf(buffer) ${size}`);
      ok(b.buffer.every((x) => x === 0), `zero-filled ${size}`);
      eq(b.source, blockSource(size, align), `source ${size}`);
      eq(b.freed, false, 'freed before free()');
    } finally {
      b.free();
    }
  }
});

test('Block.alloc without align: a power of two aligns to itself, any other size to the page', () => {
  const a = Block.alloc(65536);
  const b = Block.alloc(5000);
  try {
    eq(a.align, 65536, 'power-of-two align');
    eq(a.address % 65536n, 0n, 'power-of-two address');
    eq(b.align, pageSize(), 'other align');
    eq(b.address % BigInt(pageSize()), 0n, 'other address');
  } finally {
    a.free();
    b.free();
  }
});

test('Block: writes reach the memory, free() detaches every view', () => {
  const b = Block.alloc(4096, { zero: false });
  const view = new Uint32Array(b.buffer.buffer, b.buffer.byteOffset, 1024);
  const sub = b.buffer.subarray(100, 200);
  b.buffer.fill(0xab);
  eq(view[0], 0xabababab, 'Uint32Array over the block');
  eq(sub[5], 0xab, 'subarray');
  b.free();
  eq(b.freed, true, 'freed');
  eq(b.buffer.length, 0, 'buffer.length after free');
  eq(view.length, 0, 'Uint32Array length after free');
  eq(sub.length, 0, 'subarray length after free');
  eq(sub[5], undefined, 'read after free');
  sub[5] = 1;
  eq(sub[5], undefined, 'write after free goes nowhere');
  throwsCode(() => b.address, 'ERR_NOT_ALLOCATED', 'address after free');
});

test('Block: double free throws ERR_NOT_ALLOCATED; dispose is idempotent', () => {
  const b = Block.alloc(4096);
  b.free();
  throwsCode(() => b.free(), 'ERR_NOT_ALLOCATED', 'second free');
  const dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose');
  const c = Block.alloc(4096);
  c[dispose]();
  c[dispose]();
  eq(c.freed, true, 'disposed');
});

test('Block: 20,000 allocations of 4 KiB, each freed at once', () => {
  const before = live();
  for (let i = 0; i < 20000; i++) {
    const b = Block.alloc(4096);
    b.buffer[i & 4095] = 1;
    b.free();
  }
  deepEq(live(), before, 'live blocks and bytes');
});

test('Block: 2,000 live blocks at once, contents intact, then all freed', () => {
  const before = live();
  const blocks = [];
  for (let i = 0; i < 2000; i++) {
    const b = Block.alloc(64 + (i % 7) * 1000, { align: 64, zero: false });
    b.buffer.fill(i & 0xff);
    blocks.push(b);
  }
  for (let i = 0; i < blocks.length; i++) {
    const buf = blocks[i].buffer;
    if (buf[0] !== (i & 0xff) || buf[buf.length - 1] !== (i & 0xff)) fail(`block ${i} changed`);
  }
  for (const b of blocks) b.free();
  deepEq(live(), before, 'live blocks and bytes');
});

test('Block: large blocks are mapped and counted per source', () => {
  const before = blockStats();
  const b = Block.alloc(8 << 20);
  eq(b.source, blockSource(8 << 20, 8 << 20), 'source');
  b.buffer[(8 << 20) - 1] = 7;
  eq(blockStats().liveBlocks, before.liveBlocks + 1, 'live while held');
  b.free();
  trimBlockCache();
  const after = blockStats();
  eq(after.liveBlocks, before.liveBlocks, 'live after free');
  eq(after.cachedBlocks, 0, 'cache after trim');
  const allocations = Object.values(after.osAllocations).reduce((a, n) => a + n, 0);
  const releases = Object.values(after.osReleases).reduce((a, n) => a + n, 0);
  ok(allocations >= releases, 'allocations >= releases');
});

test('Block: a block dropped without free() is freed after collection', async () => {
  if (collect === undefined) fail('run with the collector exposed (node --expose-gc, deno --v8-flags=--expose-gc)');
  const before = live();
  (() => {
    for (let i = 0; i < 100; i++) Block.alloc(4096);
  })();
  for (let i = 0; i < 20 && live().liveBlocks !== before.liveBlocks; i++) {
    collect();
    await turn();
  }
  deepEq(live(), before, 'live blocks and bytes after collection');
});

// Where the runtimes differ: Node and Bun run the finalizers of collected
// external buffers later, from the event loop; Deno runs them inside the
// collection itself. Either way a dropped block is freed (the test above).
test('Block: finalizers run from the event loop (Node, Bun) or during collection (Deno)', async () => {
  if (collect === undefined) fail('run with the collector exposed');
  for (let i = 0; i < 3; i++) {
    collect();
    await turn();
  }
  const before = live().liveBlocks;
  (() => {
    for (let i = 0; i < 100; i++) Block.alloc(4096);
  })();
  collect();
  collect();
  const duringCollection = 100 - (live().liveBlocks - before);
  eq(duringCollection, typeof globalThis.Deno !== 'undefined' ? 100 : 0, 'blocks freed before the event loop turned');
  for (let i = 0; i < 20 && live().liveBlocks !== before; i++) {
    collect();
    await turn();
  }
  eq(live().liveBlocks, before, 'every dropped block freed once the loop turned');
});

// Where the runtimes differ: Bun holds a Buffer given to zlib (fs, crypto)
// until the callback and refuses to detach it meanwhile. Node and Deno would
// detach, and the work in flight would then read freed memory: the caller's
// use after free, which debug mode and the ASan run report; so there the test
// frees once the work has ended.
test('Block: Bun refuses free() while zlib holds the buffer and keeps the block live; freed once the work ended', async () => {
  const zlib = require('zlib');
  const b = Block.alloc(4096);
  b.buffer.fill(0x61);
  const done = new Promise((resolve) => zlib.deflate(b.buffer, (err) => resolve(err)));
  if (typeof globalThis.Bun !== 'undefined') {
    throwsCode(() => b.free(), 'ERR_INVALID_PARAM', 'free() while Bun holds the buffer');
    eq(b.freed, false, 'the block stays live');
    eq(b.buffer.length, 4096, 'its buffer still attached');
    eq(await done, null, 'deflate after the refused free');
  } else {
    eq(await done, null, 'deflate');
  }
  b.free();
  eq(b.freed, true, 'freed');
  eq(b.buffer.length, 0, 'buffer detached');
  throwsCode(() => b.free(), 'ERR_NOT_ALLOCATED', 'a second free');
});

// The same for the allocators over views: Bun refuses to detach a view it
// holds, so a checked free throws and the allocation stays live, and a reset
// leaves that chunk as it was; nothing is handed out again while it is held.
// Elsewhere the release waits for the work (see the Block test above).
test('Arena, checked Pool, Heap, PageAllocator: Bun refuses a release while zlib works on an allocation', async () => {
  const zlib = require('zlib');
  const bun = typeof globalThis.Bun !== 'undefined';
  const deflating = (buf) => new Promise((resolve) => zlib.deflate(buf, (err) => resolve(err)));
  const arena = new Arena({ capacity: 1 << 16 });
  const pool = new Pool({ slotSize: 4096, slots: 4, checked: true });
  const cases = [['Pool.free', pool.alloc(), (buf) => pool.free(buf)]];
  // Checked Heap and PageAllocator are refused on runtime memory (README table; test:no-external).
  const others = [];
  if (blockSource() !== 'runtime') {
    const heap = new sysalloc.Heap({ capacity: 1 << 16, checked: true });
    const pages = new sysalloc.PageAllocator({ pages: 4, checked: true });
    others.push(heap, pages);
    cases.push(['Heap.free', heap.alloc(4096), (buf) => heap.free(buf)]);
    cases.push(['PageAllocator.freePages', pages.allocPages(1), (buf) => pages.freePages(buf)]);
  }
  const a = arena.alloc(4096);
  a.fill(0x61);
  const arenaDone = deflating(a);
  if (bun) {
    throwsCode(() => arena.reset(), 'ERR_INVALID_PARAM', 'Arena.reset while Bun holds a Buffer of its chunk');
    eq(a.length, 4096, 'the held allocation stays valid');
    const next = arena.alloc(4096);
    ok(next.byteOffset >= a.byteOffset + a.length || next.buffer !== a.buffer, 'the next allocation does not overlap it');
  }
  eq(await arenaDone, null, 'deflate of the arena allocation');
  arena.reset();
  eq(a.length, 0, 'the allocation detached by a reset once the work ended');
  for (const [name, buf, release] of cases) {
    buf.fill(0x61);
    const done = deflating(buf);
    if (bun) {
      throwsCode(() => release(buf), 'ERR_INVALID_PARAM', `${name} while Bun holds the Buffer`);
      eq(buf.length, 4096, `${name}: the allocation still attached`);
    }
    eq(await done, null, `${name}: deflate`);
    release(buf);
    eq(buf.length, 0, `${name}: detached once freed`);
  }
  for (const allocator of [arena, pool, ...others]) allocator.destroy();
});

// ---- Arena ----------------------------------------------------------------

test('Arena: alloc aligns, reset detaches and reuses, destroy frees', () => {
  const before = live();
  const arena = new Arena({ capacity: 1 << 16 });
  const a = arena.alloc(100);
  const v = arena.alloc(4096, 4096);
  eq(a.length, 100, 'a.length');
  eq(addressOf(a) % 16n, 0n, 'default alignment 16');
  eq(addressOf(v) % 4096n, 0n, 'alignment 4096');
  a.fill(1);
  v.fill(2);
  eq(a[99], 1, 'a intact');
  ok(arena.used >= 4196, 'used');
  eq(arena.capacity, 1 << 16, 'capacity');
  eq(arena.available, arena.capacity - arena.used, 'available');
  arena.reset();
  eq(a.length, 0, 'a after reset');
  eq(v.length, 0, 'v after reset');
  eq(arena.used, 0, 'used after reset');
  const again = arena.alloc(100);
  eq(again.length, 100, 'alloc after reset');
  arena.reset();
  arena.reset();
  arena.destroy();
  eq(again.length, 0, 'after destroy');
  eq(arena.capacity, 0, 'capacity after destroy');
  throwsCode(() => arena.alloc(1), 'ERR_NOT_ALLOCATED', 'alloc after destroy');
  throwsCode(() => arena.destroy(), 'ERR_NOT_ALLOCATED', 'destroy twice');
  deepEq(live(), before, 'live blocks and bytes');
});

test('Arena: full without grow throws ERR_NO_MEMORY; grow adds chunks', () => {
  const before = live();
  const fixed = new Arena({ capacity: 4096 });
  fixed.alloc(4096, 1);
  throwsCode(() => fixed.alloc(1), 'ERR_NO_MEMORY', 'full arena');
  fixed.destroy();
  const growing = new Arena({ capacity: 4096, grow: true });
  const bufs = [];
  for (let i = 0; i < 100; i++) bufs.push(growing.alloc(1000).fill(i));
  for (let i = 0; i < 100; i++) if (bufs[i][999] !== i) fail(`allocation ${i} changed`);
  ok(growing.regions().length > 1, 'more than one chunk');
  for (let round = 0; round < 50; round++) {
    growing.reset();
    growing.alloc(5000).fill(round);
  }
  growing.destroy();
  deepEq(live(), before, 'live blocks and bytes');
});

test('Arena: addMemory takes a Block; the same block twice is ERR_MEMORY_OVERLAP', () => {
  const before = live();
  const arena = new Arena({ capacity: 4096 });
  const extra = Block.alloc(8192);
  arena.addMemory(extra);
  throwsCode(() => arena.addMemory(extra), 'ERR_MEMORY_OVERLAP', 'same block twice');
  eq(arena.capacity, 4096 + 8192, 'capacity with the added block');
  eq(arena.alloc(8000).length, 8000, 'allocation from the added block');
  arena.destroy();
  eq(extra.freed, true, 'the added block freed by destroy');
  deepEq(live(), before, 'live blocks and bytes');
});

// ---- Pool -----------------------------------------------------------------

for (const checked of [false, true]) {
  const mode = checked ? 'checked' : 'fast';
  test(`Pool (${mode}): alloc, free, reuse, exhaustion, destroy`, () => {
    const before = live();
    const pool = new Pool({ slotSize: 1000, slots: 8, align: 4096, checked });
    const slots = [];
    for (let i = 0; i < 8; i++) {
      const s = pool.alloc();
      eq(s.length, 1000, 'slot length');
      eq(addressOf(s) % 4096n, 0n, 'slot alignment');
      s.fill(i);
      slots.push(s);
    }
    eq(pool.used, 8, 'used');
    eq(pool.available, 0, 'available');
    throwsCode(() => pool.alloc(), 'ERR_NO_MEMORY', 'every slot taken');
    for (let i = 0; i < 8; i++) if (slots[i][999] !== i) fail(`slot ${i} changed`);
    pool.free(slots[3]);
    throwsCode(() => pool.free(slots[3]), 'ERR_NOT_ALLOCATED', 'double free');
    throwsCode(() => pool.free(Buffer.alloc(1000)), 'ERR_NOT_ALLOCATED', 'foreign Buffer');
    throwsCode(() => pool.free(slots[4].subarray(1)), 'ERR_NOT_ALLOCATED', 'part of a slot');
    throwsCode(() => pool.free('slot'), 'ERR_INVALID_PARAM', 'not a Buffer');
    if (checked) eq(slots[3].length, 0, 'checked: a freed slot reads length 0');
    const again = pool.alloc();
    eq(again.length, 1000, 'reused slot');
    pool.free(slots[0]);
    for (let round = 0; round < 10000; round++) pool.free(pool.alloc());
    pool.destroy();
    eq(slots[0].length, 0, 'slot after destroy');
    eq(again.length, 0, 'reused slot after destroy');
    throwsCode(() => pool.alloc(), 'ERR_NOT_ALLOCATED', 'alloc after destroy');
    throwsCode(() => pool.destroy(), 'ERR_NOT_ALLOCATED', 'destroy twice');
    deepEq(live(), before, 'live blocks and bytes');
  });
}

test('Pool: addMemory cuts a Block into more slots', () => {
  const before = live();
  const pool = new Pool({ slotSize: 4096, slots: 2, align: 4096 });
  pool.addMemory(Block.alloc(4 * 4096));
  eq(pool.slots, 6, 'slots');
  const held = [];
  for (let i = 0; i < 6; i++) held.push(pool.alloc());
  throwsCode(() => pool.alloc(), 'ERR_NO_MEMORY', 'full');
  for (const s of held) pool.free(s);
  pool.destroy();
  deepEq(live(), before, 'live blocks and bytes');
});

// ---- alignment helpers ----------------------------------------------------

test('alignment helpers: alignUp, alignDown, isAligned, addressOf, pageSize, blockSource', () => {
  eq(alignUp(5000, 4096), 8192, 'alignUp number');
  eq(alignUp(5000n, 4096), 8192n, 'alignUp bigint');
  eq(alignDown(5000n, 4096), 4096n, 'alignDown bigint');
  eq(alignDown(5000, 4096), 4096, 'alignDown number');
  eq(isAligned(4096, 4096), true, 'isAligned number');
  eq(isAligned(4097n, 4096), false, 'isAligned bigint');
  const b = Block.alloc(4096);
  try {
    eq(isAligned(b.buffer, 4096), true, 'isAligned Buffer');
    eq(addressOf(b.buffer.subarray(10)), b.address + 10n, 'addressOf a subarray');
    // On runtime memory (no external buffers) the ArrayBuffer is over-allocated and the block at its aligned offset.
    eq(addressOf(b.buffer.buffer), b.address - BigInt(b.buffer.byteOffset), 'addressOf the ArrayBuffer');
  } finally {
    b.free();
  }
  eq(typeof addressOf(new ArrayBuffer(16)), 'bigint', 'addressOf an ArrayBuffer');
  const ps = pageSize();
  ok(ps >= 4096 && (ps & (ps - 1)) === 0, `pageSize ${ps} a power of two`);
  ok(['posix_memalign', 'mmap', '_aligned_malloc', 'VirtualAlloc', 'runtime'].includes(blockSource(1 << 20)), 'blockSource');
  throwsCode(() => alignUp(5, 3), 'ERR_INVALID_PARAM', 'alignUp to 3');
});

// ---- errors ---------------------------------------------------------------

test('errors: every code, with the argument and the value in the message', () => {
  eq(throwsCode(() => Block.alloc(0), 'ERR_INVALID_PARAM', 'size 0').message, `size must be an integer from 1 to ${MAX_SIZE}; got 0`, 'message');
  throwsCode(() => Block.alloc(-1), 'ERR_INVALID_PARAM', 'size -1');
  throwsCode(() => Block.alloc(1.5), 'ERR_INVALID_PARAM', 'size 1.5');
  throwsCode(() => Block.alloc('64'), 'ERR_INVALID_PARAM', 'size string');
  throwsCode(() => Block.alloc(MAX_SIZE + 1), 'ERR_INVALID_PARAM', 'size over MAX_SIZE');
  eq(throwsCode(() => Block.alloc(64, { align: 3 }), 'ERR_INVALID_PARAM', 'align 3').message,
    `options.align must be a power of two from 1 to ${MAX_ALIGN}; got 3`, 'message');
  throwsCode(() => Block.alloc(64, { align: MAX_ALIGN * 2 }), 'ERR_INVALID_PARAM', 'align over MAX_ALIGN');
  throwsCode(() => new Arena({ capacity: 0 }), 'ERR_INVALID_PARAM', 'capacity 0');
  throwsCode(() => new Pool({ slotSize: 64, slots: 0 }), 'ERR_INVALID_PARAM', 'slots 0');
  const arena = new Arena({ capacity: 4096 });
  const b = Block.alloc(4096);
  arena.addMemory(b);
  throwsCode(() => arena.addMemory(b), 'ERR_MEMORY_OVERLAP', 'overlap');
  arena.destroy();
  throwsCode(() => arena.reset(), 'ERR_NOT_ALLOCATED', 'reset after destroy');
  eq(MAX_ALIGN, 2 ** 32, 'MAX_ALIGN');
  eq(MAX_SIZE, require('buffer').constants.MAX_LENGTH, 'MAX_SIZE is the Buffer limit');
});

test('errors: a request the OS refuses is ERR_NO_MEMORY, and the process goes on', () => {
  const before = live();
  // 2^52 bytes (4 PiB), more than a process's address space (128 TiB on x86-64
  // Linux and Windows). It reaches the OS only where the Buffer limit (MAX_SIZE)
  // allows it: 2^53 - 1 from Node 22, in Bun and in Deno; Node 20's limit, 2^32,
  // refuses it first.
  const size = 2 ** 52;
  if (MAX_SIZE >= size) {
    throwsCode(() => Block.alloc(size, { zero: false }), 'ERR_NO_MEMORY', '4 PiB');
  } else {
    eq(throwsCode(() => Block.alloc(size, { zero: false }), 'ERR_INVALID_PARAM', '4 PiB').message,
      `size must be an integer from 1 to ${MAX_SIZE}; got ${size}`, 'message');
  }
  deepEq(live(), before, 'nothing leaked');
  Block.alloc(4096).free();
});

// ---- blockStats -----------------------------------------------------------

test('blockStats: live counters follow each block; per-source allocations and releases match', async () => {
  trimBlockCache();
  const before = blockStats();
  const sizes = [100, 4096, 65536, 1 << 20, 4 << 20];
  const blocks = sizes.map((n) => Block.alloc(n));
  const held = blockStats();
  eq(held.liveBlocks, before.liveBlocks + sizes.length, 'liveBlocks while held');
  eq(held.liveBytes, before.liveBytes + sizes.reduce((a, n) => a + n, 0), 'liveBytes while held');
  for (const b of blocks) b.free();
  const freed = blockStats();
  eq(freed.liveBlocks, before.liveBlocks, 'liveBlocks after free()');
  eq(freed.liveBytes, before.liveBytes, 'liveBytes after free()');
  // Memory freed by JavaScript may be held back until that JavaScript returns
  // to the event loop (a quarantine against re-entrant use); after a turn every
  // block has gone back to the OS call that served it.
  await turn();
  trimBlockCache();
  const after = blockStats();
  for (const source of Object.keys(after.osAllocations)) {
    eq(after.osAllocations[source] - before.osAllocations[source], after.osReleases[source] - before.osReleases[source],
      `${source}: allocations and releases`);
  }
});

// ---- the shim's table -----------------------------------------------------

// ---- debug mode -------------------------------------------------------------

test('debug mode: a live block is reported at its allocation line; a freed one goes to the quarantine', async () => {
  const { debug } = sysalloc;
  const line = require('fs').readFileSync(__filename, 'utf8').split('\n')
    .findIndex((text) => text.endsWith('// DEBUG-SITE')) + 1;
  const wasEnabled = debug.enabled; // SYSALLOC_DEBUG=1 (npm run test:debug) keeps its own options
  if (!wasEnabled) debug.enable({ reportAtExit: false });
  try {
    const b = Block.alloc(12345); // DEBUG-SITE
    const live = debug.report();
    eq(live.enabled, true, 'enabled');
    if (blockSource() === 'runtime') {
      // A runtime that refuses external buffers: debug mode serves ordinary blocks, nothing recorded or quarantined.
      eq(live.sites.some((entry) => entry.site.includes(`suite.cjs:${line}:`)), false, 'no site recorded on runtime memory');
      const held = live.quarantine.blocks;
      b.free();
      await turn();
      eq(debug.report().quarantine.blocks, held, 'nothing quarantined on runtime memory');
      return;
    }
    const site = live.sites.find((entry) => entry.site.includes(`suite.cjs:${line}:`));
    ok(site !== undefined, `a site at suite.cjs:${line} among ${show(live.sites.map((entry) => entry.site))}`);
    eq(site.bytes, 12345, 'bytes at the site');
    ok(['userfaultfd', 'signal', 'vectored'].includes(live.quarantine.catcher), `a catcher: ${live.quarantine.catcher}`);
    const held = live.quarantine.blocks;
    b.free();
    await turn();
    const after = debug.report().quarantine.blocks;
    // Under SYSALLOC_DEBUG=1 the quarantine may be full already: 1024 blocks by default, the oldest leaves.
    if (wasEnabled) ok(after >= Math.min(held + 1, 1024), `quarantined blocks after free and a turn: ${held} -> ${after}`);
    else eq(after, held + 1, 'quarantined blocks after free and a turn');
    eq(debug.report().sites.some((entry) => entry.site.includes(`suite.cjs:${line}:`)), false, 'the site gone once freed');
  } finally {
    if (!wasEnabled) debug.disable();
  }
});

test('shim: pointers, table version and stats', () => {
  const p = shim.pointers();
  const names = ['malloc', 'calloc', 'realloc', 'free', 'alignedAlloc', 'usableSize', 'stats', 'table'];
  for (const name of names) ok(typeof p[name] === 'bigint' && p[name] !== 0n, `pointer ${name}`);
  eq(new Set(names.map((n) => p[n])).size, names.length, 'distinct addresses');
  ok(Number.isInteger(p.version) && p.version >= 1, 'version');
  const s = shim.stats();
  for (const key of ['allocations', 'reallocations', 'frees', 'liveBlocks', 'liveBytes', 'peakBytes', 'foreignFrees', 'invalidFrees']) {
    ok(Number.isInteger(s[key]) && s[key] >= 0, `stats.${key}`);
  }
});

test('shim: another addon calls malloc, realloc, free through the table; the counters see each call', () => {
  const consumers = require('bindings')({ bindings: 'shim_consumers', module_root: path.join(root, 'test', 'consumers') });
  eq(consumers.setApi(shim.pointers().table), shim.pointers().version, 'setApi accepts the table');
  const before = shim.stats();
  const p = consumers.malloc(1000);
  ok(p !== 0n, 'malloc');
  consumers.fill(p, 1000, 7);
  const q = consumers.realloc(p, 100000);
  ok(consumers.check(q, 1000, 7), 'realloc kept the contents');
  const z = consumers.calloc(10, 100);
  ok(consumers.isZero(z, 1000), 'calloc zeroed');
  const a = consumers.alignedAlloc(4096, 5000);
  eq(a % 4096n, 0n, 'aligned_alloc alignment');
  ok(consumers.usableSize(a) >= 5000n, 'usable_size');
  const mid = shim.stats();
  eq(mid.liveBlocks, before.liveBlocks + 3, 'liveBlocks while held');
  consumers.free(q);
  consumers.free(z);
  consumers.free(a);
  consumers.free(q); // a double free: counted, changes nothing
  const after = shim.stats();
  eq(after.liveBlocks, before.liveBlocks, 'liveBlocks after');
  eq(after.liveBytes, before.liveBytes, 'liveBytes after');
  eq(after.invalidFrees, before.invalidFrees + 1, 'invalidFrees');
  eq(after.allocations - before.allocations, 3, 'allocations');
  eq(after.reallocations - before.reallocations, 1, 'reallocations');
  deepEq(consumers.stats(), shim.stats(), 'the table\'s stats function and shim.stats() agree');
});

// ---- sharing between threads ------------------------------------------------

// Bun has node_api_create_external_sharedarraybuffer (a SharedArrayBuffer view),
// Deno and Node 20 do not (an external Buffer per thread); both work the same.
test('Sharing: a worker opens a shared block and a shared pool, same memory, released after both let go', async () => {
  if (collect === undefined) fail('run with the collector exposed');
  if (blockSource() === 'runtime') {
    // A runtime that refuses external buffers: every way into sharing is refused (README table).
    for (const share of [() => Block.alloc(4096).share(), () => new Pool({ slotSize: 64, slots: 4, shared: true })]) {
      let code;
      try {
        share();
      } catch (e) {
        code = e.code;
      }
      eq(code, 'ERR_INVALID_PARAM', 'sharing on runtime memory');
    }
    return;
  }
  const { Worker } = require('worker_threads');
  const settle = async () => {
    for (let i = 0; i < 6; i++) {
      collect();
      await turn();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  await settle();
  const before = blockStats();
  const message = await (async () => {
    const block = Block.alloc(65536);
    block.buffer.write('shared', 0);
    const pool = new Pool({ slotSize: 64, slots: 4, shared: true });
    const worker = new Worker(path.join(__dirname, 'share-worker.cjs'), { workerData: { block: block.share(), pool: pool.share() } });
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const got = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      exited.then((code) => reject(new Error(`the worker exited (code ${code}) before its message`)));
    });
    await exited;
    eq(got.address, block.address, 'the same address in both threads');
    eq(got.text, 'shared', 'the worker reads what the main thread wrote');
    eq(block.buffer.toString('latin1', 8, 14), 'worker', 'the main thread reads what the worker wrote');
    eq(got.used, 1, 'the worker\'s slot counted in the pool');
    ok(got.slotAddress >= pool.regions()[0].address, 'the worker\'s slot lies in the pool');
    eq(got.sab, sysalloc.sharedArrayBuffers, 'SharedArrayBuffer views exactly where the runtime makes them');
    eq(pool.used, 0, 'the worker freed its slot');
    throwsCode(() => Block.fromShared({ ...block.share(), key: block.share().key + 1n }), 'ERR_NOT_ALLOCATED', 'a forged key');
    const handle = block.share();
    block.free();
    pool.destroy();
    return handle;
  })();
  await settle();
  const after = blockStats();
  eq(after.liveBlocks, before.liveBlocks, 'liveBlocks once every holder let go');
  eq(after.sharedRegions, before.sharedRegions, 'sharedRegions');
  eq(after.sharedReferences, before.sharedReferences, 'sharedReferences');
  throwsCode(() => Block.fromShared(message), 'ERR_NOT_ALLOCATED', 'a stale handle');
});

// ---- run ------------------------------------------------------------------

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--list') {
    for (const { name } of tests) console.log(name);
    return;
  }
  const only = args[0] === '--only' ? args[1] : undefined;
  const filter = only === undefined ? args[0] : undefined;
  if (only !== undefined && !tests.some((t) => t.name === only)) {
    console.log(`no test named ${JSON.stringify(only)}`);
    process.exit(2);
  }
  let passed = 0;
  let failed = 0;
  console.log(`# sysalloc runtime suite on ${runtime}`);
  for (const { name, fn } of tests) {
    if (only !== undefined ? name !== only : filter && !name.includes(filter)) continue;
    try {
      await fn();
      passed++;
      console.log(`ok - ${name}`);
    } catch (error) {
      failed++;
      const detail = error instanceof AssertionFailed ? error.message : `${show(error)}\n${error && error.stack}`;
      console.log(`not ok - ${name}\n    ${String(detail).split('\n').join('\n    ')}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

main();
