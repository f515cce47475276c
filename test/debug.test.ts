// The debug mode (lib/debug.ts, native/debug): freed Block memory touched by a
// thread-pool job is reported with the block's sites instead of corrupting the
// next block; live blocks are reported by site and size. The misuse runs in
// child processes (test/debug/*.js), whose own lines the reports must name.
import { spawnSync, SpawnSyncReturns } from 'child_process';
import fs = require('fs');
import os = require('os');
import path = require('path');
import { addressOf, AllocError, Arena, Block, debug, Pool } from '..';
import { caught, externalFile } from './helpers';

// On runtime memory (npm run test:no-external) debug mode has no pages of its
// own to quarantine, guard or report on: every case below is skipped there, and
// the first test asserts what debug mode does instead.
const { test, describe, runtimeOnly } = externalFile('debug mode has no pages of its own to quarantine or guard there');
runtimeOnly('on runtime memory, debug mode serves ordinary runtime blocks (no quarantine, no guards)', () => {
  const was = debug.enabled;
  debug.enable({ reportAtExit: false });
  try {
    const block = Block.alloc(4096, { align: 4096 });
    expect(block.source).toBe('runtime');
    expect(block.address % 4096n).toBe(0n);
    const view = block.buffer;
    block.free();
    expect(view.length).toBe(0);
    expect(() => block.free()).toThrow(expect.objectContaining({ code: 'ERR_NOT_ALLOCATED' }));
  } finally {
    if (!was) debug.disable();
  }
});

const fixtures = path.join(__dirname, 'debug');
const inFlight = path.join(fixtures, 'in-flight.js');
const leaks = path.join(fixtures, 'leaks.js');
const dataFile = path.join(os.tmpdir(), `sysalloc-debug-${process.pid}.bin`);
const outFile = path.join(os.tmpdir(), `sysalloc-debug-out-${process.pid}.bin`);

beforeAll(() => fs.writeFileSync(dataFile, Buffer.alloc(1 << 20, 0x5a)));
afterAll(() => {
  fs.rmSync(dataFile, { force: true });
  fs.rmSync(outFile, { force: true });
});

/** The 1-based line of a fixture that carries `marker`. */
function lineOf(file: string, marker: string): number {
  const index = fs.readFileSync(file, 'utf8').split('\n').findIndex((line) => line.endsWith(`// ${marker}`));
  if (index < 0) throw new Error(`no ${marker} in ${file}`);
  return index + 1;
}

function run(script: string, args: string[], env: Record<string, string>): SpawnSyncReturns<string> {
  const clean = { ...process.env };
  delete clean.SYSALLOC_DEBUG;
  delete clean.SYSALLOC_DEBUG_REPORT;
  delete clean.SYSALLOC_GUARD_SAMPLE;
  // The fixtures end with thread-pool work in flight or stop at a report on
  // purpose: under npm run test:asan, LeakSanitizer would report what Node's
  // OpenSSL and V8 hold at such an end, so it is off in these children only.
  if (process.env.ASAN_OPTIONS !== undefined) clean.ASAN_OPTIONS = `${process.env.ASAN_OPTIONS}:detect_leaks=0`;
  return spawnSync(process.execPath, [script, ...args], {
    encoding: 'utf8',
    env: { ...clean, UV_THREADPOOL_SIZE: '1', ...env },
    timeout: 60000,
  });
}

// How a child stopped by the catcher ends: on POSIX the handler re-raises
// SIGSEGV (or SIGBUS) with the default action; on Windows the vectored handler
// lets the access violation go on, and the process ends with its status.
const windows = process.platform === 'win32';
const STATUS_ACCESS_VIOLATION = 0xc0000005;
const faultCatcher = windows ? 'vectored' : 'signal';

function expectStoppedAtTheTouch(result: SpawnSyncReturns<string>): void {
  if (windows) {
    expect(result.status).toBe(STATUS_ACCESS_VIOLATION);
  } else {
    expect(result.signal).toBe('SIGSEGV');
  }
}

