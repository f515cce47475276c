// The exact refusals of alignUp, alignDown, isAligned and blockSource (the
// message names the argument, the rule and the value: users match it), and the
// default alignment blockSource and Block.alloc pick when none is given: a
// power-of-two size is aligned to itself, any other size to the page.
import { AllocError, alignDown, alignUp, Block, blockSource, isAligned, MAX_ALIGN, MAX_SIZE, pageSize } from '..';
import { caught, externalOnly } from './helpers';

function expectInvalid(fn: () => unknown, message: string): void {
  const error = caught(fn, 'ERR_INVALID_PARAM');
  expect(error).toBeInstanceOf(AllocError);
  expect(error.message).toBe(message);
}

describe('refusals name the argument, the rule and the value', () => {
  test.each<[string, () => unknown, string]>([
    ['a negative number', () => alignUp(-1, 4), 'value must be a non-negative safe integer or bigint; got -1'],
    ['a fraction', () => alignDown(1.5, 4), 'value must be a non-negative safe integer or bigint; got 1.5'],
    ['a negative number to isAligned', () => isAligned(-16, 16), 'value must be a non-negative safe integer or bigint; got -16'],
    ['a negative bigint', () => alignUp(-1n, 4n), 'value must be non-negative; got -1n'],
    ['a negative bigint to alignDown', () => alignDown(-5n, 4), 'value must be non-negative; got -5n'],
    ['a string value to alignUp', () => alignUp('8' as unknown as number, 4), 'value must be a number or a bigint; got "8" (a string)'],
    ['a string value to alignDown', () => alignDown('8' as unknown as number, 4), 'value must be a number or a bigint; got "8" (a string)'],
    ['null to alignDown', () => alignDown(null as unknown as number, 4), 'value must be a number or a bigint; got null'],
    ['a number align of 3 for a bigint', () => alignUp(5n, 3), 'align must be a power of two from 1 to 4503599627370496; got 3'],
    ['a bigint align of 12n', () => alignDown(5n, 12n), 'align must be a power of two; got 12n'],
    ['a number align of 3', () => alignUp(5, 3), 'align must be a power of two from 1 to 4503599627370496; got 3'],
    [
      'a result past 2^53',
      () => alignUp(Number.MAX_SAFE_INTEGER, 2),
      'value must be small enough to round up to a multiple of 2 below 2^53; got 9007199254740991',
    ],
    ['blockSource of size 0', () => blockSource(0), `size must be an integer from 1 to ${MAX_SIZE}; got 0`],
    ['blockSource with align 3', () => blockSource(64, 3), `align must be a power of two from 1 to ${MAX_ALIGN}; got 3`],
  ])('%s', (_label, fn, message) => {
    expectInvalid(fn, message);
  });

  test('alignDown of a non-number, non-bigint never reaches the arithmetic', () => {
    // An object whose valueOf would make it a valid number must still be refused.
    let ran = 0;
    const sneaky = { valueOf: () => { ran++; return 8; } };
    expectInvalid(() => alignDown(sneaky as unknown as number, 4), 'value must be a number or a bigint; got an Object');
    expectInvalid(() => alignUp(sneaky as unknown as number, 4), 'value must be a number or a bigint; got an Object');
    expect(ran).toBe(0);
  });

  test('the accepting side of the same rules', () => {
    expect(alignUp(Number.MAX_SAFE_INTEGER - 1, 2)).toBe(Number.MAX_SAFE_INTEGER - 1);
    expect(alignDown(Number.MAX_SAFE_INTEGER, 2)).toBe(Number.MAX_SAFE_INTEGER - 1);
    expect(alignUp(0n, 2 ** 52)).toBe(0n);
    expect(alignUp(1n, 2 ** 52)).toBe(2n ** 52n);
    expect(alignDown(2n ** 80n + 1n, 2n ** 70n)).toBe(2n ** 80n);
  });
});

describe('the default alignment of a size', () => {
  const page = pageSize();
  // Sizes from both classes, on both sides of the page size and of the 128 KiB
  // at which POSIX switches from posix_memalign to mmap.
  const powers = [1, 64, 4096, 65536, 1 << 20];
  const others = [3, 100, 5000, 65535, 100000, (1 << 20) + 1];

  test.each(powers)('a power-of-two size %d is aligned to itself', (size) => {
    expect(blockSource(size)).toBe(blockSource(size, Math.min(size, MAX_ALIGN)));
    using block = Block.alloc(size);
    expect(block.align).toBe(Math.min(size, MAX_ALIGN));
    expect(isAligned(block.address, block.align)).toBe(true);
  });

  test.each(others)('a size %d that is not a power of two is aligned to the page', (size) => {
    expect(blockSource(size)).toBe(blockSource(size, page));
    using block = Block.alloc(size);
    expect(block.align).toBe(page);
  });

  if (process.platform !== 'win32') {
    externalOnly(true, "every block is the runtime's (align.test.ts)")('on POSIX the default alignment decides the source around 128 KiB', () => {
      // 65536 aligned to itself needs 128 KiB of address space: mmap; aligned
      // to the page it would fit posix_memalign.
      expect(blockSource(65536)).toBe('mmap');
      expect(blockSource(65536, page)).toBe('posix_memalign');
      // 100000 aligned to the page stays below 128 KiB; aligned to itself it would not.
      expect(blockSource(100000)).toBe('posix_memalign');
      expect(blockSource(100000, 65536)).toBe('mmap');
    });
  }
});
