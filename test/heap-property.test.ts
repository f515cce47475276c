// Seeded random operation sequences against Heap, per strategy and mode: every
// allocation is checked for alignment, containment in a region and no overlap
// with any live one (by address); the accounting after every op; the bytes of
// each live allocation until it is freed; and each ERR_NO_MEMORY against the
// free space the live set leaves, which must hold no block that would fit.
import { addressOf, AllocError, Block, Heap, HeapStrategy, MemoryRegion } from '..';
import { PATTERNS, Rng, withSeed } from './family-helpers';
import { expectCode, expectEqual, externalOnly } from './helpers';

const OPS = 100_000;
// Checked mode makes an external buffer per allocation (a few microseconds): fewer ops, the same checks.
const CHECKED_OPS = 20_000;
// Smaller in checked mode, so that its fewer ops still fill the heap.
const capacityFor = (checked: boolean): number => (checked ? 1 << 20 : 1 << 22);

interface Live {
  buf: Buffer;
  address: number;
  size: number;
  /** Bytes the heap's block takes: what no other allocation may touch. */
  extent: number;
  pattern: number;
}

function ceilPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

function extentOf(strategy: HeapStrategy, size: number, align: number): number {
  if (strategy === 'tlsf') return Math.ceil(size / 16) * 16;
  return Math.max(16, ceilPow2(size), align);
}

/** Live allocations sorted by address. */
class LiveSet {
  items: Live[] = [];

  #index(address: number): number {
    const items = this.items;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (items[mid].address < address) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(live: Live): void {
    const i = this.#index(live.address);
    const before = this.items[i - 1];
    const after = this.items[i];
    if (before !== undefined && before.address + before.extent > live.address) {
      throw new Error(`[${live.address}, +${live.extent}) overlaps the live block [${before.address}, +${before.extent})`);
    }
    if (after !== undefined && live.address + live.extent > after.address) {
      throw new Error(`[${live.address}, +${live.extent}) overlaps the live block [${after.address}, +${after.extent})`);
    }
    this.items.splice(i, 0, live);
  }

  remove(live: Live): void {
    const i = this.#index(live.address);
    if (this.items[i] !== live) throw new Error('not live');
    this.items.splice(i, 1);
  }

  /** The free gaps [start, end) inside the regions' usable ranges. */
  gaps(regions: readonly MemoryRegion[]): [number, number][] {
    const out: [number, number][] = [];
    for (const region of regions) {
      const start = Math.ceil(Number(region.address) / 16) * 16;
      const end = Math.floor((Number(region.address) + region.size) / 16) * 16;
      let at = start;
      for (let i = this.#index(start); i < this.items.length && this.items[i].address < end; i++) {
        const live = this.items[i];
        if (live.address > at) out.push([at, live.address]);
        at = live.address + live.extent;
      }
      if (end > at) out.push([at, end]);
    }
    return out;
  }
}

function checkBytes(live: Live): void {
  if (live.buf.length !== live.size) throw new Error(`a live allocation of ${live.size} bytes reads length ${live.buf.length}`);
  if (!live.buf.equals(PATTERNS[live.pattern].subarray(0, live.size))) {
    throw new Error(`the bytes of a live allocation of ${live.size} bytes at ${live.address} changed`);
  }
}

function randomSize(rng: Rng): number {
  const roll = rng.next();
  if (roll < 0.6) return rng.int(1, 256);
  if (roll < 0.95) return rng.int(257, 4096);
  return rng.int(4097, 65536);
}

