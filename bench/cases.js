'use strict';

// The contenders and the sizes, shared by run.js (which schedules and reports)
// and case.js (which measures one contender at one size in its own process).

const KiB = 1024;
const MiB = 1024 * KiB;

// Each size has one alignment that every aligned contender is asked for.
// ops: timed operations per process, chosen so the slowest contender at that
// size stays near a second; batch: operations between event-loop turns.
const SIZES = [
  { size: 64, label: '64 B', align: 64, ops: 200_000, batch: 1000 },
  { size: 4 * KiB, label: '4 KiB', align: 4096, ops: 100_000, batch: 1000 },
  { size: 64 * KiB, label: '64 KiB', align: 65536, ops: 10_000, batch: 1000 },
  { size: MiB, label: '1 MiB', align: 4096, ops: 2_000, batch: 100 },
];

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

module.exports = { SIZES, CASES, sizeInfo, KiB, MiB };
