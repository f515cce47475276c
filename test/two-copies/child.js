'use strict';
// Run by test/two-copies.test.ts in a child node, so that a crash fails the test
// instead of killing jest. Loads several copies of the built addon (the same
// .node file copied to other paths: the dynamic loader opens each as a module
// of its own, as with two versions of sysalloc nested in node_modules), then
// allocates through one copy's table and frees, resizes and measures through
// another's, on the main thread and in workers that load copies of their own at
// the same moment (the process's first choice of a shim is made by racing
// threads). Prints one JSON line: what it saw.
//
//   node child.js ADDON CONSUMERS DIR

const fs = require('fs');
const path = require('path');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

function load(file) {
  const m = { exports: {} };
  process.dlopen(m, file);
  return m.exports;
}

// One round: block of each size from `from`, measured, grown, shrunk and freed
// through `to`; every step's result, for the parent to compare.
function cross(consumers, from, to, seed) {
  const out = [];
  for (const size of [1, 100, 5000, 200000, 3 << 20]) {
    consumers.setApi(from.shimPointers().table);
    const p = consumers.malloc(size);
    consumers.fill(p, size, seed);
    consumers.setApi(to.shimPointers().table);
    const usable = Number(consumers.usableSize(p));
    const q = consumers.realloc(p, size * 2 + 16);
    const kept = consumers.check(q, size, seed);
    const grown = Number(consumers.usableSize(q));
    consumers.setApi(from.shimPointers().table);
    const r = consumers.realloc(q, size);
    const shrunk = Number(consumers.usableSize(r));
    consumers.setApi(to.shimPointers().table);
    consumers.free(r);
    out.push({ size, usable, kept, grown, shrunk });
  }
  return out;
}

if (isMainThread) {
  const [addonFile, consumersFile, dir] = process.argv.slice(2);
  const files = ['a', 'b', 'c', 'd'].map((n) => path.join(dir, `sysalloc-${n}.node`));
  for (const f of files) fs.copyFileSync(addonFile, f);
  // First, two workers load copies c and d and ask for the shim while this
  // thread loads a and b and does the same: the process's first choice is made
  // by racing threads. Each worker then crosses blocks with copy a.
  const result = { workers: [] };
  const done = [];
  for (const file of files.slice(2)) {
    const w = new Worker(__filename, { workerData: { file, a: files[0], consumers: consumersFile } });
    done.push(
      new Promise((resolve, reject) => {
        w.on('message', (m) => {
          result.workers.push(m);
          resolve();
        });
        w.on('error', reject);
      }),
    );
  }
  const [a, b] = files.slice(0, 2).map(load);
  result.tables = [a, b].map((x) => String(x.shimPointers().table));
  result.pointers = [a, b].map((x) => JSON.stringify(x.shimPointers(), (k, v) => (typeof v === 'bigint' ? String(v) : v)));
  // The crosses here once the workers are done, so that the counters move by this thread's calls alone.
  Promise.all(done).then(
    () => {
      const consumers = load(consumersFile);
      const before = a.shimStats();
      result.crossAB = cross(consumers, a, b, 1);
      result.crossBA = cross(consumers, b, a, 2);
      const after = [a.shimStats(), b.shimStats()];
      result.statsAgree = JSON.stringify(after[0]) === JSON.stringify(after[1]);
      result.counted = {
        allocations: after[0].allocations - before.allocations,
        frees: after[0].frees - before.frees,
        reallocations: after[0].reallocations - before.reallocations,
        liveBlocks: after[0].liveBlocks - before.liveBlocks,
        foreignFrees: after[0].foreignFrees - before.foreignFrees,
        invalidFrees: after[0].invalidFrees - before.invalidFrees,
      };
      result.mainTable = String(a.shimPointers().table);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    },
    (e) => {
      process.stderr.write(`worker: ${e.stack}\n`);
      process.exit(1);
    },
  );
} else {
  const own = load(workerData.file);
  const table = String(own.shimPointers().table);
  const a = load(workerData.a);
  const consumers = load(workerData.consumers);
  parentPort.postMessage({ table, cross: [...cross(consumers, own, a, 3), ...cross(consumers, a, own, 4)] });
}
