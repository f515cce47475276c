import { spawnSync } from 'child_process';
import { constants } from 'buffer';
import * as path from 'path';
import { addressOf, AllocError, Arena, Block, blockStats, Heap, MAX_SIZE, PageAllocator, pageSize, Pool } from '..';
import { caught, externalOnly, ordinaryBlocks, runtimeMemory, settle } from './helpers';

const address = (buf: Uint8Array): number => Number(addressOf(buf));

function regionIndex(arena: Arena, buf: Uint8Array): number {
  const start = addressOf(buf);
  const end = start + BigInt(buf.length);
  return arena.regions().findIndex((r) => start >= r.address && end <= r.address + BigInt(r.size));
}

describe('Arena.alloc', () => {
  test('hands out Buffers over the arena, 16-byte aligned by default, one after another', () => {
    using arena = new Arena({ capacity: 1 << 16 });
    const [region] = arena.regions();
    expect(region.size).toBe(1 << 16);
    expect(region.address % BigInt(pageSize())).toBe(0n);
    const a = arena.alloc(100);
    const b = arena.alloc(1);
    const c = arena.alloc(33);
    expect([a.length, b.length, c.length]).toEqual([100, 1, 33]);
    expect(Buffer.isBuffer(a)).toBe(true);
    expect(a.constructor).toBe(Buffer);
    expect(addressOf(a)).toBe(region.address);
    expect(address(b)).toBe(address(a) + 112); // 100 rounded up to 16
    expect(address(c)).toBe(address(b) + 16);
    expect(arena.used).toBe(112 + 16 + 33);
    expect(arena.capacity).toBe(1 << 16);
    expect(arena.available).toBe((1 << 16) - arena.used);
  });

  test.each([1, 2, 8, 16, 64, 512, 4096, 65536, 1 << 20])('honours align %i, also above the chunk alignment', (align) => {
    using arena = new Arena({ capacity: 8 << 20 });
    arena.alloc(3, 1); // start the next allocation off any alignment
    for (const size of [1, 7, 100, 4096]) {
      const buf = arena.alloc(size, align);
      expect(buf.length).toBe(size);
      expect(addressOf(buf) % BigInt(align)).toBe(0n);
      expect(regionIndex(arena, buf)).toBe(0);
    }
  });

  test('alignments of 2^31 and 2^32 are honoured by address (the slow path)', () => {
    using arena = new Arena({ capacity: 4096, grow: true });
    for (const align of [2 ** 31, 2 ** 32]) {
      const buf = arena.alloc(64, align);
      expect(addressOf(buf) % BigInt(align)).toBe(0n);
      expect(regionIndex(arena, buf)).toBeGreaterThan(0);
    }
    using exact = new Arena({ capacity: 4096 });
    const block = Block.alloc(8192, { align: 2 ** 32, zero: false });
    exact.addMemory(block);
    exact.alloc(1);
    const buf = exact.alloc(16, 2 ** 32);
    expect(addressOf(buf)).toBe(block.address);
  });

  test('Buffers share the memory, zero-copy, and do not overlap', () => {
    using arena = new Arena({ capacity: 8192 });
    const a = arena.alloc(64);
    const b = arena.alloc(64);
    a.fill(1);
    b.fill(2);
    expect(a.every((x) => x === 1)).toBe(true);
    expect(b.every((x) => x === 2)).toBe(true);
    const again = new Uint8Array(a.buffer, a.byteOffset, 64);
    again[0] = 9;
    expect(a[0]).toBe(9);
    expect(a.subarray(0, 2)).toEqual(Buffer.from([9, 1]));
    expect(a.toString('hex', 0, 2)).toBe('0901');
  });

  test('ERR_NO_MEMORY when full, and the arena goes on', () => {
    using arena = new Arena({ capacity: 4096 });
    arena.alloc(4000);
    const error = caught(() => arena.alloc(97));
    expect(error.code).toBe('ERR_NO_MEMORY');
    expect(error.message).toBe('arena has no room for 97 bytes aligned to 16 (capacity 4096, used 4000)');
    expect(arena.used).toBe(4000);
    expect(arena.alloc(96).length).toBe(96);
    expect(arena.available).toBe(0);
    expect(caught(() => arena.alloc(1, 1)).code).toBe('ERR_NO_MEMORY');
  });

  test('ERR_NO_MEMORY for one allocation larger than the arena', () => {
    using arena = new Arena({ capacity: 4096 });
    expect(caught(() => arena.alloc(4097)).code).toBe('ERR_NO_MEMORY');
    expect(arena.used).toBe(0);
  });

  test('ERR_NO_MEMORY when the padding an alignment needs does not fit', () => {
    using arena = new Arena({ capacity: 4096 });
    arena.alloc(1);
    expect(caught(() => arena.alloc(1, 4096)).code).toBe('ERR_NO_MEMORY');
    expect(arena.used).toBe(1);
  });
});

