'use strict';

// Runs every (contender, size) case in a fresh child process, several rounds,
// and prints the median ns/op per case with ratio columns and the targets.
//
//   node bench/run.js                 full run (7 rounds)
//   node bench/run.js --quick         3 rounds, a fifth of the ops
//   node bench/run.js --runs=11       any number of rounds
//   node bench/run.js block alloc     only the cases named, or whose name contains a word given
//   node bench/run.js --size=4096     only these sizes (comma-separated bytes)
//   node bench/run.js --os-large      the plain C++ comparison of OS allocators (os-large.js)

const { spawnSync } = require('child_process');
const os = require('os');
const path = require('path');
const { SIZES, CASES } = require('./cases');

const CASE_SCRIPT = path.join(__dirname, 'case.js');
const CASE_TIMEOUT_MS = 120_000;

function usage(message) {
  process.stderr.write(`${message}\nusage: node bench/run.js [--quick] [--runs=N] [--size=BYTES[,BYTES...]] [case-name-part ...] | --os-large\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { quick: false, runs: undefined, sizes: undefined, filters: [], osLarge: false };
  for (const arg of argv) {
    if (arg === '--quick') options.quick = true;
    else if (arg === '--os-large') options.osLarge = true;
    else if (arg.startsWith('--runs=')) {
      options.runs = Number(arg.slice('--runs='.length));
      if (!Number.isSafeInteger(options.runs) || options.runs < 1) usage(`bad ${arg}`);
    } else if (arg.startsWith('--size=')) {
      options.sizes = arg.slice('--size='.length).split(',').map(Number);
      for (const size of options.sizes) {
        if (!SIZES.some((s) => s.size === size)) usage(`unknown size ${size}; known: ${SIZES.map((s) => s.size).join(', ')}`);
      }
    } else if (arg.startsWith('-')) usage(`unknown option ${arg}`);
    else options.filters.push(arg.toLowerCase());
  }
  if (options.runs === undefined) options.runs = options.quick ? 3 : 7;
  return options;
}

// A fixed-seed shuffle, so each round visits the cases in a different order
// (machine noise then falls on all contenders alike) and runs are repeatable.
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

// Median absolute deviation relative to the median: the run-to-run spread of a cell.
function relativeSpread(values) {
  const m = median(values);
  return median(values.map((v) => Math.abs(v - m))) / m;
}

function runCase(name, size, ops) {
  const args = ['--expose-gc', CASE_SCRIPT, name, String(size)];
  if (ops !== undefined) args.push(String(ops));
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: CASE_TIMEOUT_MS });
  const lines = (child.stdout || '').trim().split('\n').filter(Boolean);
  if (child.status !== 0 || lines.length === 0) {
    const why = child.error ? child.error.message : child.signal ? `killed by ${child.signal}` : `exit code ${child.status}`;
    const stderr = (child.stderr || '').trim().split('\n').slice(0, 6).join('\n    ');
    return { error: `${why}${stderr ? `\n    ${stderr}` : ''}` };
  }
  return JSON.parse(lines[lines.length - 1]);
}

function formatNs(ns) {
  if (ns < 1000) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1000).toFixed(ns < 1e4 ? 2 : 1)} us`;
  return `${(ns / 1e6).toFixed(2)} ms`;
}

function formatRatio(ratio) {
  if (ratio === undefined || !Number.isFinite(ratio)) return '-';
  return `${ratio < 0.1 ? ratio.toFixed(3) : ratio.toFixed(2)}x`;
}

function printTable(headings, rows) {
  const widths = headings.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
  console.log(line(headings));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(row));
}

const RATIOS = [
  { heading: 'z:false/unsafeSlow', numerator: 'block-nozero', denominator: 'allocUnsafeSlow' },
  { heading: 'z:true/alloc', numerator: 'block-zero', denominator: 'alloc' },
  { heading: 'z:true/aligned', numerator: 'block-zero', denominator: 'getAlignedBuffer' },
];

