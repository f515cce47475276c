// Debug mode (lib/debug.ts) in this process, at its edges: what SYSALLOC_DEBUG,
// SYSALLOC_DEBUG_REPORT and SYSALLOC_GUARD_SAMPLE do at load, which Blocks are
// recorded and sampled (one in N), the options of debug.enable and
// debug.sample with the exact message of each refusal, the text handed to the
// native quarantine for a freed Block, the leak report (sites, their order,
// the size histogram, the shim's callers) to the byte, Blocks freed while no
// hook ran or collected without free, stack frames kept, and the report at
// process exit (its listener is taken from process.once and run here).
//
// Each test loads the package afresh (jest.isolateModules) over the testing
// addon (test/faults) behind an object that answers debug mode's native calls
// itself (the catcher, the quarantine's counts, the shim's records) and serves
// a debug Block as an ordinary one: so no catcher is installed in this
// process, every number in a report is known, and every case holds on every
// build, runtime memory (npm run test:no-external) included, unless its name
// says otherwise.
import fs = require('fs');
import path = require('path');
import bindings = require('bindings');

import type * as Sysalloc from '..';

declare const gc: () => void;

/** lib/debug.ts's exports for Pool's debug mode (internal: left out of the published types). */
interface DebugInternals {
  POISON: number;
  brokenPoison(bytes: Uint8Array): number;
  reportBrokenPoison(
    size: number,
    address: number,
    at: number,
    value: number,
    found: string,
    allocatedAt: string | undefined,
    freedAt: string | undefined,
  ): never;
}

const addon = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') });

interface Answers {
  catcher: string;
  quarantinedBlocks: number;
  quarantinedBytes: number;
  shim: { liveBlocks: number; liveBytes: number; heldBlocks: number; reported: number };
  shimSites: Array<[string, number, number]>;
}
const quiet = (): Answers => ({
  catcher: 'signal',
  quarantinedBlocks: 0,
  quarantinedBytes: 0,
  shim: { liveBlocks: 0, liveBytes: 0, heldBlocks: 0, reported: 0 },
  shimSites: [],
});
let answers = quiet();
interface Calls {
  enable: Array<[number, number, boolean]>;
  describe: Array<[number, string]>;
  shimDebug: boolean[];
  flush: number;
  /** The page options of each Block asked for with blockAllocPages; 0 for one asked for with blockAlloc. */
  blocks: number[];
}
const none = (): Calls => ({ enable: [], describe: [], shimDebug: [], flush: 0, blocks: [] });
let calls = none();
const MAX_BLOCKS = 4096;
const fake = Object.create(addon, {
  debugEnable: {
    value: (blocks: number, bytes: number, uffd: boolean) => {
      calls.enable.push([blocks, bytes, uffd]);
      return answers.catcher;
    },
  },
  debugDescribe: { value: (at: number, text: string) => calls.describe.push([at, text]) },
  debugStats: {
    value: () => ({
      quarantinedBlocks: answers.quarantinedBlocks,
      quarantinedBytes: answers.quarantinedBytes,
      entered: 0,
      released: 0,
      catcher: answers.catcher,
    }),
  },
  debugFlush: { value: () => calls.flush++ },
  debugMaxBlocks: { value: MAX_BLOCKS },
  shimDebug: { value: (on: boolean) => calls.shimDebug.push(on) },
  shimDebugStats: { value: () => ({ ...answers.shim, on: false }) },
  shimDebugSites: { value: () => answers.shimSites.map((s) => [...s]) },
  // A debug Block (page options 32, sampled 33) is served as an ordinary one, not zero-filled (no test reads
  // it; so a block of a GiB costs no memory until touched): the hooks are what is tested.
  blockAllocPages: {
    value: (size: number, align: number, options: number) => {
      calls.blocks.push(options);
      return addon.blockAlloc(size, align, false);
    },
  },
  blockAlloc: {
    value: (size: number, align: number, zero: boolean) => {
      calls.blocks.push(0);
      return addon.blockAlloc(size, align, zero);
    },
  },
});

// Debug mode's listeners of process.once('exit'): kept here, run by the tests. The
// package's other one (lib/native.ts: the scan of blocks at teardown) is kept out and never run.
let exitListeners: Array<() => void> = [];
const realOnce = process.once;
beforeAll(() => {
  jest.spyOn(process, 'once').mockImplementation(function (this: NodeJS.Process, event: string | symbol, listener: (...args: any[]) => void) {
    if (event === 'exit') {
      if (!String(listener).includes('teardownScan')) exitListeners.push(listener as () => void);
    } else realOnce.call(this, event, listener);
    return this;
  } as typeof process.once);
});
afterAll(() => jest.restoreAllMocks());

const ENV = ['SYSALLOC_DEBUG', 'SYSALLOC_DEBUG_REPORT', 'SYSALLOC_GUARD_SAMPLE'] as const;
type Env = Partial<Record<(typeof ENV)[number], string>>;
interface Loaded {
  lib: typeof Sysalloc;
  internal: DebugInternals;
}
let loaded: Loaded[] = [];