/** A system call given protected memory fails: EFAULT on Linux, and on Windows what libuv makes of ERROR_NOACCESS. */
function expectRefusedSystemCall(result: SpawnSyncReturns<string>, kind: string): void {
  expect(result.status).toBe(0);
  if (windows) {
    expect(result.stdout).toMatch(new RegExp(`^${kind}: (EFAULT|EACCES|UNKNOWN) `, 'm'));
  } else {
    expect(result.stdout).toContain(`${kind}: EFAULT`);
  }
  expect(result.stdout).toContain('b intact: true');
}

interface Outcome {
  result: SpawnSyncReturns<string>;
  a: bigint;
  b: bigint;
  catcher: string;
}

function inFlightRun(kind: string, size: number, mode: string): Outcome {
  const file = kind === 'write' ? outFile : dataFile;
  fs.rmSync(outFile, { force: true });
  const result = run(inFlight, [kind, String(size), file], { SYSALLOC_DEBUG: mode });
  const match = /^a (\d+) b (\d+) catcher (\w+)$/m.exec(result.stdout);
  if (match === null) throw new Error(`no addresses from the child:\n${result.stdout}\n${result.stderr}`);
  return { result, a: BigInt(match[1]), b: BigInt(match[2]), catcher: match[3] };
}

/** Checks the report names block a (size, address), the fixture's alloc and free lines, and a touch inside a. */
function expectReport(outcome: Outcome, size: number): void {
  const { result, a } = outcome;
  expectStoppedAtTheTouch(result);
  const err = result.stderr;
  expect(err).toContain('sysalloc debug: use after free:');
  expect(err).toContain(`the memory of a Block of ${size} bytes at 0x${a.toString(16)}, freed`);
  const allocated = err.indexOf('allocated at:');
  const freed = err.indexOf('freed at:');
  expect(allocated).toBeGreaterThan(0);
  expect(freed).toBeGreaterThan(allocated);
  expect(err.slice(allocated, freed)).toContain(`${inFlight}:${lineOf(inFlight, 'ALLOC-A')}:`);
  expect(err.slice(freed)).toContain(`${inFlight}:${lineOf(inFlight, 'FREE-A')}:`);
  expect(err).toContain('(not the main thread: a worker or the thread pool)');
  const touched = /(?:of|to) 0x([0-9a-f]+) by thread/.exec(err);
  expect(touched).not.toBeNull();
  const at = BigInt('0x' + (touched as RegExpExecArray)[1]);
  expect(at >= a && at < a + BigInt(size)).toBe(true);
  // The process stopped at the touch: b was never reached, its bytes never checked as broken.
  expect(result.stdout).not.toContain('b intact: false');
}

describe.each([4096, 1 << 20])('a %i-byte block freed while a thread-pool job holds it', (size) => {
  test.each(['randomFill', 'deflate'])('%s: stopped with the block, its allocation and its free site (the fault handler)', (kind) => {
    const outcome = inFlightRun(kind, size, 'signal');
    expect(outcome.catcher).toBe(faultCatcher);
    expect(outcome.a).not.toBe(outcome.b);
    expectReport(outcome, size);
  });

  test.each(['randomFill', 'deflate', 'read', 'write'])('%s: with SYSALLOC_DEBUG=1', (kind) => {
    const outcome = inFlightRun(kind, size, '1');
    if (outcome.catcher === 'userfaultfd') {
      // userfaultfd sees a system call's touch as well as a user-space one.
      expectReport(outcome, size);
      if (kind === 'write') expect(fs.existsSync(outFile) ? fs.statSync(outFile).size : 0).toBe(0);
    } else if (kind === 'read' || kind === 'write') {
      // Without userfaultfd (no privilege, or Windows), the kernel refuses the system call: nothing moved.
      expect(outcome.catcher).toBe(faultCatcher);
      expectRefusedSystemCall(outcome.result, kind);
    } else {
      expectReport(outcome, size);
    }
  });

  test.each(['read', 'write'])('%s with the fault handler: the system call fails and the next block is intact', (kind) => {
    const outcome = inFlightRun(kind, size, 'signal');
    expectRefusedSystemCall(outcome.result, kind);
    if (kind === 'write') expect(fs.statSync(outFile).size).toBe(0); // a's bytes never reached the file
  });
});

