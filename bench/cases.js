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
const CASES = [
  { name: 'block-nozero', column: 'Block z:false', zeroed: false },
  { name: 'block-zero', column: 'Block z:true', zeroed: true },
  { name: 'allocUnsafeSlow', column: 'allocUnsafeSlow', zeroed: false },
  { name: 'alloc', column: 'Buffer.alloc', zeroed: true },
  { name: 'arraybuffer', column: 'ArrayBuffer', zeroed: true },
  { name: 'getAlignedBuffer', column: 'getAlignedBuffer', zeroed: true },
];

function sizeInfo(size) {
  const info = SIZES.find((s) => s.size === size);
  if (info === undefined) throw new Error(`unknown size ${size}; known: ${SIZES.map((s) => s.size).join(', ')}`);
  return info;
}

module.exports = { SIZES, CASES, TOUCH_MODES, PAGE, touchModes, sizeInfo, KiB, MiB };
