// Every rejected argument is an AllocError with a message that cannot itself
// throw; options are plain objects read once; a wrong `this` is an AllocError;
// Block, Arena and Pool show their state to util.inspect.
import { constants } from 'buffer';
import { inspect } from 'util';
import {
  addressOf, alignDown, alignUp, AllocError, Arena, Block, blockSource, isAligned, MAX_ALIGN, Pool,
} from '..';
import { isPowerOfTwo } from '../dist/validate';
import { caught } from './helpers';

function expectInvalid(fn: () => unknown, message: string): void {
  const error = caught(fn);
  expect(error.code).toBe('ERR_INVALID_PARAM');
  expect(error.message).toBe(message);
}

const MAX = constants.MAX_LENGTH;

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

function throwingConstructor(): object {
  return Object.defineProperty({}, 'constructor', {
    get() {
      throw new Error('constructor getter');
    },
  });
}

class Nameless {
  static get name(): string {
    throw new Error('name getter');
  }
}

// Values whose description must not run or throw anything of theirs.
const HOSTILE: [string, () => unknown, string][] = [
  ['a revoked Proxy', revokedProxy, 'a Proxy'],
  ['a Proxy that throws from every trap', () => new Proxy({}, new Proxy({}, { get: () => () => { throw new Error('trap'); } })), 'a Proxy'],
  ['an object whose constructor getter throws', throwingConstructor, 'an Object'],
  ['an object without a prototype', () => Object.create(null), 'an object without a prototype'],
  ['an instance of a class whose name getter throws', () => new Nameless(), 'an object'],
  ['an object with a throwing Symbol.toStringTag', () => ({ get [Symbol.toStringTag]() { throw new Error('tag'); } }), 'an Object'],
  ['a symbol', () => Symbol('s'), 'a symbol'],
  ['a long string', () => 'x'.repeat(1000), `"${'x'.repeat(40)}..." (a string)`],
];

describe.each(HOSTILE)('%s as an argument', (_label, make, shown) => {
  test.each<[string, (v: unknown) => unknown, string]>([
    ['Block.alloc size', (v) => Block.alloc(v as number), `size must be an integer from 1 to ${MAX}; got ${shown}`],
    ['Block.alloc options.align', (v) => Block.alloc(16, { align: v as number }), `options.align must be a power of two from 1 to ${MAX_ALIGN}; got ${shown}`],
    ['Arena options.capacity', (v) => new Arena({ capacity: v as number }), `options.capacity must be an integer from 1 to ${MAX}; got ${shown}`],
    ['Pool options.slotSize', (v) => new Pool({ slotSize: v as number, slots: 1 }), `options.slotSize must be an integer from 1 to ${MAX}; got ${shown}`],
    ['arena.alloc size', (v) => new Arena({ capacity: 4096 }).alloc(v as number), `size must be an integer from 1 to ${MAX}; got ${shown}`],
    ['arena.alloc align', (v) => new Arena({ capacity: 4096 }).alloc(1, v as number), `align must be a power of two from 1 to ${MAX_ALIGN}; got ${shown}`],
    ['pool.free', (v) => new Pool({ slotSize: 8, slots: 1 }).free(v as Uint8Array), `buf must be a Buffer from this pool; got ${shown}`],
    ['arena.addMemory', (v) => new Arena({ capacity: 4096 }).addMemory(v as Block), `block must be a Block; got ${shown}`],
    ['alignUp value', (v) => alignUp(v as number, 16), `value must be a number or a bigint; got ${shown}`],
    ['alignDown align', (v) => alignDown(5, v as number), `align must be a power of two from 1 to ${2 ** 52}; got ${shown}`],
    ['addressOf', (v) => addressOf(v as ArrayBuffer), `view must be an ArrayBuffer, a SharedArrayBuffer or an ArrayBufferView; got ${shown}`],
    ['isAligned', (v) => isAligned(v as ArrayBuffer, 16), `view must be an ArrayBuffer, a SharedArrayBuffer or an ArrayBufferView; got ${shown}`],
    ['blockSource', (v) => blockSource(v as number), `size must be an integer from 1 to ${MAX}; got ${shown}`],
  ])('%s: ERR_INVALID_PARAM naming it', (_where, call, message) => {
    expectInvalid(() => call(make()), message);
  });
});

