import { addressOf, alignDown, alignUp, Block, blockSource, isAligned, pageSize } from '..';
import { runtimeMemory, thrownCode as code } from './helpers';

describe('alignUp and alignDown', () => {
  test.each([
    [0, 16, 0, 0],
    [1, 16, 16, 0],
    [15, 16, 16, 0],
    [16, 16, 16, 16],
    [17, 16, 32, 16],
    [4097, 4096, 8192, 4096],
    [5, 1, 5, 5],
    [2 ** 40 + 1, 2 ** 20, 2 ** 40 + 2 ** 20, 2 ** 40],
    [Number.MAX_SAFE_INTEGER, 1, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  ])('number %d to %d: up %d, down %d', (value, align, up, down) => {
    expect(alignUp(value, align)).toBe(up);
    expect(alignDown(value, align)).toBe(down);
  });

  test.each([
    [0n, 16n, 0n, 0n],
    [17n, 16n, 32n, 16n],
    [2n ** 64n + 1n, 4096n, 2n ** 64n + 4096n, 2n ** 64n],
    [4097n, 4096, 8192n, 4096n],
  ])('bigint %p to %p', (value, align, up, down) => {
    expect(alignUp(value, align)).toBe(up);
    expect(alignDown(value, align)).toBe(down);
  });

  test.each<[string, () => unknown]>([
    ['align 0', () => alignUp(5, 0)],
    ['align 3', () => alignUp(5, 3)],
    ['align 1.5', () => alignDown(5, 1.5)],
    ['align as a string', () => alignUp(5, '4' as unknown as number)],
    ['bigint align 0n', () => alignUp(5n, 0n)],
    ['bigint align 12n', () => alignDown(5n, 12n)],
    ['negative value', () => alignUp(-1, 4)],
    ['negative bigint', () => alignUp(-1n, 4n)],
    ['fractional value', () => alignDown(1.5, 4)],
    ['NaN value', () => alignDown(NaN, 4)],
    ['value as a string', () => alignUp('8' as unknown as number, 4)],
    ['a result past 2^53', () => alignUp(Number.MAX_SAFE_INTEGER, 2)],
  ])('%s is ERR_INVALID_PARAM', (_label, fn) => {
    expect(code(fn)).toBe('ERR_INVALID_PARAM');
  });
});

describe('isAligned and addressOf', () => {
  test('numbers and bigints', () => {
    expect(isAligned(4096, 4096)).toBe(true);
    expect(isAligned(4097, 4096)).toBe(false);
    expect(isAligned(0, 2 ** 32)).toBe(true);
    expect(isAligned(8192n, 4096)).toBe(true);
    expect(isAligned(8192n + 8n, 16n)).toBe(false);
    expect(isAligned(24, 8n)).toBe(true);
    expect(code(() => isAligned(16, 6))).toBe('ERR_INVALID_PARAM');
    expect(code(() => isAligned(-16, 16))).toBe('ERR_INVALID_PARAM');
  });

  test('the first byte of a view, including its offset', () => {
    using block = Block.alloc(8192, { align: 4096 });
    expect(addressOf(block.buffer)).toBe(block.address);
    // On runtime memory the ArrayBuffer is over-allocated and the block starts at the aligned offset in it.
    const base = BigInt(block.buffer.byteOffset);
    if (!runtimeMemory) expect(base).toBe(0n);
    expect(addressOf(block.buffer.buffer)).toBe(block.address - base);
    expect(addressOf(block.buffer.subarray(100))).toBe(block.address + 100n);
    expect(addressOf(new Float64Array(block.buffer.buffer, Number(base) + 64, 2))).toBe(block.address + 64n);
    expect(addressOf(new DataView(block.buffer.buffer, Number(base) + 12))).toBe(block.address + 12n);
    expect(isAligned(block.buffer, 4096)).toBe(true);
    expect(isAligned(block.buffer.subarray(512), 512)).toBe(true);
    expect(isAligned(block.buffer.subarray(1), 2)).toBe(false);
    expect(isAligned(new DataView(block.buffer.buffer, 16), 16)).toBe(true);
  });

  test('the measured alignment of Node buffers: allocUnsafeSlow is 16-aligned, slices may not be', () => {
    expect(isAligned(Buffer.allocUnsafeSlow(4096), 16)).toBe(true);
    expect(isAligned(new ArrayBuffer(4096), 16)).toBe(true);
    const misaligned = Buffer.allocUnsafeSlow(64).subarray(3);
    expect(addressOf(misaligned) % 16n).toBe(3n);
    expect(isAligned(misaligned, 2)).toBe(false);
  });

  test('a small typed array gets a stable address', () => {
    const small = new Uint8Array(16);
    const first = addressOf(small);
    (globalThis as { gc?: () => void }).gc?.();
    expect(addressOf(small)).toBe(first);
  });

  test('a SharedArrayBuffer', () => {
    const shared = new SharedArrayBuffer(64);
    expect(addressOf(shared)).toBeGreaterThan(0n);
    expect(addressOf(new Int32Array(shared, 8))).toBe(addressOf(shared) + 8n);
  });

  test('a freed block reads address 0n through its detached buffer', () => {
    const block = Block.alloc(4096);
    const buffer = block.buffer;
    block.free();
    expect(addressOf(buffer)).toBe(0n);
  });

  test.each<[string, unknown]>([
    ['a number', 5],
    ['a plain object', {}],
    ['an array', [1, 2]],
    ['undefined', undefined],
    ['a string', 'abc'],
  ])('addressOf(%s) is ERR_INVALID_PARAM', (_label, value) => {
    expect(code(() => addressOf(value as ArrayBuffer))).toBe('ERR_INVALID_PARAM');
  });
});

describe('pageSize and blockSource', () => {
  test('pageSize is a power of two the OS reports', () => {
    expect(Number.isInteger(Math.log2(pageSize()))).toBe(true);
    expect(pageSize()).toBeGreaterThanOrEqual(4096);
  });

  test('blockSource names the call per size class', () => {
    if (runtimeMemory) {
      // Every size class is served by the runtime there (README "Runtimes without external buffers").
      for (const [size, align] of [[4096, undefined], [64, 64], [1 << 20, undefined], [4096, 1 << 20]]) {
        expect(blockSource(size, align)).toBe('runtime');
      }
    } else if (process.platform === 'win32') {
      expect(blockSource()).toBe('_aligned_malloc');
      expect(blockSource(1 << 20)).toBe('VirtualAlloc');
    } else {
      expect(blockSource()).toBe('posix_memalign');
      expect(blockSource(64, 64)).toBe('posix_memalign');
      expect(blockSource(1 << 20)).toBe('mmap');
      expect(blockSource(4096, 1 << 20)).toBe('mmap');
    }
    expect(code(() => blockSource(0))).toBe('ERR_INVALID_PARAM');
    expect(code(() => blockSource(64, 3))).toBe('ERR_INVALID_PARAM');
  });
});
