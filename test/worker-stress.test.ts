// Four worker_threads allocating and freeing Blocks, Arenas and Pools with
// content checks, terminated at random moments (some before the addon has even
// loaded), some asked to stop instead, each slot restarted round after round,
// while the main thread allocates too. Then workers terminated within a few
// milliseconds of starting to load the addon, four at a time. The process must
// survive, no worker may see a byte change under it, and once every worker is
// gone the process-wide live counters must be back at their baseline.
//
// The seed is random per run and in the tests' names; SYSALLOC_SEED=<n> repeats
// the same schedule (the moments themselves depend on the OS's scheduling).
import * as path from 'path';
import { Worker } from 'worker_threads';
import { Block, blockStats } from '..';
import { native } from '../dist/native';
import { settle } from './helpers';

const SEED = process.env.SYSALLOC_SEED !== undefined ? Number(process.env.SYSALLOC_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const SLOTS = 4;
const RUN_MS = 7000;
// Operations the workers must have done before the run ends, however slow the machine.
const MIN_OPS = 10000;
// Workers terminated while they load the addon, and how many at a time.
const LOADS = 200;
const LOAD_MS = 8000;

type TeardownStats = ReturnType<typeof native.teardownStats>;

/**
 * Blocks abandoned at workers' ends when none moved (README, Lifetime), on every
 * Node version: none detached by another, none kept by a safety net (a Buffer
 * cleanup before sysalloc's teardown scan); the only ones allowed are blocks
 * whose ArrayBuffer the collector had collected, with V8 not yet done releasing
 * its memory, when the worker ended: Node-API cannot tell those from moved ones.
 */
function expectAbandoned(abandoned: number, before: TeardownStats, after: TeardownStats): void {
  const by = {
    detachedByOther: after.detachedByOther - before.detachedByOther,
    safetyNet: after.safetyNet - before.safetyNet,
    collectedPending: after.collectedPending - before.collectedPending,
  };
  expect(by.detachedByOther).toBe(0);
  // The Windows build has no teardown check (no libuv to link against there):
  // a terminated worker's first Buffer cleanup may keep that block.
  if (process.platform !== 'win32') expect(by.safetyNet).toBe(0);
  expect(abandoned).toBe(by.collectedPending + by.safetyNet);
}

const packageRoot = JSON.stringify(path.resolve(__dirname, '..'));

// Runs until terminated or told to stop. Posts { ops, held } now and then, and
// { failure } the moment a check fails. On { stop, tidy } it checks everything
// it holds, destroys it all if tidy or else leaves it all alive, and ends by itself.
const WORKER = `
  const { parentPort, workerData } = require('worker_threads');
  const { Block, Arena, Pool, AllocError } = require(${packageRoot});
  let state = workerData.seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  const SCRATCH = Buffer.alloc(2 << 20);
  let id = 0;
  let ops = 0;
  let failed = false;
  const fail = (message) => {
    if (!failed) parentPort.postMessage({ failure: 'worker ' + workerData.name + ', op ' + ops + ': ' + message });
    failed = true;
  };
  const pattern = (n) => Buffer.from([n & 255, (n >>> 8) & 255, 0xa5, n % 251, 0x5a, (n * 7) & 255, 3]);
  const fill = (item) => item.buf.fill(pattern(item.id));
  const check = (item, when) => {
    if (item.buf.length !== item.size) return fail(item.kind + ' of ' + item.size + ' bytes reads length ' + item.buf.length + ' ' + when);
    if (!item.buf.equals(SCRATCH.subarray(0, item.size).fill(pattern(item.id)))) fail(item.kind + ' of ' + item.size + ' bytes changed ' + when);
  };
  const expectNotAllocated = (fn, what) => {
    try { fn(); } catch (e) { if (e instanceof AllocError && e.code === 'ERR_NOT_ALLOCATED') return; return fail(what + ': ' + e); }
    fail(what + ' did not throw ERR_NOT_ALLOCATED');
  };
  const take = (list) => { const i = int(0, list.length - 1); const x = list[i]; list[i] = list[list.length - 1]; list.pop(); return x; };

  const blocks = [];
  const arena = { arena: new Arena({ capacity: int(1, 256 << 10), grow: next() < 0.5 }), items: [] };
  const pools = [
    { pool: new Pool({ slotSize: int(1, 4096), slots: int(1, 64), align: 2 ** int(0, 12) }), items: [] },
    { pool: new Pool({ slotSize: int(1, 4096), slots: int(1, 64), align: 2 ** int(0, 12), checked: true }), items: [] },
  ];

  function step() {
    const r = next();
    if (r < 0.3) {
      if (blocks.length < 64 && next() < 0.55) {
        const size = next() < 0.95 ? int(1, 64 << 10) : int(1, 2 << 20);
        const block = Block.alloc(size, { align: 2 ** int(0, 16), zero: next() < 0.5 });
        const item = { kind: 'Block', id: id++, buf: block.buffer, size, block };
        fill(item);
        blocks.push(item);
      } else if (blocks.length > 0) {
        const item = take(blocks);
        check(item, 'before free');
        if (next() < 0.5) item.block.free(); else item.block[Symbol.dispose ?? Symbol.for('nodejs.dispose')]();
        if (item.buf.length !== 0) fail('a freed Block reads length ' + item.buf.length);
        expectNotAllocated(() => item.block.free(), 'a second Block.free');
      }
    } else if (r < 0.6) {
      if (next() < 0.01) {
        for (const item of arena.items) check(item, 'before reset');
        arena.arena.reset();
        for (const item of arena.items) if (item.buf.length !== 0) fail('an arena allocation reads length ' + item.buf.length + ' after reset');
        arena.items = [];
      } else if (next() < 0.003) {
        arena.arena.addMemory(Block.alloc(int(1, 64 << 10), { zero: false }));
      } else if (next() < 0.002) {
        for (const item of arena.items) check(item, 'before destroy');
        arena.arena.destroy();
        arena.arena = new Arena({ capacity: int(1, 256 << 10), grow: next() < 0.5 });
        arena.items = [];
      } else {
        const size = int(1, next() < 0.9 ? 512 : 16 << 10);
        let buf;
        try {
          buf = arena.arena.alloc(size, 2 ** int(0, 8));
        } catch (e) {
          if (!(e instanceof AllocError) || e.code !== 'ERR_NO_MEMORY') throw e;
          return;
        }
        const item = { kind: 'arena allocation', id: id++, buf, size };
        fill(item);
        arena.items.push(item);
        if (arena.arena.capacity > (16 << 20)) {
          for (const item of arena.items) check(item, 'before reset');
          arena.arena.reset();
          arena.items = [];
        }
      }
    } else {
      const p = pools[int(0, 1)];
      if (p.pool.available > 0 && next() < 0.52) {
        const buf = p.pool.alloc();
        const item = { kind: p.pool.checked ? 'checked slot' : 'fast slot', id: id++, buf, size: p.pool.slotSize };
        fill(item);
        p.items.push(item);
      } else if (p.items.length > 0) {
        const item = take(p.items);
        check(item, 'before free');
        p.pool.free(item.buf);
        expectNotAllocated(() => p.pool.free(item.buf), 'a second Pool.free');
      }
    }
    ops++;
  }

  function held() {
    return blocks.length + arena.items.length + pools[0].items.length + pools[1].items.length;
  }

  let stopping = false;
  function run() {
    if (stopping) return;
    try {
      for (let i = 0; i < 200; i++) step();
    } catch (e) {
      fail('threw ' + (e && e.stack));
      return;
    }
    parentPort.postMessage({ ops, held: held() });
    setImmediate(run);
  }
  parentPort.on('message', (m) => {
    if (!m.stop) return;
    stopping = true;
    for (const item of [...blocks, ...arena.items, ...pools[0].items, ...pools[1].items]) check(item, 'at stop');
    if (m.tidy) {
      for (const item of blocks) item.block.free();
      arena.arena.destroy();
      pools[0].pool.destroy();
      pools[1].pool.destroy();
    }
    parentPort.postMessage({ ops, held: held() });
    parentPort.close();
  });
  run();
`;

function random32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** promise's value, or `otherwise` after ms; the timer does not outlive the race. */
async function within<T, U>(promise: Promise<T>, ms: number, otherwise: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<U>((resolve) => (timer = setTimeout(() => resolve(otherwise), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

type Ending = 'terminated' | 'stopped, tidy' | 'stopped, everything alive';

interface Outcome {
  name: string;
  ended: Ending;
  code: number;
  ops: number;
  /** What the worker held at its last report before it ended. */
  held: number;
  failures: string[];
}

// One worker's life: started, left to run for `lifetime` ms (counted from its
// first report when `settled`), then terminated or stopped.
async function life(name: string, seed: number, lifetime: number, ended: Ending, settled = false): Promise<Outcome> {
  const worker = new Worker(WORKER, { eval: true, workerData: { seed, name } });
  const outcome: Outcome = { name, ended, code: -1, ops: 0, held: 0, failures: [] };
  let reported: () => void = () => {};
  const firstReport = new Promise<void>((resolve) => (reported = resolve));
  worker.on('message', (m: { failure?: string; ops?: number; held?: number }) => {
    if (m.failure !== undefined) outcome.failures.push(m.failure);
    if (m.ops !== undefined) outcome.ops = m.ops;
    if (m.held !== undefined) outcome.held = m.held;
    reported();
  });
  worker.on('error', (e) => outcome.failures.push(`worker ${name} threw: ${e.stack ?? e}`));
  const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
  if (settled) await Promise.race([firstReport, exited]);
  await within(exited, lifetime, undefined);
  if (ended === 'terminated') {
    await worker.terminate();
  } else {
    worker.postMessage({ stop: true, tidy: ended === 'stopped, tidy' });
    // A worker still starting reads the message once it runs: give it time, then make sure.
    const code = await within(exited, 15000, -1);
    if (code === -1) {
      outcome.failures.push(`worker ${name} did not end within 15 s of being told to stop`);
      await worker.terminate();
    }
  }
  outcome.code = await exited;
  return outcome;
}

test(`${SLOTS} workers allocating with content checks, terminated at random moments and restarted, for at least ${RUN_MS / 1000} s and ${MIN_OPS} operations: nothing changes under them, nothing leaks (seed ${SEED}; repeat with SYSALLOC_SEED=${SEED})`, async () => {
  const before = await settle();
  const teardownBefore = native.teardownStats();
  const deadline = Date.now() + RUN_MS;
  const outcomes: Outcome[] = [];
  // The run ends once its time is up and the workers have done enough work, so
  // that a busy machine makes it longer, never emptier.
  const done = (): boolean => Date.now() >= deadline && outcomes.reduce((sum, o) => sum + o.ops, 0) > MIN_OPS;
  const endings: Ending[] = ['terminated', 'stopped, everything alive', 'stopped, tidy', 'terminated'];

  // Each slot has its own stream, so its schedule depends on the seed alone.
  const slot = async (index: number): Promise<void> => {
    const rng = random32(SEED + index);
    // The first round of each slot ends in a set way once the worker is working,
    // so that every kind of ending meets a worker holding allocations.
    outcomes.push(await life(`${index}.0`, (rng() * 2 ** 32) >>> 0, Math.floor(rng() * 300), endings[index], true));
    for (let round = 1; !done(); round++) {
      const r = rng();
      // Some die while Node is still starting them or loading the addon.
      const lifetime = r < 0.15 ? Math.floor(rng() * 30) : r < 0.85 ? 50 + Math.floor(rng() * 600) : 700 + Math.floor(rng() * 1500);
      const e = rng();
      const ended: Ending = e < 0.75 ? 'terminated' : e < 0.875 ? 'stopped, everything alive' : 'stopped, tidy';
      outcomes.push(await life(`${index}.${round}`, (rng() * 2 ** 32) >>> 0, lifetime, ended));
      if (rng() < 0.1) await sleep(Math.floor(rng() * 100)); // a slot left empty for a moment
    }
  };

  // The main thread allocates beside them, with the same kind of check.
  const mainThread = async (): Promise<string[]> => {
    const rng = random32(SEED + SLOTS);
    const problems: string[] = [];
    const kept: { block: Block; value: number }[] = [];
    for (let i = 0; !done(); i++) {
      const block = Block.alloc(1 + Math.floor(rng() * 65536), { zero: false });
      const value = i & 255;
      block.buffer.fill(value);
      kept.push({ block, value });
      if (kept.length > 32) {
        const { block: old, value: v } = kept.shift() as { block: Block; value: number };
        if (!old.buffer.equals(Buffer.alloc(old.size, v))) problems.push(`a main-thread Block of ${old.size} bytes changed`);
        old.free();
      }
      await sleep(2);
    }
    for (const { block } of kept) block.free();
    return problems;
  };

  const [mainProblems] = await Promise.all([mainThread(), ...Array.from({ length: SLOTS }, (_, i) => slot(i))]);
  const after = await settle();

  const failures = [...mainProblems, ...outcomes.flatMap((o) => o.failures)];
  expect(failures).toEqual([]);
  // Stopped workers end by themselves with 0; terminated ones exit with 1, or
  // with 0 when terminated before their thread ran any JavaScript.
  for (const o of outcomes) {
    const code = o.ended !== 'terminated' ? 0 : o.ops === 0 && (o.code === 0 || o.code === 1) ? o.code : 1;
    expect({ name: o.name, ended: o.ended, code: o.code }).toEqual({ name: o.name, ended: o.ended, code });
  }
  // The run did what it claims: several rounds per slot, real work, and every
  // kind of ending met a worker holding allocations.
  expect(outcomes.length).toBeGreaterThanOrEqual(2 * SLOTS);
  expect(outcomes.reduce((sum, o) => sum + o.ops, 0)).toBeGreaterThan(MIN_OPS);
  for (const ending of endings) expect(outcomes.some((o) => o.ended === ending && o.held > 0)).toBe(true);

  // Nothing here moves a block's memory, so a worker's end abandons only what
  // Node-API cannot tell from a move (README, Lifetime).
  expect({ liveBlocks: after.liveBlocks, liveBytes: after.liveBytes }).toEqual({ liveBlocks: before.liveBlocks, liveBytes: before.liveBytes });
  expectAbandoned(after.abandonedBlocks - before.abandonedBlocks, teardownBefore, native.teardownStats());
}, 180000);

// Announces that it is about to load the addon, loads it, allocates one of
// each kind and waits to be terminated.
const LOADER = `
  const { parentPort } = require('worker_threads');
  parentPort.postMessage('loading');
  const { Block, Arena, Pool } = require(${packageRoot});
  const kept = [Block.alloc(4096), new Arena({ capacity: 8192 }), new Pool({ slotSize: 64, slots: 8, checked: true })];
  kept.push(kept[2].alloc());
  parentPort.postMessage('loaded');
  setInterval(() => kept.length, 1000);
`;

// A worker terminated while Node-API runs the addon's initialisation cannot
// take an exception: an addon that throws one there anyway (node-addon-api
// without NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS) aborts the whole process.
test(`${LOADS} workers terminated 0-8 ms after they start loading the addon, 4 at a time: the process survives, nothing leaks (seed ${SEED}; repeat with SYSALLOC_SEED=${SEED})`, async () => {
  const before = await settle();
  const teardownBefore = native.teardownStats();
  const rng = random32(SEED ^ 0x5bd1e995);
  const deadline = Date.now() + LOAD_MS;
  let started = 0;
  let beforeLoaded = 0;
  const failures: string[] = [];
  const slot = async (): Promise<void> => {
    while (started < LOADS && Date.now() < deadline) {
      const name = `loader ${started++}`;
      const worker = new Worker(LOADER, { eval: true });
      let loaded = false;
      const loading = new Promise<void>((resolve) =>
        worker.on('message', (m) => {
          if (m === 'loaded') loaded = true;
          resolve();
        }),
      );
      worker.on('error', (e) => failures.push(`${name} threw: ${e.stack ?? e}`));
      const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
      await Promise.race([loading, exited]);
      await within(exited, rng() * 8, undefined);
      if (!loaded) beforeLoaded++;
      await worker.terminate();
      await exited;
    }
  };
  await Promise.all([slot(), slot(), slot(), slot()]);
  const after = await settle();
  expect(failures).toEqual([]);
  expect(started).toBeGreaterThanOrEqual(12);
  expect(beforeLoaded).toBeGreaterThan(0);
  expect({ liveBlocks: after.liveBlocks, liveBytes: after.liveBytes }).toEqual({ liveBlocks: before.liveBlocks, liveBytes: before.liveBytes });
  expectAbandoned(after.abandonedBlocks - before.abandonedBlocks, teardownBefore, native.teardownStats());
}, 180000);
