// The debug mode (README "Debugging"): allocation and free sites of Blocks, a
// quarantine of freed Block memory made inaccessible (native/debug), the leak
// report and the memory profile. SYSALLOC_DEBUG=1 enables it at load;
// SYSALLOC_GUARD_SAMPLE=N sends one Block in N through the same quarantine.
import * as fs from 'fs';
import * as path from 'path';
import { invalidParam, readOptions } from './errors';
import { native } from './native';
import { checkBoolean } from './validate';

/** Options of `debug.enable`. */
export interface DebugOptions {
  /** Stack frames kept per allocation and free site, outside sysalloc's own. Default 8, at most 64. */
  frames?: number;
  /** Freed blocks held inaccessible at most (the oldest leaves first). Default 1024, at most `debug.maxQuarantineBlocks`. */
  quarantineBlocks?: number;
  /** Bytes of freed blocks held at most (address space: their pages are given back to the OS). Default 256 MiB. */
  quarantineBytes?: number;
  /** Print the leak report on stderr at process exit when blocks are still live. Default true. */
  reportAtExit?: boolean;
  /**
   * Linux: watch the quarantine with userfaultfd where the kernel allows it
   * (root, CAP_SYS_PTRACE, or vm.unprivileged_userfaultfd=1), which catches a
   * system call (fs.read, fs.write) into freed memory as well. Default true.
   */
  userfaultfd?: boolean;
}

/** Live blocks allocated at one site (the first stack frame outside sysalloc). */
export interface DebugSite {
  site: string;
  count: number;
  bytes: number;
  /** The whole recorded stack of one of them. */
  stack: string;
}

/** Live blocks whose size is at most `size` (a power of two) and more than half of it. */
export interface DebugSizeBucket {
  size: number;
  count: number;
  bytes: number;
}

/** Live shim blocks allocated by one caller (`DebugReport.shim.sites`). */
export interface DebugShimSite {
  /** The code that called malloc, calloc, realloc or aligned_alloc: `module(symbol+0xoffset)`, or `module+0xoffset` where the module exports no symbol there (and on Windows). */
  site: string;
  count: number;
  bytes: number;
}

export interface DebugReport {
  /** Whether debug mode is on (else only sampled blocks are counted). */
  enabled: boolean;
  /** Blocks allocated while recording and not freed yet (collected ones are gone from it). */
  liveBlocks: number;
  liveBytes: number;
  /** Live blocks grouped by allocation site, the most bytes first: the leak report and bytes by site. */
  sites: DebugSite[];
  /** Live blocks by size, smallest first. */
  histogram: DebugSizeBucket[];
  /** The quarantine of freed blocks now. */
  quarantine: {
    blocks: number;
    bytes: number;
    /** How a touch of quarantined memory is caught: 'userfaultfd', 'signal', 'vectored', or 'none'. */
    catcher: string;
  };
  /**
   * The shim (malloc, realloc, free handed to C libraries): its blocks allocated
   * while debug mode was on and not freed yet, by caller, the most bytes first;
   * freed blocks held back from reuse (so a second free is told apart); double
   * frees and frees of pointers it never issued reported on stderr so far.
   */
  shim: { liveBlocks: number; liveBytes: number; heldBlocks: number; reported: number; sites: DebugShimSite[] };
  /** All of the above as text, as printed at exit. */
  text: string;
}

const OPTION_KEYS = ['frames', 'quarantineBlocks', 'quarantineBytes', 'reportAtExit', 'userfaultfd'] as const;
// native/binding.cc PageOption: kOptGuard, kOptDebug.
const OPT_GUARD = 1;
const OPT_DEBUG = 32;
const ownDir = __dirname + path.sep;

interface Recorded {
  id: number;
  size: number;
  at: number;
  site: string | undefined;
  /** The Block, to tell at report time whether it was freed while no hook ran (after disable() or sample(0)). */
  block: WeakRef<object>;
}

/**
 * The hooks Block calls (lib/block.ts). `active` is the only thing read on the
 * allocation fast path when debug mode and sampling are both off.
 * @internal
 */
