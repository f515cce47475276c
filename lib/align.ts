import { types } from 'util';
import { invalidParam } from './errors';
import { native, SourceName } from './native';
import { checkAlign, checkSize, isPowerOfTwo, MAX_ALIGN } from './validate';

function checkBigAlign(name: string, align: bigint): bigint {
  if (!isPowerOfTwo(align)) throw invalidParam(name, 'a power of two', align);
  return align;
}

function checkNumberValue(value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw invalidParam('value', 'a non-negative safe integer or bigint', value);
  }
  return value;
}

function roundBigint(value: bigint, align: unknown, up: boolean): bigint {
  if (value < 0n) throw invalidParam('value', 'non-negative', value);
  const a = checkBigAlign('align', typeof align === 'bigint' ? align : BigInt(checkAlign('align', align, 2 ** 52)));
  const down = value & ~(a - 1n);
  return up && down !== value ? down + a : down;
}

function roundNumber(value: number, align: unknown, up: boolean): number {
  checkNumberValue(value);
  const a = checkAlign('align', align, 2 ** 52);
  // Dividing by a power of two is exact in binary floating point.
  const result = (up ? Math.ceil(value / a) : Math.floor(value / a)) * a;
  if (!Number.isSafeInteger(result)) {
    throw invalidParam('value', `small enough to round up to a multiple of ${a} below 2^53`, value);
  }
  return result;
}

/** The smallest multiple of align that is >= value. align is a power of two. */
export function alignUp(value: number, align: number): number;
export function alignUp(value: bigint, align: number | bigint): bigint;
export function alignUp(value: number | bigint, align: number | bigint): number | bigint {
  if (typeof value === 'bigint') return roundBigint(value, align, true);
  if (typeof value !== 'number') throw invalidParam('value', 'a number or a bigint', value);
  return roundNumber(value, align, true);
}

/** The largest multiple of align that is <= value. align is a power of two. */
export function alignDown(value: number, align: number): number;
export function alignDown(value: bigint, align: number | bigint): bigint;
export function alignDown(value: number | bigint, align: number | bigint): number | bigint {
  if (typeof value === 'bigint') return roundBigint(value, align, false);
  if (typeof value !== 'number') throw invalidParam('value', 'a number or a bigint', value);
  return roundNumber(value, align, false);
}

/**
 * The address of the first byte of an ArrayBuffer or of any view (Buffer, typed
 * array, DataView), as a bigint. A detached buffer has no memory: 0n.
 *
 * V8 keeps typed arrays of 64 bytes or less inside its heap, where the collector
 * may move them; asking for the address moves such an array's bytes off-heap
 * first, so the address stays valid while the array lives.
 */
export function addressOf(view: ArrayBuffer | SharedArrayBuffer | ArrayBufferView): bigint {
  // Only the real thing: these checks read internal slots, never properties
  // (Symbol.toStringTag, length) an impostor or a Proxy could answer.
  let target: unknown;
  if (ArrayBuffer.isView(view) || types.isArrayBuffer(view)) target = view;
  // Node-API has no SharedArrayBuffer accessor in Node 20; a view over one has.
  else if (types.isSharedArrayBuffer(view)) target = new Uint8Array(view);
  const address = target === undefined ? undefined : native.addressOf(target);
  if (address === undefined) {
    throw invalidParam('view', 'an ArrayBuffer, a SharedArrayBuffer or an ArrayBufferView', view);
  }
  return address;
}

/**
 * Whether an address (number or bigint), or the first byte of an ArrayBuffer or
 * view, is a multiple of align.
 */
export function isAligned(
  value: number | bigint | ArrayBuffer | SharedArrayBuffer | ArrayBufferView,
  align: number | bigint,
): boolean {
  const address =
    typeof value === 'number' ? BigInt(checkNumberValue(value))
    : typeof value === 'bigint' ? value
    : addressOf(value);
  return roundBigint(address, align, false) === address;
}

/** The size of a virtual memory page, from sysconf(_SC_PAGESIZE) or GetSystemInfo. */
export function pageSize(): number {
  return native.pageSize;
}

/**
 * The system call that serves blocks of this size and alignment on this OS:
 * 'posix_memalign' or 'mmap' on POSIX, '_aligned_malloc' or 'VirtualAlloc' on
 * Windows. Without arguments, a page-sized, page-aligned block.
 */
export function blockSource(size: number = native.pageSize, align?: number): SourceName {
  checkSize('size', size);
  return native.sourceFor(size, align === undefined ? defaultAlign(size) : checkAlign('align', align));
}

/**
 * A power-of-two size is aligned to itself, up to MAX_ALIGN (a larger one, which
 * MAX_SIZE allows from Node 22, to MAX_ALIGN); any other size to the page size.
 */
export function defaultAlign(size: number): number {
  if (!isPowerOfTwo(size)) return native.pageSize;
  return Math.min(size, MAX_ALIGN);
}
