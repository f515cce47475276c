// Eight threads, a million mixed calls each, content checked, some blocks freed
// by another thread: the shim's counters must come out exact.
import { shim } from '..';
import { consumers as c } from './consumers';

beforeAll(() => {
  c.setApi(shim.pointers().table);
});

test('a thread freeing what a running thread allocated: counters exact, the peak never wraps', () => {
  const before = shim.stats();
  const bytes = c.handOffWhileAlive(64, 1000); // just under the 64 KiB a thread keeps to itself
  const after = shim.stats();
  expect(bytes).toBe(64000);
  expect({
    allocations: after.allocations - before.allocations,
    frees: after.frees - before.frees,
    liveBytes: after.liveBytes - before.liveBytes,
  }).toEqual({ allocations: 66, frees: 66, liveBytes: 0 });
  expect(after.peakBytes).toBeGreaterThanOrEqual(Math.max(before.peakBytes, before.liveBytes + bytes));
  expect(after.peakBytes).toBeLessThanOrEqual(Math.max(before.peakBytes, before.liveBytes + (1 << 17) + 2 * 64 * 1024));
});

test('8 threads x 10^6 malloc/calloc/realloc/free/aligned_alloc: contents intact, statistics exact', () => {
  const before = shim.stats();
  const totals = c.runThreads(8, 1_000_000, 2024);
  const after = shim.stats();

  expect({
    failures: totals.failures,
    badContent: totals.badContent,
    badZero: totals.badZero,
    badAlignment: totals.badAlignment,
    badSize: totals.badSize,
  }).toEqual({ failures: 0, badContent: 0, badZero: 0, badAlignment: 0, badSize: 0 });
  // Every kind of call ran, and blocks crossed threads.
  expect(totals.allocations).toBeGreaterThan(1_000_000);
  expect(totals.reallocations).toBeGreaterThan(500_000);
  expect(totals.handedOver).toBeGreaterThan(100_000);

  expect({
    allocations: after.allocations - before.allocations,
    reallocations: after.reallocations - before.reallocations,
    frees: after.frees - before.frees,
    liveBlocks: after.liveBlocks - before.liveBlocks,
    liveBytes: after.liveBytes - before.liveBytes,
    foreignFrees: after.foreignFrees - before.foreignFrees,
    invalidFrees: after.invalidFrees - before.invalidFrees,
  }).toEqual({
    allocations: totals.allocations,
    reallocations: totals.reallocations,
    frees: totals.allocations,
    liveBlocks: 0,
    liveBytes: 0,
    foreignFrees: 0,
    invalidFrees: 0,
  });
  expect(totals.frees).toBe(totals.allocations);
  expect(totals.heldAtEnd).toBe(0);
  // Threads allocating at once see each other's bytes (and this thread's, idle
  // meanwhile) in steps of 64 KiB: the peak may be off by that much per other
  // thread, never more; and never wraps below zero into a huge number.
  expect(after.peakBytes).toBeGreaterThanOrEqual(before.peakBytes);
  expect(after.peakBytes).toBeLessThanOrEqual(
    Math.max(before.peakBytes, before.liveBytes + totals.heldAtMost + 8 * 64 * 1024),
  );
});
