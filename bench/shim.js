'use strict';

// The shim against glibc's malloc/realloc/free, mimalloc and jemalloc on the
// workloads of C libraries it is made for: zlib (a deflate and an inflate stream
// per 64 KiB message), SQLite (SQLITE_CONFIG_MALLOC; create, insert 10,000 rows,
// query, close), synthetic traces of mixed sizes in one and four threads, blocks
// freed by other threads than the allocating ones; plus what recognising
// pointers costs.
//
//   node bench/shim.js [--quick] [--runs=N] [--json=FILE] [--allocators=a,b] [workload ...]
//                                                               (npm run bench:shim)
//
// mimalloc and jemalloc are Debian's libmimalloc2.0 and libjemalloc2, loaded
// with LD_PRELOAD into the same benchmark binary (its "system" allocator is then
// theirs; the binary reports which file serves malloc, and the run stops if it
// is not the one asked for). They are installed with apt-get when missing (as
// root; otherwise their columns are left out with a note).
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
  ...[
  ...fs.readdirSync(path.join(ROOT, 'native', 'shim')).filter((f) => f.endsWith('.h')).map((f) => `native/shim/${f}`),
  'native/os.h', 'native/portability.h', 'native/released_cache.h', 'native/fault.h', 'native/include/sysalloc.h',
  ].map((f) => path.join(ROOT, f)),
];
const BENCH_SOURCE = path.join(__dirname, 'shim-bench.cc');

const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const ALLOCATORS = [
  { name: 'glibc', mode: 'system' },
  { name: 'shim', mode: 'shim' },
  { name: 'mimalloc', mode: 'system', preload: 'libmimalloc.so.2', deb: 'libmimalloc2.0' },
  { name: 'jemalloc', mode: 'system', preload: 'libjemalloc.so.2', deb: 'libjemalloc2' },
];
// Targets (issue 13): the shim no slower than glibc on every workload with a
// target; on the mixed traces within 1.10x of mimalloc's time and 1.2x its peak RSS.
const TARGET_GLIBC = 1.0;
const TARGET_MIMALLOC = 1.1;
const TARGET_RSS = 1.2;

