// PageAllocator.freePages refuses what is not a Buffer it handed out, by kind:
// a value that is not an object at all (null, undefined, a number) is
// ERR_INVALID_PARAM naming it, whatever the allocator holds, and frees nothing.
import { AllocError, PageAllocator } from '..';
import { caught, runtimeMemory } from './helpers';

describe('PageAllocator.freePages of a non-object', () => {
  test.each<[string, unknown, string]>([
    ['null', null, 'null'],
    ['undefined', undefined, 'undefined'],
    ['a number', 1, '1'],
    ['a string', 'x', '"x" (a string)'],
  ])('%s is ERR_INVALID_PARAM and changes nothing', (_label, value, shown) => {
    // On runtime memory a checked PageAllocator is refused (test/runtime-aliasing.test.ts).
    for (const checked of runtimeMemory ? [false] : [false, true]) {
      const pages = new PageAllocator({ pages: 8, checked });
      // Runs at page 0 and at page 1, and none: the refusal cannot depend on which numbers are live.
      const first = pages.allocPages(1);
      const second = pages.allocPages(1);
      pages.freePages(second);
      const refuse = () => {
        const before = [pages.usedPages, pages.availablePages];
        const error = caught(() => pages.freePages(value as Uint8Array), 'ERR_INVALID_PARAM');
        expect(error).toBeInstanceOf(AllocError);
        expect(error.message).toBe(`buf must be a Buffer from this page allocator; got ${shown}`);
        expect([pages.usedPages, pages.availablePages]).toEqual(before);
      };
      refuse();
      pages.freePages(first);
      refuse();
      pages.destroy();
    }
  });
});
