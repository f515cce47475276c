// When the runtime will not make the Buffer over a new block, the AllocError
// names why: an exception the runtime threw, or another Node-API status; the
// block's memory is returned. When it refuses because it allows no external
// buffers (Electron, V8 sandbox), sysalloc switches to memory the runtime
// allocates (README "Runtimes without external buffers") and the call succeeds.
// The testing addon's refuseWrap(status) answers as such a runtime would;
// runtimeMemory(false) switches back. In a build without external buffers
// (npm run test:no-external) the refusal cannot be simulated: there every call
// succeeds in runtime memory, and that is what these tests assert.
import path = require('path');
import bindings = require('bindings');

import type * as Sysalloc from '..';

const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') });
let lib!: typeof Sysalloc;
jest.isolateModules(() => {
  jest.doMock('bindings', () => () => addon);
  lib = require('..');
});

// napi_status values from js_native_api_types.h.
const napi = { generic_failure: 9, pending_exception: 10, no_external_buffers_allowed: 22 };

// Whether this addon was built without external buffers: it serves runtime memory from the start.
const noExternalBuild = addon.sourceFor(4096, 4096) === 'runtime';

afterEach(() => {
  addon.testing.refuseWrap(0);
  addon.testing.runtimeMemory(noExternalBuild);
});

test.each<[string, number, RegExp]>([
  ['a pending exception', napi.pending_exception, /the runtime threw: simulated exception/],
  ['a generic failure', napi.generic_failure, /Node-API status 9/],
])('%s: ERR_NO_MEMORY naming the cause, nothing held', (_label, status, cause) => {
  addon.drainQuarantine();
  const before = lib.blockStats();
  addon.testing.refuseWrap(status);
  if (noExternalBuild) {
    // No external buffer is ever asked for, so there is nothing to refuse.
    using block = lib.Block.alloc(4096);
    expect(block.source).toBe('runtime');
    return;
  }
  let error: unknown;
  try {
    lib.Block.alloc(4096);
  } catch (e) {
    error = e;
  }
  addon.testing.refuseWrap(0);
  expect(error).toBeInstanceOf(lib.AllocError);
  expect((error as Sysalloc.AllocError).code).toBe('ERR_NO_MEMORY');
  expect((error as Error).message).toMatch(/^the JavaScript runtime could not make a Buffer over 4096 bytes aligned to 4096: /);
  expect((error as Error).message).toMatch(cause);
  expect(lib.blockStats().liveBlocks).toBe(before.liveBlocks);
  using again = lib.Block.alloc(4096);
  expect(again.buffer.length).toBe(4096);
});

test('an Arena whose chunk the runtime will not wrap: ERR_NO_MEMORY naming the cause', () => {
  const arena = new lib.Arena({ capacity: 4096 });
  arena.alloc(16);
  addon.testing.refuseWrap(napi.generic_failure);
  if (noExternalBuild) {
    // Views over runtime memory are Buffers over its ArrayBuffer: nothing to refuse.
    arena.reset();
    expect(arena.alloc(16).length).toBe(16);
    arena.destroy();
    return;
  }
  let error: unknown;
  try {
    arena.reset();
  } catch (e) {
    error = e;
  }
  addon.testing.refuseWrap(0);
  expect(error).toBeInstanceOf(lib.AllocError);
  expect((error as Sysalloc.AllocError).code).toBe('ERR_NO_MEMORY');
  expect((error as Error).message).toMatch(/Arena.reset: the JavaScript runtime could not wrap 4096 bytes at offset 0: Node-API status 9/);
  arena.destroy();
});

test('no external buffers allowed: the block comes from the runtime, aligned, counted, freed by detaching', async () => {
  addon.drainQuarantine();
  const before = lib.blockStats();
  addon.testing.refuseWrap(napi.no_external_buffers_allowed);
  const block = lib.Block.alloc(10000, { align: 65536 });
  addon.testing.refuseWrap(0);
  expect(block.source).toBe('runtime');
  expect(lib.blockSource(4096)).toBe('runtime');
  expect(block.address % 65536n).toBe(0n);
  expect(block.buffer.length).toBe(10000);
  expect(Buffer.isBuffer(block.buffer)).toBe(true);
  expect(block.buffer.every((b) => b === 0)).toBe(true);
  block.buffer.fill(7);
  const during = lib.blockStats();
  expect(during.liveBlocks).toBe(before.liveBlocks + 1);
  expect(during.liveBytes).toBe(before.liveBytes + 10000);
  expect(during.osAllocations.runtime).toBe(before.osAllocations.runtime + 1);
  const arrayBuffer = block.buffer.buffer;
  // over-allocated by align - 1 bytes, and the Buffer at the aligned offset in it
  expect(arrayBuffer.byteLength).toBe(10000 + 65535);
  block.free();
  expect(block.buffer.length).toBe(0);
  expect(arrayBuffer.byteLength).toBe(0);
  const after = lib.blockStats();
  expect(after.liveBlocks).toBe(before.liveBlocks);
  expect(after.liveBytes).toBe(before.liveBytes);
  expect(after.osReleases.runtime).toBe(before.osReleases.runtime + 1);
  // Held (moved to an ArrayBuffer sysalloc keeps) until this synchronous run ends.
  expect(after.quarantinedBlocks).toBe(before.quarantinedBlocks + 1);
  expect(after.quarantinedBytes).toBe(before.quarantinedBytes + 10000);
  expect(() => block.free()).toThrow(expect.objectContaining({ code: 'ERR_NOT_ALLOCATED' }));
  await new Promise((resolve) => setImmediate(resolve));
  expect(lib.blockStats().quarantinedBlocks).toBe(before.quarantinedBlocks);
});