/** The package loaded afresh with exactly these debug variables set (the others unset). */
function load(env: Env = {}): Loaded {
  const saved = ENV.map((key) => process.env[key]);
  for (const key of ENV) {
    if (env[key] === undefined) delete process.env[key];
    else process.env[key] = env[key];
  }
  let out!: Loaded;
  try {
    jest.isolateModules(() => {
      jest.doMock('bindings', () => () => fake);
      out = { lib: require('..'), internal: require('../dist/debug') };
    });
  } finally {
    ENV.forEach((key, i) => {
      if (saved[i] === undefined) delete process.env[key];
      else process.env[key] = saved[i];
    });
  }
  loaded.push(out);
  return out;
}

beforeEach(() => {
  answers = quiet();
  calls = none();
  exitListeners = [];
});
afterEach(() => {
  // Debug mode and sampling of every copy loaded, off (each copy's Blocks are freed by its test).
  for (const { lib } of loaded) {
    lib.debug.disable();
    lib.debug.sample(0);
  }
  loaded = [];
});

function message(fn: () => unknown): [string | undefined, string] {
  try {
    fn();
  } catch (e) {
    return [(e as { code?: string }).code, (e as Error).message];
  }
  throw new Error('did not throw');
}

/** The line of this file that called it. */
function line(): number {
  const at = String(new Error().stack).split('\n')[2];
  return Number((/debug-boundaries\.test\.ts:(\d+):/.exec(at) as RegExpExecArray)[1]);
}

/** What fs.writeSync(2, ...) wrote while fn ran. */
function stderrOf(fn: () => void): string {
  let text = '';
  const spy = jest.spyOn(fs, 'writeSync').mockImplementation((fd: unknown, data: unknown) => {
    if (fd === 2) text += String(data);
    return 0;
  });
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return text;
}

const DEFAULT_BYTES = 256 * 1024 * 1024;

describe('at load', () => {
  test('without SYSALLOC_DEBUG or SYSALLOC_GUARD_SAMPLE: off, Blocks ordinary, nothing recorded, no exit listener', () => {
    const { lib } = load();
    expect(lib.debug.enabled).toBe(false);
    const blocks = [lib.Block.alloc(100), lib.Block.alloc(4096)];
    expect(calls.blocks).toEqual([0, 0]);
    expect(calls.enable).toEqual([]);
    expect(calls.shimDebug).toEqual([]);
    expect(exitListeners).toHaveLength(0);
    const report = lib.debug.report();
    expect([report.enabled, report.liveBlocks, report.liveBytes, report.sites, report.histogram]).toEqual([false, 0, 0, [], []]);
    for (const b of blocks) b.free();
    expect(calls.describe).toEqual([]);
  });

  test.each(['1', 'yes'])('SYSALLOC_DEBUG=%s: on, with userfaultfd preferred, the default quarantine, the shim recording and the report at exit', (value) => {
    const { lib } = load({ SYSALLOC_DEBUG: value });
    expect(lib.debug.enabled).toBe(true);
    expect(calls.enable).toEqual([[1024, DEFAULT_BYTES, true]]);
    expect(calls.shimDebug).toEqual([true]);
    const block = lib.Block.alloc(100);
    expect(calls.blocks).toEqual([32]);
    expect(exitListeners).toHaveLength(1);
    expect(stderrOf(() => exitListeners[0]())).toMatch(/^\nsysalloc debug report: 1 live Block, 100 bytes /);
    block.free();
  });

  test('SYSALLOC_DEBUG=signal: on, with the signal catcher even where userfaultfd is allowed', () => {
    const { lib } = load({ SYSALLOC_DEBUG: 'signal' });
    expect(lib.debug.enabled).toBe(true);
    expect(calls.enable).toEqual([[1024, DEFAULT_BYTES, false]]);
  });

  test.each(['', '0'])('SYSALLOC_DEBUG="%s": off', (value) => {
    const { lib } = load({ SYSALLOC_DEBUG: value });
    expect(lib.debug.enabled).toBe(false);
    expect(calls.enable).toEqual([]);
  });

  test('SYSALLOC_DEBUG_REPORT=0: no report at exit although blocks are live; any other value keeps it', () => {
    const off = load({ SYSALLOC_DEBUG: '1', SYSALLOC_DEBUG_REPORT: '0' });
    const a = off.lib.Block.alloc(100);
    expect(exitListeners).toHaveLength(1);
    expect(stderrOf(() => exitListeners[0]())).toBe('');
    a.free();
    const on = load({ SYSALLOC_DEBUG: '1', SYSALLOC_DEBUG_REPORT: '1' });
    const b = on.lib.Block.alloc(100);
    expect(exitListeners).toHaveLength(2);
    expect(stderrOf(() => exitListeners[1]())).toMatch(/^\nsysalloc debug report: 1 live Block/);
    b.free();
  });

  test('SYSALLOC_GUARD_SAMPLE=3: one Block in three is sampled (guarded, debug), the third first, without debug mode', () => {
    const { lib } = load({ SYSALLOC_GUARD_SAMPLE: '3' });
    expect(lib.debug.enabled).toBe(false);
    const blocks = Array.from({ length: 7 }, () => lib.Block.alloc(64));
    expect(calls.blocks).toEqual([0, 0, 33, 0, 0, 33, 0]);
    expect(lib.debug.report().liveBlocks).toBe(2);
    for (const b of blocks) b.free();
    expect(calls.shimDebug).toEqual([]);
    expect(exitListeners).toHaveLength(0);
  });

  test('SYSALLOC_GUARD_SAMPLE=1: every Block is sampled', () => {
    const { lib } = load({ SYSALLOC_GUARD_SAMPLE: '1' });
    const blocks = [lib.Block.alloc(64), lib.Block.alloc(64)];
    expect(calls.blocks).toEqual([33, 33]);
    for (const b of blocks) b.free();
  });

  test.each(['', '0', '-2', '1.5', 'three'])('SYSALLOC_GUARD_SAMPLE="%s": no sampling', (value) => {
    const { lib } = load({ SYSALLOC_GUARD_SAMPLE: value });
    const blocks = [lib.Block.alloc(64), lib.Block.alloc(64)];
    expect(calls.blocks).toEqual([0, 0]);
    for (const b of blocks) b.free();
  });

  test('SYSALLOC_DEBUG=1 with SYSALLOC_GUARD_SAMPLE=1: debug mode only, so after debug.disable() Blocks are ordinary', () => {
    const { lib } = load({ SYSALLOC_DEBUG: '1', SYSALLOC_GUARD_SAMPLE: '1' });
    const a = lib.Block.alloc(64);
    lib.debug.disable();
    const b = lib.Block.alloc(64);
    expect(calls.blocks).toEqual([32, 0]);
    a.free();
    b.free();
  });
});

