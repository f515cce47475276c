// The runtime-neutral suite (test/runtimes/suite.cjs, which npm run
// test:runtimes runs under Node, Bun and Deno) under this jest's node: it
// passes here, and it fails, with its closing line and a non-zero exit, when
// the behaviour it checks is broken (here broken on purpose by a preload).
import { spawnSync } from 'child_process';
import path = require('path');

const suite = path.join(__dirname, 'runtimes', 'suite.cjs');

function run(args: string[]) {
  return spawnSync(process.execPath, ['--expose-gc', ...args], { encoding: 'utf8', timeout: 120000 });
}

/** The suite's lines and its closing line; a run that ended without one fails with how it ended. */
function linesOf(result: ReturnType<typeof run>): { lines: string[]; closing: string } {
  const lines = result.stdout.trim().split('\n');
  const closing = lines.pop() as string;
  if (!/^\d+ passed, \d+ failed$/.test(closing)) {
    throw new Error(
      `the suite ended without its closing line (status ${result.status}, signal ${result.signal}):\n` +
        `${result.stdout.slice(-2000)}\n${result.stderr.slice(-4000)}`,
    );
  }
  return { lines, closing };
}

test('the runtime suite passes under this node, every test', () => {
  const names = run([suite, '--list']).stdout.trim().split('\n');
  expect(names.length).toBeGreaterThanOrEqual(20);
  const result = run([suite]);
  expect(linesOf(result).closing).toBe(`${names.length} passed, 0 failed`);
  expect(result.status).toBe(0);
});

test('the runtime suite fails when Arena.reset and Pool.destroy misbehave', () => {
  // What Bun and Deno did before sysalloc handled their finalizers: the reset
  // and destroy leave blocks counted as live.
  const broken = `
    const { Arena, Block, Pool } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
    const keep = [];
    for (const C of [Arena, Pool]) {
      const method = C === Arena ? 'reset' : 'destroy';
      const original = C.prototype[method];
      C.prototype[method] = function () { keep.push(Block.alloc(4096)); return original.call(this); };
    }
  `;
  // node -e CODE: process.argv is [node], as the suite expects after its own path.
  const result = run(['-e', `${broken}; process.argv.push('-'); require(${JSON.stringify(suite)})`]);
  const { lines, closing } = linesOf(result);
  expect(closing).toMatch(/^\d+ passed, [1-9]\d* failed$/);
  expect(lines).toContain('not ok - Arena: alloc aligns, reset detaches and reuses, destroy frees');
  expect(lines).toContain('not ok - Pool (fast): alloc, free, reuse, exhaustion, destroy');
  expect(result.status).toBe(1);
});
