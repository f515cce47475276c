import { constants } from 'buffer';
import { invalidParam } from './errors';
import { native } from './native';

/** The largest Buffer Node can hold, and so the largest block. */
export const MAX_SIZE: number = constants.MAX_LENGTH;
/** The largest alignment accepted (2^32). */
export const MAX_ALIGN: number = native.maxAlign;

export function isPowerOfTwo(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0 && Number.isInteger(Math.log2(value));
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