describe('Arena with grow', () => {
  test('chains chunks, each double the one before; an allocation never straddles two', () => {
    using arena = new Arena({ capacity: 4096, grow: true });
    const bufs: Buffer[] = [];
    for (let i = 0; i < 100; i++) bufs.push(arena.alloc(300));
    expect(arena.regions().map((r) => r.size)).toEqual([4096, 8192, 16384, 32768]);
    expect(arena.capacity).toBe(4096 + 8192 + 16384 + 32768);
    for (const buf of bufs) expect(regionIndex(arena, buf)).toBeGreaterThanOrEqual(0);
    // 13 allocations of 304 bytes fit in 4096, 26 in 8192, 53 in 16384.
    expect(bufs.map((b) => regionIndex(arena, b))).toEqual([
      ...Array(13).fill(0),
      ...Array(26).fill(1),
      ...Array(53).fill(2),
      ...Array(8).fill(3),
    ]);
    // The first allocation in a chunk starts it, so each chunk has one padding fewer.
    expect(arena.used).toBe(100 * 304 - 4 * 4);
    expect(arena.used + arena.available).toBe(arena.capacity);
  });

  test('one allocation larger than the next chunk gets a chunk of its own; the current chunk and the doubling go on', () => {
    using arena = new Arena({ capacity: 4096, grow: true });
    const small = arena.alloc(100);
    const big = arena.alloc(100000);
    const after = arena.alloc(100);
    expect(arena.regions().map((r) => r.size)).toEqual([4096, 100000]);
    expect(regionIndex(arena, big)).toBe(1);
    expect(addressOf(big)).toBe(arena.regions()[1].address);
    expect(address(after)).toBe(address(small) + 112);
    arena.alloc(4000);
    expect(arena.regions().map((r) => r.size)).toEqual([4096, 100000, 8192]);
  });

  test('a new chunk takes an alignment larger than its own', () => {
    using arena = new Arena({ capacity: 4096, grow: true });
    const buf = arena.alloc(5000, 1 << 20);
    expect(addressOf(buf) % BigInt(1 << 20)).toBe(0n);
    expect(arena.regions()[1].address).toBe(addressOf(buf));
  });

  // A child process caps its own address space a little above what it uses, so
  // that the operating system refuses the next chunk: the failure is real.
  const run = process.platform === 'linux' ? externalOnly(true, "V8 allocates runtime memory and aborts the process itself under the cap") : test.skip;
  run('growing stops with ERR_NO_MEMORY where the OS refuses a chunk; the arena goes on (linux: prlimit)', () => {
    const child = `
      const { execFileSync } = require('child_process');
      const fs = require('fs');
      const { Arena, blockStats } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
      const live = blockStats().liveBlocks;
      // The first chunk is taken before the cap; the second, 1 GiB, is past it.
      const arena = new Arena({ capacity: 512 << 20, grow: true });
      const vmKiB = Number(/VmSize:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
      execFileSync('prlimit', ['--pid', String(process.pid), '--as=' + (vmKiB + 512 * 1024) * 1024]);
      let error;
      try {
        for (let i = 0; i < 1024; i++) arena.alloc(1 << 20)[0] = 1;
      } catch (e) {
        error = { name: e.name, code: e.code, message: e.message };
      }
      const state = { capacity: arena.capacity, sum: arena.used + arena.available };
      arena.reset();
      const reused = arena.alloc(1 << 20).length;
      arena.destroy();
      // destroy() gave the 512 MiB chunk back, so about 1 GiB of headroom is left:
      // ask for twice that, so the refusal cannot depend on V8's mappings.
      let refused;
      try { new Arena({ capacity: 2 ** 31 }); } catch (e) { refused = e.code; }
      console.log(JSON.stringify({ error, state, reused, refused, leaked: blockStats().liveBlocks - live }));
    `;
    // One malloc arena: glibc reserves 64 MiB of address space for each thread's
    // arena, and V8's helper threads would eat the headroom at random.
    const result = spawnSync(process.execPath, ['-e', child], { encoding: 'utf8', env: { ...process.env, MALLOC_ARENA_MAX: '1' } });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.error).toEqual({
      name: 'AllocError',
      code: 'ERR_NO_MEMORY',
      message: 'the system allocator refused 1073741824 bytes aligned to 4096',
    });
    expect(out.state.capacity).toBe(512 << 20);
    expect(out.state.sum).toBe(out.state.capacity);
    expect(out.reused).toBe(1 << 20);
    expect(out.refused).toBe('ERR_NO_MEMORY');
    expect(out.leaked).toBe(0);
  });
});

