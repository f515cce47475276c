// Every limit is tested from the side that accepts as well as the side that
// refuses: the largest size, an added block with room for exactly one slot,
// an allocation exactly the next chunk's size. None allocates the limit itself.
import { AllocError, Arena, Block, MAX_SIZE, Pool, addressOf, pageSize } from '..';
import { checkSize } from '../dist/validate';
import { caught } from './helpers';

describe('MAX_SIZE is the largest size accepted', () => {
  test('the size check accepts MAX_SIZE and refuses MAX_SIZE + 1, with the bound in the message', () => {
    expect(checkSize('size', MAX_SIZE)).toBe(MAX_SIZE);
    expect(checkSize('size', 1)).toBe(1);
    const above = caught(() => checkSize('size', MAX_SIZE + 1));
    expect([above.code, above.message]).toEqual(['ERR_INVALID_PARAM', `size must be an integer from 1 to ${MAX_SIZE}; got ${MAX_SIZE + 1}`]);
    const zero = caught(() => checkSize('size', 0));
    expect(zero.message).toBe(`size must be an integer from 1 to ${MAX_SIZE}; got 0`);
    expect(checkSize('n', 7, 7)).toBe(7);
    expect(caught(() => checkSize('n', 8, 7)).message).toBe('n must be an integer from 1 to 7; got 8');
  });

  test('arena.alloc(MAX_SIZE) is a valid request a small arena has no room for; MAX_SIZE + 1 is invalid', () => {
    const arena = new Arena({ capacity: 4096 });
    const full = caught(() => arena.alloc(MAX_SIZE));
    expect([full.code, full.message]).toEqual([
      'ERR_NO_MEMORY',
      `arena has no room for ${MAX_SIZE} bytes aligned to 16 (capacity ${arena.capacity}, used 0)`,
    ]);
    const invalid = caught(() => arena.alloc(MAX_SIZE + 1));
    expect([invalid.code, invalid.message]).toEqual([
      'ERR_INVALID_PARAM',
      `size must be an integer from 1 to ${MAX_SIZE}; got ${MAX_SIZE + 1}`,
    ]);
    expect(caught(() => arena.alloc(0)).message).toBe(`size must be an integer from 1 to ${MAX_SIZE}; got 0`);
    expect(caught(() => arena.alloc(1.5)).message).toBe(`size must be an integer from 1 to ${MAX_SIZE}; got 1.5`);
    expect(arena.alloc(1).length).toBe(1);
    arena.destroy();
  });
});

describe('a growing arena', () => {
  test('an allocation exactly the next chunk size takes the next chunk of the doubling sequence', () => {
    const page = pageSize();
    const arena = new Arena({ capacity: page, grow: true });
    arena.alloc(page, 1); // the first chunk is full
    const exact = arena.alloc(2 * page, 1); // the next chunk's size: 2 * capacity
    expect(exact.length).toBe(2 * page);
    expect(arena.regions().map((r) => r.size)).toEqual([page, 2 * page]);
    // The doubling went on: the chunk after it is 4 * capacity.
    arena.alloc(1, 1);
    expect(arena.regions().map((r) => r.size)).toEqual([page, 2 * page, 4 * page]);
    expect([arena.capacity, arena.used]).toEqual([7 * page, 3 * page + 1]);
    arena.destroy();
  });

  test('one byte more than the next chunk gets a chunk of its own and leaves the sequence as it was', () => {
    const page = pageSize();
    const arena = new Arena({ capacity: page, grow: true });
    arena.alloc(page - 8, 1);
    arena.alloc(2 * page + 1, 1); // dedicated chunk, the first chunk stays current
    expect(arena.regions().map((r) => r.size)).toEqual([page, 2 * page + 1]);
    arena.alloc(8, 1); // still fits the first chunk
    expect(arena.regions().length).toBe(2);
    arena.alloc(1, 1); // neither fits: the next chunk is still 2 * capacity
    expect(arena.regions().map((r) => r.size)).toEqual([page, 2 * page + 1, 2 * page]);
    arena.destroy();
  });
});

/**
 * A Block whose address is `offset` modulo `modulus` (offset a multiple of the
 * page size, modulus a power of two above it): allocated at the offset's own
 * alignment until the allocator places one there. The tries are freed.
 */
function blockAt(size: number, offset: number, modulus: number): Block {
  const align = offset === 0 ? modulus : offset & -offset;
  const tries: Block[] = [];
  try {
    for (let i = 0; i < 64; i++) {
      const block = Block.alloc(size, { align, zero: false });
      if (Number(block.address % BigInt(modulus)) === offset) return block;
      tries.push(block);
      tries.push(Block.alloc(align * (1 + (i & 1)), { align, zero: false })); // shift the next placement
    }
  } finally {
    for (const block of tries) block.free();
  }
  throw new Error(`no Block of ${size} bytes at ${offset} modulo ${modulus} in 64 tries`);
}

describe('Pool.addMemory pads a block to the pool alignment', () => {
  const page = 4096;
  const align = 2 * page;
  const slotSize = 100;

  test.each([
    ['on a boundary of the pool alignment', 0],
    ['half an alignment past one', page],
  ])('a block %s with room for exactly one slot after the padding gives one slot, there', (_label, offset) => {
    const pool = new Pool({ slotSize, slots: 1, align });
    const block = blockAt(offset + slotSize, offset, align);
    expect(Number(block.address % BigInt(align))).toBe(offset);
    pool.addMemory(block);
    expect([pool.slots, pool.available]).toEqual([2, 2]);
    const own = pool.alloc(); // the pool's first block first
    const added = pool.alloc();
    expect(addressOf(added)).toBe(block.address + BigInt(offset === 0 ? 0 : align - offset));
    expect(added.length).toBe(slotSize);
    expect(addressOf(own) % BigInt(align)).toBe(0n);
    pool.destroy();
  });

  test('one byte less is refused, naming the slot, the alignment, the size and the address', () => {
    const pool = new Pool({ slotSize, slots: 1, align });
    const block = blockAt(page + slotSize - 1, page, align);
    const error = caught(() => pool.addMemory(block));
    expect([error.code, error.message]).toEqual([
      'ERR_INVALID_PARAM',
      `block must hold one slot of ${slotSize} bytes aligned to ${align}; got ${page + slotSize - 1} bytes at 0x${block.address.toString(16)}`,
    ]);
    // Refused, the block stays its caller's: another pool takes it at a smaller alignment.
    expect(pool.slots).toBe(1);
    const other = new Pool({ slotSize, slots: 1, align: page });
    other.addMemory(block);
    expect(other.slots).toBe(2);
    other.destroy();
    pool.destroy();
  });

  test('slots after the padding: floor((size - padding - slotSize) / stride) + 1', () => {
    const three = new Pool({ slotSize, slots: 1, align });
    three.addMemory(blockAt(page + slotSize + 2 * align, page, align));
    expect(three.slots).toBe(1 + 3);
    const two = new Pool({ slotSize, slots: 1, align });
    two.addMemory(blockAt(page + slotSize + 2 * align - 1, page, align));
    expect(two.slots).toBe(1 + 2);
    three.destroy();
    two.destroy();
  });
});
