'use strict';

// Randomness: a fresh mulberry32 stream per operation.


function mix32(x) {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

class Rng {
  constructor(seed) {
    this.seed = seed >>> 0;
    this.state = 0;
  }
  /** Restarts the stream for operation `op`: what op does depends on (seed, op) alone. */
  at(op) {
    this.state = mix32(this.seed ^ mix32((op >>> 0) ^ mix32(Math.floor(op / 2 ** 32) + 0x9e3779b9)));
  }
  next() {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo, hi) {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pow2(loLog, hiLog) {
    return 2 ** this.int(loLog, hiLog);
  }
  chance(p) {
    return this.next() < p;
  }
  pick(items) {
    return items[Math.floor(this.next() * items.length)];
  }
}

Object.assign(module.exports, { Rng, mix32 });
