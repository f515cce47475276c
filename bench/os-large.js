'use strict';

// Compiles os-large.cc with g++ -O2 into bench/.build/ (when the source is newer
// than the binary) and runs each of its cases in a fresh process, several
// rounds interleaved, printing the median us/op per case.
//
//   node bench/os-large.js [--rounds=N]      (also: node bench/run.js --os-large)

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const SOURCE = path.join(__dirname, 'os-large.cc');
const BUILD_DIR = path.join(__dirname, '.build');
const BINARY = path.join(BUILD_DIR, 'os-large');

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

function build() {
  const stale = !fs.existsSync(BINARY) || fs.statSync(BINARY).mtimeMs < fs.statSync(SOURCE).mtimeMs;
  if (!stale) return;
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const cxx = process.env.CXX || 'g++';
  const args = ['-O2', '-std=c++17', '-Wall', '-Wextra', '-o', BINARY, SOURCE];
  process.stderr.write(`${cxx} ${args.join(' ')}\n`);
  const result = spawnSync(cxx, args, { stdio: 'inherit' });
  if (result.status !== 0) fail(`compiling ${SOURCE} failed${result.error ? `: ${result.error.message}` : ''}`);
}

function run(args) {
  const result = spawnSync(BINARY, args, { encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) fail(`${BINARY} ${args.join(' ')} failed: ${result.error ? result.error.message : result.stderr}`);
  return result.stdout;
}

function median(values) {
  const sorted = values.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function readThp() {
  try {
    return fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function main() {
  let rounds = 3;
  for (const arg of process.argv.slice(2)) {
    if (arg.startsWith('--rounds=')) rounds = Number(arg.slice('--rounds='.length));
    else fail(`unknown argument ${arg}; usage: node bench/os-large.js [--rounds=N]`);
  }
  if (!Number.isSafeInteger(rounds) || rounds < 1) fail('--rounds must be a positive integer');

  build();
  const listing = run(['--list']).trim().split('\n').map((line) => line.split('\t'));
  const facts = Object.fromEntries(listing.filter(([name]) => name.startsWith('#')).map(([k, v]) => [k.slice(1), v]));
  const cases = listing.filter(([name]) => !name.startsWith('#')).map(([name, what, via]) => ({ name, what, viaMalloc: via === 'malloc', results: [] }));

  for (let round = 0; round < rounds; round++) {
    for (const c of cases) c.results.push(JSON.parse(run([c.name])));
  }

  console.log('os-large: one 1 MiB block per op, one byte written in every 4 KiB page, then released');
  console.log(`plain C++ (g++ -O2), glibc ${facts.glibc}, page ${facts.page} B, ${os.cpus()[0].model}, kernel ${os.release()}`);
  console.log(`transparent huge pages: ${readThp()}`);
  console.log(`${rounds} rounds, each case in a fresh process: the first op alone, then 9 batches of 200 ops`);
  console.log('(steady = median over rounds of the median batch; first = median over rounds of the first op)');
  console.log('');
  const rows = cases.map((c) => [
    c.name,
    c.what,
    `${median(c.results.map((r) => r.firstUs)).toFixed(1)} us`,
    `${median(c.results.map((r) => r.medianUs)).toFixed(2)} us`,
    c.viaMalloc ? `${c.results.map((r) => r.glibcMmapped).join('/')} of ${c.results[0].ops}` : '-',
  ]);
  const headings = ['case', 'what', 'first op', 'steady us/op', 'ops glibc mmapped (per round)'];
  const widths = headings.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  console.log(line(headings));
  for (const row of rows) console.log(line(row));
}

main();
