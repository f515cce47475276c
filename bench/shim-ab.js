'use strict';

// The shim of a git revision against the shim of the working tree, side by side
// in one run: both built as bench/shim.js builds the shim (a shared library
// with node-gyp's Release flags) under one benchmark binary, each case a fresh
// process, the two builds alternating in a shuffled order; prints the median
// time per operation of each and the ratio working tree / revision.
//
//   node bench/shim-ab.js REV [--runs=N] [--rounds=N] [workload ...]
//
// Workloads: those of bench/shim.js (default: trace mixed zlib free-foreign).
// Needs g++, zlib's and SQLite's headers, and git. Builds into bench/.build/ab/.

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const OUT = path.join(__dirname, '.build', 'ab');
const FLAGS = ['-O3', '-fPIC', '-fno-omit-frame-pointer', '-std=c++17', '-Wall', '-Wextra', '-pthread'];

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

function sh(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...options });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed:\n${r.stderr || (r.error && r.error.message)}`);
  return r.stdout;
}

// The shim's translation units under root: native/shim/*.cc and native/os_posix.cc.
function shimUnits(root) {
  const dir = path.join(root, 'native', 'shim');
  return [...fs.readdirSync(dir).filter((f) => f.endsWith('.cc')).map((f) => path.join(dir, f)),
    path.join(root, 'native', 'os_posix.cc')];
}

function buildSide(name, root) {
  const dir = path.join(OUT, name);
  fs.mkdirSync(dir, { recursive: true });
  sh('g++', [...FLAGS, '-shared', `-I${path.join(root, 'native')}`, '-o', path.join(dir, 'libsysalloc-shim.so'), ...shimUnits(root)]);
  sh('g++', [...FLAGS, `-I${path.join(ROOT, 'native', 'include')}`, '-o', path.join(dir, 'shim-bench'),
    path.join(__dirname, 'shim-bench.cc'), `-L${dir}`, '-lsysalloc-shim', '-Wl,-rpath,$ORIGIN', '-lz', '-lsqlite3']);
  return path.join(dir, 'shim-bench');
}

function median(values) {
  const s = values.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function main() {
  const args = process.argv.slice(2);
  const rev = args.find((a) => !a.startsWith('--'));
  if (rev === undefined) fail('usage: node bench/shim-ab.js REV [--runs=N] [--rounds=N] [workload ...]');
  let runs = 9;
  let rounds = 3;
  const workloads = [];
  for (const a of args.slice(args.indexOf(rev) + 1)) {
    if (a.startsWith('--runs=')) runs = Number(a.slice(7));
    else if (a.startsWith('--rounds=')) rounds = Number(a.slice(9));
    else workloads.push(a);
  }
  if (workloads.length === 0) workloads.push('trace', 'mixed', 'zlib', 'free-foreign');

  const base = path.join(OUT, 'src');
  fs.rmSync(base, { recursive: true, force: true });
  fs.mkdirSync(base, { recursive: true });
  const tar = spawnSync('git', ['-C', ROOT, 'archive', rev, 'native'], { maxBuffer: 1 << 28 });
  if (tar.status !== 0) fail(`git archive ${rev} failed: ${tar.stderr}`);
  sh('tar', ['-x', '-C', base], { input: tar.stdout, encoding: 'buffer' });
  const sides = [
    { name: rev, bin: buildSide('revision', base) },
    { name: 'working tree', bin: buildSide('tree', ROOT) },
  ];

  const results = new Map();
  for (let r = 0; r < runs; r++) {
    const order = [];
    for (const w of workloads) for (const s of sides) order.push([w, s]);
    // Alternate which side goes first in each run, so drift falls on both.
    if (r % 2) order.reverse();
    for (const [w, s] of order) {
      const out = JSON.parse(sh(s.bin, ['shim', w, String(rounds)]));
      const key = `${w}\u0000${s.name}`;
      if (!results.has(key)) results.set(key, []);
      results.get(key).push(out.nsPerOp);
    }
  }
  console.log(`shim: working tree / ${rev}, median ns per op over ${runs} runs of ${rounds} rounds`);
  console.log(['workload', rev, 'working tree', 'ratio'].map((c) => c.padEnd(16)).join(''));
  for (const w of workloads) {
    const before = median(results.get(`${w}\u0000${rev}`));
    const after = median(results.get(`${w}\u0000working tree`));
    console.log([w, before.toFixed(1), after.toFixed(1), (after / before).toFixed(3)].map((c) => String(c).padEnd(16)).join(''));
  }
}

main();
