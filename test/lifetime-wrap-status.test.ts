// When the runtime will not make the Buffer over a new block, the AllocError
// names why: no external buffers allowed (Electron, V8 sandbox), an exception the
// runtime threw, or another Node-API status. The block's memory is returned.
// The testing addon's refuseWrap(status) answers as such a runtime would.
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

afterEach(() => addon.testing.refuseWrap(0));

test.each<[string, number, RegExp]>([
  ['no external buffers allowed', napi.no_external_buffers_allowed, /does not allow external buffers \(napi_no_external_buffers_allowed\)/],
  ['a pending exception', napi.pending_exception, /the runtime threw: simulated exception/],
  ['a generic failure', napi.generic_failure, /Node-API status 9/],
])('%s: ERR_NO_MEMORY naming the cause, nothing held', (_label, status, cause) => {
  addon.drainQuarantine();
  const before = lib.blockStats();
  addon.testing.refuseWrap(status);
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
  addon.testing.refuseWrap(napi.no_external_buffers_allowed);
  let error: unknown;
  try {
    arena.reset();
  } catch (e) {
    error = e;
  }
  addon.testing.refuseWrap(0);
  expect(error).toBeInstanceOf(lib.AllocError);
  expect((error as Sysalloc.AllocError).code).toBe('ERR_NO_MEMORY');
  expect((error as Error).message).toMatch(/Arena.reset: the JavaScript runtime could not wrap 4096 bytes at offset 0: .*napi_no_external_buffers_allowed/);
  arena.destroy();
});
