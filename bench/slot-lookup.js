'use strict';

// How a fast Pool can find a slot from the Buffer free() gets, three ways, in
// one process, side by side: steady state and the first 20,000 ops after a
// full gc(). Each way keeps the identity check (the very Buffer alloc returned).
//   brand:    a Uint8Array subclass with a #slot private field, `#slot in value`
//             (what Pool did before: its code is thrown away at every full GC)
//   weakmap:  a WeakMap from Buffer to slot
//   offset:   the slot from byteOffset, read through %TypedArray%.prototype's getter,
//             then `live[slot] === buf` (what Pool does now)
// Usage: node --expose-gc bench/slot-lookup.js

const SLOTS = 64;
const SIZE = 4096;
const STEADY_OPS = 1_000_000;
const AFTER_GC_OPS = 20_000;
const ROUNDS = 7;

const byteOffset = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'byteOffset').get;
const tag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;

class Branded extends Uint8Array {
  #slot;
  constructor(ab, offset, length, slot) {
    super(ab, offset, length);
    this.#slot = slot;
  }
  static slotOf(v) {
    return typeof v === 'object' && v !== null && #slot in v ? v.#slot : -1;
  }
}
class Plain extends Uint8Array {}

function makePool(kind) {
  const ab = new ArrayBuffer(SLOTS * SIZE);
  const live = new Array(SLOTS).fill(undefined);
  const free = new Uint32Array(SLOTS);
  for (let i = 0; i < SLOTS; i++) free[i] = SLOTS - 1 - i;
  let top = SLOTS;
  const slots = new WeakMap();
  const alloc = {
    brand() {
      const slot = free[--top];
      const buf = new Branded(ab, slot * SIZE, SIZE, slot);
      live[slot] = buf;
      return buf;
    },
    weakmap() {
      const slot = free[--top];
      const buf = new Plain(ab, slot * SIZE, SIZE);
      slots.set(buf, slot);
      live[slot] = buf;
      return buf;
    },
    offset() {
      const slot = free[--top];
      const buf = new Plain(ab, slot * SIZE, SIZE);
      live[slot] = buf;
      return buf;
    },
  }[kind];
  const release = {
    brand(buf) {
      const slot = Branded.slotOf(buf);
      if (slot < 0 || live[slot] !== buf) throw new Error('not a slot');
      live[slot] = undefined;
      free[top++] = slot;
    },
    weakmap(buf) {
      const slot = slots.get(buf);
      if (slot === undefined || live[slot] !== buf) throw new Error('not a slot');
      slots.delete(buf);
      live[slot] = undefined;
      free[top++] = slot;
    },
    offset(buf) {
      if (tag.call(buf) !== 'Uint8Array') throw new Error('not a slot');
      const slot = byteOffset.call(buf) / SIZE;
      if (slot >>> 0 !== slot || slot >= SLOTS || live[slot] !== buf) throw new Error('not a slot');
      live[slot] = undefined;
      free[top++] = slot;
    },
  }[kind];
  return { alloc, release };
}

function time(pool, ops) {
  const start = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < ops; i++) {
    const b = pool.alloc();
    b[0] = i;
    sink ^= b[SIZE - 1];
    pool.release(b);
  }
  return { ns: Number(process.hrtime.bigint() - start) / ops, sink };
}

const median = (v) => v.slice().sort((a, b) => a - b)[v.length >> 1];

function main() {
  if (typeof gc !== 'function') throw new Error('run with --expose-gc');
  const kinds = ['brand', 'weakmap', 'offset'];
  const pools = Object.fromEntries(kinds.map((k) => [k, makePool(k)]));
  const steady = Object.fromEntries(kinds.map((k) => [k, []]));
  const afterGc = Object.fromEntries(kinds.map((k) => [k, []]));
  for (const k of kinds) time(pools[k], STEADY_OPS); // warm up
  for (let round = 0; round < ROUNDS; round++) {
    for (const k of round % 2 ? kinds.slice().reverse() : kinds) {
      steady[k].push(time(pools[k], STEADY_OPS).ns);
      gc();
      afterGc[k].push(time(pools[k], AFTER_GC_OPS).ns);
    }
  }
  console.log(`Node ${process.version}: alloc + write + free of a ${SIZE}-byte slot, medians of ${ROUNDS} rounds`);
  console.log('lookup   | steady   | first 20,000 after gc() | after-gc/steady | steady/offset | after-gc/offset');
  for (const k of kinds) {
    const s = median(steady[k]);
    const g = median(afterGc[k]);
    const so = median(steady.offset);
    const go = median(afterGc.offset);
    console.log(
      `${k.padEnd(8)} | ${s.toFixed(1).padStart(5)} ns | ${g.toFixed(1).padStart(20)} ns | ${(g / s).toFixed(2).padStart(14)}x | ${(s / so).toFixed(2).padStart(12)}x | ${(g / go).toFixed(2).padStart(14)}x`,
    );
  }
}

main();