function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.osLarge) {
    const child = spawnSync(process.execPath, [path.join(__dirname, 'os-large.js')], { stdio: 'inherit' });
    process.exit(child.status === null ? 1 : child.status);
  }

  const sizes = SIZES.filter((s) => options.sizes === undefined || options.sizes.includes(s.size));
  // A word equal to a case name picks that case alone ("alloc" is not also allocUnsafeSlow).
  const matches = (c, f) =>
    CASES.some((other) => other.name.toLowerCase() === f) ? c.name.toLowerCase() === f : c.name.toLowerCase().includes(f) || c.column.toLowerCase().includes(f);
  const cases = CASES.filter((c) => options.filters.length === 0 || options.filters.some((f) => matches(c, f)));
  if (cases.length === 0) usage(`no case matches ${options.filters.join(', ')}; cases: ${CASES.map((c) => c.name).join(', ')}`);

  const cpus = os.cpus();
  console.log('sysalloc alloc+free benchmark');
  console.log(`Node ${process.version}, V8 ${process.versions.v8}, ${os.platform()} ${os.arch()}`);
  console.log(`CPU: ${cpus.length > 0 ? cpus[0].model : 'unknown'}, ${cpus.length} cores`);
  console.log(`Runs: ${options.runs} per case, each in a fresh process${options.quick ? ' (quick: a fifth of the ops)' : ''}`);
  console.log('');

  const pairs = [];
  for (const s of sizes) for (const c of cases) pairs.push({ size: s, spec: c });
  const samples = new Map(pairs.map((p) => [`${p.spec.name}@${p.size.size}`, []]));
  const rss = new Map(pairs.map((p) => [`${p.spec.name}@${p.size.size}`, []]));
  const blockNotes = new Map();
  const errors = [];

  const started = Date.now();
  for (let round = 0; round < options.runs; round++) {
    process.stderr.write(`round ${round + 1}/${options.runs} `);
    for (const { size, spec } of shuffled(pairs, round + 1)) {
      const ops = options.quick ? Math.max(size.batch, Math.floor(size.ops / 5)) : undefined;
      const result = runCase(spec.name, size.size, ops);
      const key = `${spec.name}@${size.size}`;
      if (result.error !== undefined) {
        errors.push(`${spec.name} ${size.label} (round ${round + 1}): ${result.error}`);
        process.stderr.write('x');
        continue;
      }
      samples.get(key).push(result.ns);
      rss.get(key).push(result.maxRssKiB);
      if (result.block !== undefined) blockNotes.set(key, { ...result.block, ops: result.ops });
      process.stderr.write('.');
    }
    process.stderr.write('\n');
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);

  const medianOf = (name, size) => {
    const values = samples.get(`${name}@${size}`);
    return values === undefined || values.length === 0 ? undefined : median(values);
  };

  const ratioColumns = RATIOS.filter((r) => cases.some((c) => c.name === r.numerator) && cases.some((c) => c.name === r.denominator));
  const headings = ['size (align)', ...cases.map((c) => c.column), ...ratioColumns.map((r) => r.heading)];
  const rows = sizes.map((s) => {
    const row = [`${s.label} (@${s.align})`];
    for (const c of cases) {
      const values = samples.get(`${c.name}@${s.size}`);
      row.push(values.length === 0 ? 'failed' : `${formatNs(median(values))} ±${(relativeSpread(values) * 100).toFixed(0)}%`);
    }
    for (const r of ratioColumns) {
      const num = medianOf(r.numerator, s.size);
      const den = medianOf(r.denominator, s.size);
      row.push(num === undefined || den === undefined ? '-' : formatRatio(num / den));
    }
    return row;
  });

  console.log('Median time per alloc+free op (allocate, write first and last byte, release), lower is better.');
  console.log('Block and getAlignedBuffer are asked for the alignment in brackets; the others take what they get.');
  console.log('± is the median absolute deviation across runs, relative to the median.');
  console.log('');
  printTable(headings, rows);
  console.log('');
  console.log('Ratios are median / median: Block z:false / allocUnsafeSlow (neither zeroed), Block z:true / Buffer.alloc');
  console.log('and Block z:true / getAlignedBuffer (all zeroed). Below 1.00x Block is faster.');
  console.log('');

  console.log('Peak RSS of the case process, MiB (median across runs):');
  printTable(
    ['size (align)', ...cases.map((c) => c.column)],
    sizes.map((s) => [
      `${s.label} (@${s.align})`,
      ...cases.map((c) => {
        const values = rss.get(`${c.name}@${s.size}`);
        return values.length === 0 ? '-' : (median(values) / 1024).toFixed(0);
      }),
    ]),
  );
  console.log('');

  if (blockNotes.size > 0) {
    console.log('Where Block memory came from during the timed ops (blockStats, last run of each case):');
    for (const s of sizes) {
      for (const c of cases) {
        const n = blockNotes.get(`${c.name}@${s.size}`);
        if (n === undefined) continue;
        const where = `${s.label} (@${s.align})`.padEnd(16);
        console.log(`  ${where} ${c.column.padEnd(13)}  ${n.source.padEnd(14)}  ${n.osAllocations} OS allocations, ${n.cacheHits} cache hits in ${n.ops} ops`);
      }
    }
    console.log('');
  }

  const targets = [];
  const target = (label, num, den, size, limit) => targets.push({ label, ratio: num !== undefined && den !== undefined ? num / den : undefined, limit, size });
  const at = (size) => sizes.some((s) => s.size === size);
  if (at(4096)) {
    target('Block z:false 4 KiB @4096 vs allocUnsafeSlow(4096)', medianOf('block-nozero', 4096), medianOf('allocUnsafeSlow', 4096), 4096, 1.0);
  }
  if (at(1 << 20)) {
    target('Block z:false 1 MiB @4096 vs allocUnsafeSlow(1 MiB)', medianOf('block-nozero', 1 << 20), medianOf('allocUnsafeSlow', 1 << 20), 1 << 20, 0.05);
  }
  for (const s of sizes) {
    target(`Block z:true ${s.label} @${s.align} vs getAlignedBuffer(${s.label}, ${s.align})`, medianOf('block-zero', s.size), medianOf('getAlignedBuffer', s.size), s.size, 0.7);
  }
  console.log('Targets (ratio of medians, Block / contender):');
  const labelWidth = Math.max(...targets.map((t) => t.label.length));
  for (const t of targets) {
    const verdict = t.ratio === undefined ? 'not measured' : t.ratio <= t.limit ? 'met' : 'NOT met';
    console.log(`  ${t.label.padEnd(labelWidth)}  target <= ${t.limit.toFixed(2)}x  measured ${formatRatio(t.ratio).padStart(6)}  ${verdict}`);
  }
  console.log('');
  console.log(`${pairs.length} cases x ${options.runs} runs in ${seconds} s`);

  if (errors.length > 0) {
    console.log('');
    console.log(`${errors.length} case run(s) failed:`);
    for (const e of errors) console.log(`  ${e}`);
    process.exitCode = 1;
  }
}

main();