const WORKLOADS = [
  { name: 'zlib', what: 'deflate + inflate, a stream each per 64 KiB message', unit: 'message', target: true },
  { name: 'sqlite', what: 'open, create + index, 10,000 inserts, 3 queries, 2,000 lookups, close', unit: 'round', target: true },
  { name: 'trace', what: '1M mixed malloc/calloc/realloc/free, 8 B to 4 MiB', unit: 'op', target: true },
  { name: 'mixed', what: '1M malloc/calloc/realloc/free, 8 B-1 MiB log bands (90% < 2 KiB), 4,096 live, first 4 KiB written', unit: 'op', target: true, vsMimalloc: true },
  // mimalloc and jemalloc take 3-8 us per op here (12-30 s a process): only with --allocators naming them.
  { name: 'mixed-heavy', what: 'the same, one log curve 8 * 2^(17u^2) (69% < 2 KiB, ~180 MiB live)', unit: 'op', target: true, onlyNamed: true },
  { name: 'mixed-4t', what: "'mixed' in 4 threads, 250,000 ops and 4,096 slots each (process CPU time)", unit: 'op', target: true, vsMimalloc: true },
  { name: 'cross-thread', what: '2 threads malloc 8 B-64 KiB, 2 others free them (batches of 256; process CPU)', unit: 'malloc+free', target: true },
  { name: 'free-foreign', what: 'free of a block glibc allocated (shim: recognised, handed to glibc)', unit: 'free', target: false },
  { name: 'usable-size', what: "usable_size of 100,000 own blocks in random order (finding the header, cold)", unit: 'call', target: false },
  { name: 'usable-size-hot', what: 'usable_size of 1,000 own blocks again and again (the instructions alone)', unit: 'call', target: false },
];

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const options = { runs: 7, rounds: 5, workloads: [], json: null, allocators: ALLOCATORS.map((a) => a.name), named: false };
  for (const arg of argv) {
    if (arg === '--quick') {
      options.runs = 3;
      options.rounds = 3;
    } else if (arg.startsWith('--runs=')) {
      options.runs = Number(arg.slice('--runs='.length));
      if (!Number.isSafeInteger(options.runs) || options.runs < 1) fail(`bad ${arg}`);
    } else if (arg.startsWith('--json=')) {
      options.json = arg.slice('--json='.length);
    } else if (arg.startsWith('--allocators=')) {
      options.allocators = arg.slice('--allocators='.length).split(',');
      options.named = true;
      for (const a of options.allocators) if (!ALLOCATORS.some((x) => x.name === a)) fail(`unknown allocator ${a}`);
      if (!options.allocators.includes('shim')) options.allocators.push('shim');
      if (!options.allocators.includes('glibc')) options.allocators.unshift('glibc');
    } else if (WORKLOADS.some((w) => w.name === arg)) {
      options.workloads.push(arg);
    } else {
      fail(`unknown argument ${arg}; usage: node bench/shim.js [--quick] [--runs=N] [--json=FILE] [--allocators=glibc,shim,mimalloc,jemalloc] [${WORKLOADS.map((w) => w.name).join('|')} ...]`);
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

// Installs Debian's package for each preloaded allocator that is missing; returns
// the allocators that can run.
function available(names) {
  const wanted = ALLOCATORS.filter((a) => names.includes(a.name));
  const missing = wanted.filter((a) => a.preload && !fs.existsSync(path.join(LIBDIR, a.preload)));
  if (missing.length > 0) {
    const debs = missing.map((a) => a.deb);
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    if (root) {
      process.stderr.write(`installing ${debs.join(' ')}\n`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      let r = spawnSync('apt-get', ['install', '-y', '-qq', ...debs], { stdio: 'inherit', env });
      if (r.status !== 0) {
        spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
        r = spawnSync('apt-get', ['install', '-y', '-qq', ...debs], { stdio: 'inherit', env });
      }
    } else {
      process.stderr.write(`not root: cannot install ${debs.join(' ')}; apt-get install them for those columns\n`);
    }
  }
  return wanted.filter((a) => !a.preload || fs.existsSync(path.join(LIBDIR, a.preload)));
}

function envFor(allocator) {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  if (allocator.preload) env.LD_PRELOAD = path.join(LIBDIR, allocator.preload);
  return env;
}

function run(args, allocator = ALLOCATORS[0]) {
  const result = spawnSync(BIN, args, { encoding: 'utf8', timeout: 600_000, env: envFor(allocator) });
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
  const allocators = available(options.allocators);
  const versions = run(['--versions']);
  for (const a of allocators.filter((x) => x.preload)) {
    const v = run(['--versions'], a);
    if (!v.malloc.includes(a.preload.replace(/\.so.*$/, ''))) fail(`${a.name}: malloc is served by ${v.malloc}, not ${a.preload}`);
  }

  const cases = [];
  for (const workload of options.workloads) {
    const w = WORKLOADS.find((x) => x.name === workload);
    for (const allocator of allocators) {
      if (w.onlyNamed && allocator.preload && !options.named) continue;
      cases.push({ workload, allocator, results: [] });
    }
  }
  for (let r = 0; r < options.runs; r++) {
    for (const c of shuffled(cases, 1000 + r)) {
      c.results.push(run([c.allocator.mode, c.workload, String(options.rounds)], c.allocator));
    }
  }

  const cell = (workload, name) => cases.find((c) => c.workload === workload && c.allocator.name === name);
  const med = (workload, name, key) => {
    const c = cell(workload, name);
    return c ? median(c.results.map((r) => r[key])) : NaN;
  };
  const names = allocators.map((a) => a.name);
  const others = names.filter((n) => n !== 'shim');
  const rows = options.workloads.map((name) => {
    const w = WORKLOADS.find((x) => x.name === name);
    const ns = Object.fromEntries(names.map((n) => [n, med(name, n, 'nsPerOp')]));
    const spreads = Object.fromEntries(names.map((n) => [n, cell(name, n) ? spread(cell(name, n).results.map((r) => r.nsPerOp)) : NaN]));
    const rss = Object.fromEntries(names.map((n) => [n, med(name, n, 'peakRssKiB') / 1024]));
    const faults = Object.fromEntries(names.map((n) => [n, med(name, n, 'minorFaultsPerRound')]));
    const ratios = Object.fromEntries(others.map((n) => [n, ns.shim / ns[n]]));
    return {
      w,
      ns,
      rss,
      faults,
      ratios,
      cells: [
        name,
        ...names.map((n) => (Number.isNaN(ns[n]) ? '-' : `${formatNs(ns[n])} ±${spreads[n].toFixed(0)}%`)),
        ...others.map((n) => (Number.isNaN(ratios[n]) ? '-' : `${ratios[n].toFixed(2)}x`)),
        names.map((n) => (Number.isNaN(faults[n]) ? '-' : Math.round(faults[n]))).join(' / '),
        names.map((n) => (Number.isNaN(rss[n]) ? '-' : rss[n].toFixed(0))).join(' / '),
      ],
    };
  });

  console.log(`shim vs ${others.join(', ')}: malloc/realloc/free called through function pointers in plain C++ (no Node)`);
  console.log(`${os.cpus()[0].model}, ${os.cpus().length} cores, kernel ${os.release()}, glibc ${versions.glibc}, zlib ${versions.zlib}, SQLite ${versions.sqlite}; mimalloc and jemalloc: Debian's, LD_PRELOAD`);
  console.log(`${options.runs} runs, each case in a fresh process (${options.rounds} timed rounds after a warm-up, median); cell = median over runs ± median absolute deviation`);
  console.log("time = CPU time (the thread's; the process's for threaded workloads; page faults included), so that other load on the machine does not fall on one case only");
  console.log('');
  for (const row of rows) console.log(`${row.w.name}: ${row.w.what} (per ${row.w.unit})`);
  console.log('');
  const headings = ['workload', ...names.map((n) => `${n} per op`), ...others.map((n) => `shim/${n}`),
    `minor faults/round ${names.join('/')}`, `peak RSS MiB ${names.join('/')}`];
  const widths = headings.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i].length)));
  const line = (cells) => cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(headings));
  for (const row of rows) console.log(line(row.cells));
  console.log('');
  for (const row of rows.filter((r) => r.w.target)) {
    const g = row.ratios.glibc;
    console.log(`target: ${row.w.name} shim/glibc <= ${TARGET_GLIBC.toFixed(2)}x: ${g.toFixed(3)}x ${g <= TARGET_GLIBC ? 'met' : 'NOT met'}`);
    if (row.w.vsMimalloc && Number.isFinite(row.ratios.mimalloc)) {
      const m = row.ratios.mimalloc;
      const r = row.rss.shim / row.rss.mimalloc;
      console.log(`target: ${row.w.name} shim/mimalloc <= ${TARGET_MIMALLOC.toFixed(2)}x: ${m.toFixed(3)}x ${m <= TARGET_MIMALLOC ? 'met' : 'NOT met'}; ` +
        `peak RSS shim/mimalloc <= ${TARGET_RSS.toFixed(1)}x: ${r.toFixed(2)}x ${r <= TARGET_RSS ? 'met' : 'NOT met'}`);
    }
  }
  if (options.json) {
    const out = {
      machine: `${os.cpus()[0].model}, ${os.cpus().length} cores`,
      runs: options.runs,
      allocators: names,
      rows: rows.map((r) => ({ workload: r.w.name, unit: r.w.unit, nsPerOp: r.ns, peakRssMiB: r.rss, minorFaultsPerRound: r.faults, shimOver: r.ratios })),
    };
    fs.writeFileSync(options.json, `${JSON.stringify(out, null, 2)}\n`);
    process.stderr.write(`wrote ${options.json}\n`);
  }
}

main();
