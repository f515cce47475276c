import { AllocError, AllocErrorCode, blockSource, blockStats, BlockStats, debug } from '..';

declare const gc: () => void;

/** Sizes and alignments every Block test sweeps, on every OS (test/os-facts.test.ts too). */
export const SIZES = [1, 7, 16, 64, 100, 1000, 4095, 4096, 5000, 65536, 100000, 131072, 1 << 20, (1 << 20) + 1, 3 << 20];
export const ALIGNS = [1, 2, 8, 16, 64, 512, 4096, 65536, 1 << 20, 1 << 21];

/**
 * For tests of what serves and takes back an ordinary Block (the OS call, the
 * region cache, the release at free): debug mode (npm run test:debug) serves
 * every Block page-level and keeps freed memory in its quarantine instead, so
 * the tests that call this run with it off (test/debug.test.ts covers it).
 */
export function ordinaryBlocks(): void {
  let was = false;
  beforeAll(() => {
    was = debug.enabled;
    debug.disable();
  });
  afterAll(() => {
    if (was) debug.enable({ reportAtExit: process.env.SYSALLOC_DEBUG_REPORT !== '0' });
  });
}

/**
 * Whether the addon under test serves blocks from memory the runtime allocates
 * (a build with NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED: npm run test:no-external).
 * Tests about external memory then assert what that fallback documents (README
 * "Runtimes without external buffers").
 */
export const runtimeMemory: boolean = blockSource() === 'runtime';

/**
 * `test` for a case about external memory only; on runtime memory a visible
 * skip whose name gives the reason (a sibling test asserts what happens there).
 */
export function externalOnly(when: boolean, why: string): (name: string, fn: jest.ProvidesCallback, timeout?: number) => void {
  if (!runtimeMemory || !when) return test;
  return (name, fn, timeout) => test.skip(`${name} [not on runtime memory: ${why}]`, fn, timeout);
}

/**
 * For a file whose every case is about external memory: `test` and `describe`
 * as usual, or on runtime memory skips whose names end with the reason. The
 * file asserts what happens there in a test of its own (`runtimeOnly`).
 */
export function externalFile(why: string): { test: jest.It; describe: jest.Describe; runtimeOnly: jest.It } {
  if (!runtimeMemory) return { test, describe, runtimeOnly: test.skip };
  const reason = ` [not on runtime memory: ${why}]`;
  const skipped = (skip: jest.It | jest.Describe): any => {
    const named = (name: string, ...rest: unknown[]) => (skip as any)(name + reason, ...rest);
    named.each = (table: unknown) => (name: string, ...rest: unknown[]) => (skip as any).each(table)(name + reason, ...rest);
    return named;
  };
  return { test: skipped(test.skip), describe: skipped(describe.skip), runtimeOnly: test };
}

export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Collects garbage and turns the event loop until Node has run every pending
 * Buffer finalizer: they are deferred to an immediate after the collection.
 */
export async function settle(): Promise<BlockStats> {
  // Three rounds in a row without a change: one can pass while a finalizer that
  // a collection queued is still behind another immediate (seen under load).
  // Rounds after the first also wait 10 ms, time for the runtime's background
  // threads on a loaded machine: CI once saw a collected Pool's block still
  // live after three rounds of immediates alone.
  let previous = -1;
  let stable = 0;
  for (let round = 0; round < 50; round++) {
    gc();
    await turn();
    await turn();
    if (round > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const live = blockStats().liveBlocks;
    stable = live === previous ? stable + 1 : 0;
    if (stable === 2) break;
    previous = live;
  }
  return blockStats();
}

/** How much each per-source counter grew between two readings. */
export function delta(before: BlockStats, after: BlockStats, key: 'osAllocations' | 'osReleases'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of Object.keys(after[key]) as (keyof BlockStats['osAllocations'])[]) {
    out[name] = after[key][name] - before[key][name];
  }
  return out;
}

/**
 * The AllocError fn throws, checked with expect: the test fails when fn
 * returns, throws anything but an AllocError, or (given `code`) one of another code.
 */
export function caught(fn: () => unknown, code?: AllocErrorCode): AllocError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) throw new Error('expected an AllocError');
  expect(thrown).toBeInstanceOf(AllocError);
  if (code !== undefined) expect((thrown as AllocError).code).toBe(code);
  return thrown as AllocError;
}

/** The code of the AllocError fn throws, undefined when it returns; anything else thrown fails the test. */
export function thrownCode(fn: () => unknown): AllocErrorCode | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AllocError);
    return (e as AllocError).code;
  }
  return undefined;
}

/**
 * For property tests, whose failures name the operation: fn must throw an
 * AllocError with this code; returns it. Anything else thrown is rethrown.
 */
export function expectCode(fn: () => unknown, code: AllocErrorCode, what: string): AllocError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AllocError && e.code === code) return e;
    throw e;
  }
  throw new Error(`${what}: expected ${code}`);
}

export function expectEqual(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected) throw new Error(`${what}: ${String(actual)}, expected ${String(expected)}`);
}
