'use strict';

// The shim against glibc's malloc/realloc/free on the workloads of C libraries
// it is made for: zlib (a deflate and an inflate stream per 64 KiB message),
// SQLite (SQLITE_CONFIG_MALLOC; create, insert 10,000 rows, query, close) and a
// synthetic trace of mixed sizes; plus what recognising pointers costs.
//
//   node bench/shim.js [--quick] [--runs=N] [workload ...]     (npm run bench:shim)
//
// Compiles bench/shim-bench.cc and native/shim.cc (as a shared library, with
// node-gyp's Release flags, so the shim's thread-local access costs what it costs
// in the addon) into bench/.build/ whenever a source is newer than the binary.
// Needs g++, and zlib's and SQLite's headers (Debian: zlib1g-dev libsqlite3-dev).
// Every case runs in a fresh process, several rounds, the processes of all cases
// interleaved in a shuffled order; a cell is the median over runs.

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const BUILD = path.join(__dirname, '.build');
const LIB = path.join(BUILD, 'libsysalloc-shim.so');
const BIN = path.join(BUILD, 'shim-bench');
// The shim's translation units, then the headers they read (for staleness only).
const SHIM_UNITS = [
  ...fs.readdirSync(path.join(ROOT, 'native', 'shim')).filter((f) => f.endsWith('.cc')).map((f) => `native/shim/${f}`),
  'native/os_posix.cc',
].map((f) => path.join(ROOT, f));
const SHIM_SOURCES = [
  ...SHIM_UNITS,
  ...fs.readdirSync(path.join(ROOT, 'native', 'shim')).filter((f) => f.endsWith('.h')).map((f) => `native/shim/${f}`),
  'native/os.h', 'native/portability.h', 'native/released_cache.h', 'native/fault.h', 'native/include/sysalloc.h',
].map((f) => path.join(ROOT, f));
const BENCH_SOURCE = path.join(__dirname, 'shim-bench.cc');
const TARGET = 1.05;

const WORKLOADS = [
  { name: 'zlib', what: 'deflate + inflate, a stream each per 64 KiB message', unit: 'message', target: true },
  { name: 'sqlite', what: 'open, create + index, 10,000 inserts, 3 queries, 2,000 lookups, close', unit: 'round', target: true },
  { name: 'trace', what: '1M mixed malloc/calloc/realloc/free, 8 B to 4 MiB', unit: 'op', target: true },
  { name: 'free-foreign', what: 'free of a block glibc allocated (shim: recognised, handed to glibc)', unit: 'free', target: false },
  { name: 'usable-size', what: "usable_size of 100,000 own blocks in random order (finding the header, cold)", unit: 'call', target: false },
  { name: 'usable-size-hot', what: 'usable_size of 1,000 own blocks again and again (the instructions alone)', unit: 'call', target: false },
];

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const options = { runs: 7, rounds: 5, workloads: [] };
  for (const arg of argv) {
    if (arg === '--quick') {
      options.runs = 3;
      options.rounds = 3;
    } else if (arg.startsWith('--runs=')) {
      options.runs = Number(arg.slice('--runs='.length));
      if (!Number.isSafeInteger(options.runs) || options.runs < 1) fail(`bad ${arg}`);
    } else if (WORKLOADS.some((w) => w.name === arg)) {
      options.workloads.push(arg);
    } else {
      fail(`unknown argument ${arg}; usage: node bench/shim.js [--quick] [--runs=N] [${WORKLOADS.map((w) => w.name).join('|')} ...]`);
    }
  }
  if (options.workloads.length === 0) options.workloads = WORKLOADS.map((w) => w.name);
  return options;
}

function newer(sources, target) {
  if (!fs.existsSync(target)) return true;
  const built = fs.statSync(target).mtimeMs;
  return sources.some((s) => fs.statSync(s).mtimeMs > built);
}

function compile(args) {
  const cxx = process.env.CXX || 'g++';
  process.stderr.write(`${cxx} ${args.join(' ')}\n`);
  const result = spawnSync(cxx, args, { stdio: 'inherit' });
  if (result.status !== 0) {
    fail(`compiling failed${result.error ? `: ${result.error.message}` : ''}.\n` +
      'The benchmark needs g++ and the headers of zlib and SQLite (Debian: apt-get install g++ zlib1g-dev libsqlite3-dev).');
  }
}

