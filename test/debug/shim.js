'use strict';
// Shim misuse from C: node test/debug/shim.js KIND, with or without
// SYSALLOC_DEBUG=1. Every call goes through the process's shim table from the
// testing addon's exported callers (test/faults/testing.cc:
// sysalloc_testing_shim_malloc, _realloc, _free), which the reports must name.
// Prints the shim's counters and debug.report().shim as JSON.
const path = require('path');
const bindings = require('bindings');
const { debug, shim } = require('../..');

const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, '..', 'faults') });
const t = addon.testing;
t.shimTable(shim.pointers().table);

const kind = process.argv[2];
if (kind === 'double-free') {
  const p = t.callerMalloc(100);
  t.callerFree(p);
  t.callerFree(p);
} else if (kind === 'realloc-freed') {
  const p = t.callerMalloc(200);
  t.callerFree(p);
  process.stdout.write(JSON.stringify({ realloc: String(t.callerRealloc(p, 400)) }) + '\n');
} else if (kind === 'interior') {
  const p = t.callerMalloc(64);
  t.callerFree(p + 32n);
  t.callerFree(p);
} else if (kind === 'foreign') {
  t.callerFree(t.systemMalloc(32));
} else if (kind === 'leak') {
  globalThis.kept = [t.callerMalloc(48), t.callerMalloc(48), t.callerRealloc(0n, 300)];
  const moved = t.callerMalloc(20);
  globalThis.kept.push(t.callerRealloc(moved, 5000));
} else if (kind === 'poison') {
  // A freed block holds the poison while held: its bytes, as C reads them.
  const p = t.callerMalloc(64);
  t.callerFree(p);
  const bytes = Array.from({ length: 64 }, (_, i) => t.peekByte(p, i));
  process.stdout.write(JSON.stringify({ poisoned: bytes.every((b) => b === 0xdd) }) + '\n');
} else if (kind === 'write-after-free') {
  // A write into a freed block, found when the block leaves the hold: 1,024
  // more frees push it out (debug mode only: without it the write would land
  // in the allocator's free memory).
  const p = t.callerMalloc(100);
  t.callerFree(p);
  t.pokeByte(p, 40);
  for (let i = 0; i < 1024; i++) t.callerFree(t.callerMalloc(32));
  process.stdout.write(JSON.stringify({ reached: 'after the evictions' }) + '\n');
} else {
  throw new Error(`unknown kind ${kind}`);
}
process.stdout.write(JSON.stringify({ stats: shim.stats(), report: debug.report().shim }) + '\n');
