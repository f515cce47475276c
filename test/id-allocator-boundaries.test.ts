// IdAllocator's limits from both sides and its exact messages (they name the
// argument, the rule, the value and the allocator's state), and the rule that
// single-id searches start at the lowest free id however ids were freed.
import { AllocError, IdAllocator } from '..';
import { caught } from './helpers';

function expectError(fn: () => unknown, code: string, message: string): void {
  const error = caught(fn);
  expect(error).toBeInstanceOf(AllocError);
  expect([error.code, error.message]).toEqual([code, message]);
}

describe('IdAllocator limits and messages', () => {
  test('the options', () => {
    expectError(() => new IdAllocator(null as never), 'ERR_INVALID_PARAM', 'options must be an object; got null');
    expectError(() => new IdAllocator(5 as never), 'ERR_INVALID_PARAM', 'options must be an object; got 5');
    expectError(() => new IdAllocator({ size: 2 ** 31 + 1 }), 'ERR_INVALID_PARAM', 'options.size must be an integer from 1 to 2147483648; got 2147483649');
    expect(new IdAllocator({ size: 1 }).allocId()).toBe(0);
  });

  test('count: from 1 to the size, checked whenever a range is asked for', () => {
    const ids = new IdAllocator({ size: 8 });
    expectError(() => ids.allocId(9), 'ERR_INVALID_PARAM', 'count must be an integer from 1 to 8; got 9');
    expectError(() => ids.allocId(9, 1), 'ERR_INVALID_PARAM', 'count must be an integer from 1 to 8; got 9');
    expectError(() => ids.allocId(1.5), 'ERR_INVALID_PARAM', 'count must be an integer from 1 to 8; got 1.5');
    expect(ids.allocId(8)).toBe(0);
    expect(ids.used).toBe(8);
  });

  test('align: a power of two up to 2^31, checked with a count of 1 too', () => {
    const ids = new IdAllocator({ size: 8 });
    expectError(() => ids.allocId(1, 3), 'ERR_INVALID_PARAM', 'align must be a power of two from 1 to 2147483648; got 3');
    expectError(() => ids.allocId(1, 2 ** 32), 'ERR_INVALID_PARAM', 'align must be a power of two from 1 to 2147483648; got 4294967296');
    expect(ids.allocId(1, 2 ** 31)).toBe(0);
    expect(ids.allocId(1, 4)).toBe(4);
    expect(ids.allocId(2, 2)).toBe(2);
    expectError(() => ids.allocId(1, 2 ** 31), 'ERR_NO_MEMORY', 'no 1 contiguous free ids aligned to 2147483648 (size 8, used 4)');
  });

  test('no room: the message gives the request and the state', () => {
    const ids = new IdAllocator({ size: 8 });
    ids.allocFixedId(5);
    expect(ids.allocId(4, 4)).toBe(0);
    expectError(() => ids.allocId(4, 4), 'ERR_NO_MEMORY', 'no 4 contiguous free ids aligned to 4 (size 8, used 5)');
    expectError(() => ids.allocId(3), 'ERR_NO_MEMORY', 'no 3 contiguous free ids aligned to 1 (size 8, used 5)');
    expect(ids.allocId(2)).toBe(6);
    expect(ids.allocId()).toBe(4);
    expectError(() => ids.allocId(), 'ERR_NO_MEMORY', 'no 1 contiguous free ids aligned to 1 (size 8, used 8)');
    expectError(() => ids.allocFixedId(5), 'ERR_NO_MEMORY', 'id 5 is already allocated');
  });

  test('ids: from 0 to size - 1', () => {
    const ids = new IdAllocator({ size: 8 });
    expectError(() => ids.isAllocated(8), 'ERR_INVALID_PARAM', 'id must be an integer from 0 to 7; got 8');
    expectError(() => ids.allocFixedId(-1), 'ERR_INVALID_PARAM', 'id must be an integer from 0 to 7; got -1');
    expectError(() => ids.freeId('1' as unknown as number), 'ERR_INVALID_PARAM', 'id must be an integer from 0 to 7; got "1" (a string)');
    expectError(() => ids.freeId(0.5), 'ERR_INVALID_PARAM', 'id must be an integer from 0 to 7; got 0.5');
    ids.allocFixedId(7);
    ids.allocFixedId(0);
    expect([ids.isAllocated(0), ids.isAllocated(7), ids.isAllocated(1)]).toEqual([true, true, false]);
  });

  test('freeing: the count reaches at most the last id, and a free id inside refuses the whole range', () => {
    const ids = new IdAllocator({ size: 8 });
    expect(ids.allocId(8)).toBe(0);
    expectError(() => ids.freeId(6, 3), 'ERR_INVALID_PARAM', 'count must be an integer from 1 to 2; got 3');
    ids.freeId(6, 2);
    expect([ids.used, ids.available]).toEqual([6, 2]);
    expectError(() => ids.freeId(4, 3), 'ERR_NOT_ALLOCATED', 'id 6 is not allocated (freeing 3 from 4)');
    expectError(() => ids.freeId(7), 'ERR_NOT_ALLOCATED', 'id 7 is not allocated (freeing 1 from 7)');
    expect([ids.used, ids.isAllocated(4), ids.isAllocated(5)]).toEqual([6, true, true]);
  });
});

describe('single ids come from the lowest free id', () => {
  test('freeing an id above the lowest free one does not move the search past it', () => {
    const ids = new IdAllocator({ size: 64 });
    expect([ids.allocId(), ids.allocId(), ids.allocId()]).toEqual([0, 1, 2]);
    ids.allocFixedId(10);
    ids.freeId(10);
    expect(ids.allocId()).toBe(3);
    ids.allocFixedId(20);
    ids.freeId(1);
    ids.freeId(20);
    expect(ids.allocId()).toBe(1);
    expect(ids.allocId()).toBe(4);
  });

  test('freeing the id just below the search start brings the search back to it', () => {
    const ids = new IdAllocator({ size: 64 });
    for (let i = 0; i < 40; i++) ids.allocId();
    ids.freeId(39);
    expect(ids.allocId()).toBe(39);
    ids.freeId(32, 8);
    expect(ids.allocId()).toBe(32);
    expect(ids.allocId()).toBe(33);
  });

  test('a range or a fixed id taken below the search start is never handed out again', () => {
    const ids = new IdAllocator({ size: 64 });
    expect([ids.allocId(), ids.allocId()]).toEqual([0, 1]);
    ids.freeId(0, 2);
    expect(ids.allocId(2, 1)).toBe(0);
    ids.allocFixedId(2);
    expect(ids.allocId()).toBe(3);
    expect(ids.used).toBe(4);
  });
});
