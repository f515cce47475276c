'use strict';

// Counters against the ledger, and checkpoints.

Object.assign(module.exports, { ownedBlocks, checkBlockCounters, turn, settle, checkpoint });

const { checkArena } = require('./arena');
const { check, expectEqual, fail } = require('./checks');
const { KiB, blockStats, consumers, shim } = require('./env');
const { checkPool } = require('./pool');
const { checkShimCounters } = require('./shim');
const { arenas, blocks, live, pools, state, stats } = require('./state');

function ownedBlocks() {
  let count = blocks.length;
  let bytes = state.blockBytes;
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

// blockStats against what this process holds; `state.dropped` Blocks may or may not
// have met their finalizer yet.
function checkBlockCounters() {
  const s = blockStats();
  const own = ownedBlocks();
  const lo = state.blockBase.liveBlocks + own.count - own.unsure;
  const hi = state.blockBase.liveBlocks + own.count + state.dropped;
  if (s.liveBlocks < lo || s.liveBlocks > hi) {
    fail(`blockStats().liveBlocks is ${s.liveBlocks}, expected ${lo === hi ? lo : `${lo} to ${hi}`}`);
  }
  const bytesLo = state.blockBase.liveBytes + own.bytes - own.unsureBytes;
  const bytesHi = state.blockBase.liveBytes + own.bytes + state.dropped * 64 * KiB;
  if (s.liveBytes < bytesLo || s.liveBytes > bytesHi) {
    fail(`blockStats().liveBytes is ${s.liveBytes}, expected ${bytesLo === bytesHi ? bytesLo : `${bytesLo} to ${bytesHi}`}`);
  }
}

function turn() {
  return new Promise((resolve) => setImmediate(resolve));
}

// Collects garbage and turns the event loop until the finalizers of state.dropped
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
  state.dropped = 0;
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

