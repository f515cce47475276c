// Arena and Pool inside worker_threads: they work there, and a worker that is
// terminated, or simply ends, with allocations alive gives every block back.
import * as path from 'path';
import { Worker } from 'worker_threads';
import { blockStats } from '..';
import { runtimeMemory, settle } from './helpers';

const packageRoot = JSON.stringify(path.resolve(__dirname, '..'));

// Allocates from an arena that has grown and had memory added, and from a fast
// and a checked pool (one with added memory), checks what it got, and reports.
const WORKLOAD = `
  const { parentPort } = require('worker_threads');
  const { Arena, Pool, Block, addressOf, blockSource } = require(${packageRoot});
  const arena = new Arena({ capacity: 4096, grow: true });
  arena.addMemory(Block.alloc(65536));
  const fast = new Pool({ slotSize: 4096, slots: 8, align: 4096 });
  const checked = new Pool({ slotSize: 100, slots: 16, align: 64, checked: true });
  // On runtime memory a checked pool's slots are blocks of their own, and addMemory is refused.
  if (blockSource() !== 'runtime') checked.addMemory(Block.alloc(8192));
  const kept = [];
  let ok = true;
  for (let i = 0; i < 200; i++) {
    const a = arena.alloc(100 + i * 10, 64);
    a.fill(i & 255);
    ok = ok && addressOf(a) % 64n === 0n && a[a.length - 1] === (i & 255);
    kept.push(a);
  }
  for (let i = 0; i < 6; i++) kept.push(fast.alloc().fill(1));
  for (let i = 0; i < 20; i++) {
    const s = checked.alloc();
    ok = ok && addressOf(s) % 64n === 0n && s.length === 100;
    if (i % 2) checked.free(s); else kept.push(s);
  }
  // A second arena that is reset, so detached views are pending finalization too.
  const scratch = new Arena({ capacity: 1 << 20 });
  for (let i = 0; i < 100; i++) scratch.alloc(1000);
  scratch.reset();
  kept.push(scratch.alloc(10));
  const report = { ok, arenaChunks: arena.regions().length, poolRegions: fast.regions().length + checked.regions().length };
`;

function start(source: string): { worker: Worker; message: Promise<unknown>; exited: Promise<number> } {
  const worker = new Worker(source, { eval: true });
  const exited = new Promise<number>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('exit', resolve);
  });
  // Fails at once, with the worker's error, if the worker dies before it reports.
  const message = new Promise<unknown>((resolve, reject) => {
    worker.once('message', resolve);
    exited.then((code) => reject(new Error(`the worker exited with code ${code} before reporting`)), reject);
  });
  return { worker, message, exited };
}

describe('Arena and Pool in worker_threads', () => {
  test('terminating the worker with allocations alive returns the live counters to their baseline', async () => {
    const before = await settle();
    const { worker, message, exited } = start(`${WORKLOAD}
      parentPort.postMessage(report);
      setInterval(() => kept.length, 1000);
    `);
    const report = (await message) as { ok: boolean; arenaChunks: number; poolRegions: number };
    expect(report.ok).toBe(true);
    expect(report.arenaChunks).toBeGreaterThanOrEqual(3);
    // The fast pool's region and the checked pool's: its added block, or on runtime memory its 10 live slots.
    expect(report.poolRegions).toBe(runtimeMemory ? 11 : 3);
    // Every chunk and region is a live block until the worker goes.
    const blocks = report.arenaChunks + report.poolRegions + 1; // + the scratch arena
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + blocks);
    await worker.terminate();
    await exited;
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  test('a worker that ends with allocations alive, without destroy, leaks nothing', async () => {
    const before = await settle();
    const { message, exited } = start(`${WORKLOAD}
      parentPort.postMessage(report);
    `);
    expect(((await message) as { ok: boolean }).ok).toBe(true);
    expect(await exited).toBe(0);
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  test('destroy inside the worker frees at once', async () => {
    const before = await settle();
    const { message, exited } = start(`${WORKLOAD}
      const { blockStats } = require(${packageRoot});
      const live = blockStats().liveBlocks;
      arena.destroy();
      fast.destroy();
      checked.destroy();
      scratch.destroy();
      parentPort.postMessage({ ok, freed: live - blockStats().liveBlocks, lengths: kept.map((b) => b.length).filter((n) => n !== 0).length });
    `);
    const result = (await message) as { ok: boolean; freed: number; lengths: number };
    expect(result.ok).toBe(true);
    expect(result.freed).toBeGreaterThanOrEqual(7);
    expect(result.lengths).toBe(0);
    expect(await exited).toBe(0);
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
  });
});
