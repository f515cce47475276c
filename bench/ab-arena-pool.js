'use strict';

// Two builds of sysalloc in one process, alternating, so machine noise falls on
// both alike: Arena (alloc 4 KiB, reset when full) and fast Pool (alloc + free
// of a 4 KiB slot), steady state and the first 20,000 ops after a full gc().
//   node --expose-gc bench/ab-arena-pool.js OLD_PACKAGE_DIR [NEW_PACKAGE_DIR]
// (each directory a built checkout: dist/ and build/Release; NEW defaults to this one)
const path = require('path');
if (process.argv.length < 3 || typeof gc !== 'function') throw new Error('usage: node --expose-gc bench/ab-arena-pool.js OLD_DIR [NEW_DIR]');
const variants = { old: require(path.resolve(process.argv[2])), new: require(path.resolve(process.argv[3] ?? path.join(__dirname, '..'))) };
const make = (lib, kind) => new Function('lib', `
  const arena = new lib.Arena({ capacity: 1 << 20 });
  const pool = new lib.Pool({ slotSize: 4096, slots: 64, align: 4096 });
  return function run(n) {
    let s = 0; const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      ${kind === 'arena'
        ? "if (arena.available < 4096) arena.reset(); const b = arena.alloc(4096, 4096); b[0] = i; s ^= b[4095];"
        : "const b = pool.alloc(); b[0] = i; s ^= b[4095]; pool.free(b);"}
    }
    return Number(process.hrtime.bigint() - t) / n;
  };`)(lib);
const runs = {};
// One warm-up, then rounds; "steady" is 200,000 ops in a warm loop, "after gc" the first 20,000 right after gc().
for (const [name, lib] of Object.entries(variants)) for (const kind of ['arena', 'pool']) runs[`${name} ${kind}`] = make(lib, kind);
for (const r of Object.values(runs)) r(500000);
const steady = {}, after = {};
for (const k of Object.keys(runs)) { steady[k] = []; after[k] = []; }
for (let round = 0; round < 15; round++) {
  // Every other round in reverse order: who runs after whom (and pays for the other's garbage) alternates.
  const keys = round % 2 === 0 ? Object.keys(runs) : Object.keys(runs).reverse();
  for (const k of keys) { steady[k].push(runs[k](200000)); gc(); after[k].push(runs[k](20000)); }
}
const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
for (const kind of ['arena', 'pool']) {
  const b = `old ${kind}`, f = `new ${kind}`;
  console.log(`${kind}: steady old ${med(steady[b]).toFixed(1)} ns, new ${med(steady[f]).toFixed(1)} ns (${(med(steady[f]) / med(steady[b])).toFixed(2)}x); ` +
    `after gc old ${med(after[b]).toFixed(1)} ns, new ${med(after[f]).toFixed(1)} ns (${(med(after[f]) / med(after[b])).toFixed(2)}x)`);
}
