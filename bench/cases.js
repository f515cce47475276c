'use strict';

// The contenders and the sizes, shared by run.js (which schedules and reports)
// and case.js (which measures one contender at one size in its own process).

const KiB = 1024;
const MiB = 1024 * KiB;

// The page a pages-mode op writes one byte into. 4 KiB is the base page of
// x86-64 and most arm64 Linux kernels; where pages are larger the mode still
// writes every page, only more than once.
const PAGE = 4096;

// How much of each block an op writes (case.js implements them):
//   ends   the first and the last byte: the allocator's own cost;
//   pages  one byte in every 4 KiB page and the last byte: adds the page
//          faults a user pays who fills the block, e.g. with an O_DIRECT read.
// At sizes up to one page the two are the same op, so only ends runs there.
const TOUCH_MODES = ['ends', 'pages'];

// Each size has one alignment that every aligned contender is asked for.
// ops: timed operations per process for each touch mode, chosen so the slowest
// contender stays near a second; batch: operations between event-loop turns.
const SIZES = [
  { size: 64, label: '64 B', align: 64, ops: { ends: 200_000 }, batch: 1000 },
  { size: 4 * KiB, label: '4 KiB', align: 4096, ops: { ends: 100_000 }, batch: 1000 },
  { size: 64 * KiB, label: '64 KiB', align: 65536, ops: { ends: 10_000, pages: 10_000 }, batch: 1000 },
  { size: MiB, label: '1 MiB', align: 4096, ops: { ends: 2_000, pages: 2_000 }, batch: 100 },
];

// The touch modes run.js measures at a size: pages only where it differs from ends.
function touchModes(size) {
  return size > PAGE ? TOUCH_MODES : ['ends'];
}

// column: the short heading used in the table.
// table 'arena-pool': the case goes in the Arena and Pool table rather than the
// Block one. sizes: the only sizes the case runs at (default: every size). Arena
// and Pool exist for allocations too small or too frequent for a Block each, so
// they and their allocUnsafe baseline run at 64 B and 4 KiB only.
const SMALL_SIZES = [64, 4 * KiB];
// ops: timed operations by size where the size's count would time only a few
// milliseconds (ops of 50-150 ns), too short to measure against the noise of JIT
// tiering and scheduling.
const FAST_OPS = { 64: 2_000_000, [4 * KiB]: 1_000_000 };
// Buffers the allocUnsafeSlow-held case keeps alive (a power of two).
const HELD = 64;
const CASES = [
  { name: 'block-nozero', column: 'Block z:false', zeroed: false },
  { name: 'block-zero', column: 'Block z:true', zeroed: true },
  { name: 'allocUnsafeSlow', column: 'allocUnsafeSlow', zeroed: false },
  // allocUnsafeSlow with the last HELD Buffers kept alive (a ring), as a user
  // holds buffers a while: the collector frees them later, in batches.
  { name: 'allocUnsafeSlow-held', column: `unsafeSlow x${HELD}`, zeroed: false, sizes: SMALL_SIZES },
  { name: 'alloc', column: 'Buffer.alloc', zeroed: true },
  { name: 'arraybuffer', column: 'ArrayBuffer', zeroed: true },
  { name: 'getAlignedBuffer', column: 'getAlignedBuffer', zeroed: true },
  { name: 'arena', column: 'Arena', zeroed: false, table: 'arena-pool', sizes: SMALL_SIZES, ops: FAST_OPS },
  { name: 'pool-fast', column: 'Pool fast', zeroed: false, table: 'arena-pool', sizes: SMALL_SIZES, ops: FAST_OPS },
  { name: 'pool-checked', column: 'Pool checked', zeroed: false, table: 'arena-pool', sizes: SMALL_SIZES },
  { name: 'allocUnsafe', column: 'allocUnsafe', zeroed: false, table: 'arena-pool', sizes: SMALL_SIZES, ops: { 64: 2_000_000 } },
  // Node's own aligned allocation (Node 26.8 and later; see nodeAligns): the
  // same sizes and alignments as Block, in a table of its own.
  { name: 'allocUnsafeSlow-aligned', column: 'allocUnsafeSlow(n,a)', zeroed: false, table: 'node-aligned', sizes: [4 * KiB, 64 * KiB, MiB] },
];

// Whether this Node's Buffer.allocUnsafeSlow(size, alignment) aligns: from
// 26.8; Node 20 to 24 accept the argument and ignore it. (case.js still checks
// every address it times.)
function nodeAligns(version = process.versions.node) {
  const [major, minor] = version.split('.').map(Number);
  return major > 26 || (major === 26 && minor >= 8);
}

// Bytes in the arena of the arena case, reset whenever the next allocation
// would not fit: 16384 allocations of 64 B or 256 of 4 KiB per reset.
const ARENA_CAPACITY = MiB;
// Slots in the pools of the pool cases (each op frees its slot before the next).
const POOL_SLOTS = 64;

// Timed operations per process for a case at a size and touch mode.
function opsFor(spec, info, touch) {
  return spec.ops?.[info.size] ?? info.ops[touch] ?? info.ops.ends;
}

function runsAt(spec, size) {
  return spec.sizes === undefined || spec.sizes.includes(size);
}

function sizeInfo(size) {
  const info = SIZES.find((s) => s.size === size);
  if (info === undefined) throw new Error(`unknown size ${size}; known: ${SIZES.map((s) => s.size).join(', ')}`);
  return info;
}

module.exports = { nodeAligns, SIZES, CASES, TOUCH_MODES, PAGE, ARENA_CAPACITY, POOL_SLOTS, HELD, touchModes, runsAt, opsFor, sizeInfo, KiB, MiB };
