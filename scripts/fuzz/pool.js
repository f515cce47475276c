'use strict';

// Pool operations, and breaking the addMemory contract.

Object.assign(module.exports, { opPoolCreate, checkPool, opPoolAlloc, opPoolFree, opPoolBadFree, opPoolAddMemory, opPoolDestroy, destroyPool, opBreachAddMemory });

const { checkJs, describe, expectCode, expectEqual, fail, hex, writeJs } = require('./checks');
const { checkBlockCounters } = require('./counters');
const { AllocError, Block, DISPOSE, KiB, MiB, Pool, addressOf } = require('./env');
const { LIMITS, arenas, blocks, live, pools, remember, state, stats, takeAt } = require('./state');

function opPoolCreate(rng) {
  if (pools.length >= LIMITS.pools) return opPoolAlloc(rng);
  const slotSize = rng.chance(0.5) ? rng.int(1, 300) : rng.chance(0.8) ? rng.pow2(4, 12) : rng.int(1, 64 * KiB);
  const align = rng.chance(0.7) ? rng.pow2(0, 6) : rng.pow2(7, 13);
  const slots = rng.int(1, slotSize > 8 * KiB ? 32 : 200);
  const checked = rng.chance(0.5);
  const pool = new Pool({ slotSize, slots, align, checked });
  expectEqual(pool.slots, slots, 'Pool.slots of a new pool');
  expectEqual(pool.stride, Math.ceil(slotSize / align) * align, 'Pool.stride');
  pools.push({ id: state.nextId++, pool, checked, slotSize, align, live: [], stale: [], added: [], regions: pool.regions() });
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
  const rec = { kind: entry.checked ? 'checked pool' : 'fast pool', id: state.nextId++, buf, address, size: slotSize, extent: slotSize };
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

