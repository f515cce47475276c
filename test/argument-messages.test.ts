// The exact message of every refusal a user can meet at the Arena and Pool
// constructors and on a destroyed allocator, and how each kind of bad value is
// named in it: the text is part of the contract (users match it in logs).
import { AllocError, Arena, Block, MAX_SIZE, Pool } from '..';
import { describe as describeValue } from '../dist/errors';
import { caught } from './helpers';

function expectError(fn: () => unknown, code: string, message: string): void {
  const error = caught(fn);
  expect(error).toBeInstanceOf(AllocError);
  expect([error.name, error.code, error.message]).toEqual(['AllocError', code, message]);
}

type Ctor = new (options: unknown) => unknown;
const ARENA = Arena as unknown as Ctor;
const POOL = Pool as unknown as Ctor;

describe('options of the constructors', () => {
  test.each<[string, unknown, string]>([
    ['null', null, 'null'],
    ['undefined', undefined, 'undefined'],
    ['an array', [], 'an array'],
    ['a boolean', true, 'true'],
    ['a number', 0, '0'],
  ])('new Arena(%s) and new Pool(%s): ERR_INVALID_PARAM naming the value', (_label, options, shown) => {
    expectError(() => new ARENA(options), 'ERR_INVALID_PARAM', `options must be a plain object; got ${shown}`);
    expectError(() => new POOL(options), 'ERR_INVALID_PARAM', `options must be a plain object; got ${shown}`);
  });

  test('an object without a prototype is a plain object for both', () => {
    const arena = new Arena(Object.assign(Object.create(null), { capacity: 4096 }));
    expect(arena.capacity).toBe(4096);
    arena.destroy();
    const pool = new Pool(Object.assign(Object.create(null), { slotSize: 8, slots: 3 }));
    expect(pool.slots).toBe(3);
    pool.destroy();
  });

  test.each<[string, unknown, string]>([
    ['an object without a prototype', Object.create(null), 'an object without a prototype'],
    ['an array', [4096], 'an array'],
    ['a boolean', false, 'false'],
    ['a plain object', {}, 'an Object'],
    ['a Map', new Map(), 'a Map'],
  ])('a bad capacity or slotSize: %s is named in the message', (_label, value, shown) => {
    expect(describeValue(value)).toBe(shown);
    expectError(() => new Arena({ capacity: value as number }), 'ERR_INVALID_PARAM', `options.capacity must be an integer from 1 to ${MAX_SIZE}; got ${shown}`);
    expectError(() => new Pool({ slotSize: value as number, slots: 1 }), 'ERR_INVALID_PARAM', `options.slotSize must be an integer from 1 to ${MAX_SIZE}; got ${shown}`);
  });

  test('grow and checked must be booleans', () => {
    expectError(() => new Arena({ capacity: 64, grow: 1 as unknown as boolean }), 'ERR_INVALID_PARAM', 'options.grow must be a boolean; got 1');
    expectError(() => new Pool({ slotSize: 8, slots: 1, checked: null as unknown as boolean }), 'ERR_INVALID_PARAM', 'options.checked must be a boolean; got null');
  });

  test('describe() names each kind of value', () => {
    expect(describeValue('ab')).toBe('"ab" (a string)');
    expect(describeValue(3n)).toBe('3n');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(NaN)).toBe('NaN');
    expect(describeValue(() => 1)).toBe('a function');
    expect(describeValue(new (class Item {})())).toBe('an Item');
    expect(describeValue(new (class Unit {})())).toBe('an Unit');
    expect(describeValue(new (class Box {})())).toBe('a Box');
    expect(describeValue('y'.repeat(40))).toBe(`"${'y'.repeat(40)}" (a string)`);
    expect(describeValue('y'.repeat(41))).toBe(`"${'y'.repeat(40)}..." (a string)`);
  });
});

describe('a destroyed allocator names the action it refuses', () => {
  test('Arena', () => {
    const arena = new Arena({ capacity: 4096 });
    arena.destroy();
    const block = Block.alloc(4096);
    expectError(() => arena.alloc(8), 'ERR_NOT_ALLOCATED', 'cannot allocate from an arena that is destroyed');
    expectError(() => arena.reset(), 'ERR_NOT_ALLOCATED', 'cannot reset an arena that is destroyed');
    expectError(() => arena.addMemory(block), 'ERR_NOT_ALLOCATED', 'cannot add memory to an arena that is destroyed');
    expectError(() => arena.regions(), 'ERR_NOT_ALLOCATED', 'cannot list the regions of an arena that is destroyed');
    expectError(() => arena.destroy(), 'ERR_NOT_ALLOCATED', 'cannot destroy an arena that is destroyed');
    expect(block.freed).toBe(false);
    block.free();
  });

  test('Pool', () => {
    const pool = new Pool({ slotSize: 16, slots: 2 });
    const slot = pool.alloc();
    pool.destroy();
    const block = Block.alloc(4096);
    expectError(() => pool.alloc(), 'ERR_NOT_ALLOCATED', 'cannot allocate from a pool that is destroyed');
    expectError(() => pool.free(slot), 'ERR_NOT_ALLOCATED', 'cannot free into a pool that is destroyed');
    expectError(() => pool.addMemory(block), 'ERR_NOT_ALLOCATED', 'cannot add memory to a pool that is destroyed');
    expectError(() => pool.regions(), 'ERR_NOT_ALLOCATED', 'cannot list the regions of a pool that is destroyed');
    expectError(() => pool.destroy(), 'ERR_NOT_ALLOCATED', 'cannot destroy a pool that is destroyed');
    expect(block.freed).toBe(false);
    block.free();
  });
});
