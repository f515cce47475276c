'use strict';

// Block.alloc(4096, { align: 4096, zero: false }) + free() against the Node-API
// floor, in one process, alternating, so machine noise falls on every loop alike:
//   block        the public API, one op = alloc, write the first and last byte, free
//   native       the same through the binding's own calls (native.blockAlloc,
//                native.blockFree), no facade: what an external buffer costs
//   unsafeSlow   Buffer.allocUnsafeSlow(4096) written the same way and kept alive
//                64 deep (a ring), so the collector frees it later, as a real user's would
// Each is timed in a steady loop (ops after a warm-up) and for the first OPS ops
// right after a full gc(), which is where optimized code lost at a collection shows.
// Ops run in batches of BATCH, each followed by an event-loop turn inside the
// timed region, as in case.js: Node runs an external Buffer's finalizer from an
// immediate, so a loop that never yields piles them up, which no program does.
// Time is the process's CPU time (user + system, every thread: the collector's
// and the compiler's helpers count), so that other load on the machine does not
// fall on one loop only.
//   node --expose-gc bench/block-floor.js [--old=PACKAGE_DIR] [--rounds=N] [--ops=N]
// --old adds the Block loop of another build (a built checkout: dist/ and build/Release).
const path = require('path');

function option(name, fallback) {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? fallback : arg.slice(name.length + 3);
}
if (typeof gc !== 'function') throw new Error('usage: node --expose-gc bench/block-floor.js [--old=DIR] [--rounds=N] [--ops=N]');
const ROUNDS = Number(option('rounds', 15));
const OPS = Number(option('ops', 20000));
const SIZE = 4096;
const BATCH = 1000;
const turn = () => new Promise(setImmediate);

// CPU time of the process, in nanoseconds.
function cpuNow() {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
}

function blockLoop(lib) {
  const { Block } = lib;
  // A fresh function per build, so each gets feedback and optimized code of its own.
  return new Function('Block', 'SIZE', `
    const options = { align: SIZE, zero: false };
    return function block(n) {
      let s = 0;
      for (let i = 0; i < n; i++) {
        const b = Block.alloc(SIZE, options);
        const bytes = b.buffer;
        bytes[0] = i;
        bytes[SIZE - 1] = i;
        s ^= bytes[SIZE - 1];
        b.free();
      }
      return s;
    };`)(Block, SIZE);
}

function nativeLoop(dir) {
  const { native } = require(path.join(dir, 'dist', 'native'));
  const { blockAlloc, blockFree } = native;
  const address = native.allocAddress;
  return function native_(n) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const bytes = blockAlloc(SIZE, SIZE, false);
      const at = address[0];
      bytes[0] = i;
      bytes[SIZE - 1] = i;
      s ^= bytes[SIZE - 1];
      blockFree(bytes, at);
    }
    return s;
  };
}

function unsafeSlowLoop() {
  const ring = new Array(64).fill(null);
  return function unsafeSlow(n) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const bytes = Buffer.allocUnsafeSlow(SIZE);
      bytes[0] = i;
      bytes[SIZE - 1] = i;
      s ^= bytes[SIZE - 1];
      ring[i & 63] = bytes;
    }
    return s;
  };
}

const here = path.join(__dirname, '..');
const loops = { block: blockLoop(require(here)), native: nativeLoop(here), unsafeSlow: unsafeSlowLoop() };
const old = option('old', undefined);
if (old !== undefined) loops['old block'] = blockLoop(require(path.resolve(old)));

// ns per op over n ops in batches, the turns included; and the sink.
async function timed(loop, n) {
  let sink = 0;
  const t = cpuNow();
  for (let done = 0; done < n; done += BATCH) {
    sink ^= loop(Math.min(BATCH, n - done));
    await turn();
  }
  return [(cpuNow() - t) / n, sink];
}

async function main() {
  let sink = 0;
  for (const loop of Object.values(loops)) sink ^= (await timed(loop, 100000))[1];
  const steady = {};
  const after = {};
  for (const k of Object.keys(loops)) {
    steady[k] = [];
    after[k] = [];
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Every other round in reverse order: who runs after whom alternates.
    const keys = round % 2 === 0 ? Object.keys(loops) : Object.keys(loops).reverse();
    for (const k of keys) {
      const [ns, s] = await timed(loops[k], 10 * OPS);
      steady[k].push(ns);
      gc();
      const [first, s2] = await timed(loops[k], OPS);
      after[k].push(first);
      sink ^= s ^ s2;
    }
  }
  report(steady, after);
  if (sink === 0.5) console.log('');
}

function report(steady, after) {
  const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
  const fmt = (ns) => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} us` : `${ns.toFixed(0)} ns`);
  console.log(`node ${process.version}: ${SIZE}-byte alloc + write + release, process CPU time per op, median of ${ROUNDS} rounds per loop`);
  console.log(`steady: ${10 * OPS} ops after the warm-up; after gc: the first ${OPS} ops right after gc(); batches of ${BATCH}, each followed by a turn`);
  const rows = Object.keys(loops).map((k) => [k, fmt(med(steady[k])), fmt(med(after[k])),
    `${(med(steady[k]) / med(steady.unsafeSlow)).toFixed(2)}x`, `${(med(after[k]) / med(after.unsafeSlow)).toFixed(2)}x`,
    `${(med(after[k]) / med(steady[k])).toFixed(2)}x`]);
  const head = ['loop', 'steady', 'after gc', 'steady/unsafeSlow', 'after gc/unsafeSlow', 'gc/steady'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => (i === 0 ? c.padEnd(width[i]) : c.padStart(width[i]))).join('  '));
}

main();