describe('Arena.reset', () => {
  describe('with debug mode off (its reset takes fresh chunks)', () => {
    ordinaryBlocks();
    test('every Buffer handed out reads length 0, also parts of them; the memory is reused', async () => {
      const before = await settle();
      const arena = new Arena({ capacity: 8192, grow: true });
      const first = [arena.alloc(64), arena.alloc(5000), arena.alloc(9000), arena.alloc(20000)];
      const part = first[0].subarray(8, 16);
      const addresses = first.map(address);
      const capacity = arena.capacity;
      const blocks = blockStats().liveBlocks;
      arena.reset();
      expect(first.map((b) => b.length)).toEqual([0, 0, 0, 0]);
      expect(part.length).toBe(0);
      expect(first[0][0]).toBeUndefined();
      expect(arena.used).toBe(0);
      expect(arena.capacity).toBe(capacity);
      expect(arena.available).toBe(capacity);
      expect(blockStats().liveBlocks).toBe(blocks);
      // The memory comes back once this synchronous run has returned to the event
      // loop (a native method may still hold a pointer into it until then).
      await Promise.resolve();
      const again = arena.alloc(64);
      // On runtime memory the reset took fresh chunks of the same sizes (a view cannot be detached alone).
      if (!runtimeMemory) expect(address(again)).toBe(addresses[0]);
      else expect(again.buffer).not.toBe(first[0].buffer);
      again.fill(5);
      expect(again.every((x) => x === 5)).toBe(true);
      // The chunks are used in order again; none is allocated anew.
      const more = [arena.alloc(5000), arena.alloc(9000), arena.alloc(20000)];
      if (!runtimeMemory) expect(more.map(address)).toEqual(addresses.slice(1));
      expect(arena.capacity).toBe(capacity);
      expect(blockStats().liveBlocks).toBe(blocks);
      arena.reset();
      arena.reset();
      arena.destroy();
      const after = await settle();
      expect(after.liveBlocks).toBe(before.liveBlocks);
      expect(after.liveBytes).toBe(before.liveBytes);
    });
  });

  test('many resets hold no memory beyond the arena', async () => {
    const before = await settle();
    using arena = new Arena({ capacity: 1 << 16 });
    for (let round = 0; round < 2000; round++) {
      for (let i = 0; i < 10; i++) arena.alloc(1000);
      arena.reset();
    }
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks + 1);
    expect(after.liveBytes).toBe(before.liveBytes + (1 << 16));
  });
});

describe('Arena.destroy', () => {
  test('frees every chunk; every Buffer reads length 0; further calls throw ERR_NOT_ALLOCATED', async () => {
    const before = await settle();
    const arena = new Arena({ capacity: 4096, grow: true });
    const bufs = [arena.alloc(10), arena.alloc(10000)];
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + 2);
    arena.destroy();
    expect(arena.destroyed).toBe(true);
    expect(bufs.map((b) => b.length)).toEqual([0, 0]);
    expect(blockStats().liveBlocks).toBe(before.liveBlocks);
    expect([arena.used, arena.capacity, arena.available]).toEqual([0, 0, 0]);
    for (const call of [
      () => arena.regions(),
      () => arena.alloc(1),
      () => arena.alloc(1, 2 ** 32),
      () => arena.reset(),
      () => arena.destroy(),
      () => arena.addMemory(Block.alloc(4096)),
    ]) {
      const error = caught(call);
      expect(error.code).toBe('ERR_NOT_ALLOCATED');
      expect(error.message).toMatch(/^cannot .* an arena that is destroyed$/);
    }
    arena[Symbol.dispose](); // after destroy: nothing to do, no throw
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
  });

  test('`using` destroys at the end of the scope', () => {
    let kept: Buffer;
    let arena: Arena;
    {
      using scoped = new Arena({ capacity: 4096 });
      arena = scoped;
      kept = scoped.alloc(100);
      expect(kept.length).toBe(100);
    }
    expect(arena.destroyed).toBe(true);
    expect(kept.length).toBe(0);
  });

  test('an arena dropped without destroy is freed by the garbage collector', async () => {
    const before = await settle();
    (() => {
      for (let i = 0; i < 20; i++) new Arena({ capacity: 1 << 16, grow: true }).alloc(1 << 17);
    })();
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.liveBytes).toBe(before.liveBytes);
  });
});

