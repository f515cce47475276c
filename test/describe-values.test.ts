// How an error message names a bad value (errors.ts describe()), which options
// objects count as plain, and the message of a method called on the wrong
// object: every rule from both sides, and none of them runs the value's code.
import * as vm from 'vm';
import { AllocError, Arena, Block } from '..';
import { describe as describeValue, readOptions } from '../dist/errors';
import { caught } from './helpers';

function expectInvalid(fn: () => unknown, message: string): void {
  const error = caught(fn, 'ERR_INVALID_PARAM');
  expect(error).toBeInstanceOf(AllocError);
  expect(error.message).toBe(message);
}

/** A function whose own `name` is given by `descriptor`. */
function named(descriptor: PropertyDescriptor): () => void {
  const fn = function () {};
  Object.defineProperty(fn, 'name', descriptor);
  return fn;
}

/** An object whose constructor (an own data property `constructor`) sits `depth` prototypes up. */
function constructedAtDepth(depth: number, name: string): object {
  let prototype: object = Object.create(null, { constructor: { value: named({ value: name }) } });
  for (let i = 0; i < depth; i++) prototype = Object.create(prototype);
  return Object.create(prototype);
}

describe('describe() names a value by its kind', () => {
  test.each<[string, unknown, string]>([
    ['a short string', 'ab', '"ab" (a string)'],
    ['an empty string', '', '"" (a string)'],
    ['a string with a quote', 'a"b', '"a\\"b" (a string)'],
    ['a bigint', -3n, '-3n'],
    ['a number', -0.5, '-0.5'],
    ['true', true, 'true'],
    ['false', false, 'false'],
    ['undefined', undefined, 'undefined'],
    ['null', null, 'null'],
    ['a symbol', Symbol('x'), 'a symbol'],
    ['a function', function f() {}, 'a function'],
    ['an arrow function', () => 1, 'a function'],
    ['a class', class K {}, 'a function'],
    ['a Proxy over a function', new Proxy(() => 1, {}), 'a Proxy'],
    ['a Proxy over an object', new Proxy({}, {}), 'a Proxy'],
    ['an array', [1, 2], 'an array'],
    ['an empty array', [], 'an array'],
    ['an object without a prototype', Object.create(null), 'an object without a prototype'],
    ['a plain object', {}, 'an Object'],
    ['a Date', new Date(0), 'a Date'],
    ['an Error', new Error('x'), 'an Error'],
    ['a Uint8Array', new Uint8Array(1), 'an Uint8Array'],
  ])('%s', (_label, value, shown) => {
    expect(describeValue(value)).toBe(shown);
  });

  test('the article follows the first letter of the class name only', () => {
    // A vowel later in the name does not make it "an".
    expect(describeValue(new (class BoxIO {})())).toBe('a BoxIO');
    expect(describeValue(new (class Oak {})())).toBe('an Oak');
    expect(describeValue(new (class Egg {})())).toBe('an Egg');
    // Lower-case vowels are not matched: class names are capitalised by convention.
    expect(describeValue(new (class apple {})())).toBe('a apple');
  });

  test('strings are cut after 40 characters', () => {
    expect(describeValue('x'.repeat(39))).toBe(`"${'x'.repeat(39)}" (a string)`);
    expect(describeValue('x'.repeat(40))).toBe(`"${'x'.repeat(40)}" (a string)`);
    expect(describeValue('x'.repeat(41))).toBe(`"${'x'.repeat(40)}..." (a string)`);
    expect(describeValue('x'.repeat(1000))).toBe(`"${'x'.repeat(40)}..." (a string)`);
  });

  test('a class name is read from the nearest constructor up the chain', () => {
    class Base {}
    class Derived extends Base {}
    expect(describeValue(new Derived())).toBe('a Derived');
    // No own constructor on the first prototype: the next one names it.
    expect(describeValue(Object.create(Object.create(Derived.prototype)))).toBe('a Derived');
    expect(describeValue(Object.create({}))).toBe('an Object');
  });

  test('the chain is followed up to 32 prototypes', () => {
    expect(describeValue(constructedAtDepth(0, 'Near'))).toBe('a Near');
    expect(describeValue(constructedAtDepth(31, 'Far'))).toBe('a Far');
    expect(describeValue(constructedAtDepth(32, 'Far'))).toBe('an object');
  });

  test('a constructor without a usable name leaves a generic description', () => {
    const proto = (fn: unknown) => Object.create(Object.create(null, { constructor: { value: fn } }));
    expect(describeValue(new (class {})())).toBe('an object');
    expect(describeValue(proto(named({ value: '' })))).toBe('an object');
    expect(describeValue(proto(named({ value: 5 })))).toBe('an object');
    // A constructor that is not a function is skipped, and the walk goes on.
    expect(describeValue(proto('Str'))).toBe('an object');
    expect(describeValue(Object.create(Object.create(Object.prototype, { constructor: { value: 'Str' } })))).toBe('an Object');
  });

  test('no getter and no Proxy trap of the value runs', () => {
    let ran = 0;
    const getter = () => {
      ran++;
      return named({ value: 'Trap' });
    };
    const viaGetter = Object.create(Object.create(null, { constructor: { get: getter } }));
    expect(describeValue(viaGetter)).toBe('an object');
    const nameGetter = named({
      get: () => {
        ran++;
        return 'Trap';
      },
    });
    expect(describeValue(Object.create(Object.create(null, { constructor: { value: nameGetter } })))).toBe('an object');
    const trapped = new Proxy(
      {},
      {
        get: () => {
          ran++;
          return undefined;
        },
        getPrototypeOf: () => {
          ran++;
          return null;
        },
      },
    );
    expect(describeValue(Object.create(trapped))).toBe('an object');
    expect(describeValue(trapped)).toBe('a Proxy');
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    expect(describeValue(revoked.proxy)).toBe('a Proxy');
    expect(describeValue(Object.create(revoked.proxy))).toBe('an object');
    expect(ran).toBe(0);
  });
});