describe('debug.enable, debug.disable and debug.sample', () => {
  test('enable() without options: the default quarantine (1024 blocks, 256 MiB), userfaultfd preferred; the options given reach the native quarantine', () => {
    const { lib } = load();
    lib.debug.enable();
    lib.debug.enable({ quarantineBlocks: 0, quarantineBytes: 0, userfaultfd: false });
    lib.debug.enable({ quarantineBlocks: MAX_BLOCKS, quarantineBytes: Number.MAX_SAFE_INTEGER, userfaultfd: true });
    expect(calls.enable).toEqual([
      [1024, DEFAULT_BYTES, true],
      [0, 0, false],
      [MAX_BLOCKS, Number.MAX_SAFE_INTEGER, true],
    ]);
    expect(calls.shimDebug).toEqual([true, true, true]);
    // One exit listener however often it is called.
    expect(exitListeners).toHaveLength(1);
  });

  test('disable(): new Blocks are ordinary, the shim stops recording, a Block recorded before stays in the report until freed', () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false });
    const a = lib.Block.alloc(64);
    lib.debug.disable();
    expect(lib.debug.enabled).toBe(false);
    expect(calls.shimDebug).toEqual([true, false]);
    const b = lib.Block.alloc(64);
    expect(calls.blocks).toEqual([32, 0]);
    const report = lib.debug.report();
    expect([report.enabled, report.liveBlocks, report.liveBytes]).toEqual([false, 1, 64]);
    b.free();
    a.free();
    expect(lib.debug.report().liveBlocks).toBe(0);
  });

  test('sampling goes on across debug mode: enable() takes precedence, and the count resumes after disable()', () => {
    const { lib } = load();
    lib.debug.sample(2);
    const blocks = [lib.Block.alloc(64)];
    lib.debug.enable({ reportAtExit: false });
    blocks.push(lib.Block.alloc(64), lib.Block.alloc(64));
    lib.debug.disable();
    blocks.push(lib.Block.alloc(64), lib.Block.alloc(64), lib.Block.alloc(64));
    expect(calls.blocks).toEqual([0, 32, 32, 33, 0, 33]);
    for (const b of blocks) b.free();
  });

  test('sample(0) stops sampling: Blocks are ordinary and nothing more is recorded', () => {
    const { lib } = load();
    lib.debug.sample(1);
    const a = lib.Block.alloc(64);
    lib.debug.sample(0);
    const b = lib.Block.alloc(64);
    const c = lib.Block.alloc(64);
    expect(calls.blocks).toEqual([33, 0, 0]);
    expect(lib.debug.report().liveBlocks).toBe(1);
    for (const x of [a, b, c]) x.free();
  });

  test('sample(N) starts the quarantine with its defaults when no catcher is installed yet, and only then', () => {
    const { lib } = load();
    answers.catcher = 'none';
    lib.debug.sample(0);
    expect(calls.enable).toEqual([]);
    lib.debug.sample(5);
    expect(calls.enable).toEqual([[1024, DEFAULT_BYTES, true]]);
    answers.catcher = 'userfaultfd';
    lib.debug.sample(7);
    expect(calls.enable).toHaveLength(1);
    expect(lib.debug.enabled).toBe(false);
    expect(calls.shimDebug).toEqual([]);
  });

  test('sample() refuses what is not a safe integer from 0 up, naming the value', () => {
    const { lib } = load();
    for (const [value, got] of [
      [-1, '-1'],
      [1.5, '1.5'],
      [2 ** 53, String(2 ** 53)],
      [Infinity, 'Infinity'],
      [NaN, 'NaN'],
      ['3', '"3" (a string)'],
    ] as const) {
      expect(message(() => lib.debug.sample(value as number))).toEqual([
        'ERR_INVALID_PARAM',
        `every must be an integer from 0 up (0: no sampling); got ${got}`,
      ]);
    }
    lib.debug.sample(Number.MAX_SAFE_INTEGER);
    lib.debug.sample(0);
  });

  test('enable() refuses each option out of range or of the wrong type, naming it and its bounds; the bounds themselves are accepted', () => {
    const { lib } = load();
    const refusals: Array<[Sysalloc.DebugOptions, string]> = [
      [{ frames: -1 }, 'options.frames must be an integer from 0 to 64; got -1'],
      [{ frames: 65 }, 'options.frames must be an integer from 0 to 64; got 65'],
      [{ frames: 2.5 }, 'options.frames must be an integer from 0 to 64; got 2.5'],
      [{ frames: '8' as never }, 'options.frames must be an integer from 0 to 64; got "8" (a string)'],
      [{ quarantineBlocks: -1 }, `options.quarantineBlocks must be an integer from 0 to ${MAX_BLOCKS}; got -1`],
      [{ quarantineBlocks: MAX_BLOCKS + 1 }, `options.quarantineBlocks must be an integer from 0 to ${MAX_BLOCKS}; got ${MAX_BLOCKS + 1}`],
      [{ quarantineBytes: 2 ** 53 }, `options.quarantineBytes must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}; got ${2 ** 53}`],
      [{ reportAtExit: 1 as never }, 'options.reportAtExit must be a boolean; got 1'],
      [{ userfaultfd: 'yes' as never }, 'options.userfaultfd must be a boolean; got "yes" (a string)'],
      [[] as never, 'options must be a plain object; got an array'],
      [null as never, 'options must be a plain object; got null'],
    ];
    for (const [options, text] of refusals) expect(message(() => lib.debug.enable(options))).toEqual(['ERR_INVALID_PARAM', text]);
    expect(lib.debug.enabled).toBe(false);
    expect(calls.enable).toEqual([]);
    lib.debug.enable({ frames: 0, quarantineBlocks: 0 });
    lib.debug.enable({ frames: 64, quarantineBlocks: MAX_BLOCKS });
    expect(lib.debug.enabled).toBe(true);
  });

  test('maxQuarantineBlocks is the native bound; flushQuarantine() empties the native quarantine', () => {
    const { lib } = load();
    expect(lib.debug.maxQuarantineBlocks).toBe(MAX_BLOCKS);
    lib.debug.flushQuarantine();
    expect(calls.flush).toBe(1);
  });
});

