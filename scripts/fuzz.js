#!/usr/bin/env node
'use strict';

// npm run fuzz [-- --seed N] [--seconds N | --ops N] [--verbose]
//
// Seeded random operation sequences across Block, Arena, Pool and the shim,
// interleaved in one process, for a set time (default 60 s) or a set number of
// operations. Every live allocation holds a pattern derived from its id, written
// when it is made and verified before it is freed, resized or reset and at
// random checkpoints; every allocation is checked for alignment, for lying
// inside the memory its allocator manages, and against every other live
// allocation (of any kind) for overlap by address; the counters (blockStats,
// shim.stats, used + available) are held to a ledger kept here; use after free,
// double free and foreign pointers must be refused as the README says. At the
// end everything is freed and the counters must be back at their baseline.
//
// It also breaks the addMemory contract now and then (frees a Block an Arena or
// a Pool owns), where the README promises memory safety all the same.
//
// Each operation draws from a generator seeded by (seed, operation index), so a
// failure at op I of seed S replays with --seed S --ops I+1 (--ops wins over
// --seconds; --verbose names each op). Addresses differ from run to run, so a
// failure that depends on where memory lands may take a few replays. Exit
// status: 0 when every check held, 1 on the first failure (with the seed and the
// op index), 2 for a bad command line. Needs node --expose-gc (npm run fuzz
// passes it).
//
// The shim is driven through the test-only consumer addon (test/consumers/),
// which calls the shim's function table as a C library would: npm run fuzz
// builds it first.

const path = require('path');
const crypto = require('crypto');

const root = path.join(__dirname, '..');
const sysalloc = require(root);
const { Block, Arena, Pool, AllocError, addressOf, blockStats, shim, pageSize } = sysalloc;
const consumers = require('bindings')({ bindings: 'shim_consumers', module_root: path.join(root, 'test', 'consumers') });

const DISPOSE = Symbol.dispose ?? Symbol.for('nodejs.dispose');
const KiB = 1024;
const MiB = 1024 * KiB;
const PAGE = pageSize();

// ---- command line

function usage(message) {
  if (message) process.stderr.write(`fuzz: ${message}\n`);
  process.stderr.write('usage: npm run fuzz -- [--seed N] [--seconds N | --ops N] [--verbose]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const out = { seed: undefined, seconds: 60, ops: undefined, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const number = (name) => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) usage(`${name} takes a non-negative integer, got ${argv[i]}`);
      return v;
    };
    if (arg === '--seed') out.seed = number('--seed') >>> 0;
    else if (arg === '--seconds') out.seconds = number('--seconds');
    else if (arg === '--ops') out.ops = number('--ops');
    else if (arg === '--verbose') out.verbose = true;
    else if (arg === '--help' || arg === '-h') usage();
    else usage(`unknown argument ${arg}`);
  }
  if (out.seed === undefined) out.seed = crypto.randomInt(2 ** 32 - 1);
  return out;
}

// ---- randomness: a fresh mulberry32 stream per operation