describe('options must be a plain object', () => {
  test('undefined is no options where options are optional, and refused where required', () => {
    using block = Block.alloc(4096, undefined);
    expect(block.size).toBe(4096);
    expectInvalid(() => new Arena(undefined as unknown as { capacity: number }), 'options must be a plain object; got undefined');
  });

  test('accepted: {}, no prototype, another realm', () => {
    for (const options of [
      { capacity: 4096 },
      Object.assign(Object.create(null), { capacity: 4096 }),
      vm.runInNewContext('({ capacity: 4096 })'),
    ]) {
      const arena = new Arena(options);
      expect(arena.capacity).toBe(4096);
      arena.destroy();
    }
    using block = Block.alloc(4096, vm.runInNewContext('({ align: 4096 })'));
    expect(block.align).toBe(4096);
  });

  test.each<[string, () => unknown, string]>([
    ['a class instance', () => new (class Opts { capacity = 4096; })(), 'an Opts'],
    ['an object made from a plain object', () => Object.assign(Object.create({}), { capacity: 4096 }), 'an Object'],
    ['an array', () => Object.assign([], { capacity: 4096 }), 'an array'],
    ['a function', () => Object.assign(() => 1, { capacity: 4096 }), 'a function'],
    ['a Proxy over a plain object', () => new Proxy({ capacity: 4096 }, {}), 'a Proxy'],
    ['a string', () => '4096', '"4096" (a string)'],
    [
      'a prototype at the end of the chain whose constructor is not Object',
      () => Object.create(Object.create(null, { constructor: { value: named({ value: 'Other' }) } }), { capacity: { value: 4096, enumerable: true } }),
      'an Other',
    ],
    [
      'an instance of a class named Object',
      () => new ({ Object: class { capacity = 4096; } }.Object)(),
      'an Object',
    ],
    [
      'a prototype below Object.prototype that has its own constructor named Object',
      () => Object.assign(Object.create(Object.create(Object.prototype, { constructor: { value: Object } })), { capacity: 4096 }),
      'an Object',
    ],
    [
      'a prototype at the end of the chain with no constructor',
      () => Object.assign(Object.create(Object.create(null)), { capacity: 4096 }),
      'an object',
    ],
    [
      'a prototype at the end of the chain whose constructor is not a function',
      () => Object.create(Object.create(null, { constructor: { value: 'Object' } }), { capacity: { value: 4096, enumerable: true } }),
      'an object',
    ],
  ])('refused: %s', (_label, make, shown) => {
    expectInvalid(() => new Arena(make() as { capacity: number }), `options must be a plain object; got ${shown}`);
  });

  test('a prototype at the end of the chain with a data constructor named Object counts as Object.prototype', () => {
    const fake = Object.create(null, { constructor: { value: named({ value: 'Object' }) } });
    const arena = new Arena(Object.assign(Object.create(fake), { capacity: 4096 }));
    expect(arena.capacity).toBe(4096);
    arena.destroy();
  });

  test('a constructor behind a getter, or a name behind a getter, is not read', () => {
    let ran = 0;
    const count = <T>(value: T) => () => {
      ran++;
      return value;
    };
    const viaGetter = Object.create(null, { constructor: { get: count(Object) } });
    expectInvalid(
      () => new Arena(Object.assign(Object.create(viaGetter), { capacity: 4096 })),
      'options must be a plain object; got an object',
    );
    const nameGetter = Object.create(null, { constructor: { value: named({ get: count('Object') }) } });
    expectInvalid(
      () => new Arena(Object.assign(Object.create(nameGetter), { capacity: 4096 })),
      'options must be a plain object; got an object',
    );
    expect(ran).toBe(0);
  });

  test('each option is read once', () => {
    let reads = 0;
    const options = {
      get capacity() {
        reads++;
        return 4096;
      },
    };
    const arena = new Arena(options);
    expect(reads).toBe(1);
    arena.destroy();
  });
});

