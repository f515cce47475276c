'use strict';

// External memory against runtime memory (README "Runtimes without external
// buffers") in one process, alternating rounds: the testing addon of
// test/faults switches one environment between the two (testing.runtimeMemory).
// Cases: Block.alloc + free, an Arena's reset + refill of its used chunks, a
// checked Pool's alloc + free. Prints the median time per op and runtime/external.
//   npm run build:ts && npm run build:faults && node --expose-gc bench/runtime-memory.js
const path = require('path');

const addon = require('bindings')({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, '..', 'test', 'faults') });
const Module = require('module');
const load = Module._load;
Module._load = function (request, ...rest) {
  return request === 'bindings' ? () => addon : load.call(this, request, ...rest);
};
const lib = require('..');
Module._load = load;

if (addon.sourceFor(4096, 4096) === 'runtime') throw new Error('bench/runtime-memory.js needs the ordinary build (external memory)');
const ROUNDS = 7;

const CASES = [
  ['Block.alloc + free, 4 KiB', 20000, () => () => lib.Block.alloc(4096).free()],
  ['Block.alloc + free, 64 KiB', 5000, () => () => lib.Block.alloc(65536).free()],
  [
    'Arena reset + 16 allocs of 256 B (one 64 KiB chunk)',
    5000,
    () => {
      const arena = new lib.Arena({ capacity: 65536 });
      return () => {
        for (let i = 0; i < 16; i++) arena.alloc(256)[0] = 1;
        arena.reset();
      };
    },
  ],
  [
    'Arena reset + 16 allocs of 256 B (one 1 MiB chunk)',
    2000,
    () => {
      const arena = new lib.Arena({ capacity: 1 << 20 });
      return () => {
        for (let i = 0; i < 16; i++) arena.alloc(256)[0] = 1;
        arena.reset();
      };
    },
  ],
  [
    'checked Pool alloc + free, 64 B',
    20000,
    () => {
      const pool = new lib.Pool({ slotSize: 64, slots: 64, checked: true });
      return () => pool.free(pool.alloc());
    },
  ],
];

function run(runtime, make, n) {
  addon.testing.runtimeMemory(runtime);
  const op = make();
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) op();
  return Number(process.hrtime.bigint() - t) / n;
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const us = (ns) => `${(ns / 1000).toFixed(2)} us`;

(async () => {
  for (const [name, n, make] of CASES) {
    const r = { external: [], runtime: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const k of round % 2 ? ['runtime', 'external'] : ['external', 'runtime']) {
        r[k].push(run(k === 'runtime', make, n));
        global.gc?.();
        await new Promise((resolve) => setImmediate(resolve)); // the quarantine drains, finalizers run
      }
    }
    const e = median(r.external);
    const m = median(r.runtime);
    console.log(`${name}: external ${us(e)}, runtime ${us(m)} (${(m / e).toFixed(2)}x)`);
  }
  addon.testing.runtimeMemory(false);
})();
