import { constants } from 'buffer';
import { invalidParam } from './errors';
import { native } from './native';

/** The largest Buffer Node can hold, and so the largest block. */
export const MAX_SIZE: number = constants.MAX_LENGTH;
/** The largest alignment accepted (2^32). */
export const MAX_ALIGN: number = native.maxAlign;

const TWO_32 = 2 ** 32;

/**
 * Whether value is 2^k for an integer k >= 0, exactly, for every number and
 * bigint (no logarithm: Math.log2 rounds, so 2^52 - 1 would pass).
 */
export function isPowerOfTwo(value: number | bigint): boolean {
  if (typeof value === 'bigint') return value > 0n && (value & (value - 1n)) === 0n;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value === Infinity) return false;
  let x = value;
  // Above 2^53 every double is an integer; dividing by 2^32 is exact, and keeps a power of two one.
  while (x >= 2 ** 53) x /= TWO_32;
  if (!Number.isInteger(x)) return false;
  // Split into 32-bit halves, both exact below 2^53: a power of two has one bit set in one half.
  const low = x % TWO_32;
  const high = (x - low) / TWO_32;
  if (high === 0) return (low & (low - 1)) === 0;
  return low === 0 && (high & (high - 1)) === 0;
}

/** A byte count from 1 to max. */
export function checkSize(name: string, value: unknown, max: number = MAX_SIZE): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw invalidParam(name, `an integer from 1 to ${max}`, value);
  }
  return value;
}

/** A power of two from 1 to max. */
export function checkAlign(name: string, value: unknown, max: number = MAX_ALIGN): number {
  if (typeof value !== 'number' || !isPowerOfTwo(value) || value > max) {
    throw invalidParam(name, `a power of two from 1 to ${max}`, value);
  }
  return value;
}

/** undefined, or a boolean. */
export function checkBoolean(name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw invalidParam(name, 'a boolean', value);
  return value;
}