describe('a method called on the wrong object', () => {
  test.each<[string, () => unknown, string]>([
    ['Arena.alloc on a plain object', () => Arena.prototype.alloc.call({}, 8), 'Arena.alloc must be called on an Arena; got an Object'],
    ['Arena.reset on undefined', () => Arena.prototype.reset.call(undefined), 'Arena.reset must be called on an Arena; got undefined'],
    [
      'Arena[Symbol.dispose] on null',
      () => (Arena.prototype as unknown as Record<symbol, () => void>)[Symbol.dispose].call(null),
      'Arena[Symbol.dispose] must be called on an Arena; got null',
    ],
    ['Block.free on a number', () => Block.prototype.free.call(5), 'Block.free must be called on a Block; got 5'],
    [
      'the Block.address getter on an array',
      () => Object.getOwnPropertyDescriptor(Block.prototype, 'address')!.get!.call([]),
      'Block.address must be called on a Block; got an array',
    ],
  ])('%s', (_label, fn, message) => {
    expectInvalid(fn, message);
  });
});

describe('readOptions: optional and required options objects', () => {
  test('optional: undefined gives no values; an object gives each listed key, read once', () => {
    expect(readOptions('options', undefined, ['a', 'b'], false)).toEqual({});
    let reads = 0;
    const options = {
      get a() {
        reads++;
        return 1;
      },
      b: 'x',
      c: 3,
    };
    expect(readOptions('options', options, ['a', 'b'], false)).toEqual({ a: 1, b: 'x' });
    expect(reads).toBe(1);
  });

  test('required: undefined is refused like any other non-object', () => {
    expectInvalid(() => readOptions('options', undefined, ['a'], true), 'options must be a plain object; got undefined');
    expect(readOptions('options', { a: 2 }, ['a'], true)).toEqual({ a: 2 });
  });

  test('an object without a prototype is plain', () => {
    const bare = Object.assign(Object.create(null) as object, { a: 4 });
    expect(readOptions('options', bare, ['a'], true)).toEqual({ a: 4 });
  });
});
