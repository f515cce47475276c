// The allocators that reuse memory in JavaScript (Arena, checked Pool, checked
// Heap, checked PageAllocator) against a re-entrant release: Node's native
// Buffer methods (fill, utf8Write, the *Slice readers) take the data pointer,
// then coerce an argument, whose valueOf can reset the arena or free the
// allocation and allocate again. Memory released in a synchronous run is not
// handed out again before that run returns to the event loop, unless the
// allocator has no other memory for the request.
import { addressOf, Arena, debug, Heap, PageAllocator, Pool } from '..';
import { externalOnly, ordinaryBlocks, runtimeMemory } from './helpers';

interface NodeBufferInternals {
  utf8Write(s: string, offset: unknown, length?: unknown): number;
  latin1Slice(start: unknown, end: unknown): string;
}
const internals = (buf: Buffer): NodeBufferInternals => buf as unknown as NodeBufferInternals;
const address = (buf: Uint8Array): number => Number(addressOf(buf));

/** A microtask queued before this call has run once this resolves. */
const endOfRun = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Case {
  name: string;
  /** An allocation of n bytes and a function that releases it (the way its allocator does). */
  make(n: number): { buf: Buffer; release(): void; again(): Buffer; destroy(): void };
}

const N = 256;

const CASES: Case[] = [
  {
    name: 'Arena reset',
    make(n) {
      const arena = new Arena({ capacity: 16 * n });
      return { buf: arena.alloc(n), release: () => arena.reset(), again: () => arena.alloc(n), destroy: () => arena.destroy() };
    },
  },
  {
    name: 'checked Pool free',
    make(n) {
      const pool = new Pool({ slotSize: n, slots: 8, checked: true });
      const buf = pool.alloc();
      return { buf, release: () => pool.free(buf), again: () => pool.alloc(), destroy: () => pool.destroy() };
    },
  },
  ...(['tlsf', 'buddy'] as const).map((strategy) => ({
    name: `checked Heap (${strategy}) free`,
    make(n: number) {
      const heap = new Heap({ capacity: 16 * n, checked: true, strategy });
      const buf = heap.alloc(n);
      return { buf, release: () => heap.free(buf), again: () => heap.alloc(n), destroy: () => heap.destroy() };
    },
  })),
  {
    name: 'checked PageAllocator freePages',
    make() {
      const pages = new PageAllocator({ pages: 8, pageSize: N, checked: true });
      const buf = pages.allocPages(1);
      return { buf, release: () => pages.freePages(buf), again: () => pages.allocPages(1), destroy: () => pages.destroy() };
    },
  },
];

// On runtime memory a checked Heap or PageAllocator is refused (test/runtime-aliasing.test.ts).
const refusedOnRuntime = (name: string): boolean => runtimeMemory && /^checked (Heap|PageAllocator)/.test(name);
for (const { name } of CASES.filter((c) => refusedOnRuntime(c.name))) {
  describe.skip(`${name} inside a native Buffer method [not on runtime memory: refused there]`, () => {
    test('every case', () => undefined);
  });
}

describe.each(CASES.filter((c) => !refusedOnRuntime(c.name)))('$name inside a native Buffer method', ({ name, make }) => {
  // Where an Arena's released memory comes back: debug mode (npm run test:debug)
  // gives a reset arena fresh chunks instead; and it reports the write these
  // cases make into a freed Pool slot (test/debug.test.ts covers both).
  if (name === 'Arena reset' || name === 'checked Pool free') ordinaryBlocks();
  test('fill({ valueOf }) writes into neither the next allocation nor its memory', () => {
    const t = make(N);
    let c: Buffer | undefined;
    t.buf.fill({
      valueOf() {
        t.release();
        c = t.again();
        c.fill(0x11);
        return 0x41;
      },
    } as unknown as number);
    expect(c!.every((x) => x === 0x11)).toBe(true);
    t.destroy();
  });

  test('utf8Write(s, { valueOf }) writes into neither the next allocation nor its memory', () => {
    const t = make(N);
    let c: Buffer | undefined;
    // Node 22 coerces the offset more than once: release only at the first call.
    internals(t.buf).utf8Write('A'.repeat(N), {
      valueOf() {
        if (c === undefined) {
          t.release();
          c = t.again();
          c.fill(0x11);
        }
        return 0;
      },
    });
    expect(c!.every((x) => x === 0x11)).toBe(true);
    t.destroy();
  });

  test('latin1Slice(0, { valueOf }) reads the released bytes, never the next owner\'s', () => {
    const t = make(N);
    t.buf.fill(0x61); // 'a'
    let c: Buffer | undefined;
    const s = internals(t.buf).latin1Slice(0, {
      valueOf() {
        t.release();
        c = t.again();
        c.fill(0x42); // 'B': the new owner's
        return N;
      },
    });
    expect(s).toBe('a'.repeat(N));
    expect(c!.every((x) => x === 0x42)).toBe(true);
    t.destroy();
  });

  // On runtime memory the Arena and a checked Pool release memory by freeing its block: they never hand it out again.
  (runtimeMemory ? test : test.skip)('on runtime memory the released memory never comes back to this allocator', async () => {
    const t = make(N);
    const first = address(t.buf);
    const buffer = t.buf.buffer;
    t.release();
    expect(t.buf.length).toBe(0);
    const during = t.again();
    expect(during.buffer).not.toBe(buffer);
    await endOfRun();
    expect(t.again().buffer).not.toBe(buffer);
    expect(address(during)).not.toBe(first);
    t.destroy();
  });

  externalOnly(true, 'released memory is freed, not reused')('the released memory comes back once the run has returned to the event loop', async () => {
    const t = make(N);
    const first = address(t.buf);
    t.release();
    const during = t.again();
    expect(address(during)).not.toBe(first);
    await endOfRun();
    // Arena: the chunk goes on after what is live and takes the released start
    // first; the others hand out the released slot, block or page first.
    const next = t.again();
    expect(address(next)).toBe(first);
    t.destroy();
  });
});

