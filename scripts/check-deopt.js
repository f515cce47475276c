'use strict';

// Checks that Arena's and Pool's fast paths keep their optimized code across
// full garbage collections. Runs an Arena loop and a fast-Pool loop in a child
// node with --trace-deopt and --allow-natives-syntax, collects garbage several
// times, and fails when V8 throws away the code of a hot function: a deopt for
// "weak objects" (optimized code that embedded an object the collector then
// freed), or a hot function no longer optimized right after gc().
//
//   node scripts/check-deopt.js            the package in this checkout (dist/)
//   node scripts/check-deopt.js DIR        another build of the package, e.g. an older one
//
// Exit 0 when every hot function survived every collection, 1 otherwise.

const { spawnSync } = require('child_process');
const path = require('path');

const ROUNDS = 4;
const HOT = ['Arena.prototype.alloc', 'Pool.prototype.alloc', 'Pool.prototype.free'];

function child(packageDir) {
  const { Arena, Pool } = require(packageDir);
  const status = (fn) => eval('%GetOptimizationStatus(fn)'); // eslint-disable-line no-eval
  const functions = {
    'Arena.prototype.alloc': Arena.prototype.alloc,
    'Pool.prototype.alloc': Pool.prototype.alloc,
    'Pool.prototype.free': Pool.prototype.free,
  };
  const pool = new Pool({ slotSize: 4096, slots: 64 });
  const arena = new Arena({ capacity: 1 << 20 });
  const held = [];
  function poolLoop(n) {
    for (let i = 0; i < n; i++) {
      const b = pool.alloc();
      b[0] = 1;
      held.push(b);
      if (held.length === 32) {
        for (let j = 0; j < held.length; j++) pool.free(held[j]);
        held.length = 0;
      }
    }
    for (let j = 0; j < held.length; j++) pool.free(held[j]);
    held.length = 0;
  }
  function arenaLoop(n) {
    for (let i = 0; i < n; i++) {
      if (arena.available < 4096 + 64) arena.reset();
      const b = arena.alloc(4096);
      b[0] = 1;
    }
  }
  // The loops stay in the interpreter, so each hot function gets optimized code
  // of its own (not only inlined into a loop's), and that code is what is checked.
  eval('%NeverOptimizeFunction(poolLoop); %NeverOptimizeFunction(arenaLoop)'); // eslint-disable-line no-eval
  // The bits of %GetOptimizationStatus that mean "has optimized code" differ
  // between V8 versions: learn them from probes optimized on purpose.
  const probe = () => (x) => x + 1;
  const learn = (tier) => {
    const fn = probe();
    const interpreted = status(fn);
    eval(`%PrepareFunctionForOptimization(fn); fn(1); fn(2); ${tier}(fn); fn(3);`); // eslint-disable-line no-eval
    return status(fn) & ~interpreted & ~8; // 8: kMaybeDeopted
  };
  let mask = learn('%OptimizeFunctionOnNextCall');
  try {
    mask |= learn('%OptimizeMaglevOnNextCall');
  } catch {
    // a V8 without Maglev
  }
  if (mask === 0) throw new Error('cannot tell optimized functions from the others on this V8');
  const optimized = () => Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, (status(fn) & mask) !== 0]));
  const report = { rounds: [] };
  // Warm-up: early feedback (the first elements kinds, field types) may deopt and reoptimize once.
  poolLoop(200_000);
  arenaLoop(200_000);
  for (let round = 0; round < ROUNDS; round++) {
    poolLoop(200_000);
    arenaLoop(200_000);
    const before = optimized();
    gc();
    gc();
    report.rounds.push({ before, after: optimized() });
  }
  process.stdout.write(JSON.stringify(report));
}

function main() {
  const packageDir = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
  const run = spawnSync(
    process.execPath,
    ['--expose-gc', '--allow-natives-syntax', '--trace-deopt', __filename, '--child', packageDir],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  if (run.status !== 0) {
    process.stderr.write(run.stderr);
    throw new Error(`the child exited with ${run.status}`);
  }
  // V8's own notes (node.exe 20 prints "Maglev is not enabled." to stdout, not
  // always after a newline) may follow the report: read up to its closing brace.
  const start = run.stdout.lastIndexOf('{"rounds"');
  const report = JSON.parse(run.stdout.slice(start, run.stdout.lastIndexOf('}') + 1));
  const trace = `${run.stdout}\n${run.stderr}`;
  const failures = [];
  // Any full collection counts, also one the warm-up's allocations started.
  for (const line of trace.split('\n')) {
    if (!/reason: weak objects/.test(line)) continue;
    const name = /SharedFunctionInfo ([^>]*)>/.exec(line)?.[1] ?? line;
    failures.push(`deoptimized after gc(), reason "weak objects": ${name}`);
  }
  report.rounds.forEach(({ before, after }, round) => {
    for (const name of HOT) {
      if (!before[name]) failures.push(`round ${round}: ${name} was not optimized before gc()`);
      else if (!after[name]) failures.push(`round ${round}: ${name} lost its optimized code at gc()`);
    }
  });
  const unique = [...new Set(failures)];
  console.log(`node ${process.version}, ${packageDir}: ${ROUNDS} rounds of 200,000 Arena and 200,000 Pool operations, each followed by gc()`);
  if (unique.length === 0) {
    console.log(`ok: ${HOT.join(', ')} stayed optimized across every collection`);
    return;
  }
  for (const failure of unique) console.log(`FAIL ${failure}`);
  process.exitCode = 1;
}

if (process.argv[2] === '--child') child(process.argv[3]);
else main();
