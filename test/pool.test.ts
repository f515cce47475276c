import { spawnSync } from 'child_process';
import { constants } from 'buffer';
import * as path from 'path';
import { addressOf, AllocError, Arena, Block, blockStats, debug, MAX_SIZE, pageSize, Pool } from '..';
import { caught, externalOnly, runtimeMemory, settle } from './helpers';

const MODES = [false, true];

describe.each(MODES)('Pool (checked: %s)', (checked) => {
  const ownSlots = checked && runtimeMemory;
  externalOnly(checked, "a checked pool's slots are blocks of their own there")('hands out slotSize Buffers at the slot alignment, stride apart, lowest first', () => {
    using pool = new Pool({ slotSize: 100, slots: 8, align: 64, checked });
    expect([pool.slotSize, pool.align, pool.stride, pool.slots, pool.checked]).toEqual([100, 64, 128, 8, checked]);
    const [region] = pool.regions();
    expect(region.size).toBe(7 * 128 + 100);
    expect(region.address % BigInt(pageSize())).toBe(0n);
    const bufs = Array.from({ length: 8 }, () => pool.alloc());
    bufs.forEach((buf, i) => {
      expect(Buffer.isBuffer(buf)).toBe(true);
      expect(buf.length).toBe(100);
      expect(addressOf(buf)).toBe(region.address + BigInt(i * 128));
    });
    expect([pool.used, pool.available]).toEqual([8, 0]);
  });

  test('slots hold their bytes apart', () => {
    using pool = new Pool({ slotSize: 4096, slots: 4, align: 4096, checked });
    const bufs = [pool.alloc(), pool.alloc(), pool.alloc()];
    bufs.forEach((buf, i) => buf.fill(i + 1));
    bufs.forEach((buf, i) => expect(buf.every((x) => x === i + 1)).toBe(true));
    expect(bufs[1].readUInt32LE(4092)).toBe(0x02020202);
  });

  test('free returns the slot for reuse, last freed first, in O(1)', async () => {
    using pool = new Pool({ slotSize: 64, slots: 4, checked });
    const a = pool.alloc();
    const b = pool.alloc();
    const addressB = addressOf(b);
    pool.free(b);
    expect([pool.used, pool.available]).toEqual([1, 3]);
    // Checked mode hands a slot freed in this synchronous run out again only after it.
    if (checked) await Promise.resolve();
    const c = pool.alloc();
    if (ownSlots) {
      // Each slot is a Block of its own there: the slot comes back with new
      // memory, wherever the runtime places it.
      expect(c.length).toBe(64);
    } else if (debug.enabled) {
      // Debug mode holds a freed slot until no other slot is free (README "Debug mode").
      expect(addressOf(c)).not.toBe(addressB);
      const rest = [pool.alloc(), pool.alloc()];
      expect(addressOf(rest[1])).toBe(addressB);
      for (const buf of rest) pool.free(buf);
    } else {
      expect(addressOf(c)).toBe(addressB);
    }
    pool.free(a);
    pool.free(c);
    expect([pool.used, pool.available, pool.slots]).toEqual([0, 4, 4]);
  });

  test('ERR_NO_MEMORY when every slot is taken; a free makes room again', () => {
    using pool = new Pool({ slotSize: 512, slots: 3, checked });
    const bufs = [pool.alloc(), pool.alloc(), pool.alloc()];
    const error = caught(() => pool.alloc());
    expect(error.code).toBe('ERR_NO_MEMORY');
    expect(error.message).toBe('every slot of the pool is taken (3 slots of 512 bytes)');
    pool.free(bufs[1]);
    expect(pool.alloc().length).toBe(512);
  });

  describe('ERR_NOT_ALLOCATED', () => {
    test('for a double free', () => {
      using pool = new Pool({ slotSize: 64, slots: 2, checked });
      const buf = pool.alloc();
      pool.free(buf);
      const error = caught(() => pool.free(buf));
      expect(error.code).toBe('ERR_NOT_ALLOCATED');
      expect(error.message).toMatch(/is not a slot this pool has allocated: already freed, from another pool, part of a slot, or never from this pool$/);
      expect([pool.used, pool.available]).toEqual([0, 2]);
    });

    test('for an earlier Buffer of a slot now allocated again', () => {
      using pool = new Pool({ slotSize: 64, slots: 1, checked });
      const stale = pool.alloc();
      pool.free(stale);
      const current = pool.alloc();
      expect(caught(() => pool.free(stale)).code).toBe('ERR_NOT_ALLOCATED');
      expect(pool.used).toBe(1);
      pool.free(current);
    });

    test('for a Buffer from another pool, also at the same slot', () => {
      using pool = new Pool({ slotSize: 64, slots: 2, checked });
      using other = new Pool({ slotSize: 64, slots: 2, checked });
      const mine = pool.alloc();
      const theirs = other.alloc();
      expect(caught(() => pool.free(theirs)).code).toBe('ERR_NOT_ALLOCATED');
      expect(caught(() => other.free(mine)).code).toBe('ERR_NOT_ALLOCATED');
      using fast = new Pool({ slotSize: 64, slots: 2, checked: !checked });
      expect(caught(() => pool.free(fast.alloc())).code).toBe('ERR_NOT_ALLOCATED');
      expect(pool.used).toBe(1);
    });

    test('for part of a slot, or a copy of one', () => {
      using pool = new Pool({ slotSize: 64, slots: 2, checked });
      const buf = pool.alloc();
      for (const part of [
        buf.subarray(1),
        buf.subarray(0, 63),
        buf.subarray(0),
        new Uint8Array(buf.buffer, buf.byteOffset, 64),
        Buffer.from(buf),
      ]) {
        expect(caught(() => pool.free(part)).code).toBe('ERR_NOT_ALLOCATED');
      }
      expect(pool.used).toBe(1);
      pool.free(buf);
    });

    test('for any other Buffer or typed array', () => {
      using pool = new Pool({ slotSize: 64, slots: 2, checked });
      using arena = new Arena({ capacity: 4096 });
      using block = Block.alloc(64);
      for (const foreign of [Buffer.alloc(64), Buffer.allocUnsafe(64), new Uint8Array(64), new Float64Array(8), arena.alloc(64), block.buffer]) {
        expect(caught(() => pool.free(foreign as Uint8Array)).code).toBe('ERR_NOT_ALLOCATED');
      }
    });

    test('and ERR_INVALID_PARAM for what is not a Buffer at all', () => {
      using pool = new Pool({ slotSize: 64, slots: 2, checked });
      for (const [value, shown] of [
        [undefined, 'undefined'],
        [null, 'null'],
        [64, '64'],
        [{ buffer: new ArrayBuffer(64), byteOffset: 0, byteLength: 64 }, 'an Object'],
        [new ArrayBuffer(64), 'an ArrayBuffer'],
      ] as [unknown, string][]) {
        const error = caught(() => pool.free(value as Uint8Array));
        expect(error.code).toBe('ERR_INVALID_PARAM');
        expect(error.message).toBe(`buf must be a Buffer from this pool; got ${shown}`);
      }
    });
  });

  test('destroy frees the memory; every Buffer reads length 0; further calls throw ERR_NOT_ALLOCATED', async () => {
    const before = await settle();
    const pool = new Pool({ slotSize: 4096, slots: 16, align: 4096, checked });
    if (!ownSlots) pool.addMemory(Block.alloc(8192));
    const live = [pool.alloc(), pool.alloc()];
    const freed = pool.alloc();
    pool.free(freed);
    pool.destroy();
    expect(pool.destroyed).toBe(true);
    expect(live.map((b) => b.length)).toEqual([0, 0]);
    expect(freed.length).toBe(0);
    expect([pool.used, pool.available, pool.slots]).toEqual([0, 0, 0]);
    for (const call of [() => pool.alloc(), () => pool.free(live[0]), () => pool.destroy(), () => pool.regions(), () => pool.addMemory(Block.alloc(4096))]) {
      const error = caught(call);
      expect(error.code).toBe('ERR_NOT_ALLOCATED');
      expect(error.message).toMatch(/^cannot .* a pool that is destroyed$/);
    }
    pool[Symbol.dispose]();
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + 1); // the Block the last call above allocated
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  test('`using` destroys at the end of the scope', () => {
    let kept: Buffer;
    let pool: Pool;
    {
      using scoped = new Pool({ slotSize: 64, slots: 2, checked });
      pool = scoped;
      kept = scoped.alloc();
    }
    expect(pool.destroyed).toBe(true);
    expect(kept.length).toBe(0);
  });

  test('a pool dropped without destroy, slots alive, is freed by the garbage collector', async () => {
    const before = await settle();
    (() => {
      for (let i = 0; i < 20; i++) {
        const pool = new Pool({ slotSize: 4096, slots: 8, checked });
        pool.alloc();
        pool.alloc().fill(1);
      }
    })();
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  (ownSlots ? describe.skip : describe)(`addMemory${ownSlots ? ' [not on runtime memory: refused for a checked pool, see below]' : ''}`, () => {
    test('cuts the block into slots at the pool alignment; the pool frees it at destroy', () => {
      const pool = new Pool({ slotSize: 100, slots: 1, align: 64, checked });
      const block = Block.alloc(1000, { align: 16 });
      pool.addMemory(block);
      const first = block.address + ((64n - (block.address % 64n)) % 64n);
      const count = Math.floor((Number(block.address + 1000n - first) - 100) / 128) + 1;
      expect(pool.slots).toBe(1 + count);
      expect(pool.regions()[1]).toEqual({ address: block.address, size: 1000 });
      const bufs = Array.from({ length: pool.slots }, () => pool.alloc());
      // The slots already in use come first, then the new block's, lowest first.
      expect(bufs.slice(1).map(addressOf)).toEqual(Array.from({ length: count }, (_, i) => first + BigInt(i * 128)));
      for (const buf of bufs) expect(addressOf(buf) % 64n).toBe(0n);
      expect(caught(() => pool.alloc()).code).toBe('ERR_NO_MEMORY');
      for (const buf of bufs) pool.free(buf);
      expect(pool.available).toBe(1 + count);
      pool.destroy();
      expect(block.freed).toBe(true);
    });

    test('ERR_MEMORY_OVERLAP for a block already managed, by this pool or by another allocator', () => {
      using pool = new Pool({ slotSize: 64, slots: 2, checked });
      const block = Block.alloc(4096);
      pool.addMemory(block);
      const twice = caught(() => pool.addMemory(block));
      expect(twice.code).toBe('ERR_MEMORY_OVERLAP');
      expect(twice.message).toMatch(/^block \[0x[0-9a-f]+, 0x[0-9a-f]+\) overlaps \[0x[0-9a-f]+, 0x[0-9a-f]+\), which this pool already manages$/);
      using other = new Pool({ slotSize: 64, slots: 2, checked });
      expect(caught(() => other.addMemory(block)).code).toBe('ERR_MEMORY_OVERLAP');
      using arena = new Arena({ capacity: 4096 });
      expect(caught(() => arena.addMemory(block)).message).toMatch(/is already managed by a Pool$/);
      expect(other.slots).toBe(2);
      expect(pool.slots).toBe(2 + 64);
    });

    test('ERR_NOT_ALLOCATED for a freed block', () => {
      using pool = new Pool({ slotSize: 64, slots: 2, checked });
      const block = Block.alloc(4096);
      block.free();
      const error = caught(() => pool.addMemory(block));
      expect(error.code).toBe('ERR_NOT_ALLOCATED');
      expect(error.message).toBe('cannot add a freed block (size 4096, align 4096) to this pool');
    });

    test('ERR_INVALID_PARAM for a block too small for one aligned slot, and for anything but a Block', () => {
      using pool = new Pool({ slotSize: 4096, slots: 1, align: 4096, checked });
      const tiny = Block.alloc(4095);
      const tooSmall = caught(() => pool.addMemory(tiny));
      expect(tooSmall.code).toBe('ERR_INVALID_PARAM');
      expect(tooSmall.message).toMatch(/^block must hold one slot of 4096 bytes aligned to 4096; got 4095 bytes at 0x[0-9a-f]+$/);
      // Not taken: the caller still owns it, and another allocator may take it.
      expect(tiny.freed).toBe(false);
      using arena = new Arena({ capacity: 16 });
      arena.addMemory(tiny);
      const error = caught(() => pool.addMemory(Buffer.alloc(8192) as unknown as Block));
      expect(error.code).toBe('ERR_INVALID_PARAM');
      expect(error.message).toBe('block must be a Block; got a Buffer');
      expect(pool.slots).toBe(1);
    });
  });
});

describe('Pool: a Buffer kept after free', () => {
  test('fast mode: it still reaches the slot, and so the next owner (documented trade-off)', () => {
    using pool = new Pool({ slotSize: 64, slots: 1 });
    const stale = pool.alloc();
    pool.free(stale);
    const next = pool.alloc();
    stale[0] = 42;
    expect(next[0]).toBe(42);
  });

  test('checked mode: it reads length 0 and writes go nowhere', () => {
    using pool = new Pool({ slotSize: 64, slots: 1, checked: true });
    const stale = pool.alloc();
    const part = stale.subarray(8);
    pool.free(stale);
    expect(caught(() => pool.free(stale)).code).toBe('ERR_NOT_ALLOCATED');
    expect(stale.length).toBe(0);
    expect(part.length).toBe(0);
    const next = pool.alloc();
    next.fill(1);
    stale[0] = 42;
    expect(stale[0]).toBeUndefined();
    expect(next[0]).toBe(1);
  });

  test('checked mode holds no external buffer per freed slot', async () => {
    const before = await settle();
    using pool = new Pool({ slotSize: 4096, slots: 4, checked: true });
    for (let i = 0; i < 5000; i++) pool.free(pool.alloc());
    const after = await settle();
    // The pool's region; on runtime memory a checked pool has none (each slot is a block of its own).
    expect(after.liveBlocks).toBe(before.liveBlocks + (runtimeMemory ? 0 : 1));
  });
});

(runtimeMemory ? describe : describe.skip)('Pool (checked: true) on runtime memory', () => {
  test('each slot is a block of its own at the slot alignment; regions() lists the live ones', async () => {
    const before = await settle();
    const pool = new Pool({ slotSize: 100, slots: 3, align: 64, checked: true });
    expect(pool.regions()).toEqual([]);
    expect(blockStats().liveBlocks).toBe(before.liveBlocks);
    const bufs = [pool.alloc(), pool.alloc(), pool.alloc()];
    expect(bufs.every((b) => b.length === 100 && addressOf(b) % 64n === 0n)).toBe(true);
    expect(new Set(bufs.map((b) => b.buffer)).size).toBe(3);
    expect(pool.regions().map((r) => [r.address, r.size])).toEqual(bufs.map((b) => [addressOf(b), 100]));
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + 3);
    expect(caught(() => pool.alloc()).code).toBe('ERR_NO_MEMORY');
    pool.free(bufs[1]);
    expect(bufs[1].length).toBe(0);
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + 2);
    pool.destroy();
    expect(bufs.every((b) => b.length === 0)).toBe(true);
    expect(blockStats().liveBlocks).toBe(before.liveBlocks);
  });

  test('addMemory is refused, naming why; the block stays its caller\'s', () => {
    using pool = new Pool({ slotSize: 64, slots: 2, checked: true });
    using block = Block.alloc(4096);
    const error = caught(() => pool.addMemory(block));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toMatch(/^Pool\.addMemory of a checked pool: this runtime does not allow external buffers .*a block cannot be cut into slots$/);
    expect(block.freed).toBe(false);
    expect(pool.slots).toBe(2);
  });
});

describe('Pool: a block its caller frees after addMemory, against the contract', () => {
  externalOnly(true, 'freeing a runtime block detaches every view of it')('fast mode: the pool keeps the memory until destroy and goes on using it', async () => {
    const before = await settle();
    const pool = new Pool({ slotSize: 4096, slots: 1 });
    const block = Block.alloc(8192);
    pool.addMemory(block);
    block.free();
    const bufs = [pool.alloc(), pool.alloc(), pool.alloc()];
    bufs.forEach((b, i) => b.fill(i));
    bufs.forEach((b, i) => expect(b.every((x) => x === i)).toBe(true));
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + 2);
    pool.destroy();
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
  });

  (runtimeMemory ? test : test.skip)('fast mode on runtime memory: its slots leave the pool at once, as for memory moved away', async () => {
    const before = await settle();
    const pool = new Pool({ slotSize: 4096, slots: 1 });
    const block = Block.alloc(8192);
    pool.addMemory(block);
    const kept = pool.alloc(); // the pool's own slot
    const added = pool.alloc();
    block.free();
    expect(added.length).toBe(0);
    expect(kept.length).toBe(4096);
    expect(caught(() => pool.alloc()).code).toBe('ERR_NO_MEMORY');
    expect([pool.slots, pool.used, pool.available]).toEqual([1, 1, 0]);
    pool.destroy();
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
  });

  externalOnly(true, "a checked pool's slots are blocks of their own there")('checked mode: its slots leave the pool, live ones when freed; the memory goes back', async () => {
    const before = await settle();
    const pool = new Pool({ slotSize: 4096, slots: 1, checked: true });
    const block = Block.alloc(3 * 4096);
    pool.addMemory(block);
    expect(pool.slots).toBe(4);
    const own = pool.alloc(); // the original slot first
    const added = pool.alloc(); // then one of the block's
    expect(addressOf(added)).toBe(block.address);
    block.free();
    added.fill(3); // its view still holds the memory
    expect(added[4095]).toBe(3);
    expect(caught(() => pool.alloc()).code).toBe('ERR_NO_MEMORY');
    expect([pool.slots, pool.used, pool.available]).toEqual([2, 2, 0]);
    pool.free(added);
    expect([pool.slots, pool.used, pool.available]).toEqual([1, 1, 0]);
    pool.free(own);
    expect(pool.alloc().length).toBe(4096);
    pool.destroy();
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
  });
});