describe('what is recorded', () => {
  test('a freed Block hands the quarantine its size, address, allocation site and free site', () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false });
    const block = lib.Block.alloc(3000); const allocLine = line();
    const address = block.address;
    block.free(); const freeLine = line();
    expect(calls.describe).toHaveLength(1);
    const [at, text] = calls.describe[0];
    expect(at).toBe(Number(address));
    const lines = text.split('\n');
    expect(lines.slice(0, 2)).toEqual([`the memory of a Block of 3000 bytes at 0x${address.toString(16)}, freed`, '  allocated at:']);
    expect(lines[2]).toMatch(new RegExp(`^ {4}at .*debug-boundaries\\.test\\.ts:${allocLine}:\\d+\\)?$`));
    const freedAt = lines.indexOf('  freed at:');
    expect(freedAt).toBeGreaterThan(2);
    expect(lines[freedAt + 1]).toMatch(new RegExp(`^ {4}at .*debug-boundaries\\.test\\.ts:${freeLine}:\\d+\\)?$`));
    // Only frames outside sysalloc, each indented, none of Node's internals.
    for (const l of lines.slice(2).filter((x) => x !== '  freed at:')) {
      expect(l).toMatch(/^ {4}at /);
      expect(l).not.toMatch(/node:internal\/|[/\\](dist|lib)[/\\](block|debug|index)\.(js|ts)/);
    }
  });

  test('a sampled Block is recorded without its allocation site; its free site is kept', () => {
    const { lib } = load();
    lib.debug.sample(1);
    const block = lib.Block.alloc(100);
    const report = lib.debug.report();
    expect(report.sites).toEqual([{ site: '(site not recorded)', count: 1, bytes: 100, stack: '' }]);
    const address = block.address;
    block.free(); const freeLine = line();
    const lines = calls.describe[0][1].split('\n');
    expect(lines.slice(0, 4)).toEqual([
      `the memory of a Block of 100 bytes at 0x${address.toString(16)}, freed`,
      '  allocated at:',
      '    (not recorded: a block sampled by SYSALLOC_GUARD_SAMPLE, or debug mode turned on later)',
      '  freed at:',
    ]);
    expect(lines[4]).toMatch(new RegExp(`debug-boundaries\\.test\\.ts:${freeLine}:`));
  });

  test('an ordinary Block freed while sampling is on is not described to the quarantine', () => {
    const { lib } = load();
    lib.debug.sample(2);
    const ordinary = lib.Block.alloc(64);
    const sampled = lib.Block.alloc(64);
    expect(calls.blocks).toEqual([0, 33]);
    ordinary.free();
    expect(calls.describe).toEqual([]);
    sampled.free();
    expect(calls.describe).toHaveLength(1);
  });

  test('frames: at most that many frames of the caller are kept per site, and a later enable() without it keeps it', () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false, frames: 2 });
    lib.debug.enable({ reportAtExit: false });
    const deep = (n: number): Sysalloc.Block => (n === 0 ? lib.Block.alloc(64) : deep(n - 1));
    const a = deep(20);
    expect(lib.debug.report().sites.map((s) => s.stack.split('\n').length)).toEqual([2]);
    a.free();
    const [allocated, freed] = calls.describe[0][1].split('  freed at:\n');
    expect(allocated.split('\n').filter((l) => l.startsWith('    at '))).toHaveLength(2);
    expect(freed.split('\n')).toHaveLength(2);
    lib.debug.enable({ reportAtExit: false, frames: 8 });
    const b = deep(20);
    expect(lib.debug.report().sites.map((s) => s.stack.split('\n').length)).toEqual([8]);
    b.free();
  });

  test('frames: 0 keeps no frame: every Block is under "(site not recorded)"', () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false, frames: 0 });
    const block = lib.Block.alloc(64);
    expect(lib.debug.report().sites).toEqual([{ site: '(site not recorded)', count: 1, bytes: 64, stack: '' }]);
    block.free();
  });

  test('recording a site leaves Error.stackTraceLimit as it was', () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false });
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 3;
    try {
      lib.Block.alloc(64).free();
      expect(Error.stackTraceLimit).toBe(3);
    } finally {
      Error.stackTraceLimit = limit;
    }
  });

  test('a Block allocated from a callback Node calls: its site leaves out Node\'s internal frames', async () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false, frames: 64 });
    const block = await new Promise<Sysalloc.Block>((resolve) => setImmediate(() => resolve(lib.Block.alloc(64))));
    const [site] = lib.debug.report().sites;
    expect(site.site).toMatch(/debug-boundaries\.test\.ts:\d+:/);
    expect(site.stack).not.toContain('node:internal/');
    block.free();
    const text = calls.describe[0][1];
    expect(text).not.toContain('node:internal/');
  });

  test('an Error.prepareStackTrace that returns no string (as callsite libraries install): sites are not recorded, nothing throws', () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false });
    const prepare = Error.prepareStackTrace;
    Error.prepareStackTrace = (_error, frames) => frames;
    let block!: Sysalloc.Block;
    try {
      block = lib.Block.alloc(64);
    } finally {
      Error.prepareStackTrace = prepare;
    }
    const report = lib.debug.report();
    expect(report.sites).toEqual([{ site: '(site not recorded)', count: 1, bytes: 64, stack: '' }]);
    const address = block.address;
    Error.prepareStackTrace = (_error, frames) => frames;
    try {
      block.free();
    } finally {
      Error.prepareStackTrace = prepare;
    }
    expect(calls.describe[0][1].split('\n')).toEqual([
      `the memory of a Block of 64 bytes at 0x${address.toString(16)}, freed`,
      '  allocated at:',
      '    (not recorded: a block sampled by SYSALLOC_GUARD_SAMPLE, or debug mode turned on later)',
      '  freed at:',
    ]);
  });

  test('a recorded Block freed after disable() leaves the report (and the exit report) at once, without a quarantine description', () => {
    const { lib } = load();
    lib.debug.enable();
    const block = lib.Block.alloc(64);
    lib.debug.disable();
    block.free();
    expect(calls.describe).toEqual([]);
    expect(exitListeners).toHaveLength(1);
    expect(stderrOf(() => exitListeners[0]())).toBe('');
    expect(lib.debug.report().liveBlocks).toBe(0);
  });

  test('a recorded Block collected without free leaves the report once collected; a report taken before that does not throw', async () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false });
    (() => {
      lib.Block.alloc(64);
    })();
    expect(lib.debug.report().liveBlocks).toBe(1);
    let live = 1;
    for (let round = 0; round < 50 && live === 1; round++) {
      await new Promise((resolve) => setTimeout(resolve, round === 0 ? 0 : 10));
      gc();
      // Collected but its record not dropped yet (the registry's callback runs later): no throw.
      lib.debug.report();
      await new Promise((resolve) => setImmediate(resolve));
      live = lib.debug.report().liveBlocks;
    }
    expect(live).toBe(0);
  });
});

