// A worker moves a Block's memory into another ArrayBuffer (a byte stream;
// transfer() from Node 22) and posts it to the main thread, then ends. Node calls
// the worker's Buffer finalizers at its teardown even though the memory lives on
// in the main thread's ArrayBuffer: sysalloc must not return it then. It is
// abandoned (kept for the life of the process, counted in abandonedBlocks); a
// block the worker still owned at its end is returned as before.
import { spawnSync } from 'child_process';
import path = require('path');
import { runtimeMemory } from './helpers';

const root = JSON.stringify(path.resolve(__dirname, '..'));
const MiB = 1 << 20;

function run(size: number, ending: 'return' | 'terminate'): { out: string; status: number | null; signal: NodeJS.Signals | null } {
  const script = `
    const { Worker } = require('worker_threads');
    const { Block, blockStats, addressOf } = require(${root});
    const before = blockStats();
    const w = new Worker(\`
      const { parentPort } = require('worker_threads');
      const { Block } = require(${root.replace(/\\/g, '\\\\')});
      const kept = Block.alloc(4096); // still the worker's at its end
      kept.buffer.fill(1);
      const b = Block.alloc(${size});
      b.buffer.fill(7);
      const stream = new ReadableStream({ type: 'bytes', start(c) { c.enqueue(b.buffer); c.close(); } });
      stream.getReader().read().then(({ value }) => {
        parentPort.postMessage({ ab: value.buffer, offset: value.byteOffset }, [value.buffer]);
        ${ending === 'terminate' ? 'setInterval(() => {}, 1000);' : ''}
      });
    \`, { eval: true });
    w.once('message', async (moved) => {
      ${ending === 'terminate' ? 'await w.terminate();' : "await new Promise((r) => w.once('exit', r));"}
      await new Promise((r) => setTimeout(r, 50));
      // On runtime memory the whole over-allocated ArrayBuffer moved, the block at its offset in it.
      const view = new Uint8Array(moved.ab, moved.offset, ${size});
      const intact = view[0] === 7 && view[view.length - 1] === 7;
      const others = Array.from({ length: 4 }, () => Block.alloc(${size}, { zero: false }));
      for (const o of others) o.buffer.fill(9);
      view.fill(1);
      const aliased = others.some((o) => o.address === addressOf(view) || !o.buffer.every((x) => x === 9));
      const s = blockStats();
      console.log(JSON.stringify({ intact, aliased, live: s.liveBlocks - before.liveBlocks - others.length,
        abandoned: s.abandonedBlocks - before.abandonedBlocks, abandonedBytes: s.abandonedBytes - before.abandonedBytes }));
      for (const o of others) o.free();
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  return { out: r.stdout.trim(), status: r.status, signal: r.signal };
}

test.each([MiB, 32 * MiB])('a %d-byte block moved and posted to the main thread survives the worker\'s natural end', (size) => {
  const r = run(size, 'return');
  expect({ signal: r.signal, status: r.status }).toEqual({ signal: null, status: 0 });
  // The moved block is abandoned; the block the worker still owned is returned.
  // On runtime memory the moved memory is the runtime's: nothing to abandon.
  expect(JSON.parse(r.out)).toEqual({ intact: true, aliased: false, live: 0, abandoned: runtimeMemory ? 0 : 1, abandonedBytes: runtimeMemory ? 0 : size });
});

test('the same when the worker is terminated: the moved block is kept, the others are returned', () => {
  const r = run(32 * MiB, 'terminate');
  expect({ signal: r.signal, status: r.status }).toEqual({ signal: null, status: 0 });
  // No 'exit' handler runs on terminate(). sysalloc decides in the loop turn
  // Node makes to close the worker's handles, before it cleans any Buffer: the
  // moved block (its ArrayBuffer detached by the stream) is kept, nothing else.
  const out = JSON.parse(r.out);
  expect({ intact: out.intact, aliased: out.aliased, live: out.live }).toEqual({ intact: true, aliased: false, live: 0 });
  expect(out.abandoned).toBe(runtimeMemory ? 0 : 1);
  expect(out.abandonedBytes).toBe(runtimeMemory ? 0 : 32 * MiB);
});
