// Memory freed while a native function of Node holds its data pointer: Node's
// Buffer.prototype.fill, utf8Write and the *Slice readers take the pointer, then
// coerce an argument, which can run JavaScript (valueOf) that frees the block
// and allocates another of the same size. The quarantine keeps the freed memory
// out of reuse (and mapped) until that JavaScript has returned to the event loop.
import { spawnSync } from 'child_process';
import path = require('path');
import { Block, blockStats } from '..';
import { native } from '../dist/native';
import { runtimeMemory, turn } from './helpers';

const MiB = 1 << 20;
const root = JSON.stringify(path.resolve(__dirname, '..'));

/** Runs `body` (JavaScript with Block in scope) in a Node of its own; its stdout, exit status and signal. */
function child(body: string): { out: string; status: number | null; signal: NodeJS.Signals | null } {
  const script = `const { Block, blockStats } = require(${root});\n${body}`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  return { out: r.stdout.trim(), status: r.status, signal: r.signal };
}

describe('re-entrant free inside a native Buffer method', () => {
  test.each([4096, MiB, 32 * MiB])('fill(valueOf) that frees a %d-byte block writes neither into the next block nor into unmapped memory', (size) => {
    const r = child(`
      const size = ${size};
      const b = Block.alloc(size);
      let c;
      b.buffer.fill({ valueOf() { b.free(); c = Block.alloc(size, { zero: false }); c.buffer.fill(0); return 0x41; } });
      console.log(JSON.stringify({ touched: c.buffer.some((x) => x !== 0), freed: b.freed, length: b.buffer.length }));
      c.free();`);
    expect({ signal: r.signal, status: r.status }).toEqual({ signal: null, status: 0 });
    expect(JSON.parse(r.out)).toEqual({ touched: false, freed: true, length: 0 });
  });

  test('utf8Write(string, {valueOf}) that frees the block does not write into the next one', () => {
    const b = Block.alloc(4096);
    let c: Block | undefined;
    (b.buffer as unknown as { utf8Write(s: string, offset: unknown): number }).utf8Write('xyz', {
      // Node 22+ coerces the offset in JavaScript first as well (three calls in
      // all), so free and allocate on the first call only.
      valueOf() {
        if (!b.freed) {
          b.free();
          c = Block.alloc(4096, { zero: false });
          c.buffer.fill(0);
        }
        return 0;
      },
    });
    expect(c!.buffer.every((x) => x === 0)).toBe(true);
    c!.free();
  });

  test.each(['latin1Slice', 'utf8Slice', 'asciiSlice', 'hexSlice', 'ucs2Slice', 'base64Slice'])(
    '%s(start, {valueOf}) that frees the block reads the freed block, never the next one',
    (method) => {
      const b = Block.alloc(4096);
      b.buffer.fill(0x61); // 'a'
      let c: Block | undefined;
      const end = {
        valueOf() {
          b.free();
          c = Block.alloc(4096, { zero: false });
          c.buffer.fill(0x42); // 'B': a secret of the new owner
          return 64;
        },
      };
      const read = (b.buffer as unknown as Record<string, (s: unknown, e: unknown) => string>)[method](0, end);
      const expected = Buffer.alloc(64, 0x61).toString(method.replace('Slice', '') as BufferEncoding);
      expect(read).toBe(expected);
      c!.free();
    },
  );
});

describe('the quarantine', () => {
  test('microtasks do not run inside a native call that calls back into JavaScript; the quarantine drains after it', async () => {
    const b = Block.alloc(4096);
    let ranInside: boolean | undefined;
    let quarantinedInside = -1;
    let ran = false;
    const before = blockStats().quarantinedBlocks;
    b.buffer.fill({
      valueOf() {
        queueMicrotask(() => {
          ran = true;
        });
        b.free();
        quarantinedInside = blockStats().quarantinedBlocks;
        ranInside = ran;
        return 1;
      },
    } as unknown as number);
    expect(ranInside).toBe(false);
    expect(ran).toBe(false);
    expect(quarantinedInside).toBe(before + 1);
    await Promise.resolve();
    expect(ran).toBe(true);
    expect(blockStats().quarantinedBlocks).toBe(0);
  });

  test('a freed block is not reused by later allocations of the same synchronous run', async () => {
    const first = Block.alloc(4096, { zero: false });
    const address = first.address;
    first.free();
    const seen = new Set<bigint>();
    // Fewer frees than the bound: the first block stays out of reuse throughout.
    for (let i = 0; i < native.quarantineBlocks - 1; i++) {
      const b = Block.alloc(4096, { zero: false });
      seen.add(b.address);
      b.free();
    }
    expect(seen.has(address)).toBe(false);
    await turn();
    expect(blockStats().quarantinedBlocks).toBe(0);
  });

  test('a synchronous loop of alloc + free holds at most the bound, in blocks and in bytes', async () => {
    const live = blockStats().liveBlocks;
    let most = 0;
    for (let i = 0; i < 5000; i++) {
      Block.alloc(4096, { zero: false }).free();
      most = Math.max(most, blockStats().quarantinedBlocks);
    }
    expect(most).toBe(native.quarantineBlocks);
    let mostBytes = 0;
    // On runtime memory the bound is on the ArrayBuffers held, align - 1 bytes more than each block:
    // 16 MiB aligned to itself would hold 32 MiB - 1 each, so there the blocks are page-aligned.
    const options = runtimeMemory ? { zero: false, align: 4096 } : { zero: false };
    for (let i = 0; i < 20; i++) {
      Block.alloc(16 * MiB, options).free();
      mostBytes = Math.max(mostBytes, blockStats().quarantinedBytes);
    }
    expect(mostBytes).toBeLessThanOrEqual(native.quarantineBytes);
    expect(mostBytes).toBeGreaterThanOrEqual(native.quarantineBytes - 16 * MiB);
    expect(blockStats().liveBlocks).toBe(live);
    await turn();
    expect(blockStats().quarantinedBlocks).toBe(0);
    expect(blockStats().quarantinedBytes).toBe(0);
  });

  test('freed memory stays mapped while quarantined: a read after free through a native method does not fault', () => {
    const r = child(`
      const b = Block.alloc(32 * 1024 * 1024);
      b.buffer.fill(7);
      const s = b.buffer.latin1Slice(0, { valueOf() { b.free(); return 16; } });
      console.log(JSON.stringify({ s: Buffer.from(s, 'latin1').toString('hex'), q: blockStats().quarantinedBlocks }));`);
    expect({ signal: r.signal, status: r.status }).toEqual({ signal: null, status: 0 });
    expect(JSON.parse(r.out)).toEqual({ s: '07'.repeat(16), q: 1 });
  });
});
