// isPowerOfTwo is exact for every number and bigint: every alignment check
// rests on it, including the ones above 2^53 where doubles lose the low bits.
import { checkAlign, checkBoolean, isPowerOfTwo } from '../dist/validate';

describe('isPowerOfTwo', () => {
  test.each([1, 2, 4, 1024, 2 ** 31, 2 ** 32, 2 ** 33, 2 ** 52, 2 ** 53, 2 ** 54, 2 ** 64, 2 ** 85, 2 ** 86, 2 ** 1000, 2 ** 1023])(
    '%d is one',
    (value) => expect(isPowerOfTwo(value)).toBe(true),
  );

  test.each([
    0, -1, -2, -(2 ** 40), 3, 6, 12, 2 ** 31 + 1, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32 + 1, 2 ** 32 + 2 ** 31, 3 * 2 ** 32, 2 ** 33 + 2 ** 32,
    2 ** 52 - 1, 2 ** 52 + 2 ** 32, 2 ** 53 - 1, 2 ** 53 + 2, 2 ** 53 + 2 ** 32, 3 * 2 ** 52, 2 ** 60 + 2 ** 40, 3 * 2 ** 60, 2 ** 86 + 2 ** 40,
    2 ** 1000 * 3, Number.MAX_VALUE, 0.5, 1.5, 2 ** -10, NaN, Infinity, -Infinity,
  ])('%d is not', (value) => expect(isPowerOfTwo(value)).toBe(false));

  test('bigints: exact at any width; 0n and negatives are not', () => {
    expect([1n, 2n, 2n ** 64n, 2n ** 200n].map(isPowerOfTwo)).toEqual([true, true, true, true]);
    expect([0n, -1n, -2n, 3n, 2n ** 64n - 1n, 2n ** 64n + 1n, 2n ** 200n + 2n ** 100n].map(isPowerOfTwo)).toEqual(new Array(7).fill(false));
  });

  test('anything else is not, and none of its code runs', () => {
    expect(isPowerOfTwo('4' as unknown as number)).toBe(false);
    expect(isPowerOfTwo(null as unknown as number)).toBe(false);
    const hostile = { valueOf: () => { throw new Error('valueOf ran'); } };
    expect(isPowerOfTwo(hostile as unknown as number)).toBe(false);
  });
});

describe('checkAlign and checkBoolean', () => {
  test('the largest alignment allowed is accepted; the next power of two is not', () => {
    expect(checkAlign('a', 2 ** 10, 2 ** 10)).toBe(2 ** 10);
    expect(() => checkAlign('a', 2 ** 11, 2 ** 10)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_PARAM', message: `a must be a power of two from 1 to ${2 ** 10}; got ${2 ** 11}` }),
    );
    expect(checkAlign('a', 1)).toBe(1);
    expect(() => checkAlign('a', 4n)).toThrow(expect.objectContaining({ message: `a must be a power of two from 1 to ${2 ** 32}; got 4n` }));
  });

  test('undefined and booleans pass as they are; anything else names the option', () => {
    expect([checkBoolean('z', undefined), checkBoolean('z', true), checkBoolean('z', false)]).toEqual([undefined, true, false]);
    expect(() => checkBoolean('z', 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PARAM', message: 'z must be a boolean; got 0' }));
    expect(() => checkBoolean('z', null)).toThrow(expect.objectContaining({ message: 'z must be a boolean; got null' }));
  });
});
