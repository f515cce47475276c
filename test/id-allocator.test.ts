// IdAllocator: API and errors, then a seeded property test against a plain
// array model: every allocation must be the lowest aligned free range the
// model has, and ERR_NO_MEMORY only when the model has none.
import { IdAllocator } from '..';
import { Rng, withSeed } from './family-helpers';
import { caught, expectCode, expectEqual } from './helpers';

const OPS = 100_000;

describe('IdAllocator', () => {
  test('allocates the lowest free ids, ranges aligned, and frees them', () => {
    const ids = new IdAllocator({ size: 100 });
    expect(ids.allocId()).toBe(0);
    expect(ids.allocId(4, 4)).toBe(4);
    expect(ids.allocId()).toBe(1);
    ids.allocFixedId(2);
    expect(ids.allocId()).toBe(3);
    expect(ids.allocId()).toBe(8);
    expect([ids.isAllocated(2), ids.isAllocated(9)]).toEqual([true, false]);
    expect([ids.size, ids.used, ids.available]).toEqual([100, 9, 91]);
    ids.freeId(4, 4);
    expect(ids.allocId(2, 2)).toBe(4);
    expect(ids.allocId(64, 32)).toBe(32);
  });

  test('a range spans words of the bitmap', () => {
    const ids = new IdAllocator({ size: 200 });
    ids.allocFixedId(0);
    expect(ids.allocId(70)).toBe(1);
    expect(ids.allocId(64, 64)).toBe(128);
    expect(ids.isAllocated(70)).toBe(true);
    expect(ids.isAllocated(71)).toBe(false);
    ids.freeId(1, 70);
    expect(ids.used).toBe(65);
    expect(ids.allocId(127)).toBe(1);
  });

  test('errors: ERR_INVALID_PARAM, ERR_NO_MEMORY, ERR_NOT_ALLOCATED', () => {
    expect(() => new IdAllocator({ size: 0 })).toThrow(/options.size must be an integer from 1 to 2147483648; got 0/);
    caught(() => new IdAllocator(null as never));
    const ids = new IdAllocator({ size: 8 });
    expect(expectCode(() => ids.allocId(0), 'ERR_INVALID_PARAM', 'count 0').message).toMatch(/count .* got 0/);
    expect(expectCode(() => ids.allocId(1, 3), 'ERR_INVALID_PARAM', 'align 3').message).toMatch(/align must be a power of two.*got 3/);
    expect(expectCode(() => ids.allocId(9), 'ERR_INVALID_PARAM', 'count over size').message).toMatch(/got 9/);
    expectCode(() => ids.isAllocated(8), 'ERR_INVALID_PARAM', 'id out of range');
    expectCode(() => ids.isAllocated(-1), 'ERR_INVALID_PARAM', 'negative id');
    expectCode(() => ids.freeId(1.5), 'ERR_INVALID_PARAM', 'fractional id');
    expectCode(() => ids.freeId(6, 3), 'ERR_INVALID_PARAM', 'range past the end');
    ids.allocFixedId(5);
    expect(expectCode(() => ids.allocFixedId(5), 'ERR_NO_MEMORY', 'fixed id taken').message).toMatch(/id 5 is already allocated/);
    expect(ids.allocId(4, 4)).toBe(0);
    expectCode(() => ids.allocId(4, 4), 'ERR_NO_MEMORY', 'no aligned range');
    expect(expectCode(() => ids.freeId(3, 3), 'ERR_NOT_ALLOCATED', 'a range with a free id').message).toMatch(/id 4 is not allocated/);
    expect(ids.used).toBe(5); // nothing changed
    ids.freeId(0, 4);
    expectCode(() => ids.freeId(0), 'ERR_NOT_ALLOCATED', 'double free');
  });

  test(`property: ${OPS} random operations against a model`, () => {
    withSeed('IdAllocator', (rng: Rng) => {
      const size = rng.int(1000, 3000);
      const ids = new IdAllocator({ size });
      const model = new Uint8Array(size);
      const ranges: [number, number][] = [];
      let used = 0;
      let noMemory = 0;
      const lowest = (count: number, align: number): number => {
        for (let p = 0; p + count <= size; p += align) {
          let q = p;
          while (q < p + count && model[q] === 0) q++;
          if (q === p + count) return p;
        }
        return -1;
      };
      for (; rng.op < OPS; rng.op++) {
        const roll = rng.next();
        const filling = Math.floor(rng.op / 5000) % 2 === 0;
        if (roll < (filling ? 0.55 : 0.35)) {
          const count = rng.chance(0.7) ? 1 : rng.int(1, 80);
          const align = rng.chance(0.7) ? 1 : rng.pow2(6);
          const expected = lowest(count, align);
          if (expected < 0) {
            expectCode(() => ids.allocId(count, align), 'ERR_NO_MEMORY', `allocId(${count}, ${align}) with no room`);
            noMemory++;
            continue;
          }
          const first = ids.allocId(count, align);
          expectEqual(first, expected, `allocId(${count}, ${align})`);
          model.fill(1, first, first + count);
          ranges.push([first, count]);
          used += count;
        } else if (roll < 0.6) {
          const id = rng.int(0, size - 1);
          if (model[id] === 1) {
            expectCode(() => ids.allocFixedId(id), 'ERR_NO_MEMORY', 'a taken fixed id');
          } else {
            ids.allocFixedId(id);
            model[id] = 1;
            ranges.push([id, 1]);
            used++;
          }
        } else if (roll < 0.97 && ranges.length > 0) {
          const i = rng.int(0, ranges.length - 1);
          const [first, count] = ranges[i];
          ranges[i] = ranges[ranges.length - 1];
          ranges.pop();
          ids.freeId(first, count);
          model.fill(0, first, first + count);
          used -= count;
          if (rng.chance(0.1)) expectCode(() => ids.freeId(first, count), 'ERR_NOT_ALLOCATED', 'a double free');
        } else {
          const id = rng.int(0, size - 1);
          expectEqual(ids.isAllocated(id), model[id] === 1, `isAllocated(${id})`);
        }
        expectEqual(ids.used, used, 'used');
        expectEqual(ids.used + ids.available, ids.size, 'used + available');
      }
      for (let id = 0; id < size; id++) expectEqual(ids.isAllocated(id), model[id] === 1, `isAllocated(${id}) at the end`);
      if (noMemory === 0) throw new Error('the trace never reached ERR_NO_MEMORY');
    });
  });
});
