'use strict';

// One case of bench/heap.js in this process: node --expose-gc bench/heap-case.js NAME OPS
// Prints one JSON line: ns/op of the loop warm, and again after a full GC.
//
// The alloc+free cases keep a ring of LIVE allocations of random sizes, log-uniform
// from 16 B to 64 KiB (the same sequence for every case); each op frees the oldest
// and allocates the next, writing its first and last byte.

const path = require('path');
const { Block, Heap, Pool, IdAllocator } = require(path.join(__dirname, '..'));

const LIVE = 1024;
const MIN = 16;
const MAX = 65536;

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

// Fixed-size cases (suffix -4k) allocate 4 KiB every time: where a Pool fits.
const FIXED = 4096;

function sizes(count, fixed) {
  if (fixed) return new Int32Array(count).fill(FIXED);
  const next = random32(17);
  const out = new Int32Array(count);
  const span = Math.log2(MAX / MIN);
  for (let i = 0; i < count; i++) out[i] = Math.min(MAX, Math.floor(MIN * 2 ** (next() * span)));
  return out;
}

// Each maker returns { alloc(size) -> handle, free(handle) }.
const MAKERS = {
  'heap-tlsf': () => heapOps({ strategy: 'tlsf' }),
  'heap-buddy': () => heapOps({ strategy: 'buddy' }),
  'heap-tlsf-checked': () => heapOps({ strategy: 'tlsf', checked: true }),
  'block': () => ({ alloc: (n) => Block.alloc(n, { zero: false, align: 16 }), free: (b) => b.free(), buf: (b) => b.buffer }),
  'allocUnsafe': () => ({ alloc: (n) => Buffer.allocUnsafe(n), free: () => {}, buf: (b) => b }),
  'pool': () => {
    // Every size fits one 64 KiB slot: a Pool is the wrong tool for mixed sizes, and this shows its cost.
    const pool = new Pool({ slotSize: MAX, slots: LIVE + 1 });
    return { alloc: (n) => pool.alloc(), free: (b) => pool.free(b), buf: (b) => b };
  },
  'heap-tlsf-4k': () => heapOps({ strategy: 'tlsf' }),
  'heap-buddy-4k': () => heapOps({ strategy: 'buddy' }),
  'pool-4k': () => {
    const pool = new Pool({ slotSize: FIXED, slots: LIVE + 1 });
    return { alloc: () => pool.alloc(), free: (b) => pool.free(b), buf: (b) => b };
  },
  'block-4k': () => ({ alloc: (n) => Block.alloc(n, { zero: false, align: 16 }), free: (b) => b.free(), buf: (b) => b.buffer }),
  'allocUnsafe-4k': () => ({ alloc: (n) => Buffer.allocUnsafe(n), free: () => {}, buf: (b) => b }),
};

function heapOps(options) {
  const heap = new Heap({ capacity: 64 << 20, ...options });
  return { alloc: (n) => heap.alloc(n), free: (b) => heap.free(b), buf: (b) => b };
}

function allocFree(name, ops) {
  const { alloc, free, buf } = MAKERS[name]();
  const seq = sizes(8192, name.endsWith('-4k'));
  const ring = new Array(LIVE);
  for (let i = 0; i < LIVE; i++) ring[i] = alloc(seq[i]);
  let cursor = 0;
  const loop = (n) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const j = cursor & (LIVE - 1);
      free(ring[j]);
      const size = seq[cursor & 8191];
      const h = alloc(size);
      const b = buf(h);
      b[0] = 1;
      b[size - 1] = 2;
      ring[j] = h;
      cursor++;
    }
    return Number(process.hrtime.bigint() - start) / n;
  };
  loop(Math.min(ops, 20000)); // warm up: optimized code
  const warm = loop(ops);
  global.gc();
  const afterGc = loop(ops);
  return { warm, afterGc };
}

// IdAllocator against a naive byte-per-id scan from 0: 64 Ki ids, 90% taken at
// random, then each op frees a random taken id and allocates the lowest free one.
function naiveIds(size) {
  const map = new Uint8Array(size);
  let used = 0;
  return {
    allocId() {
      for (let i = 0; i < size; i++) if (map[i] === 0) { map[i] = 1; used++; return i; }
      throw new Error('full');
    },
    allocFixedId(id) { map[id] = 1; used++; },
    freeId(id) { map[id] = 0; used--; },
  };
}

function ids(name, ops) {
  const SIZE = 65536;
  const ids = name === 'ids-bitmap' ? new IdAllocator({ size: SIZE }) : naiveIds(SIZE);
  const next = random32(5);
  const taken = [];
  for (let i = 0; i < SIZE; i++) if (next() < 0.9) { ids.allocFixedId(i); taken.push(i); }
  const loop = (n) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const k = Math.floor(next() * taken.length);
      ids.freeId(taken[k]);
      taken[k] = ids.allocId();
    }
    return Number(process.hrtime.bigint() - start) / n;
  };
  loop(Math.min(ops, 2000));
  const warm = loop(ops);
  global.gc();
  const afterGc = loop(ops);
  return { warm, afterGc };
}

const [name, opsArg] = process.argv.slice(2);
const ops = Number(opsArg);
if (typeof global.gc !== 'function') throw new Error('run with --expose-gc');
const result = name.startsWith('ids-') ? ids(name, ops) : allocFree(name, ops);
process.stdout.write(`${JSON.stringify({ name, ops, ...result })}\n`);
