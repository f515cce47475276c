'use strict';

// What SYSALLOC_GUARD_SAMPLE=N costs on Block alloc+free, side by side in one
// process: batches with sampling off and on (debug.sample(N) / debug.sample(0))
// alternate, so that both see the same machine load; each batch allocates,
// writes both ends, reads the last byte and frees, then the event loop turns.
// Prints the median ns per op of each and the median of the per-pair ratios.
//   node --expose-gc bench/guard-sample.js [--sample=N] [--pairs=N]
const { Block, debug } = require('..');

const args = process.argv.slice(2);
const option = (name, fallback) => Number((args.find((a) => a.startsWith(`--${name}=`)) ?? `=${fallback}`).split('=')[1]);
const SAMPLE = option('sample', 1000);
const PAIRS = option('pairs', 15);
const SIZES = [
  [64, 64, 50_000],
  [4096, 4096, 50_000],
  [1 << 20, 4096, 4_000],
];

const turn = () => new Promise((resolve) => setImmediate(resolve));
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

async function batch(size, align, ops) {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let done = 0; done < ops; done += 1000) {
    for (let i = 0; i < 1000; i++) {
      const b = Block.alloc(size, { align, zero: false });
      b.buffer[0] = i;
      b.buffer[size - 1] = i;
      sink ^= b.buffer[size - 1];
      b.free();
    }
    await turn();
  }
  return { ns: Number(process.hrtime.bigint() - start) / ops, sink };
}

(async () => {
  if (typeof gc !== 'function') throw new Error('run with --expose-gc');
  console.log(`node ${process.version}, ${require('os').cpus()[0].model}, SYSALLOC_GUARD_SAMPLE=${SAMPLE}, ${PAIRS} pairs of batches`);
  for (const [size, align, ops] of SIZES) {
    const off = [];
    const on = [];
    const ratios = [];
    await batch(size, align, ops); // warm-up
    for (let pair = 0; pair < PAIRS; pair++) {
      const order = pair % 2 === 0 ? [0, SAMPLE] : [SAMPLE, 0];
      const got = {};
      for (const every of order) {
        debug.sample(every);
        gc();
        await turn();
        got[every] = (await batch(size, align, ops)).ns;
      }
      debug.sample(0);
      off.push(got[0]);
      on.push(got[SAMPLE]);
      ratios.push(got[SAMPLE] / got[0]);
    }
    console.log(
      `${String(size).padStart(8)} B: off ${median(off).toFixed(0).padStart(7)} ns/op, sampled ${median(on).toFixed(0).padStart(7)} ns/op, ` +
        `ratio (median of pairs) ${median(ratios).toFixed(3)}, quarantine now ${debug.report().quarantine.blocks} blocks`,
    );
    debug.flushQuarantine();
  }
})();
