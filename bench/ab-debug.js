'use strict';

// What the debug hooks cost, measured side by side in one run with bench/case.js
// (each case in its own process, rounds alternating):
//   - an older build against this one with debug mode off (the hooks on the
//     fast path: Block, Arena, Pool);
//   - this build with SYSALLOC_GUARD_SAMPLE=N (default 1000) against itself
//     without it (block alloc+free).
// Prints the median ns per op of each and the ratios.
//   node bench/ab-debug.js OLD_PACKAGE_DIR [--rounds=N] [--sample=N] [--only=old|sample]
// (OLD_PACKAGE_DIR: a built checkout, dist/ and build/Release, with its own bench/case.js)
const path = require('path');
const { spawnSync } = require('child_process');

const args = process.argv.slice(2);
const oldDir = args.find((a) => !a.startsWith('--'));
if (oldDir === undefined) throw new Error('usage: node bench/ab-debug.js OLD_PACKAGE_DIR [--rounds=N] [--sample=N]');
const option = (name, fallback) => Number((args.find((a) => a.startsWith(`--${name}=`)) ?? `=${fallback}`).split('=')[1]);
const ROUNDS = option('rounds', 7);
const SAMPLE = option('sample', 1000);
const newDir = path.join(__dirname, '..');
const only = (args.find((a) => a.startsWith('--only=')) ?? '').split('=')[1];

const clean = { ...process.env };
delete clean.SYSALLOC_DEBUG;
delete clean.SYSALLOC_GUARD_SAMPLE;

// [label, package dir, case, size, extra env]
const VARIANTS = [];
if (only !== 'sample') for (const [name, size] of [['block-nozero', 64], ['block-nozero', 4096], ['block-nozero', 1 << 20], ['pool-fast', 4096], ['pool-checked', 4096], ['arena', 4096]]) {
  VARIANTS.push({ group: `${name} ${size}: new / old, debug off`, side: 'old', dir: path.resolve(oldDir), name, size, env: {} });
  VARIANTS.push({ group: `${name} ${size}: new / old, debug off`, side: 'new', dir: newDir, name, size, env: {} });
}
if (only !== 'old') for (const size of [64, 4096, 1 << 20]) {
  const group = `block-nozero ${size}: SYSALLOC_GUARD_SAMPLE=${SAMPLE} / off`;
  VARIANTS.push({ group, side: 'old', dir: newDir, name: 'block-nozero', size, env: {} });
  VARIANTS.push({ group, side: 'new', dir: newDir, name: 'block-nozero', size, env: { SYSALLOC_GUARD_SAMPLE: String(SAMPLE) } });
}

function runCase(v) {
  const child = spawnSync(process.execPath, ['--expose-gc', path.join(v.dir, 'bench', 'case.js'), v.name, String(v.size), 'ends'], {
    encoding: 'utf8',
    env: { ...clean, ...v.env },
  });
  const lines = (child.stdout || '').trim().split('\n');
  if (child.status !== 0) throw new Error(`${v.group} ${v.side}: ${child.stderr}`);
  return JSON.parse(lines[lines.length - 1]).ns;
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const results = new Map();
for (let round = 0; round < ROUNDS; round++) {
  // Alternate the order each round so that neither side always runs first.
  const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
  for (const v of order) {
    const key = `${v.group}|${v.side}`;
    if (!results.has(key)) results.set(key, []);
    results.get(key).push(runCase(v));
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
}
console.log(`node ${process.version}, ${require('os').cpus()[0].model}, ${ROUNDS} rounds, median ns/op`);
for (const group of [...new Set(VARIANTS.map((v) => v.group))]) {
  const a = median(results.get(`${group}|old`));
  const b = median(results.get(`${group}|new`));
  console.log(`${group.padEnd(52)} ${a.toFixed(1).padStart(10)} ${b.toFixed(1).padStart(10)}  ratio ${(b / a).toFixed(3)}`);
}