describe('Block.fromShared', () => {
  const noExternalBuild = addon.sourceFor(4096, 4096) === 'runtime';
  const shareTest = noExternalBuild
    ? (name: string, fn: jest.ProvidesCallback) => test.skip(`${name} [not on runtime memory: a Block there cannot be shared; a sibling test asserts the refusal]`, fn)
    : test;

  shareTest('an opened Block is recorded in debug mode only (not while sampling), and its free hands nothing to the quarantine', () => {
    const { lib } = load();
    lib.debug.sample(1);
    const owner = lib.Block.alloc(4096);
    const sampledOpen = lib.Block.fromShared(owner.share());
    expect(lib.debug.report().liveBlocks).toBe(1);
    lib.debug.sample(0);
    lib.debug.enable({ reportAtExit: false });
    const opened = lib.Block.fromShared(owner.share()); const openLine = line();
    const report = lib.debug.report();
    expect(report.liveBlocks).toBe(2);
    expect(report.sites.find((s) => s.site.includes(`debug-boundaries.test.ts:${openLine}:`))).toMatchObject({ count: 1, bytes: 4096 });
    opened.free();
    sampledOpen.free();
    expect(calls.describe).toEqual([]);
    expect(lib.debug.report().liveBlocks).toBe(1);
    owner.free();
    expect(calls.describe).toHaveLength(1);
    expect(lib.debug.report().liveBlocks).toBe(0);
  });

  if (noExternalBuild) {
    test('on runtime memory a Block cannot be shared, so none is opened', () => {
      const { lib } = load();
      lib.debug.enable({ reportAtExit: false });
      const owner = lib.Block.alloc(4096);
      expect(message(() => owner.share())).toEqual([
        'ERR_INVALID_PARAM',
        "block.share(): this runtime does not allow external buffers (napi_no_external_buffers_allowed: Electron, a V8 sandbox), " +
          "so blocks are memory it allocates (block.source 'runtime'), which sysalloc cannot guard, lock, wipe, keep out of core dumps, back with huge pages, protect or share",
      ]);
      expect(lib.debug.report().liveBlocks).toBe(1);
      owner.free();
    });
  }
});

