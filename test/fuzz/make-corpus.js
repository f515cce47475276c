#!/usr/bin/env node
// Writes the seed corpus of test/fuzz/shim_fuzzer.cc into test/fuzz/corpus/:
// small programs in its encoding (see LLVMFuzzerTestOneInput) that reach
// every operation, so the fuzzer starts from whole programs rather than from
// single bytes. Run it again after changing the encoding.
'use strict';

const fs = require('fs');
const path = require('path');

const OP = { malloc: 0, calloc: 1, realloc: 2, free: 3, aligned: 4, usable: 5, doubleFree: 6, interior: 7,
  foreign: 8, fault: 9, unfault: 10, checkAll: 11 };

// SizeFrom's encoding: below 128 one byte; below 2^16 three; near the largest
// size class (SYSALLOC_SMALL_MAX - 128 + b); or (1 + m) MiB + lo.
function size(n) {
  if (n < 128) return [n];
  if (n < 65536) return [128, n & 255, n >> 8];
  throw new Error(`no direct encoding for ${n}`);
}
const nearSmallMax = (b) => [232, b];
const mib = (m, lo = 0) => [248, m - 1, lo & 255, lo >> 8];

const seeds = {
  'malloc-every-kind': [
    OP.malloc, 0, ...size(0), OP.malloc, 1, ...size(1), OP.malloc, 2, ...size(16), OP.malloc, 3, ...size(100),
    OP.malloc, 4, ...size(129), OP.malloc, 5, ...size(4096), OP.malloc, 6, ...size(65535),
    OP.malloc, 7, ...nearSmallMax(128), OP.malloc, 8, ...nearSmallMax(129), OP.malloc, 9, ...mib(1),
    OP.malloc, 10, ...mib(5, 1000), OP.checkAll, 0,
    ...Array.from({ length: 11 }, (_, i) => [OP.usable, i, OP.free, i]).flat(),
  ],
  'calloc-after-dirty': [
    OP.malloc, 0, ...size(1000), OP.free, 0, OP.calloc, 0, ...size(1000), 4, OP.calloc, 1, ...mib(2), 3,
    OP.checkAll, 0, OP.free, 0, OP.free, 1,
  ],
  'realloc-chain': [
    OP.malloc, 0, ...size(10), OP.realloc, 0, ...size(200), OP.realloc, 0, ...size(30000),
    OP.realloc, 0, ...nearSmallMax(200), OP.realloc, 0, ...mib(3), OP.realloc, 0, ...mib(8, 77),
    OP.realloc, 0, ...mib(2), OP.realloc, 0, ...size(5000), OP.realloc, 0, ...size(0),
    OP.realloc, 1, ...size(50), OP.free, 1,
  ],
  'aligned': [
    OP.aligned, 0, 5, ...size(100), OP.aligned, 1, 12, ...size(5000), OP.aligned, 2, 20, ...size(100),
    OP.aligned, 3, 24, ...mib(5), OP.aligned, 4, 0x85, ...size(10), OP.realloc, 1, ...size(9000),
    OP.checkAll, 0, OP.free, 0, OP.free, 1, OP.free, 2, OP.free, 3,
  ],
  'refusals': [
    OP.fault, 0, 0x30, OP.malloc, 0, ...mib(6), OP.calloc, 1, ...mib(4), 2, OP.aligned, 2, 24, ...size(10),
    OP.unfault, 0, OP.malloc, 3, ...mib(5), OP.fault, 0, 0x00, OP.realloc, 3, ...mib(8),
    OP.fault, 0, 0x41, OP.realloc, 3, ...mib(8), OP.unfault, 0, OP.free, 3,
  ],
  'invalid-pointers': [
    OP.malloc, 0, ...size(100), OP.interior, 0, 16, 0, 1, OP.interior, 0, 1, 0, 0, OP.interior, 0, 40, 0, 1,
    OP.doubleFree, 0, OP.malloc, 1, ...mib(2), OP.interior, 1, 0, 1, 1, OP.doubleFree, 1,
    OP.aligned, 2, 9, ...size(700), OP.interior, 2, 32, 0, 1, OP.doubleFree, 2,
  ],
  'foreign': [
    OP.foreign, 0, 40, 1, OP.foreign, 1, 100, 0, ...size(300), OP.foreign, 2, 200, 0, ...mib(1),
    OP.checkAll, 0, OP.free, 1, OP.free, 2,
  ],
};

const dir = path.join(__dirname, 'corpus');
fs.mkdirSync(dir, { recursive: true });
for (const [name, bytes] of Object.entries(seeds)) {
  for (const b of bytes) if (!Number.isInteger(b) || b < 0 || b > 255) throw new Error(`${name}: bad byte ${b}`);
  fs.writeFileSync(path.join(dir, name), Buffer.from(bytes));
}
console.log(`${Object.keys(seeds).length} seeds in ${path.relative(process.cwd(), dir) || '.'}`);
