'use strict';

// What the run holds and the ledger its counters are held to.

const { Intervals } = require('./checks');
const { MiB } = require('./env');

// The run's numbers that change (a shared object, so every part sees one value).
const state = {
  nextId: 1,
  blockBytes: 0,
  dropped: 0, // Blocks left to their finalizers since the last settle
  shimBytes: 0,
  shimBase: undefined,
  blockBase: undefined,
};

const live = new Intervals();
// refused: allocations refused (a full arena or pool, ...) and checked to be legitimate.
const stats = { byOp: Object.create(null), bytesChecked: 0, checkpoints: 0, refused: 0 };

const blocks = []; // user Blocks: { kind: 'block', id, block, buf, address, size, extent }
const freedBlocks = []; // Blocks freed or disposed, with a view made before, to probe after
const arenas = []; // { id, arena, grow, allocs: rec[], added: Added[] }
const pools = []; // { id, pool, checked, live: rec[], stale: Buffer[], added: Added[] }
// Added: { block, address, size } of a Block handed to addMemory.
const shimLive = []; // { kind: 'shim', id, p, seed, address, size, extent, align }
const shimByAddress = new Map(); // p (bigint) -> rec
const shimStale = []; // pointers freed, for double frees

// The shim's counters as they must be: moved exactly as the calls here move them.
const ledger = { allocations: 0, reallocations: 0, frees: 0, liveBytes: 0, foreignFrees: 0, invalidFrees: 0, peak: 0 };

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

Object.assign(module.exports, { LIMITS, arenas, blocks, freedBlocks, ledger, live, pools, remember, shimByAddress, shimLive, shimStale, state, stats, takeAt });
