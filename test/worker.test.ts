import * as path from 'path';
import { Worker } from 'worker_threads';
import { blockStats } from '..';
import { settle } from './helpers';

const packageRoot = JSON.stringify(path.resolve(__dirname, '..'));

function runWorker(source: string): { worker: Worker; messages: unknown[]; exited: Promise<number> } {
  const worker = new Worker(source, { eval: true });
  const messages: unknown[] = [];
  worker.on('message', (m) => messages.push(m));
  const exited = new Promise<number>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('exit', resolve);
  });
  return { worker, messages, exited };
}

describe('worker_threads', () => {
  test('the addon loads in a worker; a block is allocated, used and freed there', async () => {
    const before = await settle();
    const { messages, exited } = runWorker(`
      const { parentPort } = require('worker_threads');
      const { Block, isAligned } = require(${packageRoot});
      const block = Block.alloc(65536);
      block.buffer.fill(3);
      const sum = block.buffer.reduce((s, b) => s + b, 0);
      const aligned = isAligned(block.buffer, 65536);
      block.free();
      parentPort.postMessage({ sum, aligned, length: block.buffer.length });
    `);
    expect(await exited).toBe(0);
    expect(messages).toEqual([{ sum: 3 * 65536, aligned: true, length: 0 }]);
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
  });

  test('terminating a worker with blocks alive frees every one of them', async () => {
    const before = await settle();
    const { worker, messages, exited } = runWorker(`
      const { parentPort } = require('worker_threads');
      const { Block } = require(${packageRoot});
      const kept = [];
      for (let i = 0; i < 100; i++) kept.push(Block.alloc(4096));
      for (let i = 0; i < 4; i++) kept.push(Block.alloc(1 << 20, { zero: false }));
      // Freed explicitly: their finalizers are still pending when the worker dies.
      for (let i = 0; i < 10; i++) Block.alloc(8192).free();
      parentPort.postMessage('ready');
      setInterval(() => kept.length, 1000);
    `);
    while (messages.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + 104);
    await worker.terminate();
    await exited;
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  test('blocks in several workers at once', async () => {
    const before = await settle();
    const runs = [1, 2, 3].map(() =>
      runWorker(`
        const { parentPort } = require('worker_threads');
        const { Block } = require(${packageRoot});
        let ok = true;
        for (let i = 0; i < 2000; i++) {
          const block = Block.alloc(64 << (i % 12), { zero: false });
          block.buffer[0] = i & 255;
          ok = ok && block.buffer[0] === (i & 255);
          if (i % 3) block.free();
        }
        parentPort.postMessage(ok);
      `),
    );
    for (const run of runs) expect(await run.exited).toBe(0);
    expect(runs.map((r) => r.messages)).toEqual([[true], [true], [true]]);
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
  });
});
