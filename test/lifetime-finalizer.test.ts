// Node runs an external Buffer's finalizer later, from an immediate, after
// napi_detach_arraybuffer has returned; Bun and Deno run it synchronously inside
// the detach. The testing addon (test/faults) simulates the second contract with
// testing.syncFinalizer(true): every detach also runs the finalizer inside it
// (Node's own later call is then ignored). Every path must keep exact counters
// and never drop or reuse a record twice (which corrupted the heap under Deno).
import path = require('path');
import bindings = require('bindings');

import type * as Sysalloc from '..';
import { settle } from './helpers';

const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') });
let lib!: typeof Sysalloc;
jest.isolateModules(() => {
  jest.doMock('bindings', () => () => addon);
  lib = require('..');
});

function live(): number {
  addon.drainQuarantine();
  return lib.blockStats().liveBlocks;
}

describe.each([false, true])('finalizer inside the detach: %s', (sync) => {
  beforeEach(() => addon.testing.syncFinalizer(sync));
  afterEach(() => addon.testing.syncFinalizer(false));

  test('20,000 Block alloc + free keep exact counters', async () => {
    await settle(); // blocks of earlier files in this process, collectable, are counted once gone
    const before = live();
    let attached = 0;
    for (let i = 0; i < 20000; i++) {
      const b = lib.Block.alloc(4096);
      b.buffer[0] = 1;
      b.free();
      attached += b.buffer.length;
    }
    expect(attached).toBe(0);
    expect(live()).toBe(before);
    await settle();
    expect(live()).toBe(before);
  });

  test('two live blocks never share an address while records are recycled', () => {
    const blocks = Array.from({ length: 64 }, () => lib.Block.alloc(256));
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < blocks.length; i += 2) {
        blocks[i].free();
        blocks[i] = lib.Block.alloc(256);
      }
      const set = new Set(blocks.map((b) => b.address));
      expect(set.size).toBe(blocks.length);
    }
    for (const b of blocks) b.free();
  });

  test('Arena reset and destroy, Pool free and destroy', async () => {
    const before = live();
    const arena = new lib.Arena({ capacity: 65536, grow: true });
    for (let round = 0; round < 100; round++) {
      const a = arena.alloc(100);
      a.fill(round & 0xff);
      arena.alloc(70000).fill(1);
      arena.reset();
      expect(a.length).toBe(0);
    }
    arena.destroy();
    for (const checked of [false, true]) {
      const pool = new lib.Pool({ slotSize: 4096, slots: 8, checked } as Sysalloc.PoolOptions);
      for (let round = 0; round < 100; round++) {
        const s = pool.alloc();
        s.fill(2);
        pool.free(s);
      }
      pool.destroy();
    }
    expect(live()).toBe(before);
    await settle();
    expect(live()).toBe(before);
  });

  test('a block freed while a view of it is attached keeps its memory until the view is detached', () => {
    const before = live();
    const block = addon.blockAlloc(8192, 4096, true) as Buffer;
    const view = addon.viewWrap(block, 4096, 100) as Buffer;
    expect(addon.blockFree(block, Number(lib.addressOf(block)))).toBe(0);
    if (addon.sourceFor(4096, 4096) === 'runtime') {
      // Runtime memory: the view is part of the block's own ArrayBuffer, which the free detached with it.
      expect(live()).toBe(before);
      expect(view.length).toBe(0);
      expect(addon.viewDetach(view)).toBe(addon.status.notAllocated);
      return;
    }
    expect(live()).toBe(before + 1);
    view.fill(3);
    expect(addon.viewDetach(view)).toBe(0);
    expect(view.length).toBe(0);
    expect(live()).toBe(before);
    expect(addon.viewDetach(view)).toBe(addon.status.notAllocated);
  });
});
