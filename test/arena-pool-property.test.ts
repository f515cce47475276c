// Seeded random operation sequences against Arena and Pool, after bumpalo's
// quickchecks: every step checks alignment, no overlap between live
// allocations (by address), containment in the memory the allocator manages,
// the accounting, and that each live allocation keeps the bytes written into
// it when it was made until it is freed or reset.
//
// The seed is random per run and printed on failure; SYSALLOC_SEED=<n> repeats a run.
import { addressOf, AllocError, Arena, Block, MemoryRegion, Pool } from '..';
import { expectCode, expectEqual, externalOnly, runtimeMemory, settle, turn } from './helpers';

// SYSALLOC_PROPERTY_OPS: fewer operations where the suite runs emulated (test:arm64).
const OPS = Number(process.env.SYSALLOC_PROPERTY_OPS ?? 100_000);

function random32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedFor(name: string): number {
  const fixed = process.env.SYSALLOC_SEED;
  if (fixed !== undefined) return Number(fixed) >>> 0;
  let h = (Date.now() ^ (Math.random() * 2 ** 32)) >>> 0;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/** Runs body(rng), and on failure names the seed that repeats it. */
async function withSeed(name: string, body: (rng: Rng) => Promise<void> | void): Promise<void> {
  const seed = seedFor(name);
  const rng = new Rng(seed);
  try {
    await body(rng);
  } catch (e) {
    const error = e as Error;
    error.message = `${name}: failed at op ${rng.op} with seed ${seed} (repeat with SYSALLOC_SEED=${seed})\n${error.message}`;
    throw error;
  }
}

class Rng {
  op = 0;
  readonly next: () => number;
  constructor(seed: number) {
    this.next = random32(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pow2(maxLog: number): number {
    return 2 ** this.int(0, maxLog);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const PATTERNS = Array.from({ length: 256 }, (_, b) => Buffer.alloc(1 << 17, b));

interface Live {
  buf: Buffer;
  address: number;
  size: number;
  pattern: number;
}

/** Live allocations sorted by address, so that overlap is checked against the neighbours. */
class LiveSet {
  items: Live[] = [];

  add(live: Live): void {
    const items = this.items;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (items[mid].address < live.address) lo = mid + 1;
      else hi = mid;
    }
    const before = items[lo - 1];
    const after = items[lo];
    if (before !== undefined && before.address + before.size > live.address) {
      throw new Error(`[${live.address}, +${live.size}) overlaps the live allocation [${before.address}, +${before.size})`);
    }
    if (after !== undefined && live.address + live.size > after.address) {
      throw new Error(`[${live.address}, +${live.size}) overlaps the live allocation [${after.address}, +${after.size})`);
    }
    items.splice(lo, 0, live);
  }

  remove(live: Live): void {
    const index = this.items.indexOf(live);
    if (index < 0) throw new Error('not live');
    this.items.splice(index, 1);
  }

  random(rng: Rng): Live {
    return this.items[rng.int(0, this.items.length - 1)];
  }
}

function write(buf: Buffer, rng: Rng): number {
  const pattern = rng.int(0, 255);
  buf.fill(pattern);
  return pattern;
}

function checkBytes(live: Live): void {
  if (live.buf.length !== live.size) throw new Error(`a live allocation of ${live.size} bytes reads length ${live.buf.length}`);
  const expected = PATTERNS[live.pattern].subarray(0, live.size);
  if (!live.buf.equals(expected)) throw new Error(`the bytes of a live allocation of ${live.size} bytes at ${live.address} changed`);
}

function contained(regions: readonly MemoryRegion[], address: number, size: number): number {
  const index = regions.findIndex((r) => address >= Number(r.address) && address + size <= Number(r.address) + r.size);
  if (index < 0) throw new Error(`[${address}, +${size}) lies outside every region the allocator manages`);
  return index;
}

describe.each([
  ['fixed capacity, with addMemory', false],
  ['grow', true],
])('Arena property (%s)', (label, grow) => {
  test(`${OPS} random alloc/reset/addMemory operations`, async () => {
    await withSeed(`Arena ${label}`, async (rng) => {
      const initial = rng.int(1, 16) * 4096 + rng.int(0, 4095);
      const arena = new Arena({ capacity: initial, grow });
      const live = new LiveSet();
      let regions = arena.regions();
      let added = 0;
      const verifyAll = (): void => live.items.forEach(checkBytes);

      for (; rng.op < OPS; rng.op++) {
        const roll = rng.next();
        if (roll < 0.003) {
          verifyAll();
          const before = live.items.map((l) => l.buf);
          const capacity = arena.capacity;
          arena.reset();
          regions = arena.regions(); // the same ones, or in debug mode fresh chunks in their place
          for (const buf of before) expectEqual(buf.length, 0, 'a Buffer after reset reads length');
          live.items = [];
          expectEqual(arena.used, 0, 'used after reset');
          expectEqual(arena.capacity, capacity, 'capacity after reset');
        } else if (roll < 0.0035 && added < 20) {
          const size = rng.int(1, 20000);
          const block = Block.alloc(size, { align: rng.pow2(13), zero: false });
          const capacity = arena.capacity;
          arena.addMemory(block);
          added++;
          expectEqual(arena.capacity, capacity + size, 'capacity after addMemory');
          expectCode(() => arena.addMemory(block), 'ERR_MEMORY_OVERLAP', 'adding the same block twice');
          regions = arena.regions();
        } else {
          const size = roll < 0.9 ? rng.int(1, 256) : roll < 0.995 ? rng.int(1, 8192) : rng.int(1, 100000);
          const align = rng.chance(0.9) ? rng.pow2(6) : rng.pow2(16);
          const capacity = arena.capacity;
          let buf: Buffer;
          try {
            buf = arena.alloc(size, align);
          } catch (e) {
            if (grow || !(e instanceof AllocError) || e.code !== 'ERR_NO_MEMORY') throw e;
            // Legitimate only if no region has room past its last live allocation.
            for (const region of regions) {
              const base = Number(region.address);
              const top = live.items.reduce((end, l) => (l.address >= base && l.address < base + region.size ? Math.max(end, l.address + l.size) : end), base);
              const start = Math.ceil(top / align) * align;
              if (start + size <= base + region.size) {
                throw new Error(`ERR_NO_MEMORY for ${size} bytes aligned to ${align}, but [${start}, +${size}) is free in a region`);
              }
            }
            continue;
          }
          if (arena.capacity !== capacity) regions = arena.regions();
          const address = Number(addressOf(buf));
          expectEqual(buf.length, size, 'length');
          expectEqual(address % align, 0, `address modulo align ${align}`);
          const index = contained(regions, address, size);
          // The Buffer's own ArrayBuffer spans exactly its chunk (on runtime memory, the chunk
          // and the over-allocation before and after it that aligns it).
          const bufferAt = Number(addressOf(buf.buffer));
          if (runtimeMemory) {
            const chunk = regions[index];
            expectEqual(bufferAt <= Number(chunk.address), true, 'the backing ArrayBuffer starts at or before its chunk');
            expectEqual(bufferAt + buf.buffer.byteLength >= Number(chunk.address) + chunk.size, true, 'the backing ArrayBuffer ends at or after its chunk');
          } else {
            expectEqual(bufferAt, Number(regions[index].address), 'the address of the backing ArrayBuffer');
            expectEqual(buf.buffer.byteLength, regions[index].size, 'the length of the backing ArrayBuffer');
          }
          live.add({ buf, address, size, pattern: write(buf, rng) });
        }
        expectEqual(arena.used + arena.available, arena.capacity, 'used + available');
        expectEqual(arena.capacity, regions.reduce((sum, r) => sum + r.size, 0), 'capacity against the regions');
        if (!grow) expectEqual(regions.length, 1 + added, 'regions without grow');
        if (arena.used < live.items.reduce((sum, l) => sum + l.size, 0)) throw new Error('used is below the live bytes');
        if (rng.op % 10000 === 0) verifyAll();
        if (grow && arena.capacity > 64 << 20) {
          verifyAll();
          arena.reset();
          regions = arena.regions();
          live.items = [];
        }
      }
      verifyAll();
      const last = live.items.map((l) => l.buf);
      arena.destroy();
      for (const buf of last) expectEqual(buf.length, 0, 'a Buffer after destroy reads length');
    });
    await settle();
  });
});

describe.each([
  ['fast', false],
  ['checked', true],
])('Pool property (%s)', (label, checked) => {
  externalOnly(checked, "a checked pool's slots are blocks of their own there, addMemory refused (test/pool.test.ts)")(`${OPS} random alloc/free/addMemory operations`, async () => {
    await withSeed(`Pool ${label}`, async (rng) => {
      const slotSize = rng.chance(0.5) ? rng.int(1, 300) : rng.pow2(12);
      const align = rng.pow2(rng.chance(0.8) ? 6 : 12);
      const pool = new Pool({ slotSize, slots: rng.int(1, 200), align, checked });
      const live = new LiveSet();
      const stale: Live[] = [];
      let regions = pool.regions();
      let added = 0;

      for (; rng.op < OPS; rng.op++) {
        const roll = rng.next();
        if (roll < 0.001 && added < 10) {
          const block = Block.alloc(rng.int(slotSize + align, 20 * (slotSize + align)), { align: rng.pow2(6), zero: false });
          const slots = pool.slots;
          pool.addMemory(block);
          added++;
          regions = pool.regions();
          const region = regions[regions.length - 1];
          const first = Math.ceil(Number(region.address) / align) * align - Number(region.address);
          expectEqual(pool.slots - slots, Math.floor((region.size - first - slotSize) / pool.stride) + 1, 'slots added');
          expectCode(() => pool.addMemory(block), 'ERR_MEMORY_OVERLAP', 'adding the same block twice');
        } else if (roll < 0.52) {
          if (pool.available === 0) {
            expectCode(() => pool.alloc(), 'ERR_NO_MEMORY', 'alloc from a full pool');
            continue;
          }
          const buf = pool.alloc();
          const address = Number(addressOf(buf));
          expectEqual(buf.length, slotSize, 'length');
          expectEqual(address % align, 0, `address modulo align ${align}`);
          const index = contained(regions, address, slotSize);
          const first = Math.ceil(Number(regions[index].address) / align) * align;
          expectEqual((address - first) % pool.stride, 0, 'the offset from the first slot modulo the stride');
          live.add({ buf, address, size: slotSize, pattern: write(buf, rng) });
        } else if (live.items.length > 0 && roll < 0.99) {
          const victim = live.random(rng);
          checkBytes(victim);
          pool.free(victim.buf);
          live.remove(victim);
          if (checked) expectEqual(victim.buf.length, 0, 'a checked slot Buffer after free reads length');
          if (stale.length < 64) stale.push(victim);
        } else if (stale.length > 0) {
          // A Buffer already freed, whether or not its slot was allocated again since.
          const old = stale[rng.int(0, stale.length - 1)];
          expectCode(() => pool.free(old.buf), 'ERR_NOT_ALLOCATED', 'freeing a Buffer twice');
          if (live.items.length > 0) {
            const part = live.random(rng).buf.subarray(rng.int(0, 1), slotSize - rng.int(0, 1));
            expectCode(() => pool.free(part), 'ERR_NOT_ALLOCATED', 'freeing part of a slot or a copy of its Buffer');
          }
        }
        expectEqual(pool.used + pool.available, pool.slots, 'used + available');
        expectEqual(pool.used, live.items.length, 'used against the live allocations');
        if (rng.op % 10000 === 0) live.items.forEach(checkBytes);
        // Checked mode makes an external buffer per alloc: let Node run their finalizers.
        if (checked && rng.op % 2000 === 0) await turn();
      }
      live.items.forEach(checkBytes);
      const last = live.items.map((l) => l.buf);
      pool.destroy();
      for (const buf of last) expectEqual(buf.length, 0, 'a Buffer after destroy reads length');
    });
    await settle();
  });
});
