'use strict';

// Shim operations, through the consumer addon (the function table, as C calls it).

Object.assign(module.exports, { shimSize, checkShimCounters, ledgerLive, addShim, removeShim, shimFull, opShimMalloc, opShimCalloc, opShimAlignedAlloc, opShimRealloc, opShimFree, opShimUsableSize, opShimInvalid, opShimForeign, opShimRefused });

const { checkShim, describe, expectEqual, fail, hex } = require('./checks');
const { KiB, MiB, consumers, shim } = require('./env');
const { LIMITS, ledger, live, remember, shimByAddress, shimLive, shimStale, state, takeAt } = require('./state');

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
    allocations: state.shimBase.allocations + ledger.allocations,
    reallocations: state.shimBase.reallocations + ledger.reallocations,
    frees: state.shimBase.frees + ledger.frees,
    liveBlocks: state.shimBase.liveBlocks + ledger.allocations - ledger.frees,
    liveBytes: state.shimBase.liveBytes + ledger.liveBytes,
    peakBytes: Math.max(state.shimBase.peakBytes, state.shimBase.liveBytes + ledger.peak),
    foreignFrees: state.shimBase.foreignFrees + ledger.foreignFrees,
    invalidFrees: state.shimBase.invalidFrees + ledger.invalidFrees,
  };
  for (const key of Object.keys(want)) {
    if (s[key] !== want[key]) fail(`shim.stats().${key} after ${what}: ${s[key]}, expected ${want[key]}`);
  }
}

function ledgerLive(delta) {
  ledger.liveBytes += delta;
  state.shimBytes += delta;
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
  const rec = { kind: 'shim', id: state.nextId++, p, seed: 0, address: Number(p) - 16, size, extent: size + 16, align };
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
  return shimLive.length >= LIMITS.shim || state.shimBytes >= LIMITS.shimBytes;
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
  const outside = { kind: 'system malloc', id: state.nextId++, address: Number(f), size, extent: size };
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