describe('addressOf takes only real buffers and views', () => {
  test.each([3, 2 ** 40])('an object posing as a SharedArrayBuffer of length %d: rejected, nothing copied', (length) => {
    const impostor = { [Symbol.toStringTag]: 'SharedArrayBuffer', length, byteLength: length };
    expectInvalid(() => addressOf(impostor as unknown as SharedArrayBuffer), 'view must be an ArrayBuffer, a SharedArrayBuffer or an ArrayBufferView; got an Object');
  });

  test('a Proxy of a real Buffer is not a Buffer', () => {
    expectInvalid(() => addressOf(new Proxy(Buffer.alloc(4), {}) as Buffer), 'view must be an ArrayBuffer, a SharedArrayBuffer or an ArrayBufferView; got a Proxy');
  });

  test('a real SharedArrayBuffer: the address of its memory, the same as a view of it', () => {
    const shared = new SharedArrayBuffer(64);
    expect(addressOf(shared)).toBe(addressOf(new Uint8Array(shared)));
    expect(addressOf(shared)).not.toBe(0n);
  });
});

describe('isPowerOfTwo is exact', () => {
  test('every 2^k a double can hold, and no neighbour of one', () => {
    const wrong: string[] = [];
    for (let k = 0; k <= 1023; k++) {
      const p = 2 ** k;
      if (!isPowerOfTwo(p)) wrong.push(`2^${k}`);
      if (k >= 1 && k <= 52 && isPowerOfTwo(p + 1)) wrong.push(`2^${k} + 1`);
      if (k >= 2 && k <= 53 && isPowerOfTwo(p - 1)) wrong.push(`2^${k} - 1`);
      if (k >= 1 && k < 1023 && isPowerOfTwo(p * 1.5)) wrong.push(`3 * 2^${k - 1}`);
    }
    for (const v of [0, -1, -2, 0.5, 0.25, 1.5, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE]) {
      if (isPowerOfTwo(v)) wrong.push(String(v));
    }
    expect(wrong).toEqual([]);
  });

  test('bigints of any size', () => {
    expect([1n, 2n, 2n ** 64n, 2n ** 1000n].map((v) => isPowerOfTwo(v))).toEqual([true, true, true, true]);
    expect([0n, -2n, 3n, 2n ** 64n - 1n, 2n ** 64n + 1n, 2n ** 1000n * 3n].map((v) => isPowerOfTwo(v))).toEqual([false, false, false, false, false, false]);
  });

  test('alignUp(5, 2^52 - 1) throws; 2^52 is the largest number alignment', () => {
    expectInvalid(() => alignUp(5, 2 ** 52 - 1), `align must be a power of two from 1 to ${2 ** 52}; got ${2 ** 52 - 1}`);
    expect(alignUp(5, 2 ** 52)).toBe(2 ** 52);
    expectInvalid(() => alignUp(5, 2 ** 53), `align must be a power of two from 1 to ${2 ** 52}; got ${2 ** 53}`);
    expect(alignUp(5n, 2n ** 64n)).toBe(2n ** 64n);
    expectInvalid(() => alignUp(5n, 2n ** 64n - 1n), `align must be a power of two; got ${2n ** 64n - 1n}n`);
    expectInvalid(() => Block.alloc(4096, { align: 2 ** 31 - 1 }), `options.align must be a power of two from 1 to ${MAX_ALIGN}; got ${2 ** 31 - 1}`);
  });
});

