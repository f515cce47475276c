// Views are what Arena and Pool hand out when each allocation must be detachable
// alone: an external Buffer of its own over part of a block, keeping the block's
// memory until the view is detached or collected.
import * as path from 'path';
import { Worker } from 'worker_threads';
import { blockStats } from '..';
import { native } from '../dist/native';
import { delta, runtimeMemory, settle } from './helpers';

const { status } = native;

function block(size = 65536): Buffer {
  const buffer = native.blockAlloc(size, 4096, true);
  if (typeof buffer === 'number') throw new Error(`blockAlloc: status ${buffer}`);
  return buffer;
}

function view(of: Uint8Array, offset: number, length: number): Buffer {
  const result = native.viewWrap(of, offset, length);
  if (typeof result === 'number') throw new Error(`viewWrap: status ${result}`);
  return result;
}

describe('views of a block', () => {
  test('share the memory of the block, zero-copy', () => {
    const b = block();
    const v = view(b, 4096, 100);
    expect(v.length).toBe(100);
    expect(native.addressOf(v)).toBe((native.addressOf(b) as bigint) + 4096n);
    v[0] = 7;
    expect(b[4096]).toBe(7);
    b[4196 - 1] = 9;
    expect(v[99]).toBe(9);
    expect(native.viewDetach(v)).toBe(status.ok);
    expect(native.blockFree(b)).toBe(status.ok);
  });

  test('detach alone: the view reads length 0, the block and other views go on', () => {
    const b = block();
    const first = view(b, 0, 4096);
    const second = view(b, 4096, 4096);
    const slice = first.subarray(10, 20);
    expect(native.viewDetach(first)).toBe(status.ok);
    // On runtime memory a view shares its block's ArrayBuffer: it ends, but stays readable.
    expect(first.length).toBe(runtimeMemory ? 4096 : 0);
    expect(slice.length).toBe(runtimeMemory ? 10 : 0);
    second[0] = 1;
    expect(b[4096]).toBe(1);
    expect(native.viewDetach(first)).toBe(status.notAllocated);
    expect(native.viewDetach(second)).toBe(status.ok);
    expect(native.blockFree(b)).toBe(status.ok);
  });

  test('keep the memory of a freed block until the last one is detached', () => {
    const before = blockStats();
    const b = block();
    const v = view(b, 100, 200);
    expect(native.blockFree(b)).toBe(status.ok);
    expect(b.length).toBe(0);
    if (runtimeMemory) {
      // The block's ArrayBuffer takes its views with it: they read length 0 and end.
      expect(v.length).toBe(0);
      expect(blockStats().liveBlocks).toBe(before.liveBlocks);
      expect(native.viewDetach(v)).toBe(status.notAllocated);
      return;
    }
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + 1);
    v.fill(3); // still the block's memory, still held
    expect(v.every((x) => x === 3)).toBe(true);
    expect(native.viewDetach(v)).toBe(status.ok);
    expect(blockStats().liveBlocks).toBe(before.liveBlocks);
  });

  test('a view over the whole block is told apart from the block itself', () => {
    const before = blockStats();
    const b = block(4096);
    const whole = view(b, 0, 4096);
    expect(native.blockFree(whole)).toBe(status.notAllocated);
    expect(native.viewDetach(b)).toBe(status.notAllocated);
    expect(native.viewDetach(whole)).toBe(status.ok);
    expect(b.length).toBe(4096);
    const again = view(b, 0, 4096);
    expect(native.blockFree(b)).toBe(status.ok);
    expect(again.length).toBe(runtimeMemory ? 0 : 4096);
    expect(native.viewDetach(again)).toBe(runtimeMemory ? status.notAllocated : status.ok);
    expect(blockStats().liveBlocks).toBe(before.liveBlocks);
  });

  test.each<[string, () => unknown]>([
    ['past the end', () => native.viewWrap(block(4096), 4000, 97)],
    ['empty', () => native.viewWrap(block(4096), 0, 0)],
    ['a negative offset', () => native.viewWrap(block(4096), -1, 10)],
    ['a fractional length', () => native.viewWrap(block(4096), 0, 1.5)],
    ['a second view at the same address', () => {
      const b = block(4096);
      view(b, 64, 64);
      return native.viewWrap(b, 64, 32);
    }],
  ])('viewWrap refuses %s as invalid', (_label, call) => {
    expect(call()).toBe(status.invalidParam);
  });

  test.each<[string, () => unknown]>([
    ['a freed block', () => {
      const b = block(4096);
      native.blockFree(b);
      return native.viewWrap(b, 0, 16);
    }],
    ['a view', () => native.viewWrap(view(block(4096), 0, 1024), 0, 16)],
    ['an ordinary Buffer', () => native.viewWrap(Buffer.alloc(4096), 0, 16)],
    ['a slice of a block', () => native.viewWrap(block(4096).subarray(1), 0, 16)],
  ])('viewWrap of %s is not allocated', (_label, call) => {
    expect(call()).toBe(status.notAllocated);
  });

  test('collected views and blocks return the memory exactly once, in any order', async () => {
    const before = await settle();
    (() => {
      for (let i = 0; i < 50; i++) {
        const b = block(8192);
        const kept = [view(b, 0, 4096), view(b, 4096, 4096)];
        if (i % 3 === 0) native.blockFree(b);
        if (i % 5 === 0) native.viewDetach(kept[0]);
      }
    })();
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(delta(before, after, 'osReleases')).toEqual(delta(before, after, 'osAllocations'));
  });

  test('a worker terminated with views alive leaks nothing', async () => {
    const before = await settle();
    const worker = new Worker(
      `
      const { parentPort } = require('worker_threads');
      const { native } = require(${JSON.stringify(path.resolve(__dirname, '../dist/native'))});
      const kept = [];
      for (let i = 0; i < 20; i++) {
        const b = native.blockAlloc(1 << 20, 4096, false);
        kept.push(native.viewWrap(b, 0, 1 << 20), native.viewWrap(b, 4096, 4096));
        if (i % 2) native.blockFree(b);
      }
      parentPort.postMessage('ready');
      setInterval(() => kept.length, 1000);
    `,
      { eval: true },
    );
    await new Promise((resolve) => worker.once('message', resolve));
    await worker.terminate();
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.liveBytes).toBe(before.liveBytes);
  });
});
