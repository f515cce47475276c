'use strict';

// Failures, the content pattern of each allocation, and every live allocation
// of every kind by address (for overlap checks).

const { AllocError, MiB, consumers } = require('./env');
const { mix32 } = require('./rng');

class FuzzFailure extends Error {}

function fail(message) {
  throw new FuzzFailure(message);
}

function hex(n) {
  return `0x${n.toString(16)}`;
}

function expectEqual(actual, expected, what) {
  if (actual !== expected) fail(`${what}: got ${String(actual)}, expected ${String(expected)}`);
}

function expectCode(fn, code, what) {
  let result;
  try {
    result = fn();
  } catch (e) {
    if (e instanceof AllocError && e.code === code) return;
    fail(`${what}: expected AllocError ${code}, got ${e instanceof AllocError ? e.code : e}: ${e && e.message}`);
  }
  fail(`${what}: expected AllocError ${code}, but it returned ${String(result)}`);
}

// ---- contents: a pattern per allocation id

// Eleven bytes, a period no alignment or stride divides, so a block whose
// contents were shifted or swapped with another's reads wrong.
const PERIOD = 11;
const SCRATCH = Buffer.alloc(4 * MiB + PERIOD);
const ZEROS = Buffer.alloc(4 * MiB);

function patternOf(id) {
  const p = Buffer.allocUnsafe(PERIOD);
  let x = mix32(id + 0x51ed27);
  for (let i = 0; i < PERIOD; i++) {
    p[i] = x & 0xff;
    x = x >>> 8 || mix32(x + i + id);
  }
  return p;
}

function describe(rec) {
  return `${rec.kind} #${rec.id} [${hex(rec.address)}, +${rec.size})`;
}

function writeJs(rec) {
  rec.buf.fill(patternOf(rec.id));
}

function checkJs(rec, when) {
  const buf = rec.buf;
  if (buf.length !== rec.size) fail(`${describe(rec)} reads length ${buf.length} ${when}, expected ${rec.size}`);
  const expected = SCRATCH.subarray(0, rec.size).fill(patternOf(rec.id));
  if (!buf.equals(expected)) {
    let i = 0;
    while (buf[i] === expected[i]) i++;
    fail(`${describe(rec)}: byte ${i} reads ${buf[i]}, expected ${expected[i]} ${when}`);
  }
  stateModule.stats.bytesChecked += rec.size;
}

function checkShim(rec, when) {
  if (!consumers.check(rec.p, rec.size, rec.seed)) {
    fail(`${describe(rec)}: contents changed ${when}`);
  }
  stateModule.stats.bytesChecked += rec.size;
}

function check(rec, when) {
  if (rec.kind === 'shim') checkShim(rec, when);
  else checkJs(rec, when);
}

// ---- every live allocation of every kind, by address

class Intervals {
  constructor() {
    this.items = []; // sorted by address; all non-empty and disjoint
  }
  #find(address) {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.items[mid].address < address) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  add(rec) {
    const i = this.#find(rec.address);
    const before = this.items[i - 1];
    const after = this.items[i];
    if (before !== undefined && before.address + before.extent > rec.address) {
      fail(`${describe(rec)} overlaps the live ${describe(before)}`);
    }
    if (after !== undefined && rec.address + rec.extent > after.address) {
      fail(`${describe(rec)} overlaps the live ${describe(after)}`);
    }
    this.items.splice(i, 0, rec);
  }
  remove(rec) {
    const i = this.#find(rec.address);
    if (this.items[i] !== rec) fail(`internal: ${describe(rec)} is not in the live set`);
    this.items.splice(i, 1);
  }
}

Object.assign(module.exports, { FuzzFailure, Intervals, PERIOD, SCRATCH, ZEROS, check, checkJs, checkShim, describe, expectCode, expectEqual, fail, hex, patternOf, writeJs });

// Last: state.js needs Intervals from the exports above.
const stateModule = require('./state');