test('once refused, every later block comes from the runtime, without asking again', () => {
  addon.testing.refuseWrap(napi.no_external_buffers_allowed);
  lib.Block.alloc(64).free();
  addon.testing.refuseWrap(napi.generic_failure); // would fail an external wrap
  using again = lib.Block.alloc(4096);
  expect(again.source).toBe('runtime');
  expect(again.address % 4096n).toBe(0n);
});

declare const gc: () => void;

// Collects garbage and turns the loop until the finalizers Node defers have run.
async function settle(): Promise<Sysalloc.BlockStats> {
  let previous = -1;
  for (let round = 0; round < 50; round++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const live = lib.blockStats().liveBlocks;
    if (live === previous) break;
    previous = live;
  }
  return lib.blockStats();
}

test('runtime memory freed in a synchronous run is not reused before the run ends (the quarantine holds it)', async () => {
  addon.testing.runtimeMemory(true);
  const seen = new Set<bigint>();
  for (let i = 0; i < 12; i++) {
    const block = lib.Block.alloc(4096);
    expect(seen.has(block.address)).toBe(false);
    seen.add(block.address);
    block.free();
    expect(block.buffer.length).toBe(0);
  }
  await Promise.resolve(); // the drain's microtask
  await new Promise((resolve) => setImmediate(resolve));
});

test('a block that is collected unfreed is counted freed when the runtime collects it', async () => {
  addon.testing.runtimeMemory(true);
  const before = await settle();
  (() => {
    for (let i = 0; i < 100; i++) lib.Block.alloc(4096);
  })();
  expect(lib.blockStats().liveBlocks).toBe(before.liveBlocks + 100);
  const after = await settle();
  expect(after.liveBlocks).toBe(before.liveBlocks);
  expect(after.osReleases.runtime - before.osReleases.runtime).toBe(100);
});

test('an Arena over runtime memory: reset takes fresh chunks, so what it ended reads length 0', () => {
  addon.testing.refuseWrap(napi.no_external_buffers_allowed);
  const arena = new lib.Arena({ capacity: 4096 });
  addon.testing.refuseWrap(0);
  const first = arena.alloc(16);
  first.fill(1);
  arena.reset();
  expect(first.length).toBe(0);
  const second = arena.alloc(16);
  second.fill(2);
  expect(second.buffer).not.toBe(first.buffer);
  arena.destroy();
  expect(second.length).toBe(0);
});

test.each<[string, () => unknown, RegExp]>([
  ['a guarded block', () => lib.Block.alloc(4096, { guard: true }), /^options\.guard: this runtime does not allow external buffers/],
  ['a secure block', () => lib.Block.alloc(4096, { secure: true }), /^options\.secure: /],
  ['locked huge pages', () => lib.Block.alloc(4096, { lock: true, hugePages: true }), /^options\.lock, options\.hugePages: /],
  ['protect()', () => lib.Block.alloc(4096).protect('read'), /^block\.protect\(\): this runtime does not allow external buffers/],
  ['share()', () => lib.Block.alloc(4096).share(), /^block\.share\(\): /],
  ['a shared Pool', () => new lib.Pool({ slotSize: 64, slots: 4, shared: true }), /this runtime does not allow external buffers/],
])('on runtime memory, %s: ERR_INVALID_PARAM, never a silent downgrade', (_label, make, message) => {
  addon.testing.runtimeMemory(true);
  let error: unknown;
  try {
    make();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(lib.AllocError);
  expect((error as Sysalloc.AllocError).code).toBe('ERR_INVALID_PARAM');
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).toMatch(/napi_no_external_buffers_allowed.*block\.source 'runtime'/);
});
