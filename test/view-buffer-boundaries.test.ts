// The Buffers that Arena, Pool (fast, and shared) and Heap hand out are built
// like Node's own (FastBuffer): their prototype's `constructor` is Buffer with
// the very attributes Node gives it, so code that walks, copies or assigns
// properties treats them as it treats Buffer.alloc's.
import { Arena, Heap, Pool } from '..';
import { runtimeMemory } from './helpers';

const nodeProto = Object.getPrototypeOf(Buffer.alloc(1)) as object;
const nodeDescriptor = Object.getOwnPropertyDescriptor(nodeProto, 'constructor');

function handedOut(): [string, Buffer, () => void][] {
  const arena = new Arena({ capacity: 4096 });
  const pool = new Pool({ slotSize: 16, slots: 2 });
  const heap = new Heap({ capacity: 1 << 16 });
  const out: [string, Buffer, () => void][] = [
    ['Arena', arena.alloc(16), () => arena.destroy()],
    ['Pool', pool.alloc(), () => pool.destroy()],
    ['Heap', heap.alloc(16), () => heap.destroy()],
  ];
  if (!runtimeMemory) {
    const shared = new Pool({ slotSize: 16, slots: 2, shared: true });
    out.splice(2, 0, ['shared Pool', shared.alloc(), () => shared.destroy()]);
  }
  return out;
}

if (runtimeMemory) test.skip('a Buffer from a shared Pool [not on runtime memory: sharing is refused there]', () => {});

test('Node\'s own Buffer prototype: constructor is Buffer, writable, not enumerable, configurable', () => {
  expect(nodeDescriptor).toEqual({ value: Buffer, writable: true, enumerable: false, configurable: true });
});

describe.each(handedOut())('a Buffer from %s', (_name, buf, done) => {
  afterAll(done);
  const proto = Object.getPrototypeOf(buf) as object;

  test('is a Buffer whose prototype is below Buffer.prototype, with constructor Buffer', () => {
    expect(Buffer.isBuffer(buf)).toBe(true);
    expect(buf).toBeInstanceOf(Buffer);
    expect(Object.getPrototypeOf(proto)).toBe(Buffer.prototype);
    expect(buf.constructor).toBe(Buffer);
  });

  test('its prototype\'s constructor has the attributes of Node\'s', () => {
    expect(Object.getOwnPropertyDescriptor(proto, 'constructor')).toEqual(nodeDescriptor);
  });

  test('for...in lists what it lists for Buffer.alloc: no constructor', () => {
    const keys = (b: Buffer) => {
      const out: string[] = [];
      for (const key in b) if (!/^\d+$/.test(key)) out.push(key);
      return out;
    };
    expect(keys(buf)).not.toContain('constructor');
    expect(keys(buf)).toEqual(keys(Buffer.alloc(buf.length)));
  });

  test('strict-mode code can give it an own constructor, as it can a Buffer', () => {
    'use strict';
    const copy = Buffer.alloc(buf.length);
    const other = Object.create(buf) as { constructor: unknown };
    other.constructor = 1; // TypeError under a read-only inherited constructor
    (Object.create(copy) as { constructor: unknown }).constructor = 1;
    expect(other.constructor).toBe(1);
  });
});