export const debugHooks = {
  active: false,
  /** The page options a new Block takes: debug bits, or 0 for an ordinary block. */
  take(): number {
    // Debug mode: at the start of its own pages, as a page-aligned block would be
    // (no late placement against a guard, which would change where it lies).
    if (state.on) return OPT_DEBUG;
    if (--state.countdown > 0) return 0;
    state.countdown = state.sample;
    return OPT_DEBUG | OPT_GUARD;
  },
  allocated(block: object, size: number, at: number): void {
    let site: string | undefined;
    if (state.on) site = captureStack(debugHooks.allocated);
    freedOf ??= blockFreedGetter(block);
    const record: Recorded = { id: ++state.ids, size, at, site, block: new WeakRef(block) };
    records.set(block, record);
    live.set(record.id, record);
    collected.register(block, record.id, block);
  },
  /** Block.fromShared in debug mode: the opened Block is in the leak report by its site. */
  opened(block: object, size: number, at: number): void {
    if (state.on) debugHooks.allocated(block, size, at);
  },
  /** A shared Block let go of its memory (which stays while other holders have it): no quarantine, no free site. */
  forgotten(block: object): void {
    dropRecord(block);
  },
  freed(block: object): void {
    const record = dropRecord(block);
    if (record !== undefined) native.debugDescribe(record.at, describeFreed(record, captureStack(debugHooks.freed)));
  },
};

/** Removes block's record (it leaves the leak report); the record, or undefined when it had none. */
function dropRecord(block: object): Recorded | undefined {
  const record = records.get(block);
  if (record === undefined) return undefined;
  records.delete(block);
  live.delete(record.id);
  collected.unregister(block);
  return record;
}

/**
 * Block's own `freed` getter, taken from the first recorded Block's prototype
 * chain while it is fresh: a property a caller later defines on a Block can
 * neither throw out of the report nor hide a live Block from it.
 */
let freedOf: ((this: object) => boolean) | undefined;

function blockFreedGetter(block: object): (this: object) => boolean {
  for (let proto = Object.getPrototypeOf(block); proto !== null; proto = Object.getPrototypeOf(proto)) {
    const get = Object.getOwnPropertyDescriptor(proto, 'freed')?.get;
    if (get !== undefined) return get as (this: object) => boolean;
  }
  throw new Error('sysalloc: a recorded Block has no freed getter');
}

/** Drops the records of Blocks freed while the hooks were off; each stays recorded until then. */
function dropFreedRecords(): void {
  if (freedOf === undefined) return;
  for (const record of live.values()) {
    const block = record.block.deref();
    if (block !== undefined && freedOf.call(block)) dropRecord(block);
  }
}

/** Whether debug mode records and quarantines now (Arena.reset renews its chunks then). @internal */
export function debugRecording(): boolean {
  return state.on;
}

/** The byte debug mode fills freed Pool slots with (the shim's freed blocks too: native/shim/tracking.cc). @internal */
export const POISON = 0xdd;

/** Where a Pool slot of a debug pool is allocated or freed: the stack here, as text. @internal */
export function debugSite(): string | undefined {
  return captureStack(debugSite);
}

/** The first byte of bytes that is not POISON, or -1. @internal */
export function brokenPoison(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== POISON) return i;
  return -1;
}

/**
 * Reports a freed Pool slot whose poison was overwritten (`at`: the first
 * byte changed, `value`: what it holds now; `found`: when the check ran), then
 * stops the process, as a touch of quarantined pages does. @internal
 */
export function reportBrokenPoison(
  size: number,
  address: number,
  at: number,
  value: number,
  found: string,
  allocatedAt: string | undefined,
  freedAt: string | undefined,
): never {
  const allocated = userFrames(allocatedAt);
  const text = [
    '',
    `sysalloc debug: use after free: byte ${at} of a freed Pool slot (at ${hex(address + at)}) was written: ` +
      `it holds 0x${value.toString(16).padStart(2, '0')}, not the poison 0x${POISON.toString(16)}; found ${found}`,
    `the memory of a Pool slot of ${size} bytes at ${hex(address)}, freed`,
    '  allocated at:',
    ...(allocated.length > 0 ? allocated.map((f) => '    ' + f) : ['    (not recorded)']),
    '  freed at:',
    ...userFrames(freedAt).map((f) => '    ' + f),
    '',
  ].join('\n');
  try {
    fs.writeSync(2, text);
  } catch {
    // stderr closed: the stop itself is the report
  }
  process.abort();
}

const state = {
  on: false,
  frames: 8,
  sample: 0,
  countdown: 0,
  ids: 0,
  reportAtExit: false,
  exitHooked: false,
};
const records = new WeakMap<object, Recorded>();
const live = new Map<number, Recorded>();
const collected = new FinalizationRegistry<number>((id) => live.delete(id));

/**
 * The stack here, as text. Formatted at once: a captured but unformatted stack
 * keeps every frame's receiver and function alive (an Arena that allocated a
 * chunk could then never be collected).
 */
