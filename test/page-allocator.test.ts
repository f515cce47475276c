// PageAllocator: API and errors, then a seeded property test against a page
// model: runs aligned by address, never overlapping, inside a region, the
// lowest fit first, contents kept until freed, ERR_NO_MEMORY only when the
// model has no room.
import { addressOf, AllocError, Block, pageSize, PageAllocator } from '..';
import { PATTERNS, Rng, withSeed } from './family-helpers';
import { expectCode, expectEqual, externalOnly } from './helpers';

const OPS = 100_000;

describe('PageAllocator', () => {
  test('runs of pages, aligned by address, over one page-aligned block', () => {
    using pages = new PageAllocator({ pages: 64 });
    const size = pageSize();
    expect([pages.pageSize, pages.totalPages, pages.usedPages, pages.availablePages]).toEqual([size, 64, 0, 64]);
    const one = pages.allocPages(1);
    const run = pages.allocPages(8, 8);
    expect(run.length).toBe(8 * size);
    expect(Number(addressOf(run)) % (8 * size)).toBe(0);
    expect(Number(addressOf(one)) % size).toBe(0);
    const at = pages.allocPagesAt(40, 2);
    expect(Number(addressOf(at)) - Number(pages.regions()[0].address)).toBe(40 * size);
    expect([pages.isAllocated(40), pages.isAllocated(42)]).toEqual([true, false]);
    expect(pages.usedPages).toBe(11);
    pages.freePages(run);
    pages.freePages(one);
    pages.freePages(at);
    expect(pages.usedPages).toBe(0);
  });

  test('a custom page size and added memory', () => {
    const pages = new PageAllocator({ pages: 4, pageSize: 512 });
    const block = Block.alloc(512 * 10 + 100, { align: 16 });
    pages.addMemory(block);
    const whole = Math.floor((Number(block.address) + block.size) / 512) - Math.ceil(Number(block.address) / 512);
    expect(pages.totalPages).toBe(4 + whole);
    const run = pages.allocPages(5);
    expect(pages.isAllocated(4)).toBe(true); // the first region holds only 4
    expect(Number(addressOf(run)) % 512).toBe(0);
    expectCode(() => pages.addMemory(block), 'ERR_MEMORY_OVERLAP', 'the same block twice');
    expectCode(() => pages.addMemory(Block.alloc(100)), 'ERR_INVALID_PARAM', 'a block without a whole page');
    pages.destroy();
    expect(run.length).toBe(0);
    expect(block.freed).toBe(true);
  });

  test('errors', () => {
    expect(() => new PageAllocator({ pages: 0 })).toThrow(/options.pages must be an integer from 1/);
    expect(() => new PageAllocator({ pages: 1, pageSize: 3000 })).toThrow(/options.pageSize must be a power of two/);
    expect(() => new PageAllocator({ pages: 1, pageSize: 8 })).toThrow(/options.pageSize must be a power of two from 16/);
    const pages = new PageAllocator({ pages: 8, pageSize: 4096 });
    expectCode(() => pages.allocPages(0), 'ERR_INVALID_PARAM', 'count 0');
    expectCode(() => pages.allocPages(1, 6), 'ERR_INVALID_PARAM', 'align 6');
    expect(expectCode(() => pages.allocPagesAt(8, 1), 'ERR_INVALID_PARAM', 'index past the end').message).toMatch(/index must be an integer from 0 to 7; got 8/);
    expectCode(() => pages.allocPagesAt(6, 3), 'ERR_INVALID_PARAM', 'a run past the end');
    const run = pages.allocPagesAt(2, 2);
    expect(expectCode(() => pages.allocPagesAt(3, 1), 'ERR_NO_MEMORY', 'a taken page').message).toMatch(/page 3 /);
    expectCode(() => pages.allocPages(8), 'ERR_NO_MEMORY', 'no room');
    expectCode(() => pages.freePages(run.subarray(4096)), 'ERR_NOT_ALLOCATED', 'part of a run');
    expectCode(() => pages.freePages(Buffer.from(run)), 'ERR_NOT_ALLOCATED', 'a copy');
    expectCode(() => pages.freePages('x' as never), 'ERR_INVALID_PARAM', 'a string');
    pages.freePages(run);
    expectCode(() => pages.freePages(run), 'ERR_NOT_ALLOCATED', 'a double free');
    pages.destroy();
    expectCode(() => pages.allocPages(1), 'ERR_NOT_ALLOCATED', 'after destroy');
    expectCode(() => pages.destroy(), 'ERR_NOT_ALLOCATED', 'destroy twice');
  });

  externalOnly(true, "refused there (test/runtime-aliasing.test.ts)")('checked mode: a freed run reads length 0', () => {
    using pages = new PageAllocator({ pages: 4, checked: true });
    const run = pages.allocPages(2);
    run.fill(7);
    pages.freePages(run);
    expect(run.length).toBe(0);
    const again = pages.allocPages(2);
    expect(again.length).toBe(2 * pages.pageSize);
  });

  externalOnly(true, "refused there (test/runtime-aliasing.test.ts)")('checked mode: a region whose block its caller freed is dropped, the rest goes on', () => {
    using pages = new PageAllocator({ pages: 2, pageSize: 4096, checked: true });
    const block = Block.alloc(4 * 4096, { align: 4096 });
    pages.addMemory(block);
    const inBlock = pages.allocPagesAt(3, 1);
    const first = pages.allocPages(2);
    expect(pages.totalPages).toBe(6);
    block.free(); // against the addMemory contract
    expect(expectCode(() => pages.allocPages(2), 'ERR_NO_MEMORY', 'only a dropped region has room').message).toMatch(/no 2 contiguous/);
    expect([pages.totalPages, pages.usedPages, pages.availablePages]).toEqual([3, 3, 0]);
    expect(inBlock.length).toBe(4096); // its own view keeps the memory
    pages.freePages(inBlock);
    expect(inBlock.length).toBe(0);
    expect([pages.totalPages, pages.usedPages, pages.availablePages]).toEqual([2, 2, 0]);
    expectCode(() => pages.allocPagesAt(4, 1), 'ERR_NO_MEMORY', 'a page of the dropped region');
    pages.freePages(first);
  });

  describe.each([false, true])('property (checked %s)', (checked) => {
    externalOnly(checked, "refused there (test/runtime-aliasing.test.ts)")(`${OPS} random operations against a model`, () => {
      withSeed(`PageAllocator checked=${checked}`, (rng: Rng) => {
        const page = 256;
        const pages = new PageAllocator({ pages: rng.int(100, 400), pageSize: page, checked });
        let model = new Uint8Array(pages.totalPages);
        // Checked mode: runs freed in this synchronous run (the whole trace is one),
        // which the allocator hands out only when nothing else fits.
        let heldMark = new Uint8Array(pages.totalPages);
        let held: { first: number; count: number }[] = [];
        const release = (start: number, end: number): void => {
          held = held.filter((h) => {
            if (h.first >= end || h.first + h.count <= start) return true;
            heldMark.fill(0, h.first, h.first + h.count);
            return false;
          });
        };
        // The pages of each region: [first, end), and the address of its first page.
        let regions: { first: number; end: number; base: number }[] = [];
        const refresh = (): void => {
          let first = 0;
          regions = pages.regions().map((r) => {
            const base = Math.ceil(Number(r.address) / page) * page;
            const count = Math.floor((Number(r.address) + r.size - base) / page);
            const out = { first, end: first + count, base };
            first += count;
            return out;
          });
          const grown = new Uint8Array(first);
          grown.set(model);
          model = grown;
          const grownHeld = new Uint8Array(first);
          grownHeld.set(heldMark);
          heldMark = grownHeld;
        };
        refresh();
        const live: { buf: Buffer; first: number; count: number; pattern: number }[] = [];
        let used = 0;
        let noMemory = 0;
        let added = 0;
        const lowest = (count: number, align: number): number => {
          for (const r of regions) {
            for (let p = r.first; p + count <= r.end; p++) {
              if (((r.base / page + (p - r.first)) % align) !== 0) continue;
              let q = p;
              while (q < p + count && model[q] === 0 && heldMark[q] === 0) q++;
              if (q === p + count) return p;
            }
          }
          return -1;
        };
        const take = (buf: Buffer, count: number, align: number): void => {
          const address = Number(addressOf(buf));
          expectEqual(buf.length, count * page, 'length');
          expectEqual(address % (align * page), 0, `address modulo ${align} pages`);
          const r = regions.find((x) => address >= x.base && address + count * page <= x.base + (x.end - x.first) * page);
          if (r === undefined) throw new Error(`run at ${address} lies outside every region`);
          const first = r.first + (address - r.base) / page;
          for (let p = first; p < first + count; p++) if (model[p] === 1) throw new Error(`page ${p} handed out twice`);
          model.fill(1, first, first + count);
          const pattern = rng.int(0, 255);
          buf.fill(pattern);
          live.push({ buf, first, count, pattern });
          used += count;
        };
        for (; rng.op < OPS; rng.op++) {
          const roll = rng.next();
          const filling = Math.floor(rng.op / 5000) % 2 === 0;
          if (roll < (filling ? 0.45 : 0.3)) {
            const count = rng.chance(0.6) ? rng.int(1, 4) : rng.int(1, 40);
            const align = rng.chance(0.7) ? 1 : rng.pow2(4);
            let expected = lowest(count, align);
            if (expected < 0 && held.length !== 0) {
              release(0, model.length);
              expected = lowest(count, align);
            }
            if (expected < 0) {
              expectCode(() => pages.allocPages(count, align), 'ERR_NO_MEMORY', `allocPages(${count}, ${align}) with no room`);
              noMemory++;
              continue;
            }
            const buf = pages.allocPages(count, align);
            take(buf, count, align);
            expectEqual(live[live.length - 1].first, expected, `allocPages(${count}, ${align}) takes the lowest fit`);
          } else if (roll < 0.5) {
            const index = rng.int(0, model.length - 1);
            const r = regions.find((x) => index >= x.first && index < x.end)!;
            const count = rng.int(1, Math.min(8, r.end - index));
            release(index, index + count);
            if (model.subarray(index, index + count).includes(1)) {
              expectCode(() => pages.allocPagesAt(index, count), 'ERR_NO_MEMORY', 'allocPagesAt over a taken page');
            } else {
              take(pages.allocPagesAt(index, count), count, 1);
              expectEqual(live[live.length - 1].first, index, 'allocPagesAt index');
            }
          } else if (roll < 0.96 && live.length > 0) {
            const i = rng.int(0, live.length - 1);
            const run = live[i];
            live[i] = live[live.length - 1];
            live.pop();
            if (!run.buf.equals(PATTERNS[run.pattern].subarray(0, run.count * page))) throw new Error(`the bytes of pages ${run.first}+${run.count} changed`);
            pages.freePages(run.buf);
            model.fill(0, run.first, run.first + run.count);
            used -= run.count;
            if (checked) {
              held.push({ first: run.first, count: run.count });
              heldMark.fill(1, run.first, run.first + run.count);
            }
            if (checked) expectEqual(run.buf.length, 0, 'a checked run after free reads length');
            if (rng.chance(0.05)) expectCode(() => pages.freePages(run.buf), 'ERR_NOT_ALLOCATED', 'a double free');
          } else if (roll < 0.9605 && added < 4) {
            // 2 pages or more: a block of any alignment then holds a whole page-aligned page.
            pages.addMemory(Block.alloc(rng.int(2 * page, 40 * page), { align: rng.pow2(12), zero: false }));
            added++;
            refresh();
          } else {
            const index = rng.int(0, model.length - 1);
            expectEqual(pages.isAllocated(index), model[index] === 1, `isAllocated(${index})`);
          }
          expectEqual(pages.usedPages, used, 'usedPages');
          expectEqual(pages.usedPages + pages.availablePages, pages.totalPages, 'used + available');
        }
        for (const run of live) {
          if (!run.buf.equals(PATTERNS[run.pattern].subarray(0, run.count * page))) throw new Error(`the bytes of pages ${run.first}+${run.count} changed`);
        }
        if (noMemory === 0) throw new Error('the trace never reached ERR_NO_MEMORY');
        pages.destroy();
      });
    });
  });
});
