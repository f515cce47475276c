'use strict';

// Where a block sampled by SYSALLOC_GUARD_SAMPLE spends its time: rounds of
// 1000 Block alloc+free of one size, sampling off then one in 1000 on; each op
// is timed by its index in the round (the sampled block always has the same
// index, so it stands out as the slowest), and the event-loop turn after each
// round is timed (the quarantine takes freed blocks then).
//   node --expose-gc bench/guard-sample-breakdown.js [SIZE] [ROUNDS]
const { Block, debug } = require('..');

const size = Number(process.argv[2] ?? 64);
const rounds = Number(process.argv[3] ?? 300);
const turn = () => new Promise((resolve) => setImmediate(resolve));
const now = () => process.hrtime.bigint();

(async () => {
  console.log(`node ${process.version}, ${size} B blocks, ${rounds} rounds of 1000`);
  for (const every of [0, 1000]) {
    debug.sample(every);
    const allocNs = new Float64Array(1000);
    const freeNs = new Float64Array(1000);
    const turns = [];
    const started = now();
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < 1000; i++) {
        const a = now();
        const block = Block.alloc(size, { zero: false });
        const m = now();
        block.buffer[0] = 1;
        block.free();
        allocNs[i] += Number(m - a);
        freeNs[i] += Number(now() - m);
      }
      const t = now();
      await turn();
      turns.push(Number(now() - t));
    }
    const perOp = Number(now() - started) / (rounds * 1000);
    const totals = Array.from(allocNs, (x, i) => x + freeNs[i]);
    const slowest = totals.indexOf(Math.max(...totals));
    const median = [...totals].sort((x, y) => x - y)[500] / rounds;
    turns.sort((x, y) => x - y);
    const us = (ns) => (ns / 1000).toFixed(1);
    console.log(
      `sample ${String(every).padStart(4)}: ${perOp.toFixed(0)} ns/op overall, median op ${median.toFixed(0)} ns; ` +
        `slowest index ${slowest}: alloc ${us(allocNs[slowest] / rounds)} us, free ${us(freeNs[slowest] / rounds)} us; ` +
        `turn median ${us(turns[rounds >> 1])} us`,
    );
  }
  debug.sample(0);
  debug.flushQuarantine();
})();
