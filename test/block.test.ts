import { Block, blockSource, blockStats, isAligned, MAX_ALIGN, MAX_SIZE, pageSize, trimBlockCache } from '..';
import { native } from '../dist/native';
import { ALIGNS, caught, delta, externalOnly, ordinaryBlocks, runtimeMemory, settle, SIZES, turn } from './helpers';

describe('Block alignment', () => {
  test.each(SIZES.flatMap((size) => ALIGNS.map((align) => [size, align])))(
    'size %i aligned to %i',
    (size, align) => {
      const block = Block.alloc(size, { align });
      try {
        expect(block.size).toBe(size);
        expect(block.align).toBe(align);
        expect(block.buffer.length).toBe(size);
        expect(block.address & BigInt(align - 1)).toBe(0n);
        expect(isAligned(block.buffer, align)).toBe(true);
      } finally {
        block.free();
      }
    },
  );

  test.each([1, 2, 64, 4096, 65536, 1 << 20, 1 << 24])('a power-of-two size %i is aligned to itself', (size) => {
    using block = Block.alloc(size);
    expect(block.align).toBe(size);
    expect(block.address % BigInt(size)).toBe(0n);
    // So the start of the block is found from any address inside it.
    const inside = block.address + BigInt(size - 1);
    expect(inside & ~BigInt(size - 1)).toBe(block.address);
  });

  // MAX_SIZE is Buffer's limit: 2^32 on Node 20, so no power-of-two size exceeds
  // MAX_ALIGN there; 2^53 - 1 from Node 22, where 2^33 bytes is a valid size.
  test('a power-of-two size above MAX_ALIGN is aligned to MAX_ALIGN (Node 22+), or beyond MAX_SIZE (Node 20)', () => {
    const size = MAX_ALIGN * 2;
    if (MAX_SIZE < size) {
      expect(Number(process.versions.node.split('.')[0])).toBe(20);
      const error = caught(() => Block.alloc(size, { zero: false }), 'ERR_INVALID_PARAM');
      expect(error.message).toBe(`size must be an integer from 1 to ${MAX_SIZE}; got ${size}`);
      return;
    }
    expect(blockSource(size)).toBe(blockSource(size, MAX_ALIGN));
    using block = Block.alloc(size, { zero: false });
    expect(block.align).toBe(MAX_ALIGN);
    expect(block.address % BigInt(MAX_ALIGN)).toBe(0n);
    expect(block.buffer.length).toBe(size);
  });

  test.each([3, 100, 1000, 5000, 100000])('any other size %i is aligned to the page size', (size) => {
    using block = Block.alloc(size);
    expect(block.align).toBe(pageSize());
    expect(block.address % BigInt(pageSize())).toBe(0n);
  });
});

describe('Block memory', () => {
  test.each([64, 4096, 100000, 1 << 20])('is zero-filled by default (%i bytes), also when reused', (size) => {
    for (let round = 0; round < 3; round++) {
      const dirty = Block.alloc(size, { zero: false });
      dirty.buffer.fill(0xa5);
      dirty.free();
      using block = Block.alloc(size);
      expect(block.buffer.every((byte) => byte === 0)).toBe(true);
    }
  });

  test('zero: false gives usable memory of the right size', () => {
    using block = Block.alloc(8192, { zero: false, align: 4096 });
    block.buffer.fill(7);
    expect(block.buffer.reduce((sum, byte) => sum + byte, 0)).toBe(7 * 8192);
  });

  test('reads and writes go to the block itself, through every view', () => {
    using block = Block.alloc(4096);
    const words = new Uint32Array(block.buffer.buffer, block.buffer.byteOffset, 1024);
    const view = new DataView(block.buffer.buffer, block.buffer.byteOffset, 4096);
    block.buffer.write('sysalloc', 0, 'latin1');
    expect(Buffer.from(block.buffer.subarray(0, 8)).toString('latin1')).toBe('sysalloc');
    words[1023] = 0xdeadbeef;
    expect(view.getUint32(4092, true)).toBe(0xdeadbeef);
    expect(block.buffer.readUInt32LE(4092)).toBe(0xdeadbeef);
    if (runtimeMemory) {
      // The runtime's ArrayBuffer, over-allocated by align - 1; the Buffer at the aligned offset in it.
      expect(block.buffer.buffer.byteLength).toBe(4096 + 4095);
      expect(block.buffer.byteOffset).toBeLessThan(4096);
    } else {
      // Zero-copy: the Buffer starts at the block's address.
      expect(block.buffer.byteOffset).toBe(0);
      expect(block.buffer.buffer.byteLength).toBe(4096);
    }
  });

  test('names the system call that served it', () => {
    const expected = runtimeMemory ? ['runtime', 'runtime'] : process.platform === 'win32' ? ['_aligned_malloc', 'VirtualAlloc'] : ['posix_memalign', 'mmap'];
    using small = Block.alloc(4096);
    using large = Block.alloc(1 << 20);
    expect(small.source).toBe(expected[0]);
    expect(large.source).toBe(expected[1]);
  });
});