(runtimeMemory ? describe.skip : describe)(`when the allocator has no other memory, it reuses what the run released${runtimeMemory ? ' [not on runtime memory: released memory is freed, not reused]' : ''}`, () => {
  describe('with debug mode off (its reset takes fresh chunks)', () => {
    ordinaryBlocks();
    test('Arena: after reset, bumping goes on past the previous high-water offset and wraps only when the chunk is exhausted', async () => {
      const arena = new Arena({ capacity: 4096 });
      const base = address(arena.alloc(1000));
      arena.reset();
      expect(arena.used).toBe(0);
      const a = arena.alloc(1000, 1);
      expect(address(a)).toBe(base + 1000);
      const b = arena.alloc(1500, 1);
      expect(address(b)).toBe(base + 2000);
      expect(arena.used).toBe(2500);
      // 596 bytes left at the end; 900 do not fit, so the arena goes back to the
      // memory the reset released ([0, 1000)), the only memory it has for them.
      const wrapped = arena.alloc(900, 1);
      expect(address(wrapped)).toBe(base);
      // The end of the chunk is still used for what fits there.
      const tail = arena.alloc(500, 1);
      expect(address(tail)).toBe(base + 3500);
      expect(arena.used).toBe(3900);
      expect(arena.used + arena.available).toBe(arena.capacity);
      expect([a, b, wrapped, tail].every((x) => x.length > 0)).toBe(true);
      arena.reset();
      await endOfRun();
      // Nothing allocated since the reset: after the run the chunk starts over at 0.
      expect(address(arena.alloc(16))).toBe(base);
      arena.destroy();
    });
  });

  describe('with debug mode off (its reset takes fresh chunks)', () => {
    ordinaryBlocks();
    test('Arena: a request larger than what is left after the high-water offset uses the whole chunk again', () => {
      const arena = new Arena({ capacity: 4096 });
      const base = address(arena.alloc(4000));
      arena.reset();
      const all = arena.alloc(4096);
      expect(address(all)).toBe(base);
      arena.destroy();
    });
  });

  test('a synchronous loop of alloc and release does not make a growing Arena or checked Heap grow', () => {
    const arena = new Arena({ capacity: 1 << 16, grow: true });
    const heap = new Heap({ capacity: 1 << 16, grow: true, checked: true });
    for (let i = 0; i < 2000; i++) {
      arena.alloc(1000);
      if (i % 10 === 9) arena.reset();
      heap.free(heap.alloc(1000));
    }
    expect(arena.capacity).toBe(1 << 16);
    expect(heap.capacity).toBe(1 << 16);
    arena.destroy();
    heap.destroy();
  });

  test('checked Pool: the run\'s freed slots go to the back of the line, then are reused', async () => {
    const pool = new Pool({ slotSize: 64, slots: 3, checked: true });
    const s = [pool.alloc(), pool.alloc(), pool.alloc()];
    const at = s.map(address);
    pool.free(s[0]);
    pool.free(s[1]);
    expect(pool.available).toBe(2);
    expect(pool.used).toBe(1);
    // No other slot: the slots freed in this run, oldest first.
    expect(address(pool.alloc())).toBe(at[0]);
    expect(address(pool.alloc())).toBe(at[1]);
    expect(() => pool.alloc()).toThrow(expect.objectContaining({ code: 'ERR_NO_MEMORY' }));
    pool.destroy();

    const lifo = new Pool({ slotSize: 64, slots: 3, checked: true });
    const x = lifo.alloc();
    const y = lifo.alloc();
    const ax = address(x);
    lifo.free(x);
    expect(address(lifo.alloc())).not.toBe(ax); // a slot not freed in this run comes first
    const ay = address(y);
    lifo.free(y);
    await endOfRun();
    expect(lifo.available).toBe(2);
    // After the run the slots are back in the stack, the last freed on top;
    // in debug mode they stay held, the oldest first (README "Debug mode").
    expect(address(lifo.alloc())).toBe(debug.enabled && !runtimeMemory ? ax : ay);
    lifo.destroy();
  });

  test('checked Heap: a request no other free block fits takes the run\'s freed blocks; used excludes them at once', () => {
    const heap = new Heap({ capacity: 4096, checked: true });
    const a = heap.alloc(4096);
    const at = address(a);
    heap.free(a);
    expect(heap.used).toBe(0);
    expect(heap.available).toBe(heap.capacity);
    const b = heap.alloc(4096);
    expect(address(b)).toBe(at);
    heap.destroy();
  });

  test('checked PageAllocator: the run\'s freed pages are not allocated while other pages fit; isAllocated says false at once', () => {
    const pages = new PageAllocator({ pages: 2, pageSize: 4096, checked: true });
    const a = pages.allocPages(1);
    expect(pages.isAllocated(0)).toBe(true);
    pages.freePages(a);
    expect(pages.isAllocated(0)).toBe(false);
    expect(pages.usedPages).toBe(0);
    const b = pages.allocPages(1);
    expect(address(b)).toBe(Number(pages.regions()[0].address) + 4096);
    // No other page: the one freed in this run.
    const c = pages.allocPages(1);
    expect(address(c)).toBe(Number(pages.regions()[0].address));
    pages.freePages(b);
    // allocPagesAt names its pages: the run's freed page is its only memory.
    expect(address(pages.allocPagesAt(1, 1))).toBe(Number(pages.regions()[0].address) + 4096);
    pages.destroy();
  });
});
