// A worker's end must abandon a block only where its memory may have moved
// (README, Lifetime). Nothing below moves any memory, so every block a worker
// held must come back to the process (liveBlocks back to its baseline) and none
// may be abandoned. Each case is one way a block used to be abandoned needlessly:
//
// - terminated while holding live Blocks, Arena and Pool allocations: Node cleans
//   Buffers newest first (Node 20's cleanup hooks, and Node 24 too as measured),
//   so the first block cleaned, detached by that cleanup, used to be kept;
// - terminated, or ended with process.exit(), right after a collection freed a
//   dropped block's backing store: its finalizer waits in the immediate Node
//   queued, which runs only during teardown; it used to be taken for a moved block.
//
// Each worker runs in a child process of its own so that the counters see it alone.
import { spawnSync } from 'child_process';
import path = require('path');

const root = JSON.stringify(path.resolve(__dirname, '..'));

type Ending = 'terminate' | 'process.exit';

// `body` runs in the worker (with gc exposed) and must post 'ready' when done; it
// then blocks in Atomics.wait, so that no turn of its loop runs before its end.
function run(body: string, ending: Ending): { abandoned: number; live: number; status: number | null; stderr: string } {
  const script = `
    const { Worker } = require('worker_threads');
    const { blockStats } = require(${root});
    const before = blockStats();
    const w = new Worker(\`
      const { parentPort } = require('worker_threads');
      const { Block, Arena, Pool } = require(${root.replace(/\\/g, '\\\\')});
      const parked = new Int32Array(new SharedArrayBuffer(4));
      const park = (ms) => Atomics.wait(parked, 0, 0, ms);
      ${body.replace(/`/g, '\\`')}
      parentPort.postMessage('ready');
      ${ending === 'process.exit' ? 'process.exit(0);' : 'park(60000);'}
    \`, { eval: true });
    w.once('message', async () => {
      ${ending === 'terminate' ? 'await w.terminate();' : "await new Promise((r) => w.once('exit', r));"}
      await new Promise((r) => setTimeout(r, 50));
      const s = blockStats();
      console.log(JSON.stringify({ abandoned: s.abandonedBlocks - before.abandonedBlocks, live: s.liveBlocks - before.liveBlocks }));
    });`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
  const out = r.stdout.trim();
  return { ...(out === '' ? { abandoned: -1, live: -1 } : JSON.parse(out)), status: r.status, stderr: r.stderr };
}

// Live Blocks, an Arena with allocations (views over its chunk) and a checked Pool slot.
const HOLDING = `
  const kept = [Block.alloc(4096), Block.alloc(1 << 20), Block.alloc(100)];
  for (const b of kept) b.buffer.fill(3);
  const arena = new Arena({ capacity: 8192 });
  const a1 = arena.alloc(64), a2 = arena.alloc(128);
  const pool = new Pool({ slotSize: 64, slots: 8, checked: true });
  const slot = pool.alloc();
`;

// A dropped block whose ArrayBuffer a collection frees; the worker then waits
// without turning its loop, so the finalizer's immediate is still queued.
const COLLECTED = `
  let dropped = Block.alloc(1 << 16);
  dropped.buffer.fill(5);
  dropped = null;
  for (let i = 0; i < 3; i++) { gc(); park(50); }
`;

test.each<{ held: string; body: string; ending: Ending }>([
  { held: 'live Blocks, Arena and Pool allocations', body: HOLDING, ending: 'terminate' },
  { held: 'nothing but one dropped, collected block', body: COLLECTED, ending: 'terminate' },
  { held: 'live allocations and one dropped, collected block', body: HOLDING + COLLECTED, ending: 'terminate' },
  { held: 'nothing but one dropped, collected block', body: COLLECTED, ending: 'process.exit' },
  { held: 'live allocations and one dropped, collected block', body: HOLDING + COLLECTED, ending: 'process.exit' },
])('a worker holding $held, ended by $ending: nothing is abandoned, everything comes back', ({ body, ending }) => {
  const r = run(body, ending);
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  // The Windows build has no teardown check (no libuv to link against there): a
  // worker's first Buffer cleanup, or a collected block whose finalizer is still
  // pending at its end, may keep one block (docs/design.md).
  const allowed = process.platform === 'win32' ? 1 : 0;
  expect(r.live).toBe(0);
  expect(r.abandoned).toBeLessThanOrEqual(allowed);
});