function captureStack(above: Function): string | undefined {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = state.frames + 8;
  Error.captureStackTrace(holder, above);
  Error.stackTraceLimit = limit;
  return typeof holder.stack === 'string' ? holder.stack : undefined;
}

/** The frames of a captured stack that are not sysalloc's own, at most `frames` of them. */
function userFrames(stack: string | undefined): string[] {
  if (stack === undefined) return [];
  return stack
    .split('\n')
    .slice(1)
    .map((line) => line.trim())
    .filter((line) => line.startsWith('at ') && !line.includes(ownDir) && !line.includes('node:internal/'))
    .slice(0, state.frames);
}

function hex(at: number): string {
  return '0x' + at.toString(16);
}

function describeFreed(record: Recorded, freedAt: string | undefined): string {
  const allocated = userFrames(record.site);
  const lines = [
    `the memory of a Block of ${record.size} bytes at ${hex(record.at)}, freed`,
    '  allocated at:',
    ...(allocated.length > 0
      ? allocated.map((f) => '    ' + f)
      : ['    (not recorded: a block sampled by SYSALLOC_GUARD_SAMPLE, or debug mode turned on later)']),
    '  freed at:',
    ...userFrames(freedAt).map((f) => '    ' + f),
  ];
  return lines.join('\n');
}

function checkCount(name: string, value: unknown, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw invalidParam(name, `an integer from 0 to ${max}`, value);
  }
  return value;
}

function hookExit(): void {
  if (state.exitHooked) return;
  state.exitHooked = true;
  process.once('exit', () => {
    dropFreedRecords();
    if (!state.reportAtExit || (live.size === 0 && native.shimDebugStats().liveBlocks === 0)) return;
    try {
      fs.writeSync(2, '\n' + report().text + '\n');
    } catch {
      // stderr closed: nothing to report to
    }
  });
}

function enable(options?: DebugOptions): void {
  const read = readOptions('options', options, OPTION_KEYS, false);
  const frames = checkCount('options.frames', read.frames, 64);
  const blocks = checkCount('options.quarantineBlocks', read.quarantineBlocks, native.debugMaxBlocks);
  const bytes = checkCount('options.quarantineBytes', read.quarantineBytes, Number.MAX_SAFE_INTEGER);
  const atExit = checkBoolean('options.reportAtExit', read.reportAtExit);
  const uffd = checkBoolean('options.userfaultfd', read.userfaultfd);
  native.debugEnable(blocks ?? 1024, bytes ?? 256 * 1024 * 1024, uffd ?? true);
  if (frames !== undefined) state.frames = frames;
  state.reportAtExit = atExit ?? true;
  state.on = true;
  debugHooks.active = true;
  native.shimDebug(true);
  hookExit();
}

function disable(): void {
  state.on = false;
  native.shimDebug(false);
  debugHooks.active = state.sample !== 0;
}

function sizeBucket(size: number): number {
  let bucket = 1;
  while (bucket < size) bucket *= 2;
  return bucket;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1 && value % 1024 === 0) {
    value /= 1024;
    unit++;
  }
  return `${value} ${units[unit]}`;
}

