'use strict';

// Fragmentation of Heap's two strategies on the same traces:
//   used/req  = peak heap.used / peak bytes requested and live (internal fragmentation),
//   foot/req  = peak footprint (the highest byte any allocation reached in the one
//               region) / peak bytes requested and live (internal + external).
// Prints one JSON line per (trace, strategy). node --expose-gc bench/heap-frag.js

const path = require('path');
const { Heap } = require(path.join(__dirname, '..'));

function random32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Meter {
  constructor(strategy, capacity) {
    this.heap = new Heap({ capacity, strategy });
    this.live = 0;
    this.peakLive = 0;
    this.peakUsed = 0;
    this.peakEnd = 0;
  }
  alloc(size) {
    const buf = this.heap.alloc(size);
    this.live += size;
    this.peakLive = Math.max(this.peakLive, this.live);
    this.peakUsed = Math.max(this.peakUsed, this.heap.used);
    this.peakEnd = Math.max(this.peakEnd, buf.byteOffset + this.extent(size));
    return buf;
  }
  free(buf) {
    this.live -= buf.length;
    this.heap.free(buf);
  }
  extent(size) {
    return this.heap.strategy === 'tlsf' ? Math.ceil(size / 16) * 16 : Math.max(16, 2 ** Math.ceil(Math.log2(size)));
  }
  result() {
    const r = { usedOverRequested: this.peakUsed / this.peakLive, footprintOverRequested: this.peakEnd / this.peakLive, peakLive: this.peakLive };
    this.heap.destroy();
    return r;
  }
}

const CAPACITY = 256 << 20;

const TRACES = {
  // The benchmark's workload: 1024 live allocations, log-uniform 16 B .. 64 KiB, oldest freed first.
  'random 16 B-64 KiB': (m) => {
    const next = random32(17);
    const ring = [];
    for (let i = 0; i < 200000; i++) {
      if (ring.length === 1024) m.free(ring.splice(Math.floor(next() * 1024), 1)[0]);
      ring.push(m.alloc(Math.floor(16 * 2 ** (next() * 12))));
    }
  },
  // Holes a request cannot use: 64 B blocks, every other one freed, then 128 B blocks.
  'holes 64 B then 128 B': (m) => {
    const small = [];
    for (let i = 0; i < 20000; i++) small.push(m.alloc(64));
    for (let i = 0; i < small.length; i += 2) m.free(small[i]);
    for (let i = 0; i < 10000; i++) m.alloc(128);
  },
  // Sizes just above a power of two: buddy's worst case for internal fragmentation.
  'power of two + 1': (m) => {
    const live = [];
    for (let i = 0; i < 4000; i++) live.push(m.alloc(2 ** (4 + (i % 10)) + 1));
  },
  // An adversary that reads addresses (after Robson): live bytes bounded by
  // M = 1 MiB, sizes doubling from 16 B to 64 KiB (n = 4096). Each step fills up
  // to M with the current size, then frees, in address order, every block whose
  // freeing leaves no free gap as large as the next, doubled, size: no later
  // request fits a hole, so each step must take new memory.
  'adversary doubling 16 B-64 KiB': (m) => {
    const M = 1 << 20;
    let live = [];
    for (let s = 16; s <= 65536; s *= 2) {
      while (m.live + s <= M) live.push(m.alloc(s));
      const next = 2 * s;
      live.sort((a, b) => a.byteOffset - b.byteOffset);
      const kept = [];
      let lastEnd = 0;
      for (let i = 0; i < live.length; i++) {
        const after = i + 1 < live.length ? live[i + 1].byteOffset : Infinity;
        if (after - lastEnd < next) m.free(live[i]);
        else {
          kept.push(live[i]);
          lastEnd = live[i].byteOffset + m.extent(live[i].length);
        }
      }
      live = kept;
    }
  },
};

for (const [trace, run] of Object.entries(TRACES)) {
  for (const strategy of ['tlsf', 'buddy']) {
    const m = new Meter(strategy, CAPACITY);
    run(m);
    process.stdout.write(`${JSON.stringify({ trace, strategy, ...m.result() })}\n`);
  }
}
