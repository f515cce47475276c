'use strict';

// Block operations.

Object.assign(module.exports, { blockSize, opBlockAlloc, opBlockFree, checkDetached, opBlockStale, opBadParams });

const { ZEROS, checkJs, expectCode, expectEqual, fail, hex, writeJs } = require('./checks');
const { checkBlockCounters } = require('./counters');
const { Arena, Block, DISPOSE, KiB, MiB, PAGE, Pool, addressOf, blockStats } = require('./env');
const { LIMITS, arenas, blocks, freedBlocks, live, pools, remember, state, takeAt } = require('./state');

function blockSize(rng) {
  const r = rng.next();
  if (r < 0.7) return rng.int(1, 4 * KiB);
  if (r < 0.95) return rng.int(1, 256 * KiB);
  return rng.int(1, 4 * MiB);
}

function opBlockAlloc(rng) {
  if (blocks.length >= LIMITS.blocks || state.blockBytes >= LIMITS.blockBytes) return opBlockFree(rng, 'free');
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
  const rec = { kind: 'block', id: state.nextId++, block, buf, address, size, extent: size };
  live.add(rec);
  writeJs(rec);
  blocks.push(rec);
  state.blockBytes += size;
  checkBlockCounters();
}

// how: 'free', 'dispose' or 'drop' (left to the finalizer).
function opBlockFree(rng, how) {
  if (blocks.length === 0) return opBlockAlloc(rng);
  const rec = takeAt(blocks, rng.int(0, blocks.length - 1));
  state.blockBytes -= rec.size;
  checkJs(rec, 'before it was freed');
  live.remove(rec);
  const { block, buf } = rec;
  if (how === 'drop') {
    // Only small ones, so memory waiting for the finalizer stays bounded.
    if (rec.size > 64 * KiB) how = 'free';
    else {
      state.dropped++;
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