describe('Arena.addMemory', () => {
  test('adds the block as a chunk that allocations use once the others are full', () => {
    using arena = new Arena({ capacity: 4096 });
    const block = Block.alloc(8192);
    arena.addMemory(block);
    expect(arena.capacity).toBe(4096 + 8192);
    expect(arena.regions()[1]).toEqual({ address: block.address, size: 8192 });
    arena.alloc(4096);
    const spilled = arena.alloc(5000);
    expect(addressOf(spilled)).toBe(block.address);
    // Room left in an earlier chunk is still found.
    using tail = new Arena({ capacity: 4096 });
    tail.alloc(4000);
    tail.addMemory(Block.alloc(4096));
    expect(regionIndex(tail, tail.alloc(1000))).toBe(1);
    expect(regionIndex(tail, tail.alloc(3088))).toBe(1);
    expect(regionIndex(tail, tail.alloc(96))).toBe(0);
  });

  test('the arena frees the block at destroy', () => {
    const arena = new Arena({ capacity: 4096 });
    const block = Block.alloc(4096);
    arena.addMemory(block);
    arena.destroy();
    expect(block.freed).toBe(true);
    expect(block.buffer.length).toBe(0);
  });

  test('ERR_MEMORY_OVERLAP for a block already managed, by this arena or by another allocator', () => {
    using arena = new Arena({ capacity: 4096 });
    const block = Block.alloc(4096);
    arena.addMemory(block);
    const twice = caught(() => arena.addMemory(block));
    expect(twice.code).toBe('ERR_MEMORY_OVERLAP');
    expect(twice.message).toMatch(/^block \[0x[0-9a-f]+, 0x[0-9a-f]+\) overlaps \[0x[0-9a-f]+, 0x[0-9a-f]+\), which this arena already manages$/);
    using other = new Arena({ capacity: 4096 });
    const elsewhere = caught(() => other.addMemory(block));
    expect(elsewhere.code).toBe('ERR_MEMORY_OVERLAP');
    expect(elsewhere.message).toMatch(/is already managed by another Arena$/);
    using pool = new Pool({ slotSize: 64, slots: 4 });
    const inPool = caught(() => pool.addMemory(block));
    expect(inPool.code).toBe('ERR_MEMORY_OVERLAP');
    expect(inPool.message).toMatch(/is already managed by an Arena$/);
    expect(other.capacity).toBe(4096);
  });

  test('ERR_MEMORY_OVERLAP names the kind of allocator that owns the block', () => {
    using heap = new Heap({ capacity: 4096 });
    using pages = new PageAllocator({ pages: 1 });
    const forHeap = Block.alloc(4096);
    const forPages = Block.alloc(pageSize());
    heap.addMemory(forHeap);
    pages.addMemory(forPages);
    using arena = new Arena({ capacity: 4096 });
    expect(caught(() => arena.addMemory(forHeap)).message).toMatch(/is already managed by a Heap$/);
    expect(caught(() => arena.addMemory(forPages)).message).toMatch(/is already managed by a PageAllocator$/);
    expect(caught(() => pages.addMemory(forHeap)).message).toMatch(/is already managed by a Heap$/);
    expect(caught(() => heap.addMemory(forPages)).message).toMatch(/is already managed by a PageAllocator$/);
  });

  test('ERR_NOT_ALLOCATED for a freed block', () => {
    using arena = new Arena({ capacity: 4096 });
    const block = Block.alloc(4096);
    block.free();
    const error = caught(() => arena.addMemory(block));
    expect(error.code).toBe('ERR_NOT_ALLOCATED');
    expect(error.message).toBe('cannot add a freed block (size 4096, align 4096) to this arena');
    expect(arena.capacity).toBe(4096);
  });

  test.each<[string, unknown]>([
    ['a Buffer', Buffer.alloc(4096)],
    ['undefined', undefined],
    ['an object', { buffer: Buffer.alloc(16), size: 16 }],
  ])('ERR_INVALID_PARAM for %s', (_label, value) => {
    using arena = new Arena({ capacity: 4096 });
    const error = caught(() => arena.addMemory(value as Block));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toMatch(/^block must be a Block; got /);
  });

  (runtimeMemory ? test : test.skip)('a runtime block its caller frees anyway: its allocations read length 0 at once; reset drops the chunk', async () => {
    const before = await settle();
    const arena = new Arena({ capacity: 4096 });
    const block = Block.alloc(8192);
    arena.addMemory(block);
    arena.alloc(4096);
    const buf = arena.alloc(8192);
    block.free();
    expect(buf.length).toBe(0);
    expect(arena.capacity).toBe(4096 + 8192);
    arena.reset();
    expect(arena.capacity).toBe(4096);
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + 1);
    arena.destroy();
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
  });

  externalOnly(true, 'freeing a runtime block detaches every view of it')('a block its caller frees anyway: allocations stay valid until reset, which drops the chunk', async () => {
    const before = await settle();
    const arena = new Arena({ capacity: 4096 });
    const block = Block.alloc(8192);
    arena.addMemory(block);
    arena.alloc(4096);
    const buf = arena.alloc(8192);
    block.free();
    buf.fill(7); // the arena's view still holds the memory
    expect(buf.every((x) => x === 7)).toBe(true);
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + 2);
    arena.reset();
    expect(buf.length).toBe(0);
    expect(arena.capacity).toBe(4096);
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + 1);
    arena.destroy();
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
  });
});