describe('options are a plain object, each option read once', () => {
  test.each<[string, unknown, string]>([
    ['an array', [4096], 'an array'],
    ['a function', Object.assign(() => 0, { align: 4096 }), 'a function'],
    ['a class instance', new (class BlockOpts { align = 4096; })(), 'a BlockOpts'],
    ['a Proxy of a plain object', new Proxy({ align: 4096 }, {}), 'a Proxy'],
    ['a boxed number', Object(4096), 'a Number'],
  ])('Block.alloc(16, %s): ERR_INVALID_PARAM', (_label, options, shown) => {
    expectInvalid(() => Block.alloc(16, options as { align: number }), `options must be a plain object; got ${shown}`);
  });

  test('Arena and Pool reject the same', () => {
    expectInvalid(() => new Arena([4096] as unknown as { capacity: number }), 'options must be a plain object; got an array');
    expectInvalid(
      () => new Pool(Object.assign(() => 0, { slotSize: 8, slots: 1 }) as unknown as { slotSize: number; slots: number }),
      'options must be a plain object; got a function',
    );
  });

  test('an object without a prototype is a plain object', () => {
    const options = Object.assign(Object.create(null), { align: 64, zero: false }) as { align: number; zero: boolean };
    const block = Block.alloc(100, options);
    expect(block.align).toBe(64);
    block.free();
  });

  function counting<T extends object>(values: T): { options: T; reads: Record<string, number> } {
    const reads: Record<string, number> = {};
    const options = {} as T;
    for (const [key, value] of Object.entries(values)) {
      reads[key] = 0;
      Object.defineProperty(options, key, {
        enumerable: true,
        get() {
          reads[key]++;
          return value;
        },
      });
    }
    return { options, reads };
  }

  test('Block.alloc reads align and zero once each', () => {
    const { options, reads } = counting({ align: 4096, zero: false });
    Block.alloc(100, options).free();
    expect(reads).toEqual({ align: 1, zero: 1 });
  });

  test('new Arena reads capacity, align and grow once each', () => {
    const { options, reads } = counting({ capacity: 4096, align: 8192, grow: true });
    new Arena(options).destroy();
    expect(reads).toEqual({ capacity: 1, align: 1, grow: 1 });
  });

  test('new Pool reads slotSize, slots, align and checked once each', () => {
    const { options, reads } = counting({ slotSize: 64, slots: 4, align: 64, checked: true });
    new Pool(options).destroy();
    expect(reads).toEqual({ slotSize: 1, slots: 1, align: 1, checked: 1 });
  });

  test('a getter that changes its answer cannot slip past validation', () => {
    let n = 0;
    const options = {
      get align() {
        return n++ === 0 ? 3 : 4096;
      },
    };
    expectInvalid(() => Block.alloc(100, options), `options.align must be a power of two from 1 to ${MAX_ALIGN}; got 3`);
  });
});

