'use strict';

// Checks that the fast paths of Arena, Pool and Block keep their optimized code
// across full garbage collections. Runs an Arena loop, a fast-Pool loop and a
// Block loop (alloc, buffer, free) in a child node with --trace-deopt and
// --allow-natives-syntax, collects garbage several times, and fails when V8
// throws away the code of a hot function: a deopt for "weak objects" (optimized
// code that embedded an object the collector then freed), or a hot function no
// longer optimized right after gc().
//
//   node scripts/check-deopt.js            the package in this checkout (dist/)
//   node scripts/check-deopt.js DIR        another build of the package, e.g. an older one
//
// Exit 0 when every hot function survived every collection, 1 otherwise.

const { spawnSync } = require('child_process');
const path = require('path');

const ROUNDS = 4;
// Two groups, each in a child of its own: Arena and Pool hold Blocks for their
// memory the whole time, and a live Block keeps alive what a Block loop alone
// would lose at a collection, so the Block loop runs where no other Block lives.
// ops: per round (Block ops cost microseconds, an external buffer each; Arena and
// Pool ops tens of nanoseconds).
const GROUPS = {
  'arena-pool': { hot: ['Arena.prototype.alloc', 'Pool.prototype.alloc', 'Pool.prototype.free'], ops: 200_000, what: 'Arena and Pool' },
  block: { hot: ['Block.alloc', 'Block.prototype.free', 'Block.prototype.buffer'], ops: 20_000, what: 'Block' },
};

function arenaPoolLoops(lib) {
  const { Arena, Pool } = lib;
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
  return {
    functions: {
      'Arena.prototype.alloc': Arena.prototype.alloc,
      'Pool.prototype.alloc': Pool.prototype.alloc,
      'Pool.prototype.free': Pool.prototype.free,
    },
    loops: [poolLoop, arenaLoop],
  };
}

function blockLoops(lib) {
  const { Block } = lib;
  const options = { align: 4096, zero: false };
  function blockLoop(n) {
    for (let i = 0; i < n; i++) {
      const b = Block.alloc(4096, options);
      b.buffer[0] = 1;
      b.free();
    }
  }
  return {
    functions: {
      'Block.alloc': Block.alloc,
      'Block.prototype.free': Block.prototype.free,
      'Block.prototype.buffer': Object.getOwnPropertyDescriptor(Block.prototype, 'buffer').get,
    },
    loops: [blockLoop],
  };
}

function child(packageDir, group) {
  const { functions, loops } = (group === 'block' ? blockLoops : arenaPoolLoops)(require(packageDir));
  const { ops } = GROUPS[group];
  const status = (fn) => eval('%GetOptimizationStatus(fn)'); // eslint-disable-line no-eval
  // The loops stay in the interpreter, so each hot function gets optimized code
  // of its own (not only inlined into a loop's), and that code is what is checked.
  for (const loop of loops) eval('%NeverOptimizeFunction(loop)'); // eslint-disable-line no-eval
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
  for (const loop of loops) loop(ops);
  for (let round = 0; round < ROUNDS; round++) {
    for (const loop of loops) loop(ops);
    const before = optimized();
    gc();
    gc();
    report.rounds.push({ before, after: optimized() });
  }
  process.stdout.write(JSON.stringify(report));
}

// The failures of one group's child.
function check(packageDir, group) {
  const run = spawnSync(
    process.execPath,
    ['--expose-gc', '--allow-natives-syntax', '--trace-deopt', __filename, '--child', packageDir, group],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  if (run.status !== 0) {
    process.stderr.write(run.stderr);
    throw new Error(`the ${group} child exited with ${run.status}`);
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
    failures.push(`${GROUPS[group].what}: deoptimized after gc(), reason "weak objects": ${name}`);
  }
  report.rounds.forEach(({ before, after }, round) => {
    for (const name of GROUPS[group].hot) {
      if (!before[name]) failures.push(`round ${round}: ${name} was not optimized before gc()`);
      else if (!after[name]) failures.push(`round ${round}: ${name} lost its optimized code at gc()`);
    }
  });
  return [...new Set(failures)];
}

function main() {
  const packageDir = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
  const failures = [];
  for (const group of Object.keys(GROUPS)) failures.push(...check(packageDir, group));
  const counts = Object.values(GROUPS).map((g) => `${g.ops} ${g.what} operations`).join(', ');
  console.log(`node ${process.version}, ${packageDir}: ${ROUNDS} rounds of ${counts} (each group in a child of its own), each round followed by gc()`);
  const hot = Object.values(GROUPS).flatMap((g) => g.hot);
  if (failures.length === 0) {
    console.log(`ok: ${hot.join(', ')} stayed optimized across every collection`);
    return;
  }
  for (const failure of failures) console.log(`FAIL ${failure}`);
  process.exitCode = 1;
}

if (process.argv[2] === '--child') child(process.argv[3], process.argv[4]);
else main();