function mix32(x) {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

class Rng {
  constructor(seed) {
    this.seed = seed >>> 0;
    this.state = 0;
  }
  /** Restarts the stream for operation `op`: what op does depends on (seed, op) alone. */
  at(op) {
    this.state = mix32(this.seed ^ mix32((op >>> 0) ^ mix32(Math.floor(op / 2 ** 32) + 0x9e3779b9)));
  }
  next() {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo, hi) {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pow2(loLog, hiLog) {
    return 2 ** this.int(loLog, hiLog);
  }
  chance(p) {
    return this.next() < p;
  }
  pick(items) {
    return items[Math.floor(this.next() * items.length)];
  }
}

// ---- failures

class FuzzFailure extends Error {}

function fail(message) {
  throw new FuzzFailure(message);
}

function hex(n) {
  return `0x${n.toString(16)}`;
}

function expectEqual(actual, expected, what) {
  if (actual !== expected) fail(`${what}: got ${String(actual)}, expected ${String(expected)}`);
}

function expectCode(fn, code, what) {
  let result;
  try {
    result = fn();
  } catch (e) {
    if (e instanceof AllocError && e.code === code) return;
    fail(`${what}: expected AllocError ${code}, got ${e instanceof AllocError ? e.code : e}: ${e && e.message}`);
  }
  fail(`${what}: expected AllocError ${code}, but it returned ${String(result)}`);
}

// ---- contents: a pattern per allocation id

// Eleven bytes, a period no alignment or stride divides, so a block whose
// contents were shifted or swapped with another's reads wrong.
const PERIOD = 11;
const SCRATCH = Buffer.alloc(4 * MiB + PERIOD);
const ZEROS = Buffer.alloc(4 * MiB);

function patternOf(id) {
  const p = Buffer.allocUnsafe(PERIOD);
  let x = mix32(id + 0x51ed27);
  for (let i = 0; i < PERIOD; i++) {
    p[i] = x & 0xff;
    x = x >>> 8 || mix32(x + i + id);
  }
  return p;
}

function describe(rec) {
  return `${rec.kind} #${rec.id} [${hex(rec.address)}, +${rec.size})`;
}

function writeJs(rec) {
  rec.buf.fill(patternOf(rec.id));
}

function checkJs(rec, when) {
  const buf = rec.buf;
  if (buf.length !== rec.size) fail(`${describe(rec)} reads length ${buf.length} ${when}, expected ${rec.size}`);
  const expected = SCRATCH.subarray(0, rec.size).fill(patternOf(rec.id));
  if (!buf.equals(expected)) {
    let i = 0;
    while (buf[i] === expected[i]) i++;
    fail(`${describe(rec)}: byte ${i} reads ${buf[i]}, expected ${expected[i]} ${when}`);
  }
  stats.bytesChecked += rec.size;
}

function checkShim(rec, when) {
  if (!consumers.check(rec.p, rec.size, rec.seed)) {
    fail(`${describe(rec)}: contents changed ${when}`);
  }
  stats.bytesChecked += rec.size;
}

function check(rec, when) {
  if (rec.kind === 'shim') checkShim(rec, when);
  else checkJs(rec, when);
}

// ---- every live allocation of every kind, by address

class Intervals {
  constructor() {
    this.items = []; // sorted by address; all non-empty and disjoint
  }
  #find(address) {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.items[mid].address < address) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  add(rec) {
    const i = this.#find(rec.address);
    const before = this.items[i - 1];
    const after = this.items[i];
    if (before !== undefined && before.address + before.extent > rec.address) {
      fail(`${describe(rec)} overlaps the live ${describe(before)}`);
    }
    if (after !== undefined && rec.address + rec.extent > after.address) {
      fail(`${describe(rec)} overlaps the live ${describe(after)}`);
    }
    this.items.splice(i, 0, rec);
  }
  remove(rec) {
    const i = this.#find(rec.address);
    if (this.items[i] !== rec) fail(`internal: ${describe(rec)} is not in the live set`);
    this.items.splice(i, 1);
  }
}

// ---- state

const live = new Intervals();
let nextId = 1;
// refused: allocations refused (a full arena or pool, ...) and checked to be legitimate.
const stats = { byOp: Object.create(null), bytesChecked: 0, checkpoints: 0, refused: 0 };

const blocks = []; // user Blocks: { kind: 'block', id, block, buf, address, size, extent }
let blockBytes = 0;
const freedBlocks = []; // Blocks freed or disposed, with a view made before, to probe after
let dropped = 0; // Blocks left to their finalizers since the last settle
const arenas = []; // { id, arena, grow, allocs: rec[], added: Added[] }
const pools = []; // { id, pool, checked, live: rec[], stale: Buffer[], added: Added[] }
// Added: { block, address, size } of a Block handed to addMemory.
const shimLive = []; // { kind: 'shim', id, p, seed, address, size, extent, align }
const shimByAddress = new Map(); // p (bigint) -> rec
const shimStale = []; // pointers freed, for double frees
let shimBytes = 0;

// The shim's counters as they must be: moved exactly as the calls here move them.
const ledger = { allocations: 0, reallocations: 0, frees: 0, liveBytes: 0, foreignFrees: 0, invalidFrees: 0, peak: 0 };
let shimBase;
let blockBase;

const LIMITS = {
  blocks: 400,
  blockBytes: 192 * MiB,
  arenas: 4,
  arenaCapacity: 32 * MiB,
  pools: 4,
  shim: 3000,
  shimBytes: 128 * MiB,
  freedBlocks: 64,
  stale: 64,
};

// Keeps the last `cap` items: a ring once full.
function remember(list, item, cap) {
  if (list.length < cap) {
    list.push(item);
    return;
  }
  list.cursor = ((list.cursor ?? -1) + 1) % cap;
  list[list.cursor] = item;
}

function takeAt(list, i) {
  const item = list[i];
  list[i] = list[list.length - 1];
  list.pop();
  return item;
}

// ---- Block

function blockSize(rng) {
  const r = rng.next();
  if (r < 0.7) return rng.int(1, 4 * KiB);
  if (r < 0.95) return rng.int(1, 256 * KiB);
  return rng.int(1, 4 * MiB);
}

function opBlockAlloc(rng) {
  if (blocks.length >= LIMITS.blocks || blockBytes >= LIMITS.blockBytes) return opBlockFree(rng, 'free');
  const size = blockSize(rng);
  const options = {};
  if (rng.chance(0.7)) options.align = rng.chance(0.9) ? rng.pow2(0, 13) : rng.pow2(14, 22);
  options.zero = rng.chance(0.5);
  const useOptions = options.align !== undefined || !options.zero || rng.chance(0.5);
  const block = useOptions ? Block.alloc(size, options) : Block.alloc(size);
  const align = options.align ?? (Number.isInteger(Math.log2(size)) ? size : PAGE);
  expectEqual(block.size, size, 'Block.size');
  expectEqual(block.align, align, 'Block.align');
  expectEqual(block.freed, false, 'Block.freed of a new block');
  const buf = block.buffer;
  expectEqual(buf.length, size, 'Block.buffer.length');
  const address = Number(block.address);
  expectEqual(Number(addressOf(buf)), address, 'addressOf(block.buffer) against block.address');
  if (address % align !== 0) fail(`Block.alloc(${size}, align ${align}) at ${hex(address)} is not aligned`);
  if (options.zero !== false && !buf.equals(ZEROS.subarray(0, size))) fail(`Block.alloc(${size}) with zero is not zero-filled`);
  const rec = { kind: 'block', id: nextId++, block, buf, address, size, extent: size };
  live.add(rec);
  writeJs(rec);
  blocks.push(rec);
  blockBytes += size;
  checkBlockCounters();
}

// how: 'free', 'dispose' or 'drop' (left to the finalizer).
function opBlockFree(rng, how) {
  if (blocks.length === 0) return opBlockAlloc(rng);
  const rec = takeAt(blocks, rng.int(0, blocks.length - 1));
  blockBytes -= rec.size;
  checkJs(rec, 'before it was freed');
  live.remove(rec);
  const { block, buf } = rec;
  if (how === 'drop') {
    // Only small ones, so memory waiting for the finalizer stays bounded.
    if (rec.size > 64 * KiB) how = 'free';
    else {
      dropped++;
      return;
    }
  }
  // Views made before the free: a Uint8Array over part of it, a DataView, a subarray.
  const offset = rng.int(0, rec.size - 1);
  const views = [
    new Uint8Array(buf.buffer, buf.byteOffset + offset, rec.size - offset),
    new DataView(buf.buffer, buf.byteOffset, rec.size),
    buf.subarray(offset),
  ];
  if (how === 'dispose') {
    block[DISPOSE]();
    block[DISPOSE](); // idempotent
  } else {
    block.free();
  }
  expectEqual(block.freed, true, 'Block.freed after free');
  expectEqual(block.buffer.length, 0, 'Block.buffer.length after free');
  checkDetached(views, 'a view of a freed Block');
  expectCode(() => block.address, 'ERR_NOT_ALLOCATED', 'address of a freed Block');
  expectCode(() => block.free(), 'ERR_NOT_ALLOCATED', 'a second free of a Block');
  remember(freedBlocks, { block, views }, LIMITS.freedBlocks);
  checkBlockCounters();
}

// Detached views: a typed array reads length 0, reads give undefined and writes
// go nowhere; a DataView throws a TypeError on any access.
function checkDetached(views, what) {
  for (const v of views) {
    if (v instanceof DataView) {
      for (const [access, fn] of [['byteLength', () => v.byteLength], ['getUint8', () => v.getUint8(0)], ['setUint8', () => v.setUint8(0, 1)]]) {
        let threw = false;
        try {
          fn();
        } catch (e) {
          if (!(e instanceof TypeError)) throw e;
          threw = true;
        }
        if (!threw) fail(`DataView.${access} of ${what} did not throw`);
      }
    } else {
      expectEqual(v.byteLength, 0, `byteLength of ${what}`);
      expectEqual(v.length, 0, `length of ${what}`);
      v[0] = 0xa5;
      v[7] = 0x5a;
      expectEqual(v[0], undefined, `a read of ${what}`);
    }
  }
}

function opBlockStale(rng) {
  if (freedBlocks.length === 0) return opBlockAlloc(rng);
  const { block, views } = rng.pick(freedBlocks);
  expectCode(() => block.free(), 'ERR_NOT_ALLOCATED', 'free of a freed Block');
  expectCode(() => block.address, 'ERR_NOT_ALLOCATED', 'address of a freed Block');
  block[DISPOSE]();
  expectEqual(block.buffer.length, 0, 'Block.buffer.length of a freed Block');
  checkDetached(views, 'a view of a freed Block');
  if (arenas.length > 0) {
    expectCode(() => rng.pick(arenas).arena.addMemory(block), 'ERR_NOT_ALLOCATED', 'Arena.addMemory of a freed Block');
  }
  if (pools.length > 0) {
    expectCode(() => rng.pick(pools).pool.addMemory(block), 'ERR_NOT_ALLOCATED', 'Pool.addMemory of a freed Block');
  }
}

function opBadParams(rng) {
  const before = blockStats();
  const bad = rng.pick([
    () => Block.alloc(0),
    () => Block.alloc(-1),
    () => Block.alloc(1.5),
    () => Block.alloc(NaN),
    () => Block.alloc(64, { align: 3 }),
    () => Block.alloc(64, { align: 0 }),
    () => Block.alloc(64, { align: 2 ** 33 }),
    () => Block.alloc(Number.MAX_SAFE_INTEGER),
    () => new Arena({ capacity: 0 }),
    () => new Arena({ capacity: 4096, align: 48 }),
    () => new Pool({ slotSize: 0, slots: 1 }),
    () => new Pool({ slotSize: 64, slots: 0 }),
    () => new Pool({ slotSize: 64, slots: 4, align: 24 }),
  ]);
  expectCode(bad, 'ERR_INVALID_PARAM', 'an invalid size or alignment');
  if (arenas.length > 0) {
    const a = rng.pick(arenas).arena;
    expectCode(() => a.alloc(0), 'ERR_INVALID_PARAM', 'Arena.alloc(0)');
    expectCode(() => a.alloc(16, 12), 'ERR_INVALID_PARAM', 'Arena.alloc with align 12');
  }
  if (pools.length > 0) {
    expectCode(() => rng.pick(pools).pool.free('not a buffer'), 'ERR_INVALID_PARAM', 'Pool.free of a string');
  }
  const after = blockStats();
  expectEqual(after.liveBlocks, before.liveBlocks, 'liveBlocks after refused arguments');
  expectEqual(after.liveBytes, before.liveBytes, 'liveBytes after refused arguments');
}

// ---- Arena

function opArenaCreate(rng) {
  if (arenas.length >= LIMITS.arenas) return opArenaAlloc(rng);
  const capacity = rng.chance(0.5) ? rng.int(1, 64 * KiB) : rng.int(1, 1 * MiB);
  const options = { capacity, grow: rng.chance(0.5) };
  if (rng.chance(0.2)) options.align = rng.pow2(0, 16);
  const arena = new Arena(options);
  expectEqual(arena.capacity, capacity, 'Arena.capacity of a new arena');
  expectEqual(arena.used, 0, 'Arena.used of a new arena');
  expectEqual(arena.align, Math.max(PAGE, options.align ?? PAGE), 'Arena.align');
  arenas.push({ id: nextId++, arena, grow: options.grow, allocs: [], added: [], regions: arena.regions() });
  checkBlockCounters();
}

function arenaRequest(rng, grow) {
  const r = rng.next();
  const size =
    r < 0.8 ? rng.int(1, 256) : r < 0.95 ? rng.int(1, 8 * KiB) : r < 0.99 ? rng.int(1, 64 * KiB) : rng.int(1, grow ? 1 * MiB : 64 * KiB);
  const a = rng.next();
  const align = a < 0.85 ? rng.pow2(0, 6) : a < 0.99 ? rng.pow2(0, 12) : rng.pow2(0, grow ? 20 : 16);
  return { size, align };
}

function checkArena(entry) {
  const { arena } = entry;
  expectEqual(arena.used + arena.available, arena.capacity, 'Arena used + available');
  let sum = 0;
  for (const r of entry.regions) sum += r.size;
  expectEqual(arena.capacity, sum, 'Arena.capacity against its regions');
  let liveSum = 0;
  for (const rec of entry.allocs) liveSum += rec.size;
  if (arena.used < liveSum) fail(`Arena.used ${arena.used} is below the ${liveSum} bytes of its live allocations`);
}

function opArenaAlloc(rng) {
  if (arenas.length === 0) return opArenaCreate(rng);
  const entry = rng.pick(arenas);
  const { arena } = entry;
  // reset keeps every chunk, so a grown arena over the limit is destroyed.
  if (entry.grow && arena.capacity > LIMITS.arenaCapacity) return destroyArena(takeAt(arenas, arenas.indexOf(entry)), false);
  const { size, align } = arenaRequest(rng, entry.grow);
  const capacity = arena.capacity;
  let buf;
  try {
    buf = arena.alloc(size, align);
  } catch (e) {
    if (entry.grow || !(e instanceof AllocError) || e.code !== 'ERR_NO_MEMORY') throw e;
    // Legitimate only when no chunk has room past its last allocation.
    for (const region of entry.regions) {
      const base = Number(region.address);
      let top = base;
      for (const rec of entry.allocs) {
        if (rec.address >= base && rec.address < base + region.size) top = Math.max(top, rec.address + rec.size);
      }
      const start = Math.ceil(top / align) * align;
      if (start + size <= base + region.size) {
        fail(`Arena.alloc(${size}, ${align}): ERR_NO_MEMORY, but [${hex(start)}, +${size}) is free in a chunk`);
      }
    }
    stats.refused++;
    return;
  }
  if (arena.capacity !== capacity) {
    entry.regions = arena.regions();
    checkBlockCounters();
  }
  const address = Number(addressOf(buf));
  expectEqual(buf.length, size, 'Arena.alloc length');
  if (address % align !== 0) fail(`Arena.alloc(${size}, ${align}) at ${hex(address)} is not aligned`);
  if (!entry.regions.some((r) => address >= Number(r.address) && address + size <= Number(r.address) + r.size)) {
    fail(`Arena.alloc(${size}, ${align}) at ${hex(address)} lies outside every chunk of the arena`);
  }
  const rec = { kind: 'arena', id: nextId++, buf, address, size, extent: size };
  live.add(rec);
  writeJs(rec);
  entry.allocs.push(rec);
  checkArena(entry);
}

function arenaReset(entry) {
  const { arena } = entry;
  for (const rec of entry.allocs) checkJs(rec, 'before Arena.reset');
  const capacity = arena.capacity;
  const before = entry.regions;
  arena.reset();
  for (const rec of entry.allocs) {
    live.remove(rec);
    expectEqual(rec.buf.length, 0, 'an Arena allocation after reset: length');
    rec.buf[0] = 1; // goes nowhere
    expectEqual(rec.buf[0], undefined, 'an Arena allocation after reset: a read');
  }
  entry.allocs = [];
  entry.regions = arena.regions();
  // Only a chunk whose Block its caller freed (against the addMemory contract)
  // may leave the arena, at the first reset after it was used.
  const kept = new Set(entry.regions.map((r) => Number(r.address)));
  let lost = 0;
  for (const r of before) {
    if (kept.has(Number(r.address))) continue;
    const added = entry.added.find((a) => a.address === Number(r.address));
    if (added === undefined || !added.block.freed) fail(`Arena.reset dropped the chunk at ${hex(Number(r.address))}, whose Block is live`);
    lost += r.size;
  }
  entry.added = entry.added.filter((a) => kept.has(a.address));
  expectEqual(arena.capacity, capacity - lost, 'Arena.capacity after reset');
  expectEqual(arena.used, 0, 'Arena.used after reset');
  checkArena(entry);
  checkBlockCounters();
}

function opArenaReset(rng) {
  if (arenas.length === 0) return opArenaCreate(rng);
  arenaReset(rng.pick(arenas));
}

function opArenaAddMemory(rng) {
  if (arenas.length === 0) return opArenaCreate(rng);
  const entry = rng.pick(arenas);
  const { arena } = entry;
  const size = rng.int(1, 64 * KiB);
  const block = Block.alloc(size, { align: rng.pow2(0, 13), zero: false });
  const capacity = arena.capacity;
  arena.addMemory(block);
  expectEqual(arena.capacity, capacity + size, 'Arena.capacity after addMemory');
  expectCode(() => arena.addMemory(block), 'ERR_MEMORY_OVERLAP', 'the same Block added twice to an arena');
  const other = arenas.find((a) => a !== entry);
  if (other) expectCode(() => other.arena.addMemory(block), 'ERR_MEMORY_OVERLAP', 'a Block added to two arenas');
  if (pools.length > 0) expectCode(() => rng.pick(pools).pool.addMemory(block), 'ERR_MEMORY_OVERLAP', 'an arena\'s Block added to a pool');
  entry.added.push({ block, address: Number(block.address), size });
  entry.regions = arena.regions();
  checkArena(entry);
  checkBlockCounters();
}

function opArenaDestroy(rng) {
  if (arenas.length === 0) return opArenaCreate(rng);
  const entry = takeAt(arenas, rng.int(0, arenas.length - 1));
  destroyArena(entry, rng.chance(0.5));
}

function destroyArena(entry, viaDispose) {
  const { arena } = entry;
  for (const rec of entry.allocs) checkJs(rec, 'before Arena.destroy');
  if (viaDispose) {
    arena[DISPOSE]();
    arena[DISPOSE]();
  } else {
    arena.destroy();
  }
  for (const rec of entry.allocs) {
    live.remove(rec);
    expectEqual(rec.buf.length, 0, 'an Arena allocation after destroy: length');
  }
  expectEqual(arena.capacity, 0, 'Arena.capacity after destroy');
  expectEqual(arena.used + arena.available, 0, 'Arena used + available after destroy');
  expectCode(() => arena.alloc(16), 'ERR_NOT_ALLOCATED', 'Arena.alloc after destroy');
  expectCode(() => arena.reset(), 'ERR_NOT_ALLOCATED', 'Arena.reset after destroy');
  expectCode(() => arena.destroy(), 'ERR_NOT_ALLOCATED', 'Arena.destroy after destroy');
  const block = Block.alloc(64);
  expectCode(() => arena.addMemory(block), 'ERR_NOT_ALLOCATED', 'Arena.addMemory after destroy');
  block.free(); // still the caller's
  for (const a of entry.added) expectEqual(a.block.freed, true, 'a Block given to addMemory, after destroy: freed');
  checkBlockCounters();
}

// ---- Pool

function opPoolCreate(rng) {
  if (pools.length >= LIMITS.pools) return opPoolAlloc(rng);
  const slotSize = rng.chance(0.5) ? rng.int(1, 300) : rng.chance(0.8) ? rng.pow2(4, 12) : rng.int(1, 64 * KiB);
  const align = rng.chance(0.7) ? rng.pow2(0, 6) : rng.pow2(7, 13);
  const slots = rng.int(1, slotSize > 8 * KiB ? 32 : 200);
  const checked = rng.chance(0.5);
  const pool = new Pool({ slotSize, slots, align, checked });
  expectEqual(pool.slots, slots, 'Pool.slots of a new pool');
  expectEqual(pool.stride, Math.ceil(slotSize / align) * align, 'Pool.stride');
  pools.push({ id: nextId++, pool, checked, slotSize, align, live: [], stale: [], added: [], regions: pool.regions() });
  checkBlockCounters();
}

function checkPool(entry) {
  const { pool } = entry;
  expectEqual(pool.used + pool.available, pool.slots, 'Pool used + available');
  expectEqual(pool.used, entry.live.length, 'Pool.used against its live slots');
}

function opPoolAlloc(rng) {
  if (pools.length === 0) return opPoolCreate(rng);
  const entry = rng.pick(pools);
  const { pool, slotSize, align } = entry;
  if (pool.available === 0) {
    expectCode(() => pool.alloc(), 'ERR_NO_MEMORY', 'Pool.alloc from a full pool');
    stats.refused++;
    return opPoolFree(rng, entry);
  }
  let buf;
  try {
    buf = pool.alloc();
  } catch (e) {
    // A checked pool stops using the slots of a Block its caller freed (against
    // the addMemory contract): when those were all it had left, it is full.
    const retired = entry.checked && entry.added.some((a) => a.block.freed);
    if (!retired || !(e instanceof AllocError) || e.code !== 'ERR_NO_MEMORY' || pool.available !== 0) throw e;
    stats.refused++;
    checkPool(entry);
    return;
  }
  const address = Number(addressOf(buf));
  expectEqual(buf.length, slotSize, 'Pool.alloc length');
  if (address % align !== 0) fail(`a Pool slot at ${hex(address)} is not aligned to ${align}`);
  const region = entry.regions.find((r) => address >= Number(r.address) && address + slotSize <= Number(r.address) + r.size);
  if (region === undefined) fail(`a Pool slot at ${hex(address)} lies outside every region of the pool`);
  const first = Math.ceil(Number(region.address) / align) * align;
  expectEqual((address - first) % pool.stride, 0, 'a Pool slot\'s offset from the first slot, modulo the stride');
  const rec = { kind: entry.checked ? 'checked pool' : 'fast pool', id: nextId++, buf, address, size: slotSize, extent: slotSize };
  live.add(rec);
  writeJs(rec);
  entry.live.push(rec);
  checkPool(entry);
}

function opPoolFree(rng, chosen) {
  const withLive = pools.filter((p) => p.live.length > 0);
  if (chosen === undefined && withLive.length === 0) return opPoolAlloc(rng);
  const entry = chosen ?? rng.pick(withLive);
  if (entry.live.length === 0) return;
  const rec = takeAt(entry.live, rng.int(0, entry.live.length - 1));
  checkJs(rec, 'before Pool.free');
  entry.pool.free(rec.buf);
  live.remove(rec);
  if (entry.checked) {
    expectEqual(rec.buf.length, 0, 'a checked Pool slot after free: length');
    rec.buf[0] = 0xee; // goes nowhere
    expectEqual(rec.buf[0], undefined, 'a read of a checked Pool slot after free');
  }
  remember(entry.stale, rec.buf, LIMITS.stale);
  checkPool(entry);
}

// Frees that must be refused with nothing changed.
function opPoolBadFree(rng) {
  if (pools.length === 0) return opPoolCreate(rng);
  const entry = rng.pick(pools);
  const { pool } = entry;
  const used = pool.used;
  const candidates = [];
  if (entry.stale.length > 0) {
    // Its slot may be allocated again since, but never to this Buffer object.
    candidates.push(['a slot freed before', rng.pick(entry.stale)]);
  }
  if (entry.live.length > 0) {
    const rec = rng.pick(entry.live);
    if (rec.size > 1) candidates.push(['part of a live slot', rec.buf.subarray(1)]);
    candidates.push(['a copy of a live slot', Buffer.from(rec.buf)]);
    candidates.push(['a Uint8Array over a live slot', new Uint8Array(rec.buf.buffer, rec.buf.byteOffset, rec.buf.length)]);
  }
  const other = pools.find((p) => p !== entry && p.live.length > 0);
  if (other) candidates.push(['a live slot of another pool', rng.pick(other.live).buf]);
  const arena = arenas.find((a) => a.allocs.length > 0);
  if (arena) candidates.push(['an Arena allocation', rng.pick(arena.allocs).buf]);
  if (blocks.length > 0) candidates.push(['a Block\'s buffer', rng.pick(blocks).buf]);
  candidates.push(['a Buffer of the slot size', Buffer.alloc(entry.slotSize)]);
  const [what, buf] = rng.pick(candidates);
  expectCode(() => pool.free(buf), 'ERR_NOT_ALLOCATED', `Pool.free of ${what}`);
  expectEqual(pool.used, used, `Pool.used after a refused free of ${what}`);
  for (const rec of entry.live) if (rec.buf.length !== rec.size) fail(`${describe(rec)} reads length ${rec.buf.length} after a refused free`);
  checkPool(entry);
}

function opPoolAddMemory(rng) {
  if (pools.length === 0) return opPoolCreate(rng);
  const entry = rng.pick(pools);
  const { pool, slotSize, align } = entry;
  const size = rng.int(slotSize + align, Math.min(20 * (slotSize + align), 4 * MiB));
  const block = Block.alloc(size, { align: rng.pow2(0, 8), zero: false });
  const slots = pool.slots;
  try {
    pool.addMemory(block);
  } catch (e) {
    // A checked pool keeps listing the region of a Block its caller freed
    // (against the addMemory contract), and refuses a new Block the system
    // allocator placed in that memory once the last slot view let it go.
    const address = Number(block.address);
    const stale = entry.checked && entry.added.some((a) => a.block.freed && a.address < address + size && address < a.address + a.size);
    if (!stale || !(e instanceof AllocError) || e.code !== 'ERR_MEMORY_OVERLAP') throw e;
    block.free(); // still the caller's
    stats.refused++;
    return;
  }
  entry.regions = pool.regions();
  const region = entry.regions[entry.regions.length - 1];
  const first = Math.ceil(Number(region.address) / align) * align - Number(region.address);
  expectEqual(pool.slots - slots, Math.floor((region.size - first - slotSize) / pool.stride) + 1, 'slots added by Pool.addMemory');
  expectCode(() => pool.addMemory(block), 'ERR_MEMORY_OVERLAP', 'the same Block added twice to a pool');
  if (arenas.length > 0) expectCode(() => rng.pick(arenas).arena.addMemory(block), 'ERR_MEMORY_OVERLAP', 'a pool\'s Block added to an arena');
  entry.added.push({ block, address: Number(block.address), size });
  checkPool(entry);
  checkBlockCounters();
}

function opPoolDestroy(rng) {
  if (pools.length === 0) return opPoolCreate(rng);
  destroyPool(takeAt(pools, rng.int(0, pools.length - 1)), rng.chance(0.5));
}

function destroyPool(entry, viaDispose) {
  const { pool } = entry;
  for (const rec of entry.live) checkJs(rec, 'before Pool.destroy');
  if (viaDispose) {
    pool[DISPOSE]();
    pool[DISPOSE]();
  } else {
    pool.destroy();
  }
  for (const rec of entry.live) {
    live.remove(rec);
    expectEqual(rec.buf.length, 0, 'a Pool slot after destroy: length');
  }
  for (const buf of entry.stale) expectEqual(buf.length, 0, 'a freed Pool slot after destroy: length');
  expectEqual(pool.slots, 0, 'Pool.slots after destroy');
  expectCode(() => pool.alloc(), 'ERR_NOT_ALLOCATED', 'Pool.alloc after destroy');
  if (entry.live.length > 0) expectCode(() => pool.free(entry.live[0].buf), 'ERR_NOT_ALLOCATED', 'Pool.free after destroy');
  expectCode(() => pool.destroy(), 'ERR_NOT_ALLOCATED', 'Pool.destroy after destroy');
  for (const a of entry.added) expectEqual(a.block.freed, true, 'a Block given to addMemory, after destroy: freed');
  checkBlockCounters();
}

// Frees a Block an Arena or a Pool owns (against the addMemory contract). The
// README promises memory safety anyway: the allocator's views keep the memory
// until it is done with them, so its live allocations keep their contents.
function opBreachAddMemory(rng) {
  const owners = [...arenas, ...pools].filter((e) => e.added.some((a) => !a.block.freed));
  if (owners.length === 0) return;
  const entry = rng.pick(owners);
  const { block } = rng.pick(entry.added.filter((a) => !a.block.freed));
  block.free();
  expectEqual(block.buffer.length, 0, 'a Block given to addMemory and freed: length');
  for (const rec of entry.allocs ?? entry.live) checkJs(rec, 'after a Block its allocator owns was freed by its caller');
}

// ---- the shim, through the consumer addon (the function table, as C calls it)

function shimSize(rng) {
  const r = rng.next();
  if (r < 0.75) return rng.int(0, 512);
  if (r < 0.95) return rng.int(0, 64 * KiB);
  if (r < 0.99) return rng.int(0, 1 * MiB + 64 * KiB);
  return rng.int(1 * MiB, 4 * MiB);
}

// The shim's counters must equal the base plus what the ledger says, exactly:
// this process has one thread in the shim.
function checkShimCounters(what) {
  const s = shim.stats();
  const want = {
    allocations: shimBase.allocations + ledger.allocations,
    reallocations: shimBase.reallocations + ledger.reallocations,
    frees: shimBase.frees + ledger.frees,
    liveBlocks: shimBase.liveBlocks + ledger.allocations - ledger.frees,
    liveBytes: shimBase.liveBytes + ledger.liveBytes,
    peakBytes: Math.max(shimBase.peakBytes, shimBase.liveBytes + ledger.peak),
    foreignFrees: shimBase.foreignFrees + ledger.foreignFrees,
    invalidFrees: shimBase.invalidFrees + ledger.invalidFrees,
  };
  for (const key of Object.keys(want)) {
    if (s[key] !== want[key]) fail(`shim.stats().${key} after ${what}: ${s[key]}, expected ${want[key]}`);
  }
}

function ledgerLive(delta) {
  ledger.liveBytes += delta;
  shimBytes += delta;
  if (ledger.liveBytes > ledger.peak) ledger.peak = ledger.liveBytes;
}

// Registers a block the shim returned and fills it with its pattern; `kept`
// ({ seed, size }) first checks the bytes a realloc had to keep.
function addShim(p, size, align, what, kept) {
  if (p === 0n) fail(`${what} returned NULL (errno ${consumers.lastErrno()})`);
  if (p % BigInt(Math.max(align, 16)) !== 0n) fail(`${what} returned ${hex(p)}, not aligned to ${Math.max(align, 16)}`);
  const got = consumers.usableSize(p);
  if (got !== BigInt(size)) fail(`usable_size after ${what}: ${got}, expected ${size}`);
  // The header in front of the pointer is part of the block: it must not overlap anything either.
  const rec = { kind: 'shim', id: nextId++, p, seed: 0, address: Number(p) - 16, size, extent: size + 16, align };
  rec.seed = rec.id >>> 0;
  live.add(rec);
  if (kept !== undefined && !consumers.check(p, kept.size, kept.seed)) {
    fail(`${what} did not keep the first ${kept.size} bytes of the block`);
  }
  consumers.fill(p, size, rec.seed);
  shimLive.push(rec);
  shimByAddress.set(p, rec);
  return rec;
}

function removeShim(index) {
  const rec = takeAt(shimLive, index);
  shimByAddress.delete(rec.p);
  live.remove(rec);
  return rec;
}

function shimFull() {
  return shimLive.length >= LIMITS.shim || shimBytes >= LIMITS.shimBytes;
}

function opShimMalloc(rng) {
  if (shimFull()) return opShimFree(rng);
  const size = shimSize(rng);
  const p = consumers.malloc(size);
  ledger.allocations++;
  ledgerLive(size);
  addShim(p, size, 16, `malloc(${size})`);
  checkShimCounters('malloc');
}

function opShimCalloc(rng) {
  if (shimFull()) return opShimFree(rng);
  const size = shimSize(rng);
  const count = size === 0 ? rng.int(0, 3) : rng.pick([1, size]);
  const each = size === 0 ? 0 : size / count;
  const p = consumers.calloc(count, each);
  ledger.allocations++;
  ledgerLive(size);
  if (p !== 0n && !consumers.isZero(p, size)) fail(`calloc(${count}, ${each}) is not zero-filled`);
  addShim(p, size, 16, `calloc(${count}, ${each})`);
  checkShimCounters('calloc');
}

function opShimAlignedAlloc(rng) {
  if (shimFull()) return opShimFree(rng);
  const size = shimSize(rng);
  const align = rng.chance(0.9) ? rng.pow2(0, 12) : rng.pow2(13, 23);
  const p = consumers.alignedAlloc(align, size);
  ledger.allocations++;
  ledgerLive(size);
  addShim(p, size, align, `aligned_alloc(${align}, ${size})`);
  checkShimCounters('aligned_alloc');
}

function opShimRealloc(rng) {
  if (shimLive.length === 0 || rng.chance(0.02)) {
    if (shimFull()) return opShimFree(rng);
    // realloc(NULL, n) is malloc(n).
    const size = shimSize(rng);
    const p = consumers.realloc(0n, size);
    ledger.allocations++;
    ledgerLive(size);
    addShim(p, size, 16, `realloc(NULL, ${size})`);
    checkShimCounters('realloc(NULL, n)');
    return;
  }
  const index = rng.int(0, shimLive.length - 1);
  const rec = shimLive[index];
  checkShim(rec, 'before realloc');
  const r = rng.next();
  let size;
  if (r < 0.05) size = 0;
  else if (r < 0.5) size = rng.int(1, Math.max(1, rec.size));
  else if (shimFull()) size = rng.int(1, Math.max(1, rec.size));
  else if (r < 0.95) size = rec.size + rng.int(1, Math.max(16, rec.size));
  else size = shimSize(rng) + 1;
  removeShim(index);
  const q = consumers.realloc(rec.p, size);
  if (size === 0) {
    // Frees the block and returns NULL (as glibc).
    expectEqual(q, 0n, `realloc(p, 0)`);
    ledger.frees++;
    ledgerLive(-rec.size);
    remember(shimStale, rec.p, LIMITS.stale);
    checkShimCounters('realloc(p, 0)');
    return;
  }
  ledger.reallocations++;
  ledgerLive(size - rec.size);
  // A block resized in place keeps its alignment; a moved one has malloc's.
  const kept = { seed: rec.seed, size: Math.min(rec.size, size) };
  addShim(q, size, q === rec.p ? rec.align : 16, `realloc(${hex(rec.p)} of ${rec.size}, ${size})`, kept);
  if (q !== rec.p) remember(shimStale, rec.p, LIMITS.stale);
  checkShimCounters('realloc');
}

function opShimFree(rng) {
  if (shimLive.length === 0) return opShimMalloc(rng);
  const rec = removeShim(rng.int(0, shimLive.length - 1));
  checkShim(rec, 'before free');
  consumers.free(rec.p);
  expectEqual(consumers.lastErrno(), 0, 'errno after free (free must not change it)');
  ledger.frees++;
  ledgerLive(-rec.size);
  remember(shimStale, rec.p, LIMITS.stale);
  checkShimCounters('free');
}

function opShimUsableSize(rng) {
  if (shimLive.length === 0) return opShimMalloc(rng);
  const rec = rng.pick(shimLive);
  expectEqual(consumers.usableSize(rec.p), BigInt(rec.size), `usable_size of ${describe(rec)}`);
  expectEqual(consumers.usableSize(0n), 0n, 'usable_size(NULL)');
}

// Double frees, pointers into the middle of a block, realloc of a freed
// pointer: counted in invalidFrees, and nothing else changes.
function opShimInvalid(rng) {
  const kinds = [];
  const stale = shimStale.filter((p) => !shimByAddress.has(p));
  if (stale.length > 0) kinds.push('double free', 'realloc of a freed pointer', 'usable_size of a freed pointer');
  const big = shimLive.filter((r) => r.size >= 32);
  if (big.length > 0) kinds.push('interior free', 'interior realloc');
  kinds.push('free(NULL)');
  const kind = rng.pick(kinds);
  if (kind === 'free(NULL)') {
    consumers.free(0n);
    checkShimCounters('free(NULL)');
    return;
  }
  let p;
  let victim;
  if (kind.startsWith('interior')) {
    victim = rng.pick(big);
    p = victim.p + BigInt(rng.pick([1, 8, 16, 16 * rng.int(1, Math.floor((victim.size - 1) / 16))]));
  } else {
    p = rng.pick(stale);
  }
  if (kind === 'usable_size of a freed pointer') {
    expectEqual(consumers.usableSize(p), 0n, 'usable_size of a freed pointer');
    checkShimCounters(kind);
    return;
  }
  if (kind === 'double free' || kind === 'interior free') {
    consumers.free(p);
  } else {
    const q = consumers.realloc(p, rng.int(1, 4096));
    expectEqual(q, 0n, `${kind}: the result`);
    expectEqual(consumers.lastErrno(), consumers.EINVAL, `${kind}: errno`);
  }
  ledger.invalidFrees++;
  checkShimCounters(kind);
  if (victim) {
    checkShim(victim, `after ${kind} of a pointer inside it`);
    expectEqual(consumers.usableSize(victim.p), BigInt(victim.size), `usable_size after ${kind} of a pointer inside it`);
  }
}

// Pointers from the system allocator: free hands them back to it, realloc moves
// their contents into a shim block; both count foreignFrees.
function opShimForeign(rng) {
  const size = rng.int(1, rng.chance(0.9) ? 4 * KiB : 512 * KiB);
  const f = consumers.systemMalloc(size);
  if (f === 0n) fail(`system malloc(${size}) returned NULL`);
  if (shimByAddress.has(f)) fail(`system malloc returned ${hex(f)}, which the shim handed out and did not take back`);
  // The system allocator's block must not overlap any live allocation either.
  const outside = { kind: 'system malloc', id: nextId++, address: Number(f), size, extent: size };
  live.add(outside);
  const seed = outside.id >>> 0;
  consumers.fill(f, size, seed);
  expectEqual(consumers.usableSize(f), consumers.systemUsableSize(f), 'usable_size of a foreign pointer');
  const r = rng.next();
  if (r < 0.5 || shimFull()) {
    live.remove(outside);
    consumers.free(f);
    ledger.foreignFrees++;
    checkShimCounters('free of a foreign pointer');
  } else if (r < 0.55) {
    live.remove(outside);
    expectEqual(consumers.realloc(f, 0), 0n, 'realloc(foreign, 0)');
    ledger.foreignFrees++;
    checkShimCounters('realloc(foreign, 0)');
  } else {
    const n = rng.int(1, 2 * size);
    const q = consumers.realloc(f, n);
    live.remove(outside);
    ledger.allocations++;
    ledger.foreignFrees++;
    ledgerLive(n);
    addShim(q, n, 16, `realloc(foreign ${size} bytes, ${n})`, { seed, size: Math.min(size, n) });
    checkShimCounters('realloc of a foreign pointer');
  }
}

// Requests the C rules refuse: NULL, an errno, and no counter moves.
function opShimRefused(rng) {
  const cases = [
    ['aligned_alloc(3, 64)', () => consumers.alignedAlloc(3, 64), consumers.EINVAL],
    ['aligned_alloc(0, 64)', () => consumers.alignedAlloc(0, 64), consumers.EINVAL],
    ['aligned_alloc(48, 64)', () => consumers.alignedAlloc(48, 64), consumers.EINVAL],
    ['malloc(PTRDIFF_MAX + 1)', () => consumers.malloc(consumers.PTRDIFF_MAX + 1n), consumers.ENOMEM],
    ['malloc(SIZE_MAX)', () => consumers.malloc(consumers.SIZE_MAX), consumers.ENOMEM],
    ['calloc(2^33, 2^33)', () => consumers.calloc(2n ** 33n, 2n ** 33n), consumers.ENOMEM],
  ];
  const victim = shimLive.length > 0 ? rng.pick(shimLive) : undefined;
  if (victim) cases.push(['realloc(p, SIZE_MAX)', () => consumers.realloc(victim.p, consumers.SIZE_MAX), consumers.ENOMEM]);
  const [what, call, errno] = rng.pick(cases);
  expectEqual(call(), 0n, what);
  expectEqual(consumers.lastErrno(), errno, `errno after ${what}`);
  // A failed realloc leaves the block as it was.
  if (victim) checkShim(victim, `after ${what}`);
  checkShimCounters(what);
}

// ---- counters and checkpoints

function ownedBlocks() {
  let count = blocks.length;
  let bytes = blockBytes;
  let unsure = 0; // Blocks freed against the addMemory contract: held while views remain
  let unsureBytes = 0;
  for (const entry of [...arenas, ...pools]) {
    for (const r of entry.regions) {
      count++;
      bytes += r.size;
    }
    for (const a of entry.added) {
      if (a.block.freed) {
        unsure++;
        unsureBytes += a.size;
      }
    }
  }
  return { count, bytes, unsure, unsureBytes };
}

// blockStats against what this process holds; `dropped` Blocks may or may not
// have met their finalizer yet.
function checkBlockCounters() {
  const s = blockStats();
  const own = ownedBlocks();
  const lo = blockBase.liveBlocks + own.count - own.unsure;
  const hi = blockBase.liveBlocks + own.count + dropped;
  if (s.liveBlocks < lo || s.liveBlocks > hi) {
    fail(`blockStats().liveBlocks is ${s.liveBlocks}, expected ${lo === hi ? lo : `${lo} to ${hi}`}`);
  }
  const bytesLo = blockBase.liveBytes + own.bytes - own.unsureBytes;
  const bytesHi = blockBase.liveBytes + own.bytes + dropped * 64 * KiB;
  if (s.liveBytes < bytesLo || s.liveBytes > bytesHi) {
    fail(`blockStats().liveBytes is ${s.liveBytes}, expected ${bytesLo === bytesHi ? bytesLo : `${bytesLo} to ${bytesHi}`}`);
  }
}

function turn() {
  return new Promise((resolve) => setImmediate(resolve));
}

// Collects garbage and turns the event loop until the finalizers of dropped
// Blocks and detached Buffers have run (Node defers them to an immediate).
async function settle() {
  let previous = -1;
  for (let round = 0; round < 50; round++) {
    global.gc();
    await turn();
    await turn();
    const liveBlocks = blockStats().liveBlocks;
    if (liveBlocks === previous) break;
    previous = liveBlocks;
  }
  dropped = 0;
}

async function checkpoint() {
  stats.checkpoints++;
  for (const rec of live.items) check(rec, 'at a checkpoint');
  for (const entry of arenas) checkArena(entry);
  for (const entry of pools) checkPool(entry);
  await settle();
  checkBlockCounters();
  checkShimCounters('a checkpoint');
  const fromTable = consumers.stats();
  const fromJs = shim.stats();
  for (const key of Object.keys(fromJs)) expectEqual(fromTable[key], fromJs[key], `the table's stats().${key} against shim.stats()`);
}

// ---- the run

const OPS = [
  ['block.alloc', 10, opBlockAlloc],
  ['block.free', 6, (rng) => opBlockFree(rng, 'free')],
  ['block.dispose', 3, (rng) => opBlockFree(rng, 'dispose')],
  ['block.drop', 1, (rng) => opBlockFree(rng, 'drop')],
  ['block.stale', 2, opBlockStale],
  ['bad params', 0.3, opBadParams],
  ['arena.create', 0.15, opArenaCreate],
  ['arena.alloc', 14, opArenaAlloc],
  ['arena.reset', 0.12, opArenaReset],
  ['arena.addMemory', 0.15, opArenaAddMemory],
  ['arena.destroy', 0.08, opArenaDestroy],
  ['pool.create', 0.15, opPoolCreate],
  ['pool.alloc', 8, opPoolAlloc],
  ['pool.free', 7.5, (rng) => opPoolFree(rng)],
  ['pool.badFree', 1, opPoolBadFree],
  ['pool.addMemory', 0.1, opPoolAddMemory],
  ['pool.destroy', 0.08, opPoolDestroy],
  ['addMemory breach', 0.03, opBreachAddMemory],
  ['shim.malloc', 4, opShimMalloc],
  ['shim.calloc', 1.5, opShimCalloc],
  ['shim.aligned_alloc', 1.5, opShimAlignedAlloc],
  ['shim.realloc', 5, opShimRealloc],
  ['shim.free', 7, opShimFree],
  ['shim.usable_size', 1, opShimUsableSize],
  ['shim.invalid', 1, opShimInvalid],
  ['shim.foreign', 0.5, opShimForeign],
  ['shim.refused', 0.2, opShimRefused],
  ['checkpoint', 0.03, null],
];
const TOTAL_WEIGHT = OPS.reduce((s, o) => s + o[1], 0);

function pickOp(rng) {
  let r = rng.next() * TOTAL_WEIGHT;
  for (const op of OPS) {
    r -= op[1];
    if (r < 0) return op;
  }
  return OPS[OPS.length - 1];
}

async function finish() {
  for (const rec of shimLive) checkShim(rec, 'at the end');
  while (shimLive.length > 0) {
    const rec = removeShim(shimLive.length - 1);
    consumers.free(rec.p);
    ledger.frees++;
    ledgerLive(-rec.size);
  }
  checkShimCounters('freeing every shim block');
  while (arenas.length > 0) destroyArena(arenas.pop(), false);
  while (pools.length > 0) destroyPool(pools.pop(), false);
  while (blocks.length > 0) {
    const rec = blocks.pop();
    checkJs(rec, 'at the end');
    rec.block.free();
    live.remove(rec);
    blockBytes -= rec.size;
  }
  freedBlocks.length = 0;
  if (live.items.length !== 0) fail(`internal: ${live.items.length} allocations still tracked at the end`);
  await settle();
  const s = blockStats();
  expectEqual(s.liveBlocks, blockBase.liveBlocks, 'blockStats().liveBlocks at the end, against the baseline');
  expectEqual(s.liveBytes, blockBase.liveBytes, 'blockStats().liveBytes at the end, against the baseline');
  const t = shim.stats();
  expectEqual(t.liveBlocks, shimBase.liveBlocks, 'shim.stats().liveBlocks at the end, against the baseline');
  expectEqual(t.liveBytes, shimBase.liveBytes, 'shim.stats().liveBytes at the end, against the baseline');
  checkShimCounters('the end');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (typeof global.gc !== 'function') usage('run node with --expose-gc (npm run fuzz does)');
  const budget = args.ops !== undefined ? `${args.ops} ops` : `${args.seconds} s`;
  console.log(`fuzz: seed ${args.seed}, ${budget} (replay: npm run fuzz -- --seed ${args.seed}${args.ops !== undefined ? ` --ops ${args.ops}` : ''})`);
  if (consumers.setApi(shim.pointers().table) !== 1) fail('the consumer refused the shim\'s table');

  await settle();
  blockBase = blockStats();
  shimBase = shim.stats();
  const rng = new Rng(args.seed);
  const started = Date.now();
  const deadline = started + args.seconds * 1000;
  let op = 0;
  let name = 'setup';
  try {
    for (; ; op++) {
      if (args.ops !== undefined ? op >= args.ops : (op & 255) === 0 && Date.now() >= deadline) break;
      rng.at(op);
      const chosen = pickOp(rng);
      name = chosen[0];
      if (args.verbose) console.log(`op ${op}: ${name}`);
      stats.byOp[name] = (stats.byOp[name] ?? 0) + 1;
      if (chosen[2] === null) await checkpoint();
      else chosen[2](rng);
      // Let Node run the finalizers of detached Buffers now and then, as an application would.
      if ((op & 1023) === 1023) await turn();
    }
    name = 'the final check';
    await finish();
  } catch (e) {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.error(`\nfuzz: FAILED at op ${op} (${name}) of seed ${args.seed}, after ${seconds} s`);
    console.error(e instanceof FuzzFailure ? `  ${e.message}` : e);
    if (e instanceof FuzzFailure) console.error(e.stack.split('\n').slice(1, 4).join('\n'));
    console.error(`replay: npm run fuzz -- --seed ${args.seed} --ops ${op + 1}`);
    process.exit(1);
  }
  const seconds = (Date.now() - started) / 1000;
  const byOp = Object.entries(stats.byOp)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  console.log(
    `fuzz: seed ${args.seed}: ${op} ops in ${seconds.toFixed(1)} s (${Math.round(op / seconds)} ops/s), ` +
      `${stats.checkpoints} checkpoints, ${(stats.bytesChecked / MiB).toFixed(0)} MiB of contents checked, ` +
      `${stats.refused} refusals checked; everything freed and the counters back to their baseline`,
  );
  console.log(`  ${byOp}`);
}

main();
