'use strict';

// Arena operations.

Object.assign(module.exports, { opArenaCreate, arenaRequest, checkArena, opArenaAlloc, arenaReset, opArenaReset, opArenaAddMemory, opArenaDestroy, destroyArena });

const { checkJs, expectCode, expectEqual, fail, hex, writeJs } = require('./checks');
const { checkBlockCounters } = require('./counters');
const { AllocError, Arena, Block, DISPOSE, KiB, MiB, PAGE, addressOf } = require('./env');
const { LIMITS, arenas, live, pools, state, stats, takeAt } = require('./state');

function opArenaCreate(rng) {
  if (arenas.length >= LIMITS.arenas) return opArenaAlloc(rng);
  const capacity = rng.chance(0.5) ? rng.int(1, 64 * KiB) : rng.int(1, 1 * MiB);
  const options = { capacity, grow: rng.chance(0.5) };
  if (rng.chance(0.2)) options.align = rng.pow2(0, 16);
  const arena = new Arena(options);
  expectEqual(arena.capacity, capacity, 'Arena.capacity of a new arena');
  expectEqual(arena.used, 0, 'Arena.used of a new arena');
  expectEqual(arena.align, Math.max(PAGE, options.align ?? PAGE), 'Arena.align');
  arenas.push({ id: state.nextId++, arena, grow: options.grow, allocs: [], added: [], regions: arena.regions() });
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
  const rec = { kind: 'arena', id: state.nextId++, buf, address, size, extent: size };
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
    if (added === undefined || !added.block.freed) fail(`Arena.reset state.dropped the chunk at ${hex(Number(r.address))}, whose Block is live`);
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