describe('Block.free', () => {
  test('detaches the buffer and every view of it', () => {
    const block = Block.alloc(4096);
    const buffer = block.buffer;
    const bytes = new Uint8Array(buffer.buffer);
    const words = new Float64Array(buffer.buffer, 8, 8);
    const slice = buffer.subarray(100, 200);
    const view = new DataView(buffer.buffer);
    bytes[0] = 1;
    block.free();
    expect(block.freed).toBe(true);
    expect(block.buffer.length).toBe(0);
    expect(buffer.length).toBe(0);
    expect(bytes.length).toBe(0);
    expect(words.length).toBe(0);
    expect(slice.length).toBe(0);
    expect(buffer.buffer.byteLength).toBe(0);
    expect(bytes[0]).toBeUndefined();
    bytes[0] = 42; // dropped: a detached view writes nowhere
    expect(bytes[0]).toBeUndefined();
    expect(() => view.getUint8(0)).toThrow(TypeError);
  });

  test('a second free throws ERR_NOT_ALLOCATED and frees nothing', () => {
    const before = blockStats();
    const block = Block.alloc(4096);
    block.free();
    const after = blockStats();
    const error = caught(() => block.free(), 'ERR_NOT_ALLOCATED');
    expect(error.message).toMatch(/already freed/);
    expect(blockStats().liveBlocks).toBe(after.liveBlocks);
    expect(after.liveBlocks).toBe(before.liveBlocks);
  });

  test('use after free: the address is gone, the views read length 0', () => {
    const block = Block.alloc(256);
    const address = block.address;
    expect(address).toBeGreaterThan(0n);
    block.free();
    caught(() => block.address, 'ERR_NOT_ALLOCATED');
    expect(block.buffer.byteLength).toBe(0);
    expect(block.size).toBe(256);
  });

  test('using frees at the end of the scope; dispose is idempotent', () => {
    const before = blockStats().liveBlocks;
    let kept: Block;
    {
      using block = Block.alloc(4096);
      kept = block;
      expect(blockStats().liveBlocks).toBe(before + 1);
    }
    expect(kept.freed).toBe(true);
    expect(blockStats().liveBlocks).toBe(before);
    kept[Symbol.dispose]();
    expect(blockStats().liveBlocks).toBe(before);
  });

  test('live counters follow allocations and frees exactly', () => {
    const before = blockStats();
    const blocks = [100, 4096, 200000, 1 << 20].map((size) => Block.alloc(size));
    const during = blockStats();
    expect(during.liveBlocks - before.liveBlocks).toBe(4);
    expect(during.liveBytes - before.liveBytes).toBe(100 + 4096 + 200000 + (1 << 20));
    for (const block of blocks) block.free();
    const after = blockStats();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  describe('with ordinary blocks, not debug mode ones', () => {
    ordinaryBlocks();
    externalOnly(true, 'runtime memory is never cached (os-facts.test.ts)')('a released large region is reused from the cache once the quarantine has let it go, and trimming returns it', async () => {
      trimBlockCache();
      const first = Block.alloc(1 << 20, { zero: false });
      first.free();
      expect(blockStats().cachedBlocks).toBe(0); // quarantined until this synchronous run ends
      await turn();
      const cached = blockStats();
      expect(cached.cachedBlocks).toBe(1);
      const second = Block.alloc(1 << 20);
      expect(blockStats().cacheHits).toBe(cached.cacheHits + 1);
      expect(second.buffer.every((byte) => byte === 0)).toBe(true);
      second.free();
      trimBlockCache();
      expect(blockStats().cachedBlocks).toBe(0);
      expect(blockStats().cachedBytes).toBe(0);
    });
  });
});

describe('the GC finalizer', () => {
  test('frees a block never freed explicitly, exactly once', async () => {
    const before = await settle();
    const count = 200;
    (() => {
      for (let i = 0; i < count; i++) Block.alloc(4096).buffer[0] = i;
    })();
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + count);
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.liveBytes).toBe(before.liveBytes);
    const allocated = delta(before, after, 'osAllocations');
    const released = delta(before, after, 'osReleases');
    expect(released).toEqual(allocated);
  });

  describe('with ordinary blocks, not debug mode ones', () => {
    ordinaryBlocks();
    test('does not free again a block freed explicitly', async () => {
      const before = await settle();
      const count = 200;
      (() => {
        for (let i = 0; i < count; i++) Block.alloc(4096).free();
      })();
      native.drainQuarantine(); // what the microtask after this turn would do
      const freed = blockStats();
      expect(freed.liveBlocks).toBe(before.liveBlocks);
      const after = await settle();
      expect(after.liveBlocks).toBe(before.liveBlocks);
      expect(delta(before, after, 'osReleases')).toEqual(delta(before, freed, 'osReleases'));
      expect(delta(before, after, 'osReleases')).toEqual(delta(before, after, 'osAllocations'));
    });
  });

  test('keeps a block alive while any view of it is reachable', async () => {
    const before = await settle();
    const view = (() => new Uint8Array(Block.alloc(4096).buffer.buffer, 16, 16))();
    view.fill(9);
    await settle();
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + 1);
    expect(view.every((byte) => byte === 9)).toBe(true);
  });
});