function run(strategy: HeapStrategy, checked: boolean, rng: Rng): void {
  const ops = checked ? CHECKED_OPS : OPS;
  const phase = ops / 10;
  const heap = new Heap({ capacity: capacityFor(checked), strategy, checked });
  const live = new LiveSet();
  let regions = heap.regions();
  let added = 0;
  let noMemory = 0;
  let requested = 0;
  let used = 0;
  try {
    for (; rng.op < ops; rng.op++) {
      const roll = rng.next();
      // Phases that fill the heap until it meets ERR_NO_MEMORY, and phases that drain it.
      const allocShare = Math.floor(rng.op / phase) % 2 === 0 ? 0.62 : 0.4;
      if (roll < allocShare) {
        const size = randomSize(rng);
        const align = rng.chance(0.8) ? rng.pow2(4) : rng.pow2(rng.chance(0.9) ? 12 : 16);
        let buf: Buffer;
        try {
          buf = heap.alloc(size, align);
        } catch (e) {
          if (!(e instanceof AllocError) || e.code !== 'ERR_NO_MEMORY') throw e;
          noMemory++;
          // tlsf: legitimate for align <= 16 only when no free gap holds the
          // rounded size (a block from a coarser class may hold an aligned fit
          // its search skips); buddy: only when no free gap holds an aligned
          // block of the power of two.
          const extent = extentOf(strategy, size, align);
          if (strategy === 'tlsf' && align > 16) continue;
          const step = strategy === 'tlsf' ? 16 : extent;
          for (const [start, end] of live.gaps(regions)) {
            const at = Math.ceil(start / step) * step;
            if (at + extent <= end) throw new Error(`ERR_NO_MEMORY for ${size} bytes aligned to ${align}, but [${at}, +${extent}) is free`);
          }
          continue;
        }
        const address = Number(addressOf(buf));
        expectEqual(buf.length, size, 'length');
        expectEqual(address % align, 0, `address modulo align ${align}`);
        const extent = extentOf(strategy, size, align);
        if (!regions.some((r) => address >= Number(r.address) && address + extent <= Number(r.address) + r.size)) {
          throw new Error(`[${address}, +${extent}) lies outside every region`);
        }
        const pattern = rng.int(0, 255);
        buf.fill(pattern);
        live.add({ buf, address, size, extent, pattern });
        requested += size;
        used += extent;
      } else if (roll < 0.985 && live.items.length > 0) {
        const victim = live.items[rng.int(0, live.items.length - 1)];
        checkBytes(victim);
        if (rng.chance(0.02)) {
          expectCode(() => heap.free(victim.buf.subarray(0, Math.max(1, victim.size - 1))), 'ERR_NOT_ALLOCATED', 'free of part of an allocation');
          expectCode(() => heap.free(Buffer.from(victim.buf)), 'ERR_NOT_ALLOCATED', 'free of a copy');
        }
        heap.free(victim.buf);
        live.remove(victim);
        requested -= victim.size;
        used -= victim.extent;
        if (checked) expectEqual(victim.buf.length, 0, 'a checked Buffer after free reads length');
        if (rng.chance(0.05)) expectCode(() => heap.free(victim.buf), 'ERR_NOT_ALLOCATED', 'double free');
      } else if (roll < 0.986 && added < 8) {
        const size = rng.int(16, 1 << 18);
        const block = Block.alloc(size, { align: rng.pow2(13), zero: false });
        const capacity = heap.capacity;
        heap.addMemory(block);
        added++;
        expectCode(() => heap.addMemory(block), 'ERR_MEMORY_OVERLAP', 'adding the same block twice');
        regions = heap.regions();
        const address = Number(block.address);
        expectEqual(heap.capacity, capacity + Math.floor((address + size) / 16) * 16 - Math.ceil(address / 16) * 16, 'capacity after addMemory');
      } else if (roll < 0.99) {
        live.items.forEach(checkBytes);
      } else {
        expectCode(() => heap.alloc(0), 'ERR_INVALID_PARAM', 'size 0');
        expectCode(() => heap.alloc(16, 24), 'ERR_INVALID_PARAM', 'align 24');
        expectCode(() => heap.free(Buffer.alloc(16)), 'ERR_NOT_ALLOCATED', 'a foreign Buffer');
      }
      expectEqual(heap.used, used, 'used');
      expectEqual(heap.used + heap.available, heap.capacity, 'used + available');
    }
    live.items.forEach(checkBytes);
    if (noMemory === 0) throw new Error('the heap never ran out of memory: the trace does not reach ERR_NO_MEMORY');
    for (const item of live.items.splice(0)) heap.free(item.buf);
    expectEqual(heap.used, 0, 'used after freeing everything');
    // Everything coalesced: the first region is one free block again.
    const first = heap.regions()[0];
    const whole = strategy === 'tlsf' ? first.size : 2 ** Math.floor(Math.log2(first.size));
    try {
      heap.free(heap.alloc(whole));
    } catch (e) {
      const where = heap.regions().map((r) => `[0x${r.address.toString(16)}, +${r.size})`).join(' ');
      throw new Error(`after freeing everything the first region is not one block: ${(e as Error).message}; regions ${where}`);
    }
    void requested;
  } finally {
    heap.destroy();
  }
}

describe.each([
  ['tlsf', false],
  ['tlsf', true],
  ['buddy', false],
  ['buddy', true],
] as [HeapStrategy, boolean][])('Heap property (%s, checked %s)', (strategy, checked) => {
  externalOnly(checked, "refused there (test/runtime-aliasing.test.ts)")(`${checked ? CHECKED_OPS : OPS} random alloc/free/addMemory operations`, () => {
    withSeed(`Heap ${strategy} checked=${checked}`, (rng) => run(strategy, checked, rng));
  });
});
