'use strict';

// The allocator family benchmark: each case in a fresh child process
// (bench/heap-case.js), several rounds in a shuffled order, medians printed
// with ratios; then the fragmentation of both Heap strategies on the same
// traces (bench/heap-frag.js).
//
//   node bench/heap.js                    7 rounds, 100k ops per case
//   node bench/heap.js --quick            3 rounds, 20k ops
//   node bench/heap.js --runs=5 --ops=50000

const { spawnSync } = require('child_process');
const os = require('os');
const path = require('path');

const quick = process.argv.includes('--quick');
const option = (name) => {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return undefined;
  const value = Number(arg.slice(name.length + 3));
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`bad ${arg}`);
  return value;
};
const ROUNDS = option('runs') ?? (quick ? 3 : 7);
const OPS = option('ops') ?? (quick ? 20000 : 100000);
const CASES = ['heap-tlsf', 'heap-buddy', 'heap-tlsf-checked', 'pool', 'block', 'allocUnsafe'];
const FIXED_CASES = ['heap-tlsf-4k', 'heap-buddy-4k', 'pool-4k', 'block-4k', 'allocUnsafe-4k'];
const ID_CASES = ['ids-bitmap', 'ids-naive'];

function child(script, args) {
  const run = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, script), ...args], { encoding: 'utf8', timeout: 300000 });
  if (run.status !== 0) throw new Error(`${script} ${args.join(' ')}: ${run.error?.message ?? `exit ${run.status}`}\n${run.stderr}`);
  return run.stdout.trim().split('\n').map((line) => JSON.parse(line));
}

function median(values) {
  const s = values.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function shuffled(items, round) {
  const out = items.slice();
  let seed = 0x9e3779b9 ^ round;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const ns = (v) => (v < 1000 ? `${v.toFixed(0)} ns` : `${(v / 1000).toFixed(2)} us`);
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;

function table(headings, rows) {
  const widths = headings.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
  console.log(line(headings));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(row));
}

function measure(cases) {
  const samples = new Map(cases.map((c) => [c, { warm: [], afterGc: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of shuffled(cases, round)) {
      const [r] = child('heap-case.js', [name, String(OPS)]);
      samples.get(name).warm.push(r.warm);
      samples.get(name).afterGc.push(r.afterGc);
    }
  }
  const out = new Map();
  for (const [name, s] of samples) out.set(name, { warm: median(s.warm), afterGc: median(s.afterGc) });
  return out;
}

const cpus = os.cpus();
console.log('sysalloc allocator family benchmark');
console.log(`Node ${process.version}, V8 ${process.versions.v8}, ${os.platform()} ${os.arch()}`);
console.log(`CPU: ${cpus.length > 0 ? cpus[0].model : 'unknown'}, ${cpus.length} cores; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`Medians of ${ROUNDS} rounds, each case in a fresh process, ${OPS} ops per loop`);
console.log('');

console.log('alloc+free of random sizes, log-uniform 16 B .. 64 KiB, 1024 live, first and last byte written');
console.log('("after gc": the same loop again after a full gc(), the state a long-running service is in)');
const m = measure(CASES);
const unsafe = m.get('allocUnsafe');
const block = m.get('block');
table(
  ['case', 'ns/op', 'after gc', '/allocUnsafe', '/Block', '/allocUnsafe after gc', '/Block after gc'],
  CASES.map((name) => {
    const r = m.get(name);
    return [name, ns(r.warm), ns(r.afterGc), ratio(r.warm, unsafe.warm), ratio(r.warm, block.warm), ratio(r.afterGc, unsafe.afterGc), ratio(r.afterGc, block.afterGc)];
  }),
);
console.log('(pool: one 64 KiB slot per allocation whatever its size; Block: an external Buffer per allocation; allocUnsafe: never freed, left to the GC)');
console.log('');

console.log('alloc+free of 4 KiB every time (where a Pool fits), 1024 live');
const f = measure(FIXED_CASES);
const pool4k = f.get('pool-4k');
const unsafe4k = f.get('allocUnsafe-4k');
table(
  ['case', 'ns/op', 'after gc', '/Pool', '/allocUnsafe', '/Pool after gc', '/allocUnsafe after gc'],
  FIXED_CASES.map((name) => {
    const r = f.get(name);
    return [name, ns(r.warm), ns(r.afterGc), ratio(r.warm, pool4k.warm), ratio(r.warm, unsafe4k.warm), ratio(r.afterGc, pool4k.afterGc), ratio(r.afterGc, unsafe4k.afterGc)];
  }),
);
console.log('');

console.log('IdAllocator against a naive byte-per-id scan: 64 Ki ids, 90% taken; free a random one, allocate the lowest free');
const ids = measure(ID_CASES);
const naive = ids.get('ids-naive');
table(
  ['case', 'ns/op', 'after gc', '/naive', '/naive after gc'],
  ID_CASES.map((name) => {
    const r = ids.get(name);
    return [name, ns(r.warm), ns(r.afterGc), ratio(r.warm, naive.warm), ratio(r.afterGc, naive.afterGc)];
  }),
);
console.log('');

console.log('Fragmentation: peak heap.used / peak live bytes requested, and peak footprint (highest byte reached) / peak live requested');
const frag = child('heap-frag.js', []);
const traces = [...new Set(frag.map((f) => f.trace))];
const cell = (trace, strategy, key) => frag.find((f) => f.trace === trace && f.strategy === strategy)[key].toFixed(3);
table(
  ['trace', 'tlsf used/req', 'buddy used/req', 'tlsf foot/req', 'buddy foot/req'],
  traces.map((t) => [t, cell(t, 'tlsf', 'usedOverRequested'), cell(t, 'buddy', 'usedOverRequested'), cell(t, 'tlsf', 'footprintOverRequested'), cell(t, 'buddy', 'footprintOverRequested')]),
);
console.log('Robson\'s lower bound for any non-moving allocator, sizes 16 B .. 64 KiB (n = 4096): footprint >= M * (1 + log2(n) / 2) = 7 M');