describe('Pool: ERR_INVALID_PARAM names the argument and the value', () => {
  const BAD_COUNTS: [string, unknown, string][] = [
    ['0', 0, '0'],
    ['-1', -1, '-1'],
    ['1.5', 1.5, '1.5'],
    ['NaN', NaN, 'NaN'],
    ['Infinity', Infinity, 'Infinity'],
    ["'64'", '64', '"64" (a string)'],
    ['64n', 64n, '64n'],
    ['null', null, 'null'],
    ['undefined', undefined, 'undefined'],
  ];

  test.each([...BAD_COUNTS, ['MAX_SIZE + 1', MAX_SIZE + 1, String(MAX_SIZE + 1)] as [string, unknown, string]])(
    'slotSize %s',
    (_label, slotSize, shown) => {
      const error = caught(() => new Pool({ slotSize: slotSize as number, slots: 4 }));
      expect(error.code).toBe('ERR_INVALID_PARAM');
      expect(error.message).toBe(`options.slotSize must be an integer from 1 to ${constants.MAX_LENGTH}; got ${shown}`);
    },
  );

  test.each(BAD_COUNTS)('slots %s', (_label, slots, shown) => {
    const error = caught(() => new Pool({ slotSize: 4096, slots: slots as number }));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    // (MAX_SIZE - slotSize) / stride + 1 whole slots: 2^20 on Node 20 (MAX_LENGTH 2^32),
    // 2^41 - 1 from Node 22 on (MAX_LENGTH 2^53 - 1, which leaves a partial slot).
    const whole = constants.MAX_LENGTH === 2 ** 32 ? 2 ** 20 : 2 ** 41 - 1;
    expect(Math.floor((MAX_SIZE - 4096) / 4096) + 1).toBe(whole);
    // Pool's own bookkeeping limit, 2^24 slots, is below that from Node 22 on.
    expect(error.message).toBe(`options.slots must be an integer from 1 to ${Math.min(2 ** 24, whole)}; got ${shown}`);
  });

  test('slots beyond the Buffer limit: the whole pool is one Block', () => {
    const max = (MAX_SIZE - 100) / 112 + 1;
    const limit = Math.min(2 ** 24, Math.floor(max));
    const error = caught(() => new Pool({ slotSize: 100, slots: limit + 1 }));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toBe(`options.slots must be an integer from 1 to ${limit}; got ${limit + 1}`);
  });

  test.each<[string, unknown, string]>([
    ['0', 0, '0'],
    ['3', 3, '3'],
    ['-16', -16, '-16'],
    ['1.5', 1.5, '1.5'],
    ['NaN', NaN, 'NaN'],
    ["'16'", '16', '"16" (a string)'],
    ['null', null, 'null'],
    ['2^33', 2 ** 33, String(2 ** 33)],
  ])('align %s', (_label, align, shown) => {
    const error = caught(() => new Pool({ slotSize: 64, slots: 4, align: align as number }));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toBe(`options.align must be a power of two from 1 to 4294967296; got ${shown}`);
  });

  test.each<[string, unknown, string]>([
    ['options missing', undefined, 'options must be a plain object; got undefined'],
    ['options a string', 'x', 'options must be a plain object; got "x" (a string)'],
    ['checked not a boolean', { slotSize: 64, slots: 4, checked: 'yes' }, 'options.checked must be a boolean; got "yes" (a string)'],
  ])('%s', (_label, options, message) => {
    const error = caught(() => new Pool(options as { slotSize: number; slots: number }));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toBe(message);
  });

  test('the default alignment is 16; slots are slotSize rounded up to it apart', () => {
    using pool = new Pool({ slotSize: 20, slots: 4 });
    expect([pool.align, pool.stride]).toEqual([16, 32]);
    const a = pool.alloc();
    const b = pool.alloc();
    expect(addressOf(b) - addressOf(a)).toBe(32n);
  });
});