function report(): DebugReport {
  const bySite = new Map<string, DebugSite>();
  const bySize = new Map<number, DebugSizeBucket>();
  let liveBytes = 0;
  dropFreedRecords();
  for (const record of live.values()) {
    liveBytes += record.size;
    const frames = userFrames(record.site);
    const key = frames[0] ?? '(site not recorded)';
    let site = bySite.get(key);
    if (site === undefined) {
      site = { site: key, count: 0, bytes: 0, stack: frames.join('\n') };
      bySite.set(key, site);
    }
    site.count++;
    site.bytes += record.size;
    const bucketSize = sizeBucket(record.size);
    let bucket = bySize.get(bucketSize);
    if (bucket === undefined) {
      bucket = { size: bucketSize, count: 0, bytes: 0 };
      bySize.set(bucketSize, bucket);
    }
    bucket.count++;
    bucket.bytes += record.size;
  }
  const sites = [...bySite.values()].sort((a, b) => b.bytes - a.bytes || b.count - a.count);
  const histogram = [...bySize.values()].sort((a, b) => a.size - b.size);
  const q = native.debugStats();
  const lines = [
    `sysalloc debug report: ${live.size} live Block${live.size === 1 ? '' : 's'}, ${liveBytes} bytes ` +
      `(quarantine: ${q.quarantinedBlocks} freed blocks held, ${q.quarantinedBytes} bytes; catcher: ${q.catcher})`,
  ];
  if (sites.length > 0) {
    lines.push('live blocks by allocation site (bytes, count, site):');
    for (const s of sites) lines.push(`  ${String(s.bytes).padStart(12)} ${String(s.count).padStart(6)}  ${s.site}`);
    lines.push('live blocks by size (up to, count, bytes):');
    for (const b of histogram) {
      lines.push(`  ${formatBytes(b.size).padStart(10)} ${String(b.count).padStart(6)} ${String(b.bytes).padStart(12)}`);
    }
  }
  const shimStats = native.shimDebugStats();
  const shimSites = native
    .shimDebugSites()
    .map(([site, count, bytes]) => ({ site, count, bytes }))
    .sort((a, b) => b.bytes - a.bytes || b.count - a.count);
  if (shimStats.liveBlocks > 0) {
    lines.push(
      `live shim blocks: ${shimStats.liveBlocks}, ${shimStats.liveBytes} bytes; by the code that allocated them (bytes, count, caller):`,
    );
    for (const s of shimSites) lines.push(`  ${String(s.bytes).padStart(12)} ${String(s.count).padStart(6)}  ${s.site}`);
  }
  return {
    enabled: state.on,
    shim: {
      liveBlocks: shimStats.liveBlocks,
      liveBytes: shimStats.liveBytes,
      heldBlocks: shimStats.heldBlocks,
      reported: shimStats.reported,
      sites: shimSites,
    },
    liveBlocks: live.size,
    liveBytes,
    sites,
    histogram,
    quarantine: { blocks: q.quarantinedBlocks, bytes: q.quarantinedBytes, catcher: q.catcher },
    text: lines.join('\n'),
  };
}

function sample(every: number): void {
  if (!Number.isSafeInteger(every) || every < 0) throw invalidParam('every', 'an integer from 0 up (0: no sampling)', every);
  if (every !== 0 && native.debugStats().catcher === 'none') native.debugEnable(1024, 256 * 1024 * 1024, true);
  state.sample = every;
  state.countdown = every;
  debugHooks.active = state.on || every !== 0;
}

/**
 * The debug mode. `SYSALLOC_DEBUG=1` calls `debug.enable()` when sysalloc
 * loads; `SYSALLOC_GUARD_SAMPLE=N` calls `debug.sample(N)`.
 */
export const debug = {
  /**
   * From now on: every new Block (and so every Arena chunk and Pool region)
   * records its allocation site and, at free(), its free site; its memory is
   * page-level with a guard page after it, and when freed goes to a quarantine
   * where its pages are inaccessible; a touch of it from any thread stops the
   * process with a report naming the block, its allocation and its free site.
   * The shim records its blocks with their C callers and reports double frees
   * and frees of pointers it never issued (README, "The shim in debug mode").
   * Calling it again changes the options.
   */
  enable,
  /**
   * From now on new Blocks are ordinary again (sampling, if set, goes on).
   * Blocks recorded before keep their records until freed, and freed memory
   * already in the quarantine stays there. The shim forgets its records and
   * releases the blocks it held.
   */
  disable,
  /** One new Block in `every` is page-level, guarded and quarantined when freed, without sites (GWP-ASan's sampling); 0 stops sampling. */
  sample,
  /** Whether debug mode is on: `enable` called (or SYSALLOC_DEBUG=1 set) and not `disable`d since. */
  get enabled(): boolean {
    return state.on;
  },
  /** The leak report and memory profile: live blocks by allocation site and by size, and the quarantine. */
  report,
  /** The most freed blocks the quarantine can hold. */
  get maxQuarantineBlocks(): number {
    return native.debugMaxBlocks;
  },
  /** Returns every quarantined block's memory to the allocator now. */
  flushQuarantine(): void {
    native.debugFlush();
  },
};

const fromEnv = process.env.SYSALLOC_DEBUG;
// SYSALLOC_DEBUG=signal: the signal handler even where userfaultfd is allowed.
// SYSALLOC_DEBUG_REPORT=0: no leak report at exit.
if (fromEnv !== undefined && fromEnv !== '' && fromEnv !== '0') {
  enable({ userfaultfd: fromEnv !== 'signal', reportAtExit: process.env.SYSALLOC_DEBUG_REPORT !== '0' });
}
const sampleEnv = process.env.SYSALLOC_GUARD_SAMPLE;
if (!state.on && sampleEnv !== undefined && sampleEnv !== '' && sampleEnv !== '0') {
  const every = Number(sampleEnv);
  if (Number.isInteger(every) && every >= 1) sample(every);
}
