'use strict';

// The run: the operation table, the loop, the final check.

Object.assign(module.exports, { pickOp, finish, main });

const { destroyArena, opArenaAddMemory, opArenaAlloc, opArenaCreate, opArenaDestroy, opArenaReset } = require('./arena');
const { parseArgs, usage } = require('./args');
const { opBadParams, opBlockAlloc, opBlockFree, opBlockStale } = require('./block');
const { FuzzFailure, checkJs, checkShim, expectEqual, fail } = require('./checks');
const { checkpoint, settle, turn } = require('./counters');
const { MiB, blockStats, consumers, shim } = require('./env');
const { destroyPool, opBreachAddMemory, opPoolAddMemory, opPoolAlloc, opPoolBadFree, opPoolCreate, opPoolDestroy, opPoolFree } = require('./pool');
const { Rng } = require('./rng');
const { checkShimCounters, ledgerLive, opShimAlignedAlloc, opShimCalloc, opShimForeign, opShimFree, opShimInvalid, opShimMalloc, opShimRealloc, opShimRefused, opShimUsableSize, removeShim } = require('./shim');
const { arenas, blocks, freedBlocks, ledger, live, pools, shimLive, state, stats } = require('./state');

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
    state.blockBytes -= rec.size;
  }
  freedBlocks.length = 0;
  if (live.items.length !== 0) fail(`internal: ${live.items.length} allocations still tracked at the end`);
  await settle();
  const s = blockStats();
  expectEqual(s.liveBlocks, state.blockBase.liveBlocks, 'blockStats().liveBlocks at the end, against the baseline');
  expectEqual(s.liveBytes, state.blockBase.liveBytes, 'blockStats().liveBytes at the end, against the baseline');
  const t = shim.stats();
  expectEqual(t.liveBlocks, state.shimBase.liveBlocks, 'shim.stats().liveBlocks at the end, against the baseline');
  expectEqual(t.liveBytes, state.shimBase.liveBytes, 'shim.stats().liveBytes at the end, against the baseline');
  checkShimCounters('the end');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (typeof global.gc !== 'function') usage('run node with --expose-gc (npm run fuzz does)');
  const budget = args.ops !== undefined ? `${args.ops} ops` : `${args.seconds} s`;
  console.log(`fuzz: seed ${args.seed}, ${budget} (replay: npm run fuzz -- --seed ${args.seed}${args.ops !== undefined ? ` --ops ${args.ops}` : ''})`);
  if (consumers.setApi(shim.pointers().table) !== 1) fail('the consumer refused the shim\'s table');

  await settle();
  state.blockBase = blockStats();
  state.shimBase = shim.stats();
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

