'use strict';

// Page-level blocks, side by side in one process, rounds alternating the order:
//   1. a secure block (guard + lock + wipe + dontDump) allocated, one byte
//      written, freed, against sodium-native's sodium_malloc / sodium_free
//      (libsodium: guard pages, a canary, mlock, MADV_DONTDUMP, zeroed on free);
//   2. a 64 MiB block with and without huge pages: first touch (fill), a
//      sequential read, and random 4-byte reads over the whole block.
// Prints the median of each case and the ratios. Needs bench/'s devDependency
// sodium-native (npm ci in bench/) and the root package built.
//
//   node bench/secure.js [--rounds=N]

const path = require('path');
const { Block } = require(path.join(__dirname, '..'));

let sodium;
try {
  sodium = require(path.join(__dirname, 'node_modules', 'sodium-native'));
} catch (e) {
  process.stderr.write(`sodium-native cannot be loaded (${e.message}); run "npm ci" in ${__dirname} first.\n`);
  process.exit(1);
}

const rounds = Number((process.argv.find((a) => a.startsWith('--rounds=')) ?? '--rounds=7').split('=')[1]);
const MiB = 1 << 20;

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[s.length >> 1];
}

// Wall-clock and CPU (user + system, this process) ns per op: on a machine
// shared with other jobs the wall clock also counts the time spent waiting for a core.
function nsPerOp(ops, fn) {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  fn(ops);
  const wall = Number(process.hrtime.bigint() - start) / ops;
  const used = process.cpuUsage(cpu);
  return { wall, cpu: ((used.user + used.system) * 1000) / ops };
}

// ---- 1. secure alloc + free
const SECURE_SIZES = [32, 4096, 65536];
const OPS = 2000;
const secureCases = {
  'Block secure': (size) => (ops) => {
    for (let i = 0; i < ops; i++) {
      const b = Block.alloc(size, { secure: true });
      b.buffer[size - 1] = i;
      b.free();
    }
  },
  sodium_malloc: (size) => (ops) => {
    for (let i = 0; i < ops; i++) {
      const b = sodium.sodium_malloc(size);
      b[size - 1] = i;
      sodium.sodium_free(b);
    }
  },
};

async function runSecure() {
  console.log(`secure alloc + 1 write + free, ns/op (median of ${rounds} rounds of ${OPS} ops)`);
  console.log('size      Block secure  sodium_malloc  ratio Block/sodium   CPU: Block  sodium  ratio');
  for (const size of SECURE_SIZES) {
    const samples = { 'Block secure': [], sodium_malloc: [] };
    const names = Object.keys(samples);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        samples[name].push(nsPerOp(OPS, secureCases[name](size)));
        await new Promise((resolve) => setImmediate(resolve)); // the quarantine drains between rounds
      }
    }
    const a = median(samples['Block secure'].map((x) => x.wall));
    const b = median(samples.sodium_malloc.map((x) => x.wall));
    const ca = median(samples['Block secure'].map((x) => x.cpu));
    const cb = median(samples.sodium_malloc.map((x) => x.cpu));
    console.log(
      `${String(size).padEnd(9)} ${a.toFixed(0).padStart(12)}  ${b.toFixed(0).padStart(13)}  ${(a / b).toFixed(2).padStart(18)}` +
        `   ${ca.toFixed(0).padStart(10)} ${cb.toFixed(0).padStart(7)} ${(ca / cb).toFixed(2).padStart(6)}`,
    );
  }
}

// ---- 2. 64 MiB with and without huge pages
const BIG = 64 * MiB;
const RANDOM_READS = 1 << 22;
const indices = new Uint32Array(RANDOM_READS);
{
  let x = 0x9e3779b9;
  for (let i = 0; i < RANDOM_READS; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    indices[i] = (x >>> 0) % (BIG / 4);
  }
}

function measureBig(hugePages) {
  const t0 = process.hrtime.bigint();
  const block = Block.alloc(BIG, hugePages ? { hugePages: true } : undefined);
  const words = new Uint32Array(block.buffer.buffer, block.buffer.byteOffset, BIG / 4);
  words.fill(1);
  const t1 = process.hrtime.bigint();
  let sum = 0;
  for (let i = 0; i < words.length; i += 16) sum += words[i];
  const t2 = process.hrtime.bigint();
  for (let i = 0; i < RANDOM_READS; i++) sum += words[indices[i]];
  const t3 = process.hrtime.bigint();
  const got = block.hugePages;
  block.free();
  if (sum === 0) throw new Error('unreachable');
  return { alloc_fill: Number(t1 - t0) / 1e6, sequential: Number(t2 - t1) / 1e6, random: Number(t3 - t2) / 1e6, got };
}

async function runHuge() {
  console.log(`\n64 MiB block, ms (median of ${rounds} rounds): alloc + fill, a read every 64 bytes, ${RANDOM_READS} random 4-byte reads`);
  const samples = { huge: [], plain: [] };
  let granted = 0;
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? ['huge', 'plain'] : ['plain', 'huge'];
    for (const name of order) {
      const m = measureBig(name === 'huge');
      if (name === 'huge' && m.got) granted++;
      samples[name].push(m);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  console.log(`hugePages granted (block.hugePages) in ${granted} of ${rounds} rounds`);
  console.log('phase         hugePages    plain   ratio plain/huge');
  for (const phase of ['alloc_fill', 'sequential', 'random']) {
    const h = median(samples.huge.map((m) => m[phase]));
    const p = median(samples.plain.map((m) => m[phase]));
    console.log(`${phase.padEnd(12)} ${h.toFixed(2).padStart(10)} ${p.toFixed(2).padStart(8)} ${(p / h).toFixed(2).padStart(16)}`);
  }
}

(async () => {
  console.log(`node ${process.version}, ${process.platform}-${process.arch}, sodium-native ${require(path.join(__dirname, 'node_modules', 'sodium-native', 'package.json')).version}`);
  await runSecure();
  await runHuge();
})();
