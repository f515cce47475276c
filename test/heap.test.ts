import { addressOf, AllocError, Arena, Block, Heap, HeapStrategy, pageSize, Pool } from '..';
import { expectCode, externalOnly } from './helpers';

describe.each(['tlsf', 'buddy'] as HeapStrategy[])('Heap (%s)', (strategy) => {
  test('alloc returns aligned Buffers of the size asked, over the heap memory', () => {
    using heap = new Heap({ capacity: 1 << 20, strategy });
    expect([heap.strategy, heap.capacity, heap.used, heap.available]).toEqual([strategy, 1 << 20, 0, 1 << 20]);
    const region = heap.regions()[0];
    for (const [size, align] of [[1, 1], [100, 16], [5000, 4096], [3, 64], [65536, 65536]]) {
      const buf = heap.alloc(size, align);
      expect(Buffer.isBuffer(buf)).toBe(true);
      expect(buf.length).toBe(size);
      const address = addressOf(buf);
      expect(address % BigInt(align)).toBe(0n);
      expect(address >= region.address && address + BigInt(size) <= region.address + BigInt(region.size)).toBe(true);
    }
    expect(heap.used + heap.available).toBe(heap.capacity);
  });

  test('used counts whole blocks: 16-byte granules (tlsf) or powers of two (buddy)', () => {
    using heap = new Heap({ capacity: 1 << 16, strategy });
    const a = heap.alloc(1);
    const b = heap.alloc(100);
    expect(heap.used).toBe(strategy === 'tlsf' ? 16 + 112 : 16 + 128);
    heap.free(a);
    heap.free(b);
    expect(heap.used).toBe(0);
  });

  test('free coalesces: after every allocation is freed the whole heap fits one allocation', () => {
    using heap = new Heap({ capacity: 1 << 20, strategy });
    const bufs = [];
    for (let i = 0; i < 1500; i++) bufs.push(heap.alloc(1 + ((i * 7919) % 400), i % 7 === 0 ? 256 : 16));
    for (let i = 0; i < bufs.length; i += 2) heap.free(bufs[i]);
    for (let i = 1; i < bufs.length; i += 2) heap.free(bufs[i]);
    expect(heap.used).toBe(0);
    const all = heap.alloc(1 << 20);
    expect(all.length).toBe(1 << 20);
    heap.free(all);
  });

  test('contents stay until free; memory is reused after free', () => {
    using heap = new Heap({ capacity: 4096, strategy });
    const a = heap.alloc(1000);
    a.fill(1);
    const b = heap.alloc(1000);
    b.fill(2);
    expect(a.every((x) => x === 1)).toBe(true);
    const where = addressOf(a);
    heap.free(a);
    expect(addressOf(heap.alloc(1000))).toBe(where);
    expect(b.every((x) => x === 2)).toBe(true);
  });

  test('errors name the argument and the value', () => {
    expect(expectCode(() => new Heap({ capacity: 8, strategy }), 'ERR_INVALID_PARAM', 'capacity 8').message).toMatch(/options.capacity must be an integer from 16 to \d+; got 8/);
    expect(expectCode(() => new Heap({ capacity: 4096, strategy: 'first-fit' as never }), 'ERR_INVALID_PARAM', 'strategy').message).toMatch(/options.strategy must be 'tlsf' or 'buddy'; got "first-fit"/);
    expectCode(() => new Heap({ capacity: 4096, grow: 1 as never }), 'ERR_INVALID_PARAM', 'grow');
    expectCode(() => new Heap({ capacity: 4096, align: 3 }), 'ERR_INVALID_PARAM', 'align 3');
    expectCode(() => new Heap(undefined as never), 'ERR_INVALID_PARAM', 'no options');
    using heap = new Heap({ capacity: 4096, strategy });
    expect(expectCode(() => heap.alloc(0), 'ERR_INVALID_PARAM', 'size 0').message).toMatch(/size must be an integer from 1 to \d+; got 0/);
    expectCode(() => heap.alloc(1.5), 'ERR_INVALID_PARAM', 'size 1.5');
    expectCode(() => heap.alloc('16' as never), 'ERR_INVALID_PARAM', 'a string size');
    expect(expectCode(() => heap.alloc(16, 12), 'ERR_INVALID_PARAM', 'align 12').message).toMatch(/align must be a power of two from 1 to \d+; got 12/);
    expect(expectCode(() => heap.alloc(8192), 'ERR_NO_MEMORY', 'too big').message).toMatch(/no free block for 8192 bytes/);
    const buf = heap.alloc(100);
    expectCode(() => heap.free(buf.subarray(1)), 'ERR_NOT_ALLOCATED', 'part of an allocation');
    expectCode(() => heap.free(buf.subarray(0)), 'ERR_NOT_ALLOCATED', 'a view of a whole allocation');
    expectCode(() => heap.free(Buffer.from(buf)), 'ERR_NOT_ALLOCATED', 'a copy');
    expectCode(() => heap.free(Buffer.allocUnsafe(100)), 'ERR_NOT_ALLOCATED', 'a foreign Buffer');
    using other = new Heap({ capacity: 4096, strategy });
    expectCode(() => heap.free(other.alloc(100)), 'ERR_NOT_ALLOCATED', "another heap's Buffer");
    expectCode(() => heap.free({} as never), 'ERR_INVALID_PARAM', 'not a Buffer');
    expect(heap.used).toBeGreaterThan(0);
    heap.free(buf);
    expect(expectCode(() => heap.free(buf), 'ERR_NOT_ALLOCATED', 'a double free').message).toMatch(/not an allocation of this heap/);
    // A stale Buffer of an allocation freed and reallocated at the same place frees nothing.
    const again = heap.alloc(100);
    expect(addressOf(again)).toBe(addressOf(buf));
    expectCode(() => heap.free(buf), 'ERR_NOT_ALLOCATED', 'a stale Buffer');
    heap.free(again);
  });

  test('grow adds regions, a large request gets one of its own', () => {
    using heap = new Heap({ capacity: 4096, strategy, grow: true });
    const small = [];
    for (let i = 0; i < 100; i++) small.push(heap.alloc(1000));
    expect(heap.regions().length).toBeGreaterThan(1);
    const big = heap.alloc(1 << 20, 1 << 16);
    expect(addressOf(big) % BigInt(1 << 16)).toBe(0n);
    expect(heap.used + heap.available).toBe(heap.capacity);
    for (const buf of small) heap.free(buf);
    heap.free(big);
    expect(heap.used).toBe(0);
  });

  test('addMemory: more room, overlap, freed and foreign blocks', () => {
    using heap = new Heap({ capacity: 4096, strategy });
    expectCode(() => heap.alloc(10000), 'ERR_NO_MEMORY', 'before addMemory');
    const block = Block.alloc(1 << 14);
    heap.addMemory(block);
    expect(heap.capacity).toBe(4096 + (1 << 14));
    const buf = heap.alloc(10000);
    expect(addressOf(buf) >= block.address).toBe(true);
    expect(expectCode(() => heap.addMemory(block), 'ERR_MEMORY_OVERLAP', 'the same block').message).toMatch(/overlaps/);
    const arena = new Arena({ capacity: 4096 });
    const other = Block.alloc(4096);
    arena.addMemory(other);
    expectCode(() => heap.addMemory(other), 'ERR_MEMORY_OVERLAP', "a block an arena owns");
    const freed = Block.alloc(4096);
    freed.free();
    expectCode(() => heap.addMemory(freed), 'ERR_NOT_ALLOCATED', 'a freed block');
    expectCode(() => heap.addMemory(Buffer.alloc(4096) as never), 'ERR_INVALID_PARAM', 'a Buffer');
    expectCode(() => heap.addMemory(Block.alloc(15, { align: 1 })), 'ERR_INVALID_PARAM', 'a block without 16 aligned bytes');
    arena.destroy();
    heap.free(buf);
  });

  test('destroy frees the regions, empties every Buffer, and is final', () => {
    const heap = new Heap({ capacity: 4096, strategy });
    const block = Block.alloc(4096);
    heap.addMemory(block);
    const buf = heap.alloc(100);
    heap.destroy();
    expect(buf.length).toBe(0);
    expect(block.freed).toBe(true);
    expect([heap.destroyed, heap.capacity, heap.used, heap.available]).toEqual([true, 0, 0, 0]);
    expectCode(() => heap.alloc(1), 'ERR_NOT_ALLOCATED', 'alloc after destroy');
    expectCode(() => heap.free(buf), 'ERR_NOT_ALLOCATED', 'free after destroy');
    expectCode(() => heap.destroy(), 'ERR_NOT_ALLOCATED', 'destroy twice');
    heap[Symbol.dispose](); // idempotent
  });

  test('fast mode: a stale Buffer still reaches the memory (documented)', () => {
    using heap = new Heap({ capacity: 4096, strategy });
    const stale = heap.alloc(64);
    heap.free(stale);
    const next = heap.alloc(64);
    next.fill(9);
    expect(stale.length).toBe(64);
    expect(stale[0]).toBe(9);
  });

  externalOnly(true, "refused there (test/runtime-aliasing.test.ts)")('checked mode: a freed Buffer reads length 0 and cannot touch the next allocation', () => {
    using heap = new Heap({ capacity: 4096, strategy, checked: true });
    const stale = heap.alloc(64);
    heap.free(stale);
    const next = heap.alloc(64);
    next.fill(9);
    expect(stale.length).toBe(0);
    stale[0] = 1;
    expect(next[0]).toBe(9);
    expectCode(() => heap.free(stale), 'ERR_NOT_ALLOCATED', 'a stale checked Buffer');
    heap.free(next);
  });

  externalOnly(true, "refused there (test/runtime-aliasing.test.ts)")('checked mode: a region whose block its caller freed is dropped, the heap goes on', () => {
    using heap = new Heap({ capacity: 4096, strategy, checked: true });
    const block = Block.alloc(1 << 16);
    heap.addMemory(block);
    const inBlock = heap.alloc(10000);
    block.free(); // against the addMemory contract
    expect(inBlock.length).toBe(10000); // its view keeps the memory
    expectCode(() => heap.alloc(10000), 'ERR_NO_MEMORY', 'the dropped region');
    expect(heap.capacity).toBeLessThan(4096 + (1 << 16));
    expect(heap.used + heap.available).toBe(heap.capacity);
    const small = heap.alloc(100);
    heap.free(inBlock);
    expect(heap.capacity).toBe(4096);
    expect(inBlock.length).toBe(0);
    heap.free(small);
    expect(heap.used).toBe(0);
  });
});

test('Heap, Pool and Arena do not share a block', () => {
  const block = Block.alloc(1 << 14);
  using heap = new Heap({ capacity: 4096 });
  heap.addMemory(block);
  using pool = new Pool({ slotSize: 64, slots: 4 });
  expectCode(() => pool.addMemory(block), 'ERR_MEMORY_OVERLAP', 'a block a heap owns');
  expect(pageSize()).toBeGreaterThan(0);
  expect(AllocError).toBeDefined();
});