describe('debug.report()', () => {
  test('no live Block: one line with the quarantine and catcher, no sections', () => {
    const { lib } = load();
    Object.assign(answers, { quarantinedBlocks: 3, quarantinedBytes: 12288, catcher: 'userfaultfd' });
    lib.debug.enable({ reportAtExit: false });
    expect(lib.debug.report()).toEqual({
      enabled: true,
      liveBlocks: 0,
      liveBytes: 0,
      sites: [],
      histogram: [],
      quarantine: { blocks: 3, bytes: 12288, catcher: 'userfaultfd' },
      shim: { liveBlocks: 0, liveBytes: 0, heldBlocks: 0, reported: 0, sites: [] },
      text: 'sysalloc debug report: 0 live Blocks, 0 bytes (quarantine: 3 freed blocks held, 12288 bytes; catcher: userfaultfd)',
    });
  });

  test('sites by bytes, then by count, the most first; sizes by power of two, smallest first; the text to the byte', () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false });
    const blocks: Sysalloc.Block[] = [];
    blocks.push(lib.Block.alloc(1)); const one = line();
    for (let i = 0; i < 2; i++) blocks.push(lib.Block.alloc(100)); const twice = line();
    blocks.push(lib.Block.alloc(200)); const once = line();
    // A site is one call: a line and column.
    for (const size of [1000, 1024, 1025, 2047]) blocks.push(lib.Block.alloc(size)); const many = line();
    for (const size of [4096, 3, 2]) blocks.push(lib.Block.alloc(size)); const mixed = line();
    blocks.push(lib.Block.alloc((1 << 20) + 1)); const big = line();
    const report = lib.debug.report();
    const site = (n: number) => expect.stringMatching(new RegExp(`^at .*debug-boundaries\\.test\\.ts:${n}:\\d+\\)?$`));
    expect(report.sites).toEqual([
      { site: site(big), count: 1, bytes: (1 << 20) + 1, stack: expect.any(String) },
      { site: site(many), count: 4, bytes: 5096, stack: expect.any(String) },
      { site: site(mixed), count: 3, bytes: 4101, stack: expect.any(String) },
      { site: site(twice), count: 2, bytes: 200, stack: expect.any(String) },
      { site: site(once), count: 1, bytes: 200, stack: expect.any(String) },
      { site: site(one), count: 1, bytes: 1, stack: expect.any(String) },
    ]);
    expect(report.sites.map((s) => s.stack.split('\n')[0])).toEqual(report.sites.map((s) => s.site));
    expect(report.histogram).toEqual([
      { size: 1, count: 1, bytes: 1 },
      { size: 2, count: 1, bytes: 2 },
      { size: 4, count: 1, bytes: 3 },
      { size: 128, count: 2, bytes: 200 },
      { size: 256, count: 1, bytes: 200 },
      { size: 1024, count: 2, bytes: 2024 },
      { size: 2048, count: 2, bytes: 3072 },
      { size: 4096, count: 1, bytes: 4096 },
      { size: 2 << 20, count: 1, bytes: (1 << 20) + 1 },
    ]);
    const total = 1 + 200 + 200 + 5096 + 4101 + (1 << 20) + 1;
    expect([report.liveBlocks, report.liveBytes]).toEqual([12, total]);
    const pad = (value: number | string, width: number) => String(value).padStart(width);
    expect(report.text.split('\n')).toEqual([
      `sysalloc debug report: 12 live Blocks, ${total} bytes (quarantine: 0 freed blocks held, 0 bytes; catcher: signal)`,
      'live blocks by allocation site (bytes, count, site):',
      ...report.sites.map((s) => `  ${pad(s.bytes, 12)} ${pad(s.count, 6)}  ${s.site}`),
      'live blocks by size (up to, count, bytes):',
      `  ${pad('1 B', 10)} ${pad(1, 6)} ${pad(1, 12)}`,
      `  ${pad('2 B', 10)} ${pad(1, 6)} ${pad(2, 12)}`,
      `  ${pad('4 B', 10)} ${pad(1, 6)} ${pad(3, 12)}`,
      `  ${pad('128 B', 10)} ${pad(2, 6)} ${pad(200, 12)}`,
      `  ${pad('256 B', 10)} ${pad(1, 6)} ${pad(200, 12)}`,
      `  ${pad('1 KiB', 10)} ${pad(2, 6)} ${pad(2024, 12)}`,
      `  ${pad('2 KiB', 10)} ${pad(2, 6)} ${pad(3072, 12)}`,
      `  ${pad('4 KiB', 10)} ${pad(1, 6)} ${pad(4096, 12)}`,
      `  ${pad('2 MiB', 10)} ${pad(1, 6)} ${pad((1 << 20) + 1, 12)}`,
    ]);
    for (const b of blocks) b.free();
  });

  test('a Block of more than 512 MiB is in the 1 GiB bucket, printed in GiB', () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false });
    const block = lib.Block.alloc((512 << 20) + 1);
    const report = lib.debug.report();
    expect(report.histogram).toEqual([{ size: 1 << 30, count: 1, bytes: (512 << 20) + 1 }]);
    expect(report.text.split('\n').slice(-1)).toEqual([`  ${'1 GiB'.padStart(10)} ${'1'.padStart(6)} ${String((512 << 20) + 1).padStart(12)}`]);
    block.free();
  });

  test('one live Block: "1 live Block"', () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false });
    const block = lib.Block.alloc(10);
    expect(lib.debug.report().text.split('\n')[0]).toBe(
      'sysalloc debug report: 1 live Block, 10 bytes (quarantine: 0 freed blocks held, 0 bytes; catcher: signal)',
    );
    block.free();
  });

  test('the shim: its counts, its callers by bytes then count, and a section of the text only while shim blocks are live', () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false });
    answers.shim = { liveBlocks: 0, liveBytes: 0, heldBlocks: 2, reported: 1 };
    answers.shimSites = [];
    const quiet = lib.debug.report();
    expect(quiet.shim).toEqual({ liveBlocks: 0, liveBytes: 0, heldBlocks: 2, reported: 1, sites: [] });
    expect(quiet.text).not.toContain('shim');
    answers.shim = { liveBlocks: 6, liveBytes: 700, heldBlocks: 0, reported: 3 };
    answers.shimSites = [
      ['libz.so(deflateInit2_+0x1f)', 1, 100],
      ['libc.so.6+0x2a1b0', 3, 300],
      ['libsqlite3.so(sqlite3Malloc+0x20)', 2, 300],
    ];
    const report = lib.debug.report();
    expect(report.shim).toEqual({
      liveBlocks: 6,
      liveBytes: 700,
      heldBlocks: 0,
      reported: 3,
      sites: [
        { site: 'libc.so.6+0x2a1b0', count: 3, bytes: 300 },
        { site: 'libsqlite3.so(sqlite3Malloc+0x20)', count: 2, bytes: 300 },
        { site: 'libz.so(deflateInit2_+0x1f)', count: 1, bytes: 100 },
      ],
    });
    expect(report.text.split('\n')).toEqual([
      'sysalloc debug report: 0 live Blocks, 0 bytes (quarantine: 0 freed blocks held, 0 bytes; catcher: signal)',
      'live shim blocks: 6, 700 bytes; by the code that allocated them (bytes, count, caller):',
      '           300      3  libc.so.6+0x2a1b0',
      '           300      2  libsqlite3.so(sqlite3Malloc+0x20)',
      '           100      1  libz.so(deflateInit2_+0x1f)',
    ]);
  });

  test('a caller\'s freed property on a Block changes nothing: it is in the report while live and leaves it when freed', () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false });
    const lying = lib.Block.alloc(64);
    Object.defineProperty(lying, 'freed', { value: true });
    const throwing = lib.Block.alloc(64);
    Object.defineProperty(throwing, 'freed', {
      get() {
        throw new Error('from the caller');
      },
    });
    // A Block allocated after that uses the same getter.
    const later = lib.Block.alloc(64);
    lib.debug.disable();
    expect(lib.debug.report().liveBlocks).toBe(3);
    later.free();
    expect(lib.debug.report().liveBlocks).toBe(2);
    lying.free();
    throwing.free();
    expect(lib.debug.report().liveBlocks).toBe(0);
  });
});