describe('Arena: ERR_INVALID_PARAM names the argument and the value', () => {
  const BAD_SIZES: [string, unknown, string][] = [
    ['0', 0, '0'],
    ['-1', -1, '-1'],
    ['1.5', 1.5, '1.5'],
    ['NaN', NaN, 'NaN'],
    ['Infinity', Infinity, 'Infinity'],
    ["'64'", '64', '"64" (a string)'],
    ['64n', 64n, '64n'],
    ['null', null, 'null'],
    ['undefined', undefined, 'undefined'],
    ['MAX_SIZE + 1', MAX_SIZE + 1, String(MAX_SIZE + 1)],
  ];
  const BAD_ALIGNS: [string, unknown, string][] = [
    ['0', 0, '0'],
    ['3', 3, '3'],
    ['-16', -16, '-16'],
    ['1.5', 1.5, '1.5'],
    ['NaN', NaN, 'NaN'],
    ["'16'", '16', '"16" (a string)'],
    ['16n', 16n, '16n'],
    ['null', null, 'null'],
    ['2^31 + 2', 2 ** 31 + 2, String(2 ** 31 + 2)],
    ['2^33', 2 ** 33, String(2 ** 33)],
  ];

  test.each(BAD_SIZES)('alloc size %s', (_label, size, shown) => {
    using arena = new Arena({ capacity: 4096 });
    const error = caught(() => arena.alloc(size as number));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toBe(`size must be an integer from 1 to ${constants.MAX_LENGTH}; got ${shown}`);
    expect(arena.used).toBe(0);
  });

  test.each(BAD_ALIGNS)('alloc align %s', (_label, align, shown) => {
    using arena = new Arena({ capacity: 4096 });
    const error = caught(() => arena.alloc(16, align as number));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toBe(`align must be a power of two from 1 to 4294967296; got ${shown}`);
  });

  test.each(BAD_SIZES)('capacity %s', (_label, capacity, shown) => {
    const error = caught(() => new Arena({ capacity: capacity as number }));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toBe(`options.capacity must be an integer from 1 to ${constants.MAX_LENGTH}; got ${shown}`);
  });

  test.each(BAD_ALIGNS)('options.align %s', (_label, align, shown) => {
    const error = caught(() => new Arena({ capacity: 4096, align: align as number }));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toBe(`options.align must be a power of two from 1 to 4294967296; got ${shown}`);
  });

  test.each<[string, unknown, string]>([
    ['options missing', undefined, 'options must be a plain object; got undefined'],
    ['options a number', 4096, 'options must be a plain object; got 4096'],
    ['grow not a boolean', { capacity: 4096, grow: 1 }, 'options.grow must be a boolean; got 1'],
  ])('%s', (_label, options, message) => {
    const error = caught(() => new Arena(options as { capacity: number }));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toBe(message);
  });

  test('options.align sets the chunk alignment, at least the page size', () => {
    using big = new Arena({ capacity: 4096, align: 1 << 21 });
    expect(big.align).toBe(1 << 21);
    expect(big.regions()[0].address % BigInt(1 << 21)).toBe(0n);
    using small = new Arena({ capacity: 4096, align: 8 });
    expect(small.align).toBe(pageSize());
  });
});