test.each(['signal', '1'])('a block allocated and freed in a worker thread is reported the same (SYSALLOC_DEBUG=%s)', (mode) => {
  const inWorker = path.join(fixtures, 'in-worker.js');
  const result = run(inWorker, [], { SYSALLOC_DEBUG: mode });
  const match = /^a (\d+) catcher (\w+)$/m.exec(result.stdout);
  if (match === null) throw new Error(`no address from the worker:\n${result.stdout}\n${result.stderr}`);
  const a = BigInt(match[1]);
  expectStoppedAtTheTouch(result);
  const err = result.stderr;
  expect(err).toContain(`the memory of a Block of 4096 bytes at 0x${a.toString(16)}, freed`);
  const allocated = err.indexOf('allocated at:');
  const freed = err.indexOf('freed at:');
  expect(allocated).toBeGreaterThan(0);
  expect(err.slice(allocated, freed)).toContain(`${inWorker}:${lineOf(inWorker, 'ALLOC-W')}:`);
  expect(err.slice(freed)).toContain(`${inWorker}:${lineOf(inWorker, 'FREE-W')}:`);
  expect(result.stdout).not.toContain('b intact: false');
});

test('the leak report at exit: live blocks by allocation site with counts and bytes, and by size', () => {
  const result = run(leaks, [], { SYSALLOC_DEBUG: '1' });
  expect(result.status).toBe(0);
  const err = result.stderr;
  expect(err).toContain('sysalloc debug report: 5 live Blocks, 177824 bytes');
  const site = (marker: string) => `${leaks}:${lineOf(leaks, marker)}:`;
  const row = (bytes: number, count: number, marker: string) =>
    new RegExp(`^\\s+${bytes}\\s+${count}\\s+at .*${site(marker).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm');
  expect(err).toMatch(row(12288, 3, 'LEAK-SMALL'));
  expect(err).toMatch(row(100000, 1, 'LEAK-LARGE'));
  expect(err).toMatch(row(65536, 1, 'LEAK-ARENA'));
  expect(err).not.toContain(site('FREED'));
  expect(err).toMatch(/^\s+4 KiB\s+3\s+12288$/m);
  expect(err).toMatch(/^\s+64 KiB\s+1\s+65536$/m);
  expect(err).toMatch(/^\s+128 KiB\s+1\s+100000$/m);
});

test('no leak report at exit when every block was freed', () => {
  const result = spawnSync(
    process.execPath,
    ['-e', "const { Block } = require('.'); Block.alloc(4096).free();"],
    { cwd: path.join(__dirname, '..'), encoding: 'utf8', env: { ...process.env, SYSALLOC_DEBUG: '1', SYSALLOC_DEBUG_REPORT: '' } },
  );
  expect(result.status).toBe(0);
  expect(result.stderr).not.toContain('sysalloc debug report');
});

test('SYSALLOC_GUARD_SAMPLE=1: a sampled block is quarantined and its free site reported, without an allocation site', () => {
  const result = run(inFlight, ['randomFill', '4096', dataFile], { SYSALLOC_GUARD_SAMPLE: '1' });
  expectStoppedAtTheTouch(result);
  expect(result.stderr).toContain('the memory of a Block of 4096 bytes at 0x');
  expect(result.stderr).toContain('(not recorded: a block sampled by SYSALLOC_GUARD_SAMPLE');
  expect(result.stderr).toContain(`${inFlight}:${lineOf(inFlight, 'FREE-A')}:`);
});

test('SYSALLOC_GUARD_SAMPLE=3: one block in three goes to the quarantine', () => {
  const script =
    "const { Block, debug } = require('.');" +
    'for (let i = 0; i < 30; i++) Block.alloc(4096).free();' +
    'setImmediate(() => console.log(JSON.stringify(debug.report().quarantine)));';
  const clean = { ...process.env };
  delete clean.SYSALLOC_DEBUG;
  const result = spawnSync(process.execPath, ['-e', script], {
    cwd: path.join(__dirname, '..'),
    encoding: 'utf8',
    env: { ...clean, SYSALLOC_GUARD_SAMPLE: '3' },
  });
  expect(result.status).toBe(0);
  expect(JSON.parse(result.stdout)).toMatchObject({ blocks: 10, bytes: 40960 });
});

describe('in this process', () => {
  // Enabled here for this file's module registry; the native quarantine is process-wide.
  beforeAll(() => debug.enable({ reportAtExit: false, quarantineBlocks: 4, quarantineBytes: 1 << 30 }));

  const callerLine = (e: Error) => (/debug\.test\.ts:(\d+):/.exec(String(e.stack).split('\n')[1]) as RegExpExecArray)[1];

  test('debug.report() groups live blocks by the line that allocated them, with the size histogram', () => {
    const before = debug.report();
    const a: Block[] = []; for (let i = 0; i < 2; i++) a.push(Block.alloc(3000)); const lineA = callerLine(new Error());
    const c = Block.alloc(70000); const lineC = callerLine(new Error());
    const report = debug.report();
    expect(report.enabled).toBe(true);
    expect(report.liveBlocks - before.liveBlocks).toBe(3);
    expect(report.liveBytes - before.liveBytes).toBe(76000);
    const siteA = report.sites.find((s) => s.site.includes(`debug.test.ts:${lineA}:`));
    const siteC = report.sites.find((s) => s.site.includes(`debug.test.ts:${lineC}:`));
    expect(siteA).toMatchObject({ count: 2, bytes: 6000 });
    expect(siteC).toMatchObject({ count: 1, bytes: 70000 });
    expect(report.histogram.find((b) => b.size === 4096)?.count).toBeGreaterThanOrEqual(2);
    expect(report.histogram.find((b) => b.size === 131072)?.bytes).toBeGreaterThanOrEqual(70000);
    expect(report.text).toContain(`debug.test.ts:${lineA}:`);
    for (const b of a) b.free();
    c.free();
    const after = debug.report();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.sites.find((s) => s.site.includes(`debug.test.ts:${lineA}:`))).toBeUndefined();
  });

  test('a debug block behaves as an ordinary one: alignment, zero fill, no page-level flags, ERR_NOT_ALLOCATED', () => {
    const b = Block.alloc(1000, { zero: false });
    expect(b.pageBacked).toBe(false);
    expect(b.guarded).toBe(false);
    expect(b.align).toBe(4096);
    expect(b.address % 4096n).toBe(0n);
    const p = Block.alloc(65536);
    expect(p.address % 65536n).toBe(0n);
    expect(p.buffer.every((x) => x === 0)).toBe(true);
    b.free();
    p.free();
    expect(() => b.free()).toThrow(expect.objectContaining({ code: 'ERR_NOT_ALLOCATED' }));
    const s = Block.alloc(4096, { secure: true });
    expect(s.guarded).toBe(true);
    s.free();
  });

  test('the quarantine keeps at most quarantineBlocks freed blocks, oldest out first', async () => {
    for (let i = 0; i < 10; i++) Block.alloc(4096).free();
    await new Promise((resolve) => setImmediate(resolve));
    expect(debug.report().quarantine.blocks).toBe(4);
    debug.flushQuarantine();
    expect(debug.report().quarantine.blocks).toBe(0);
  });

  test('Arena chunks and Pool regions carry the site of the Arena or Pool that allocated them', () => {
    const arena = new Arena({ capacity: 8192 }); const lineArena = callerLine(new Error());
    const pool = new Pool({ slotSize: 64, slots: 16 }); const linePool = callerLine(new Error());
    const sites = debug.report().sites;
    expect(sites.find((s) => s.site.includes(`debug.test.ts:${lineArena}:`))?.count).toBe(1);
    expect(sites.find((s) => s.site.includes(`debug.test.ts:${linePool}:`))?.count).toBe(1);
    arena.destroy();
    pool.destroy();
  });

  test.each([false, true])('a Pool (checked: %s) holds a freed slot, filled with 0xdd, until no other slot is free; counts as without debug mode', (checked) => {
    const pool = new Pool({ slotSize: 32, slots: 3, checked });
    const a = pool.alloc();
    const addressA = addressOf(a);
    a.fill(7);
    pool.free(a);
    expect([pool.used, pool.available]).toEqual([0, 3]);
    const others = [pool.alloc(), pool.alloc()];
    expect(others.map(addressOf)).not.toContain(addressA);
    const again = pool.alloc();
    expect(addressOf(again)).toBe(addressA);
    expect(again.every((x) => x === 0xdd)).toBe(true);
    expect(caught(() => pool.alloc()).code).toBe('ERR_NO_MEMORY');
    for (const buf of [...others, again]) pool.free(buf);
    expect([pool.used, pool.available, pool.slots]).toEqual([0, 3, 3]);
    pool.destroy();
  });

  test('a Pool made before debug mode was on is ordinary: the last freed slot comes back first, as it was', () => {
    debug.disable();
    const pool = new Pool({ slotSize: 32, slots: 3 });
    debug.enable({ reportAtExit: false, quarantineBlocks: 4, quarantineBytes: 1 << 30 });
    const a = pool.alloc();
    a.fill(7);
    pool.free(a);
    const again = pool.alloc();
    expect(addressOf(again)).toBe(addressOf(a));
    expect(again.every((x) => x === 7)).toBe(true);
    pool.destroy();
  });

  test('a Block opened with Block.fromShared is in the report by the line that opened it, until it is freed', () => {
    const owner = Block.alloc(8192);
    const opened = Block.fromShared(owner.share()); const line = callerLine(new Error());
    const site = () => debug.report().sites.find((s) => s.site.includes(`debug.test.ts:${line}:`));
    expect(site()).toMatchObject({ count: 1, bytes: 8192 });
    opened.free();
    expect(site()).toBeUndefined();
    expect(owner.buffer[0]).toBe(0);
    owner.free();
  });

  test('a Block recorded, then freed after debug.disable(), leaves the report at once (so does one opened with fromShared)', () => {
    const before = debug.report().liveBlocks;
    const block = Block.alloc(4096); const line = callerLine(new Error());
    const owner = Block.alloc(8192);
    const opened = Block.fromShared(owner.share()); const openedLine = callerLine(new Error());
    const site = (at: string) => debug.report().sites.find((s) => s.site.includes(`debug.test.ts:${at}:`));
    expect(debug.report().liveBlocks - before).toBe(3);
    debug.disable();
    try {
      block.free();
      opened.free();
      const report = debug.report();
      expect(report.liveBlocks - before).toBe(1);
      expect(site(line)).toBeUndefined();
      expect(site(openedLine)).toBeUndefined();
      expect(report.text).not.toContain(`debug.test.ts:${line}:`);
      owner.free();
      expect(debug.report().liveBlocks).toBe(before);
    } finally {
      debug.enable({ reportAtExit: false, quarantineBlocks: 4, quarantineBytes: 1 << 30 });
    }
  });

  test('a freed property a caller defines on a Block neither throws out of the report nor hides a live Block', () => {
    const before = debug.report().liveBlocks;
    const throwing = Block.alloc(4096);
    const lying = Block.alloc(4096);
    Object.defineProperty(throwing, 'freed', { get() { throw new Error('from the caller'); } });
    Object.defineProperty(lying, 'freed', { value: true });
    debug.disable();
    try {
      expect(debug.report().liveBlocks - before).toBe(2);
      throwing.buffer.fill(1);
      expect(debug.report().liveBlocks - before).toBe(2);
    } finally {
      debug.enable({ reportAtExit: false, quarantineBlocks: 4, quarantineBytes: 1 << 30 });
    }
    throwing.free();
    lying.free();
    expect(debug.report().liveBlocks).toBe(before);
  });

  test('a sampled Block freed after debug.sample(0) leaves the report at once', () => {
    debug.disable();
    try {
      const before = debug.report().liveBlocks;
      debug.sample(1);
      const block = Block.alloc(4096);
      debug.sample(0);
      expect(debug.report().liveBlocks - before).toBe(1);
      block.free();
      expect(debug.report().liveBlocks).toBe(before);
    } finally {
      debug.sample(0);
      debug.enable({ reportAtExit: false, quarantineBlocks: 4, quarantineBytes: 1 << 30 });
    }
  });

  test('options are checked', () => {
    expect(() => debug.enable({ frames: -1 })).toThrow(AllocError);
    expect(() => debug.enable({ quarantineBlocks: debug.maxQuarantineBlocks + 1 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_PARAM' }),
    );
    expect(() => debug.enable({ nope: 1 } as never)).not.toThrow(); // unknown keys are ignored, as everywhere
    expect(() => debug.enable([] as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PARAM' }));
    expect(() => debug.sample(-1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PARAM' }));
    expect(() => debug.sample(1.5)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PARAM' }));
    debug.enable({ reportAtExit: false, quarantineBlocks: 4, quarantineBytes: 1 << 30 });
  });
});

test('Arena.reset in debug mode: the used chunk goes to the quarantine, a job still writing it is reported', () => {
  const script = path.join(fixtures, 'arena-reset.js');
  const size = 65536;
  const result = run(script, [String(size)], { SYSALLOC_DEBUG: 'signal' });
  expectStoppedAtTheTouch(result);
  const err = result.stderr;
  expect(err).toContain(`the memory of a Block of ${size} bytes at 0x`);
  const freed = err.indexOf('freed at:');
  expect(err.slice(err.indexOf('allocated at:'), freed)).toContain(`${script}:${lineOf(script, 'ALLOC-ARENA')}:`);
  expect(err.slice(freed)).toContain(`${script}:${lineOf(script, 'RESET-ARENA')}:`);
  expect(result.stdout).not.toContain('next intact: false');
});

test('Arena.reset without debug mode keeps its chunk (the same job then writes the new allocations)', () => {
  const script = path.join(fixtures, 'arena-reset.js');
  const result = run(script, ['65536'], {});
  expect(result.status).toBe(0);
  expect(result.stdout).toContain('randomFill: ok');
  expect(result.stdout).toContain('next intact: false');
});

// A broken poison pattern stops the process with process.abort(): SIGABRT on
// POSIX; on Windows Node ends the process with status 134.
function expectStoppedAtTheCheck(result: SpawnSyncReturns<string>): void {
  if (windows) {
    expect(result.status).toBe(134);
  } else {
    expect(result.signal).toBe('SIGABRT');
  }
}

describe.each(['fast', 'checked'])('a %s Pool slot freed while a thread-pool job still fills it', (mode) => {
  const script = path.join(fixtures, 'pool-in-flight.js');

  test('debug mode: the freed slot is poisoned and held, and destroy() reports the write with the slot\'s sites', () => {
    const result = run(script, [mode], { SYSALLOC_DEBUG: '1', SYSALLOC_DEBUG_REPORT: '0' });
    expectStoppedAtTheCheck(result);
    expect(result.stdout).toContain('randomFill: ok');
    expect(result.stdout).toContain('next intact: true');
    expect(result.stdout).not.toContain('destroyed');
    const err = result.stderr;
    const head = /sysalloc debug: use after free: byte (\d+) of a freed Pool slot \(at 0x([0-9a-f]+)\) was written: it holds 0x([0-9a-f]{2}), not the poison 0xdd; found at destroy\(\)\nthe memory of a Pool slot of 256 bytes at 0x([0-9a-f]+), freed\n/.exec(err);
    expect(head).not.toBeNull();
    const [, byte, at, value, start] = head as RegExpExecArray;
    expect(BigInt('0x' + at) - BigInt('0x' + start)).toBe(BigInt(byte));
    expect(value).not.toBe('dd');
    const freed = err.indexOf('freed at:');
    expect(err.slice(err.indexOf('allocated at:'), freed)).toContain(`${script}:${lineOf(script, 'ALLOC-SLOT')}:`);
    expect(err.slice(freed)).toContain(`${script}:${lineOf(script, 'FREE-SLOT')}:`);
  });

  test('without debug mode the next allocation takes the freed slot, and the job writes into it', () => {
    const result = run(script, [mode], {});
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('randomFill: ok');
    expect(result.stdout).toContain('next intact: false');
    expect(result.stdout).toContain('destroyed');
    expect(result.stderr).not.toContain('sysalloc debug');
  });
});

test('debug mode: a checked Pool slot freed inside its own fill() is reported with the write fill() made into it', () => {
  const script = path.join(fixtures, 'pool-reentrant-fill.js');
  const result = run(script, [], { SYSALLOC_DEBUG: '1', SYSALLOC_DEBUG_REPORT: '0' });
  expectStoppedAtTheCheck(result);
  expect(result.stdout).toContain('fill returned');
  expect(result.stdout).not.toContain('destroyed');
  const err = result.stderr;
  expect(err).toMatch(/sysalloc debug: use after free: byte 0 of a freed Pool slot \(at 0x[0-9a-f]+\) was written: it holds 0x41, not the poison 0xdd; found at destroy\(\)\n/);
  const freed = err.indexOf('freed at:');
  expect(err.slice(err.indexOf('allocated at:'), freed)).toContain(`${script}:${lineOf(script, 'ALLOC-FILL')}:`);
  expect(err.slice(freed)).toContain(`${script}:${lineOf(script, 'FREE-FILL')}:`);
  const off = run(script, [], {});
  expect(off.status).toBe(0);
  expect(off.stdout).toContain('fill returned\ndestroyed');
});

test('debug mode: a fast Pool slot written through a Buffer kept after free() is reported when the slot is handed out again', () => {
  const script = path.join(fixtures, 'pool-stale-write.js');
  const result = run(script, [], { SYSALLOC_DEBUG: '1', SYSALLOC_DEBUG_REPORT: '0' });
  expectStoppedAtTheCheck(result);
  expect(result.stdout).toContain('other slots: 3');
  expect(result.stdout).not.toContain('handed out');
  const err = result.stderr;
  expect(err).toMatch(/sysalloc debug: use after free: byte 5 of a freed Pool slot \(at 0x[0-9a-f]+\) was written: it holds 0x07, not the poison 0xdd; found when the slot was handed out again\n/);
  const freed = err.indexOf('freed at:');
  expect(err.slice(err.indexOf('allocated at:'), freed)).toContain(`${script}:${lineOf(script, 'ALLOC-STALE')}:`);
  expect(err.slice(freed)).toContain(`${script}:${lineOf(script, 'FREE-STALE')}:`);
});

test('npm run demo:debug: the profile names the line of the forgotten scratch block, 7 of them', () => {
  const demo = path.join(__dirname, '..', 'demo', 'debug-profile.js');
  const result = run(demo, ['--chunks', '32'], {});
  expect(result.status).toBe(0);
  const line = lineOf(demo, 'the leak: this path never frees its scratch block') - 1; // the Block.alloc above it
  expect(result.stdout).toMatch(new RegExp(`^\\s+\\d+\\s+7\\s+at scratchFor \\(.*debug-profile\\.js:${line}:`, 'm'));
  expect(result.stdout).toContain('live blocks by size');
});
