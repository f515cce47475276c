// The facade validates every argument; the addon guards again so that a bad call
// from anywhere (another module loading the raw addon) cannot corrupt memory.
import { constants } from 'buffer';
import { native } from '../dist/native';
import { delta, runtimeMemory, settle } from './helpers';

const { status } = native;

describe('raw addon guards', () => {
  test.each<[string, unknown[]]>([
    ['no arguments', []],
    ['size 0', [0, 16, true]],
    ['size -1', [-1, 16, true]],
    ['size 1.5', [1.5, 16, true]],
    ['size NaN', [NaN, 16, true]],
    ['size as a string', ['4096', 16, true]],
    ['align 0', [64, 0, true]],
    ['align 3', [64, 3, true]],
    ['align 2^33', [64, 2 ** 33, true]],
    ['zero as a number', [64, 16, 1]],
  ])('blockAlloc with %s is refused as invalid', (_label, args) => {
    const alloc = native.blockAlloc as (...a: unknown[]) => unknown;
    expect(alloc(...args)).toBe(status.invalidParam);
  });

  // Node 20's Buffer limit is 2^32: a larger block can be allocated, and the
  // Buffer over it is refused. From Node 22 the limit is 2^53 - 1, the largest
  // size the addon takes at all: any larger size is refused before the OS is asked.
  const bufferLimitBelowSafeInteger = constants.MAX_LENGTH < Number.MAX_SAFE_INTEGER;

  test('the Buffer limit is 2^32 on Node 20 and 2^53 - 1 from Node 22', () => {
    const major = Number(process.versions.node.split('.')[0]);
    expect(constants.MAX_LENGTH).toBe(major >= 22 ? Number.MAX_SAFE_INTEGER : 2 ** 32);
    expect(bufferLimitBelowSafeInteger).toBe(major < 22);
  });

  test('a size over the Buffer limit is refused, and memory the OS gave for it returned exactly once', async () => {
    const before = await settle();
    expect(native.blockAlloc(Number.MAX_SAFE_INTEGER + 1, 4096, false)).toBe(status.invalidParam);
    expect(native.blockAlloc(constants.MAX_LENGTH + 4096, 4096, false)).toBe(status.invalidParam);
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    const allocated = Object.values(delta(before, after, 'osAllocations')).reduce((a, b) => a + b);
    // On runtime memory nothing is counted: the runtime's ArrayBuffer is detached before the block is recorded.
    expect(allocated).toBe(bufferLimitBelowSafeInteger && !runtimeMemory ? 1 : 0);
    // Too large for the cache: straight back to the OS, once.
    expect(delta(before, after, 'osReleases')).toEqual(delta(before, after, 'osAllocations'));
  });

  test.each<[string, () => unknown]>([
    ['an ordinary Buffer', () => Buffer.alloc(64)],
    ['a slice of a block', () => (native.blockAlloc(4096, 4096, true) as Buffer).subarray(1)],
    ['a shorter view at the same address', () => (native.blockAlloc(4096, 4096, true) as Buffer).subarray(0, 10)],
    [
      'a Uint16Array over a block',
      () => {
        const block = native.blockAlloc(4096, 4096, true) as Buffer;
        return new Uint16Array(block.buffer, block.byteOffset, 2048);
      },
    ],
    ['a number', () => 42],
    ['undefined', () => undefined],
  ])('blockFree of %s is refused as not allocated', (_label, make) => {
    expect(native.blockFree(make() as Uint8Array)).toBe(status.notAllocated);
  });

  test('blockFree accepts another whole Uint8Array over the same block, once', () => {
    const buffer = native.blockAlloc(4096, 4096, true) as Buffer;
    const other = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
    expect(native.blockFree(other)).toBe(status.ok);
    expect(buffer.length).toBe(0);
    expect(native.blockFree(buffer)).toBe(status.notAllocated);
  });
});
