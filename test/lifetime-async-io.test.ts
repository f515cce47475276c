// Asynchronous I/O in flight at free(): Node's thread pool holds the raw data
// pointer while an fs (or crypto, zlib) job runs, and nothing tells sysalloc.
// The safe pattern the README states: await the operation before free(). The
// quarantine does not cover a job that outlives the current turn.
import fs = require('fs');
import os = require('os');
import path = require('path');
import { Block, blockStats } from '..';
import { turn } from './helpers';

const file = path.join(os.tmpdir(), `sysalloc-lifetime-${process.pid}.bin`);
const size = 1 << 20;

beforeAll(() => fs.writeFileSync(file, Buffer.alloc(size, 0x5a)));
afterAll(() => fs.rmSync(file, { force: true }));

test('await the read, then free: the block holds the file and a later block is untouched', async () => {
  const handle = await fs.promises.open(file, 'r');
  try {
    const block = Block.alloc(size, { zero: true });
    try {
      const { bytesRead } = await handle.read(block.buffer, 0, size, 0);
      expect(bytesRead).toBe(size);
      expect(block.buffer.every((x) => x === 0x5a)).toBe(true);
    } finally {
      block.free(); // the read has completed: no thread holds the pointer any more
    }
    const next = Block.alloc(size, { zero: true });
    await turn();
    expect(next.buffer.every((x) => x === 0)).toBe(true);
    next.free();
  } finally {
    await handle.close();
  }
});

test('a block freed in the turn that started a read is still quarantined when that turn ends, and released after it', async () => {
  // What the quarantine covers: the rest of the synchronous run that freed it.
  const block = Block.alloc(4096);
  const pending = fs.promises.readFile(file); // its own buffer, not the block
  block.free();
  expect(blockStats().quarantinedBlocks).toBeGreaterThanOrEqual(1);
  await pending; // any job awaited here outlives the turn: the quarantine has been drained by then
  expect(blockStats().quarantinedBlocks).toBe(0);
});