describe("V8's view of off-heap bytes", () => {
  // Node already reports each external Buffer's length (plus its own bookkeeping)
  // to V8; sysalloc adds only the page rounding V8 cannot see, and takes it back.
  async function perBlockExternal(size: number, count: number): Promise<{ held: number; after: number }> {
    await settle();
    const start = native.externalMemory();
    const blocks = Array.from({ length: count }, () => Block.alloc(size, { zero: false }));
    const held = (native.externalMemory() - start) / count;
    for (const block of blocks) block.free();
    await settle();
    return { held, after: native.externalMemory() - start };
  }

  test('counted once while alive, and all of it given back after free', async () => {
    const page = pageSize();
    if (runtimeMemory) {
      // V8 counts each runtime ArrayBuffer whole: the block and its align - 1 bytes of over-allocation.
      const small = await perBlockExternal(4096, 64);
      expect(small.held).toBe(4096 + 4095);
      expect(small.after).toBe(0);
      const large = await perBlockExternal((1 << 20) + 1, 16);
      expect(large.held).toBe((1 << 20) + 1 + page - 1);
      expect(large.after).toBe(0);
      return;
    }
    const exact = await perBlockExternal(4096, 64); // posix_memalign: nothing hidden
    const nodeBookkeeping = exact.held - 4096;
    expect(nodeBookkeeping).toBeGreaterThanOrEqual(0);
    expect(nodeBookkeeping).toBeLessThan(1024);
    expect(exact.after).toBe(0);

    const size = (1 << 20) + 1; // mapped: rounded up to whole pages
    const rounded = await perBlockExternal(size, 16);
    expect(rounded.held).toBe(size + nodeBookkeeping + (page - 1));
    expect(rounded.after).toBe(0);
  });
});