describe('Pool: ERR_NO_MEMORY from the OS', () => {
  // As in errors.test.ts: the child caps its own address space, so the
  // failure is the operating system's, not simulated.
  const run = process.platform === 'linux' ? test : test.skip;
  // A checked pool on runtime memory allocates nothing up front (its slots are blocks of their own).
  run.each(runtimeMemory ? [false] : MODES)('a pool the OS cannot back throws and leaks nothing (checked: %s; linux: prlimit)', (checked) => {
    const child = `
      const { execFileSync } = require('child_process');
      const fs = require('fs');
      const { Pool, blockStats } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
      const vmKiB = Number(/VmSize:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
      execFileSync('prlimit', ['--pid', String(process.pid), '--as=' + (vmKiB + 512 * 1024) * 1024]);
      const live = blockStats().liveBlocks;
      let error;
      try {
        new Pool({ slotSize: 1 << 20, slots: 1024, checked: ${checked} });
      } catch (e) {
        error = { name: e.name, code: e.code, message: e.message };
      }
      const pool = new Pool({ slotSize: 4096, slots: 4, checked: ${checked} });
      pool.free(pool.alloc());
      pool.destroy();
      console.log(JSON.stringify({ error, leaked: blockStats().liveBlocks - live }));
    `;
    // One malloc arena: glibc reserves 64 MiB of address space for each thread's
    // arena, and V8's helper threads would eat the headroom at random.
    const result = spawnSync(process.execPath, ['-e', child], { encoding: 'utf8', env: { ...process.env, MALLOC_ARENA_MAX: '1' } });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      error: { name: 'AllocError', code: 'ERR_NO_MEMORY', message: 'the system allocator refused 1073741824 bytes aligned to 4096' },
      leaked: 0,
    });
  });
});

describe('Pool slot numbers after retired slots', () => {
  externalOnly(true, "a checked pool's slots are blocks of their own there")('a checked pool whose added block its caller freed keeps numbering new slots apart', () => {
    const pool = new Pool({ slotSize: 64, slots: 2, align: 64, checked: true });
    const first = Block.alloc(4096);
    pool.addMemory(first);
    pool.addMemory(Block.alloc(4096));
    first.free(); // against the contract: the pool retires that block's slots
    const held: Buffer[] = [];
    for (let i = 0; i < 3; i++) held.push(pool.alloc());
    pool.addMemory(Block.alloc(4096));
    while (pool.available > 0) held.push(pool.alloc());
    expect(pool.used).toBe(held.length);
    const addresses = new Set(held.map((b) => addressOf(b)));
    expect(addresses.size).toBe(held.length);
    for (const b of held) pool.free(b);
    expect(pool.used).toBe(0);
    pool.destroy();
  });
});