describe('a method called on the wrong object: ERR_INVALID_PARAM, not a TypeError', () => {
  const getter = (proto: object, key: string) => Object.getOwnPropertyDescriptor(proto, key)!.get!;
  test.each<[string, () => unknown, string]>([
    ['Block.prototype.free', () => Block.prototype.free.call({}), 'Block.free must be called on a Block; got an Object'],
    ['Block.prototype.buffer', () => getter(Block.prototype, 'buffer').call({}), 'Block.buffer must be called on a Block; got an Object'],
    ['Block.prototype.address', () => getter(Block.prototype, 'address').call(Object.create(Block.prototype)), 'Block.address must be called on a Block; got a Block'],
    ['Block.prototype.freed', () => getter(Block.prototype, 'freed').call(undefined), 'Block.freed must be called on a Block; got undefined'],
    ['Block dispose', () => Block.prototype[Symbol.dispose].call(null), 'Block[Symbol.dispose] must be called on a Block; got null'],
    ['Pool.prototype.alloc', () => Pool.prototype.alloc.call({}), 'Pool.alloc must be called on a Pool; got an Object'],
    ['Pool.prototype.free', () => Pool.prototype.free.call({}, Buffer.alloc(1)), 'Pool.free must be called on a Pool; got an Object'],
    ['Pool.prototype.used', () => getter(Pool.prototype, 'used').call(new Arena({ capacity: 4096 })), 'Pool.used must be called on a Pool; got an Arena'],
    ['Pool.prototype.regions', () => Pool.prototype.regions.call([]), 'Pool.regions must be called on a Pool; got an array'],
    ['Arena.prototype.alloc', () => Arena.prototype.alloc.call({}, 16), 'Arena.alloc must be called on an Arena; got an Object'],
    ['Arena.prototype.reset', () => Arena.prototype.reset.call(new Pool({ slotSize: 8, slots: 1 })), 'Arena.reset must be called on an Arena; got a Pool'],
    ['Arena.prototype.available', () => getter(Arena.prototype, 'available').call(revokedProxy()), 'Arena.available must be called on an Arena; got a Proxy'],
    ['Arena.prototype.destroy', () => Arena.prototype.destroy.call({}), 'Arena.destroy must be called on an Arena; got an Object'],
  ])('%s', (_label, call, message) => {
    expectInvalid(call, message);
  });
});

describe('Block has no public constructor', () => {
  test('new Block() does not type-check, and at run time is an AllocError', () => {
    // @ts-expect-error: the constructor is private; Block.alloc makes Blocks
    const make = () => new Block();
    expectInvalid(make, 'Block has no public constructor; use Block.alloc(size, options)');
  });
});

describe('util.inspect shows the state', () => {
  test('a Block: live at its address, then freed', () => {
    const block = Block.alloc(4096, { align: 4096 });
    expect(inspect(block)).toBe(`Block { size: 4096, align: 4096, live at 0x${block.address.toString(16)} }`);
    block.free();
    expect(inspect(block)).toBe('Block { size: 4096, align: 4096, freed }');
  });

  test('an Arena: capacity, used, chunks, then destroyed', () => {
    const arena = new Arena({ capacity: 4096, grow: true });
    arena.alloc(100);
    expect(inspect(arena)).toBe('Arena { align: 4096, grow: true, capacity: 4096, used: 100, chunks: 1 }');
    arena.destroy();
    expect(inspect(arena)).toBe('Arena { align: 4096, grow: true, destroyed }');
  });

  test('a Pool: used and available slots, then destroyed', () => {
    const pool = new Pool({ slotSize: 64, slots: 4, checked: true });
    pool.alloc();
    expect(inspect(pool)).toBe('Pool { slotSize: 64, align: 16, checked: true, used: 1, available: 3, regions: 1 }');
    pool.destroy();
    expect(inspect(pool)).toBe('Pool { slotSize: 64, align: 16, checked: true, destroyed }');
  });
});

describe('validated input never crashes the process: bookkeeping limits', () => {
  test('new Pool({ slotSize: 1, slots: 135e6, align: 1 }): ERR_INVALID_PARAM with the real limit', () => {
    expectInvalid(() => new Pool({ slotSize: 1, slots: 135e6, align: 1 }), 'options.slots must be an integer from 1 to 16777216; got 135000000');
  });

  test('a pool of 2^24 slots works; addMemory beyond it is refused and the block stays its caller\'s', () => {
    const pool = new Pool({ slotSize: 1, slots: 2 ** 24, align: 1 });
    expect(pool.slots).toBe(2 ** 24);
    const first = pool.alloc();
    pool.free(first);
    const block = Block.alloc(4096);
    expectInvalid(() => pool.addMemory(block), 'a pool holds at most 16777216 slots; this one has 16777216 and the block would add 4096');
    expect(block.freed).toBe(false);
    const arena = new Arena({ capacity: 4096 });
    arena.addMemory(block); // still free to give to another allocator
    arena.destroy();
    pool.destroy();
  });
});
