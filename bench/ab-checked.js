'use strict';

// Two builds of sysalloc in one process, alternating rounds, for the checked
// modes: a synchronous loop of alloc + free of one allocation (checked Pool of
// 64 slots, checked Heap, checked PageAllocator of one page) at 64 B and 4 KiB.
// Prints the median time per op of each build and new/old.
//   node --expose-gc bench/ab-checked.js OLD_PACKAGE_DIR [NEW_PACKAGE_DIR]
// (each directory a built checkout: dist/ and build/Release; NEW defaults to this one)
const path = require('path');
if (process.argv.length < 3) throw new Error('usage: node bench/ab-checked.js OLD_DIR [NEW_DIR]');
const libs = { old: require(path.resolve(process.argv[2])), new: require(path.resolve(process.argv[3] ?? path.join(__dirname, '..'))) };
const N = 20000;
const ROUNDS = 7;

const KINDS = {
  Pool: (lib, size) => {
    const p = new lib.Pool({ slotSize: size, slots: 64, align: size, checked: true });
    return { alloc: () => p.alloc(), free: (b) => p.free(b), destroy: () => p.destroy() };
  },
  Heap: (lib, size) => {
    const h = new lib.Heap({ capacity: 64 * size, checked: true });
    return { alloc: () => h.alloc(size), free: (b) => h.free(b), destroy: () => h.destroy() };
  },
  PageAllocator: (lib, size) => {
    const p = new lib.PageAllocator({ pages: 64, pageSize: size, checked: true });
    return { alloc: () => p.allocPages(1), free: (b) => p.freePages(b), destroy: () => p.destroy() };
  },
};

function run(lib, kind, size) {
  const a = KINDS[kind](lib, size);
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const b = a.alloc();
    b[0] = 1;
    b[size - 1] = 2;
    a.free(b);
  }
  const ns = Number(process.hrtime.bigint() - t) / N;
  a.destroy();
  return ns;
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const us = (ns) => `${(ns / 1000).toFixed(2)} us`;

(async () => {
  for (const kind of Object.keys(KINDS)) {
    for (const size of [64, 4096]) {
      const r = { old: [], new: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const k of round % 2 ? ['new', 'old'] : ['old', 'new']) {
          r[k].push(run(libs[k], kind, size));
          await new Promise((resolve) => setImmediate(resolve)); // let finalizers and the held memory go
        }
      }
      const o = median(r.old);
      const n = median(r.new);
      console.log(`checked ${kind} alloc+free ${size} B: old ${us(o)}, new ${us(n)} (${(n / o).toFixed(2)}x)`);
    }
  }
})();
