'use strict';

// Runs every (contender, size, touch mode) case in a fresh child process,
// several rounds, and prints the median ns/op per case with ratio columns and
// the targets. Before that it checks that the root package is built and
// installs bench/'s own dependencies if @ronomon/direct-io cannot be loaded.
//
//   node bench/run.js                 full run (7 rounds)
//   node bench/run.js --quick         3 rounds, a fifth of the ops
//   node bench/run.js --runs=11       any number of rounds
//   node bench/run.js block alloc     only the cases named, or whose name contains a word given
//   node bench/run.js --size=4096     only these sizes (comma-separated bytes)
//   node bench/run.js --touch=pages   only this touch mode (ends, pages; see cases.js)
//   node bench/run.js --os-large      the plain C++ comparison of OS allocators (os-large.js)
//   node bench/run.js --json=FILE     also write the targets' ratios as JSON (for bench/chart.js)

const { spawnSync } = require('child_process');
const os = require('os');
const path = require('path');
const { nodeAligns, SIZES, CASES, TOUCH_MODES, ARENA_CAPACITY, POOL_SLOTS, HELD, touchModes, runsAt, opsFor, MiB } = require('./cases');

const ROOT = path.join(__dirname, '..');
const CASE_SCRIPT = path.join(__dirname, 'case.js');
const CASE_TIMEOUT_MS = 120_000;

