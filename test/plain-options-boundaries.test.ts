// Options objects made by an object literal count as plain by their prototype
// alone (Object.prototype of this realm), whatever another library has done to
// Object.prototype.constructor or to Object's name: the realm-independent
// fallback (a prototype at the end of the chain whose own data constructor is
// named Object) is only for objects of other realms.
import { Arena, Pool } from '..';

const constructorDescriptor = Object.getOwnPropertyDescriptor(Object.prototype, 'constructor')!;
const nameDescriptor = Object.getOwnPropertyDescriptor(Object, 'name')!;

afterEach(() => {
  Object.defineProperty(Object.prototype, 'constructor', constructorDescriptor);
  Object.defineProperty(Object, 'name', nameDescriptor);
});

function acceptsLiterals(): void {
  const arena = new Arena({ capacity: 4096 });
  expect(arena.capacity).toBe(4096);
  arena.destroy();
  const pool = new Pool({ slotSize: 16, slots: 2 });
  expect(pool.slots).toBe(2);
  pool.destroy();
}

describe('an object literal is a plain options object', () => {
  test('when Object.prototype.constructor is an accessor (not run)', () => {
    let ran = 0;
    Object.defineProperty(Object.prototype, 'constructor', {
      get() {
        ran++;
        return Object;
      },
      configurable: true,
    });
    acceptsLiterals();
    expect(ran).toBe(0);
  });

  test('when Object.prototype.constructor was deleted', () => {
    delete (Object.prototype as { constructor?: unknown }).constructor;
    expect(Object.getOwnPropertyDescriptor(Object.prototype, 'constructor')).toBeUndefined();
    acceptsLiterals();
  });

  test("when Object's own name was redefined", () => {
    Object.defineProperty(Object, 'name', { value: 'Renamed', configurable: true });
    expect(Object.name).toBe('Renamed');
    acceptsLiterals();
  });
});