function build() {
  fs.mkdirSync(BUILD, { recursive: true });
  // The addon's Release flags (node-gyp): -O3 -fPIC -fno-omit-frame-pointer, C++17.
  const flags = ['-O3', '-fPIC', '-fno-omit-frame-pointer', '-std=c++17', '-Wall', '-Wextra', '-pthread'];
  if (newer(SHIM_SOURCES, LIB)) {
    compile([...flags, '-shared', `-I${path.join(ROOT, 'native')}`, '-o', LIB, ...SHIM_UNITS]);
  }
  if (newer([BENCH_SOURCE, LIB, ...SHIM_SOURCES], BIN)) {
    compile([...flags, `-I${path.join(ROOT, 'native', 'include')}`, '-o', BIN, BENCH_SOURCE,
      `-L${BUILD}`, '-lsysalloc-shim', '-Wl,-rpath,$ORIGIN', '-lz', '-lsqlite3']);
  }
}

function run(args) {
  const result = spawnSync(BIN, args, { encoding: 'utf8', timeout: 300_000 });
  if (result.status !== 0) fail(`${BIN} ${args.join(' ')} failed: ${result.error ? result.error.message : result.stderr}`);
  return JSON.parse(result.stdout);
}

// A fixed-seed shuffle, so machine noise falls on both allocators alike and runs repeat.
function shuffled(items, seed) {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function median(values) {
  const sorted = values.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// Median absolute deviation relative to the median, in percent.
function spread(values) {
  const m = median(values);
  return (100 * median(values.map((v) => Math.abs(v - m)))) / m;
}

function formatNs(ns) {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} us`;
  return `${ns.toFixed(1)} ns`;
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  build();
  const versions = run(['--versions']);

  const cases = [];
  for (const workload of options.workloads) {
    for (const allocator of ['glibc', 'shim']) cases.push({ workload, allocator, results: [] });
  }
  for (let r = 0; r < options.runs; r++) {
    for (const c of shuffled(cases, 1000 + r)) {
      c.results.push(run([c.allocator, c.workload, String(options.rounds)]));
    }
  }

  const cell = (workload, allocator) => cases.find((c) => c.workload === workload && c.allocator === allocator);
  const rows = options.workloads.map((name) => {
    const w = WORKLOADS.find((x) => x.name === name);
    const g = cell(name, 'glibc').results.map((r) => r.nsPerOp);
    const s = cell(name, 'shim').results.map((r) => r.nsPerOp);
    const ratio = median(s) / median(g);
    return {
      w,
      ratio,
      cells: [
        name,
        w.what,
        `${formatNs(median(g))} ±${spread(g).toFixed(1)}%`,
        `${formatNs(median(s))} ±${spread(s).toFixed(1)}%`,
        `${ratio.toFixed(3)}x`,
        `${median(cell(name, 'glibc').results.map((r) => r.peakRssKiB / 1024)).toFixed(0)} / ${median(cell(name, 'shim').results.map((r) => r.peakRssKiB / 1024)).toFixed(0)}`,
      ],
    };
  });

  console.log('shim vs glibc malloc/realloc/free, called through function pointers in plain C++ (no Node)');
  console.log(`${os.cpus()[0].model}, ${os.cpus().length} cores, kernel ${os.release()}, glibc ${versions.glibc}, zlib ${versions.zlib}, SQLite ${versions.sqlite}`);
  console.log(`${options.runs} runs, each case in a fresh process (${options.rounds} timed rounds after a warm-up, median); cell = median over runs ± median absolute deviation`);
  console.log('time = the thread\'s CPU time (page faults included), so that other load on the machine does not fall on one case only');
  console.log('');
  const headings = ['workload', 'what', 'glibc per op', 'shim per op', 'shim/glibc', 'peak RSS MiB glibc / shim'];
  const widths = headings.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i].length)));
  const line = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(headings));
  for (const row of rows) console.log(line(row.cells));
  console.log('');
  for (const row of rows.filter((r) => r.w.target)) {
    console.log(`target: ${row.w.name} shim/glibc <= ${TARGET.toFixed(2)}x: ${row.ratio.toFixed(3)}x ${row.ratio <= TARGET ? 'met' : 'NOT met'}`);
  }
}

main();