function usage(message) {
  process.stderr.write(`${message}\nusage: node bench/run.js [--quick] [--runs=N] [--json=FILE] [--size=BYTES[,BYTES...]] [--touch=ends|pages] [case-name-part ...] | --os-large\n`);
  process.exit(2);
}

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const options = { quick: false, runs: undefined, sizes: undefined, touches: TOUCH_MODES, filters: [], osLarge: false };
  for (const arg of argv) {
    if (arg === '--quick') options.quick = true;
    else if (arg === '--os-large') options.osLarge = true;
    else if (arg.startsWith('--json=')) options.json = arg.slice('--json='.length);
    else if (arg.startsWith('--runs=')) {
      options.runs = Number(arg.slice('--runs='.length));
      if (!Number.isSafeInteger(options.runs) || options.runs < 1) usage(`bad ${arg}`);
    } else if (arg.startsWith('--size=')) {
      options.sizes = arg.slice('--size='.length).split(',').map(Number);
      for (const size of options.sizes) {
        if (!SIZES.some((s) => s.size === size)) usage(`unknown size ${size}; known: ${SIZES.map((s) => s.size).join(', ')}`);
      }
    } else if (arg.startsWith('--touch=')) {
      options.touches = arg.slice('--touch='.length).split(',');
      for (const touch of options.touches) {
        if (!TOUCH_MODES.includes(touch)) usage(`unknown touch mode ${touch}; known: ${TOUCH_MODES.join(', ')}`);
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

function runCase(name, size, touch, ops) {
  const args = ['--expose-gc', CASE_SCRIPT, name, String(size), touch];
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

// Loads `request` the way case.js would (resolved from bench/), in a child so
// that a failed attempt leaves nothing behind in this process. Returns the
// first line of the error, or undefined when it loads.
function loadError(request) {
  // The first line alone may end in a colon before a list (bindings' "Tried:").
  const script = `try { require(${JSON.stringify(request)}); } catch (err) { process.stderr.write(String(err.message).split('\\n')[0].replace(/:$/, ' ...')); process.exit(1); }`;
  const child = spawnSync(process.execPath, ['-e', script], { cwd: __dirname, encoding: 'utf8' });
  if (child.status === 0) return undefined;
  return child.stderr || (child.error ? child.error.message : `exit code ${child.status}`);
}

// Every case process requires the root package; without the addon or dist/
// each one would fail the same way, so this says once what to do.
function checkRootBuilt() {
  const error = loadError(ROOT);
  if (error === undefined) return;
  fail(
    `sysalloc cannot be loaded from ${ROOT}: ${error}\n` +
      'Run "npm install" in the repository root first (it builds the addon and dist/), then run the benchmark again.',
  );
}

// getAlignedBuffer comes from bench/'s own package.json, which "npm install" at
// the root does not install; so a fresh clone gets it here, from the lockfile.
function ensureDirectIo() {
  if (loadError('@ronomon/direct-io') === undefined) return;
  const skip = 'To run without getAlignedBuffer: node bench/run.js block allocUnsafeSlow alloc arraybuffer';
  process.stderr.write(`@ronomon/direct-io cannot be loaded; running "npm ci" in ${__dirname} (node-gyp builds its binding)\n`);
  const windows = process.platform === 'win32';
  // stdout of this process is the report, so npm's output goes to stderr.
  const npm = spawnSync(windows ? 'npm.cmd' : 'npm', ['ci'], { cwd: __dirname, stdio: ['ignore', 2, 2], shell: windows });
  if (npm.status !== 0) {
    const why = npm.error ? npm.error.message : npm.signal ? `killed by ${npm.signal}` : `exit code ${npm.status}`;
    fail(`"npm ci" in ${__dirname} failed (${why}).\n${skip}`);
  }
  const error = loadError('@ronomon/direct-io');
  if (error === undefined) return;
  fail(
    `@ronomon/direct-io still cannot be loaded after "npm ci": ${error}\n` +
      'Its install script builds binding.node with node-gyp; see "Installing @ronomon/direct-io" in bench/README.md.\n' +
      skip,
  );
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
  { heading: 'z:false/held', numerator: 'block-nozero', denominator: 'allocUnsafeSlow-held' },
  { heading: 'z:true/alloc', numerator: 'block-zero', denominator: 'alloc' },
  { heading: 'z:true/aligned', numerator: 'block-zero', denominator: 'getAlignedBuffer' },
];

// The Arena and Pool table shows Block z:false (alloc+free) beside its own cases, for the ratios.
const ARENA_POOL_REFERENCE = 'block-nozero';
const ARENA_POOL_RATIOS = [
  { heading: 'Arena/unsafe', numerator: 'arena', denominator: 'allocUnsafe' },
  { heading: 'fast/unsafe', numerator: 'pool-fast', denominator: 'allocUnsafe' },
  { heading: 'fast/Block', numerator: 'pool-fast', denominator: 'block-nozero' },
  { heading: 'checked/unsafe', numerator: 'pool-checked', denominator: 'allocUnsafe' },
  { heading: 'checked/Block', numerator: 'pool-checked', denominator: 'block-nozero' },
];

const TOUCH_TITLES = {
  ends: 'first and last byte written',
  pages: 'one byte written per 4 KiB page (and the last byte)',
};

const keyOf = (name, size, touch) => `${name}@${size}/${touch}`;
const sizeLabel = (s) => `${s.label} (@${s.align})`;

// The after-GC tables: each case's first operations right after a full gc()
// (case.js measureAfterGc), side by side with Node's own allocators, with the
// same ratios as the steady-state tables and each case's after-GC / steady ratio.
function printAfterGc({ cases, groups, samples, afterGcSamples }) {
  const rows = groups.filter((g) => g.touch === 'ends' && cases.some((c) => afterGcSamples.get(keyOf(c.name, g.size.size, g.touch))?.length > 0));
  if (rows.length === 0) return;
  const medianAt = (map, name, size) => {
    const values = map.get(keyOf(name, size, 'ends'));
    return values === undefined || values.length === 0 ? undefined : median(values);
  };
  const selected = (name) => cases.some((c) => c.name === name);
  const section = (title, columns, ratios) => {
    const shown = columns.filter((c) => rows.some((g) => medianAt(afterGcSamples, c.name, g.size.size) !== undefined));
    if (shown.length === 0) return;
    const ratioColumns = ratios.filter((r) => selected(r.numerator) && selected(r.denominator));
    const headings = ['size (align)', ...shown.map((c) => c.column), ...ratioColumns.map((r) => r.heading), ...shown.map((c) => `${c.column} gc/steady`)];
    printTable(
      headings,
      rows.map(({ size }) => {
        const at = (name) => medianAt(afterGcSamples, name, size.size);
        const steady = (name) => medianAt(samples, name, size.size);
        return [
          sizeLabel(size),
          ...shown.map((c) => (at(c.name) === undefined ? '-' : formatNs(at(c.name)))),
          ...ratioColumns.map((r) => (at(r.numerator) === undefined || at(r.denominator) === undefined ? '-' : formatRatio(at(r.numerator) / at(r.denominator)))),
          ...shown.map((c) => (at(c.name) === undefined || steady(c.name) === undefined ? '-' : formatRatio(at(c.name) / steady(c.name)))),
        ];
      }),
    );
    console.log('');
  };
  console.log('After a full GC: median time per op of the first 20,000 ops right after gc() (5 times per run; touch ends).');
  console.log('gc/steady: that time over the steady-state median above; near 1.00x means nothing was lost at the collection.');
  section('Block', cases.filter((c) => c.table === undefined), RATIOS);
  section('Arena and Pool', [...cases.filter((c) => c.table === 'arena-pool'), ...cases.filter((c) => c.name === ARENA_POOL_REFERENCE)], ARENA_POOL_RATIOS);
}

// Block against Node's own aligned Buffer (Node 26.8+), at the sizes both run,
// each asked for the size's alignment, neither zeroed.
const NODE_ALIGNED_RATIOS = [{ heading: 'Block/Node', numerator: 'block-nozero', denominator: 'allocUnsafeSlow-aligned' }];

function printNodeAligned(cases, groups, samples, table) {
  const node = cases.filter((c) => c.table === 'node-aligned');
  const block = cases.filter((c) => c.name === 'block-nozero');
  if (node.length === 0 || block.length === 0) return;
  const rows = groups.filter((g) => node.some((c) => runsAt(c, g.size.size)));
  if (rows.length === 0) return;
  console.log("Against Node's own aligned allocation: median time per op, lower is better.");
  console.log('  allocUnsafeSlow(n,a): Buffer.allocUnsafeSlow(size, align), then drop (the collector frees it).');
  console.log('  Block z:false: Block.alloc(size, { align, zero: false }), then free(). Below 1.00x Block is faster.');
  for (const touch of TOUCH_MODES) {
    const touchRows = rows.filter((g) => g.touch === touch);
    if (touchRows.length === 0) continue;
    console.log(`Touch ${touch}: ${TOUCH_TITLES[touch]}`);
    table([...node, ...block], NODE_ALIGNED_RATIOS)(touchRows);
  }
  console.log('');
}

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
  const named = CASES.filter((c) => options.filters.length === 0 || options.filters.some((f) => matches(c, f)));
  const cases = nodeAligns() ? named : named.filter((c) => c.table !== 'node-aligned');
  if (cases.length < named.length) {
    console.log(`Node ${process.version} ignores the alignment of Buffer.allocUnsafeSlow(size, alignment): the table against it needs Node 26.8 or later.`);
  }
  if (cases.length === 0) usage(`no case matches ${options.filters.join(', ')}; cases: ${CASES.map((c) => c.name).join(', ')}`);

  // One group per (size, touch mode): a row of a table. Each round runs every case of every group.
  const groups = [];
  for (const size of sizes) {
    for (const touch of touchModes(size.size)) if (options.touches.includes(touch)) groups.push({ size, touch });
  }
  if (groups.length === 0) usage('nothing to run: the pages mode runs only at sizes above 4 KiB');

  checkRootBuilt();
  if (cases.some((c) => c.name === 'getAlignedBuffer')) ensureDirectIo();

  const cpus = os.cpus();
  console.log('sysalloc alloc+free benchmark');
  console.log(`Node ${process.version}, V8 ${process.versions.v8}, ${os.platform()} ${os.arch()}`);
  console.log(`CPU: ${cpus.length > 0 ? cpus[0].model : 'unknown'}, ${cpus.length} cores`);
  console.log(`Runs: ${options.runs} per case, each in a fresh process${options.quick ? ' (quick: a fifth of the ops)' : ''}`);
  console.log('');

  const pairs = [];
  for (const g of groups) {
    for (const spec of cases) if (runsAt(spec, g.size.size)) pairs.push({ ...g, spec, key: keyOf(spec.name, g.size.size, g.touch) });
  }
  const samples = new Map(pairs.map((p) => [p.key, []]));
  const afterGcSamples = new Map(pairs.map((p) => [p.key, []]));
  const rss = new Map(pairs.map((p) => [p.key, []]));
  const blockNotes = new Map();
  const errors = [];

  const started = Date.now();
  for (let round = 0; round < options.runs; round++) {
    process.stderr.write(`round ${round + 1}/${options.runs} `);
    for (const { size, touch, spec, key } of shuffled(pairs, round + 1)) {
      const fullOps = opsFor(spec, size, touch);
      const ops = options.quick ? Math.max(size.batch, Math.floor(fullOps / 5)) : fullOps;
      const result = runCase(spec.name, size.size, touch, ops);
      if (result.error !== undefined) {
        errors.push(`${spec.name} ${size.label} ${touch} (round ${round + 1}): ${result.error}`);
        process.stderr.write('x');
        continue;
      }
      samples.get(key).push(result.ns);
      if (result.afterGc !== undefined) afterGcSamples.get(key).push(result.afterGc.ns);
      rss.get(key).push(result.maxRssKiB);
      if (result.block !== undefined) blockNotes.set(key, { ...result.block, ops: result.ops });
      process.stderr.write('.');
    }
    process.stderr.write('\n');
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);

  const medianOf = (name, size, touch) => {
    const values = samples.get(keyOf(name, size, touch));
    return values === undefined || values.length === 0 ? undefined : median(values);
  };

  const selected = (name) => cases.some((c) => c.name === name);
  const table = (columns, ratios) => {
    const ratioColumns = ratios.filter((r) => selected(r.numerator) && selected(r.denominator));
    const headings = ['size (align)', ...columns.map((c) => c.column), ...ratioColumns.map((r) => r.heading)];
    const timeRow = ({ size, touch }) => {
      const row = [sizeLabel(size)];
      for (const c of columns) {
        const values = samples.get(keyOf(c.name, size.size, touch));
        row.push(values === undefined ? '-' : values.length === 0 ? 'failed' : `${formatNs(median(values))} ±${(relativeSpread(values) * 100).toFixed(0)}%`);
      }
      for (const r of ratioColumns) {
        const num = medianOf(r.numerator, size.size, touch);
        const den = medianOf(r.denominator, size.size, touch);
        row.push(num === undefined || den === undefined ? '-' : formatRatio(num / den));
      }
      return row;
    };
    return (rows) => printTable(headings, rows.map(timeRow));
  };

  printNodeAligned(cases, groups, samples, table);

  const blockCases = cases.filter((c) => c.table === undefined);
  if (blockCases.length > 0) {
    const print = table(blockCases, RATIOS);
    console.log('Median time per alloc+free op (allocate, write, read the last byte back, release), lower is better.');
    console.log('Block and getAlignedBuffer are asked for the alignment in brackets; the others take what they get.');
    console.log('± is the median absolute deviation across runs, relative to the median.');
    for (const touch of TOUCH_MODES) {
      const rows = groups.filter((g) => g.touch === touch);
      if (rows.length === 0) continue;
      console.log('');
      console.log(`Touch ${touch}: ${TOUCH_TITLES[touch]}`);
      print(rows);
    }
    console.log('');
    console.log('Ratios are median / median: Block z:false / allocUnsafeSlow (neither zeroed), Block z:true / Buffer.alloc');
    console.log('and Block z:true / getAlignedBuffer (all zeroed). Below 1.00x Block is faster.');
    console.log('');
  }

  const arenaPoolCases = cases.filter((c) => c.table === 'arena-pool');
  const arenaPoolRows = groups.filter((g) => arenaPoolCases.some((c) => runsAt(c, g.size.size)));
  if (arenaPoolRows.length > 0) {
    const columns = [...arenaPoolCases, ...cases.filter((c) => c.name === ARENA_POOL_REFERENCE)];
    console.log('Arena and Pool: median time per op, lower is better (touch ends: first and last byte written).');
    console.log(`  Arena: arena.alloc(size, align), then drop; the arena (${ARENA_CAPACITY / MiB} MiB) is reset when the next one would not fit.`);
    console.log(`  Pool fast / checked: pool.alloc(), then pool.free(slot), in a pool of ${POOL_SLOTS} slots of the size at the alignment.`);
    console.log('  allocUnsafe: Buffer.allocUnsafe(size), then drop. Block z:false: Block.alloc + free, from the table above.');
    table(columns, ARENA_POOL_RATIOS)(arenaPoolRows);
    console.log('');
  }

  printAfterGc({ cases, groups, samples, afterGcSamples });

  console.log('Peak RSS of the case process, MiB (median across runs):');
  printTable(
    ['size (align)', 'touch', ...cases.map((c) => c.column)],
    groups.map(({ size, touch }) => [
      sizeLabel(size),
      touch,
      ...cases.map((c) => {
        const values = rss.get(keyOf(c.name, size.size, touch));
        return values === undefined || values.length === 0 ? '-' : (median(values) / 1024).toFixed(0);
      }),
    ]),
  );
  console.log('');

  if (blockNotes.size > 0) {
    console.log('Where Block memory came from during the timed ops (blockStats, last run of each case):');
    for (const { size, touch } of groups) {
      for (const c of cases) {
        const n = blockNotes.get(keyOf(c.name, size.size, touch));
        if (n === undefined) continue;
        console.log(`  ${sizeLabel(size).padEnd(16)} ${touch.padEnd(5)}  ${c.column.padEnd(13)}  ${n.source.padEnd(14)}  ${n.osAllocations} OS allocations, ${n.cacheHits} cache hits in ${n.ops} ops`);
      }
    }
    console.log('');
  }

  // A target is listed for every measured (size, touch) it applies to; a failed case shows as "not measured".
  const targets = [];
  const measured = (size, touch) => groups.some((g) => g.size.size === size && g.touch === touch);
  const target = (touch, label, numerator, denominator, size, limit) => {
    if (!measured(size, touch) || !selected(numerator) || !selected(denominator)) return;
    const num = medianOf(numerator, size, touch);
    const den = medianOf(denominator, size, touch);
    targets.push({ touch, label, limit, ratio: num !== undefined && den !== undefined ? num / den : undefined });
  };
  target('ends', 'Block z:false 4 KiB @4096 vs allocUnsafeSlow(4096)', 'block-nozero', 'allocUnsafeSlow', 4096, 1.0);
  for (const touch of TOUCH_MODES) {
    target(touch, 'Block z:false 1 MiB @4096 vs allocUnsafeSlow(1 MiB)', 'block-nozero', 'allocUnsafeSlow', MiB, 0.05);
  }
  for (const touch of TOUCH_MODES) {
    for (const s of sizes) {
      target(touch, `Block z:true ${s.label} @${s.align} vs getAlignedBuffer(${s.label}, ${s.align})`, 'block-zero', 'getAlignedBuffer', s.size, 0.7);
    }
  }
  // Block against the Node-API floor where a service meets it: the first ops after a full GC.
  if (measured(4096, 'ends') && selected('block-nozero') && selected('allocUnsafeSlow-held')) {
    const afterGc = (name) => {
      const values = afterGcSamples.get(keyOf(name, 4096, 'ends'));
      return values === undefined || values.length === 0 ? undefined : median(values);
    };
    const num = afterGc('block-nozero');
    const den = afterGc('allocUnsafeSlow-held');
    targets.push({
      touch: 'ends',
      label: `Block z:false 4 KiB @4096 vs allocUnsafeSlow(4096) x${HELD} live, first 20,000 ops after gc()`,
      limit: 1.25,
      ratio: num !== undefined && den !== undefined ? num / den : undefined,
    });
  }
  target('ends', 'Arena alloc 64 B @64 vs allocUnsafe(64)', 'arena', 'allocUnsafe', 64, 0.5);
  target('ends', 'Arena alloc 4 KiB @4096 vs allocUnsafe(4096)', 'arena', 'allocUnsafe', 4096, 0.05);
  target('ends', 'Pool fast alloc+free 4 KiB @4096 vs Block z:false alloc+free', 'pool-fast', 'block-nozero', 4096, 0.05);
  console.log('Targets (ratio of medians, sysalloc / contender), per touch mode:');
  console.log('  ends = first and last byte written; pages = one byte written per 4 KiB page (at 64 B and 4 KiB the same op)');
  const labelWidth = Math.max(...targets.map((t) => t.label.length));
  for (const t of targets) {
    const verdict = t.ratio === undefined ? 'not measured' : t.ratio <= t.limit ? 'met' : 'NOT met';
    console.log(`  ${t.touch.padEnd(5)}  ${t.label.padEnd(labelWidth)}  target <= ${t.limit.toFixed(2)}x  measured ${formatRatio(t.ratio).padStart(6)}  ${verdict}`);
  }
  console.log('');
  console.log(`${pairs.length} cases x ${options.runs} runs in ${seconds} s`);
  if (options.json) {
    // For bench/chart.js: the targets' ratios of medians.
    const out = { kind: 'bench', runs: options.runs, targets: targets.map((t) => ({ touch: t.touch, label: t.label, limit: t.limit, ratio: t.ratio ?? null })) };
    require('fs').writeFileSync(options.json, `${JSON.stringify(out, null, 2)}\n`);
  }

  if (errors.length > 0) {
    console.log('');
    console.log(`${errors.length} case run(s) failed:`);
    for (const e of errors) console.log(`  ${e}`);
    process.exitCode = 1;
  }
}

main();