describe('the report at exit', () => {
  test('live Blocks: the report\'s text between newlines on stderr, after dropping Blocks freed while no hook ran', () => {
    const { lib } = load();
    lib.debug.enable();
    const kept = lib.Block.alloc(100);
    const freedLater = lib.Block.alloc(200);
    lib.debug.disable();
    freedLater.free();
    const text = stderrOf(() => exitListeners[0]());
    expect(text).toBe(`\n${lib.debug.report().text}\n`);
    expect(text).toMatch(/^\nsysalloc debug report: 1 live Block, 100 bytes /);
    kept.free();
  });

  test('no live Block and no live shim block: nothing written', () => {
    const { lib } = load();
    lib.debug.enable();
    lib.Block.alloc(100).free();
    expect(stderrOf(() => exitListeners[0]())).toBe('');
  });

  test('only live shim blocks: the report is written', () => {
    const { lib } = load();
    lib.debug.enable();
    answers.shim = { liveBlocks: 1, liveBytes: 16, heldBlocks: 0, reported: 0 };
    answers.shimSites = [['libc.so.6+0x10', 1, 16]];
    expect(stderrOf(() => exitListeners[0]())).toBe(
      '\nsysalloc debug report: 0 live Blocks, 0 bytes (quarantine: 0 freed blocks held, 0 bytes; catcher: signal)\n' +
        'live shim blocks: 1, 16 bytes; by the code that allocated them (bytes, count, caller):\n' +
        '            16      1  libc.so.6+0x10\n',
    );
  });

  test('reportAtExit: false, set by the last enable(): nothing written although Blocks are live', () => {
    const { lib } = load();
    lib.debug.enable();
    lib.debug.enable({ reportAtExit: false });
    const block = lib.Block.alloc(100);
    expect(stderrOf(() => exitListeners[0]())).toBe('');
    lib.debug.enable({ reportAtExit: true });
    expect(stderrOf(() => exitListeners[0]())).toMatch(/^\nsysalloc debug report: 1 live Block/);
    block.free();
  });

  test('stderr closed: the exit listener returns quietly', () => {
    const { lib } = load();
    lib.debug.enable();
    const block = lib.Block.alloc(100);
    const spy = jest.spyOn(fs, 'writeSync').mockImplementation(() => {
      throw Object.assign(new Error('EBADF: bad file descriptor, write'), { code: 'EBADF' });
    });
    try {
      expect(() => exitListeners[0]()).not.toThrow();
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
    block.free();
  });
});

describe('the report of a broken poison (a freed Pool slot written)', () => {
  function stopped(fn: () => void): { text: string; aborted: number } {
    let aborted = 0;
    const abort = jest.spyOn(process, 'abort').mockImplementation(() => {
      aborted++;
      throw new Error('stopped');
    });
    try {
      const text = stderrOf(() => expect(fn).toThrow('stopped'));
      return { text, aborted };
    } finally {
      abort.mockRestore();
    }
  }

  test('names the byte, its value, the slot and both sites, only the frames outside sysalloc and Node, at most `frames` of them', () => {
    const { lib, internal } = load();
    lib.debug.enable({ reportAtExit: false, frames: 2 });
    const allocated = 'Error\n    at user (/app/a.js:1:2)\n    at node:internal/timers:3:4\n  not a frame\n    at next (/app/b.js:5:6)\n    at third (/app/c.js:7:8)';
    const freed = 'Error\n    at free (/app/d.js:9:10)';
    const { text, aborted } = stopped(() => internal.reportBrokenPoison(48, 0x10000, 7, 0xab, 'at destroy()', allocated, freed));
    expect(aborted).toBe(1);
    expect(text).toBe(
      '\nsysalloc debug: use after free: byte 7 of a freed Pool slot (at 0x10007) was written: it holds 0xab, not the poison 0xdd; found at destroy()\n' +
        'the memory of a Pool slot of 48 bytes at 0x10000, freed\n' +
        '  allocated at:\n    at user (/app/a.js:1:2)\n    at next (/app/b.js:5:6)\n' +
        '  freed at:\n    at free (/app/d.js:9:10)\n',
    );
  });

  test('sites not recorded: "(not recorded)" for the allocation, nothing under the free; stderr closed: it still stops', () => {
    const { internal } = load();
    const { text } = stopped(() => internal.reportBrokenPoison(16, 0x2000, 0, 0, 'when the slot was handed out again', undefined, undefined));
    expect(text).toBe(
      '\nsysalloc debug: use after free: byte 0 of a freed Pool slot (at 0x2000) was written: it holds 0x00, not the poison 0xdd; found when the slot was handed out again\n' +
        'the memory of a Pool slot of 16 bytes at 0x2000, freed\n  allocated at:\n    (not recorded)\n  freed at:\n',
    );
    const write = jest.spyOn(fs, 'writeSync').mockImplementation(() => {
      throw new Error('EBADF');
    });
    const abort = jest.spyOn(process, 'abort').mockImplementation(() => {
      throw new Error('stopped');
    });
    try {
      expect(() => internal.reportBrokenPoison(16, 0x2000, 0, 0, 'at destroy()', undefined, undefined)).toThrow('stopped');
      expect(abort).toHaveBeenCalledTimes(1);
    } finally {
      write.mockRestore();
      abort.mockRestore();
    }
  });

  test('brokenPoison: the first byte that is not 0xdd, or -1', () => {
    const { internal } = load();
    expect(internal.POISON).toBe(0xdd);
    expect(internal.brokenPoison(new Uint8Array(0))).toBe(-1);
    expect(internal.brokenPoison(new Uint8Array(8).fill(0xdd))).toBe(-1);
    const bytes = new Uint8Array(8).fill(0xdd);
    bytes[7] = 0;
    expect(internal.brokenPoison(bytes)).toBe(7);
    bytes[2] = 0xde;
    expect(internal.brokenPoison(bytes)).toBe(2);
  });
});

describe('ties in the report', () => {
  test('two sites of equal bytes: the one with more Blocks first, whichever was recorded first', () => {
    const { lib } = load();
    lib.debug.enable({ reportAtExit: false });
    const blocks: Sysalloc.Block[] = [];
    blocks.push(lib.Block.alloc(200)); const once = line();
    for (let i = 0; i < 2; i++) blocks.push(lib.Block.alloc(100)); const twice = line();
    const sites = lib.debug.report().sites;
    expect(sites.map((s) => [s.count, s.bytes])).toEqual([
      [2, 200],
      [1, 200],
    ]);
    expect(sites[0].site).toMatch(new RegExp(`debug-boundaries\\.test\\.ts:${twice}:`));
    expect(sites[1].site).toMatch(new RegExp(`debug-boundaries\\.test\\.ts:${once}:`));
    for (const b of blocks) b.free();
  });

  test('shim callers: more bytes first whatever their counts, then more blocks first, then as the shim listed them', () => {
    const { lib } = load();
    answers.shim = { liveBlocks: 9, liveBytes: 1000, heldBlocks: 0, reported: 0 };
    answers.shimSites = [
      ['a', 5, 100],
      ['b', 1, 300],
      ['c', 1, 300],
      ['d', 2, 300],
    ];
    expect(lib.debug.report().shim.sites.map((s) => s.site)).toEqual(['d', 'b', 'c', 'a']);
  });
});
