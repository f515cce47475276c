// Memory an allocator manages must not intersect memory added to it: ranges are
// half-open, so a block that ends where a managed one starts (or starts where
// one ends) is accepted, and one byte more on either side is refused with both
// ranges, exactly, in the message.
import { Block } from '..';
import { adoptable, ManagedRegion } from '../dist/managed-region';

function heldAt(address: number, size: number): ManagedRegion {
  // Only address and size are read by the check.
  return { address, size } as unknown as ManagedRegion;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

describe('adoptable() and the ranges already managed', () => {
  let block: Block;
  let start: number;
  let end: number;
  beforeEach(() => {
    block = Block.alloc(8192);
    start = Number(block.address);
    end = start + 8192;
  });
  afterEach(() => block.free());

  test('adjacent on either side: accepted', () => {
    const before = heldAt(start - 4096, 4096);
    const after = heldAt(end, 4096);
    expect(adoptable('Arena', 'this arena', block, [before, after])).toBe(block);
  });

  test.each([
    ['the last byte of one before it', -4096 + 1, 4096],
    ['the first byte of one after it', 8192 - 1, 4096],
    ['one inside it', 16, 32],
    ['one around it', -1, 8194],
  ])('overlapping %s: ERR_MEMORY_OVERLAP naming both ranges and the owner', (_label, offset, size) => {
    const other = heldAt(start + offset, size);
    const fine = heldAt(end + 4096, 4096);
    expect(() => adoptable('Pool', 'this pool', block, [fine, other])).toThrow(
      expect.objectContaining({
        code: 'ERR_MEMORY_OVERLAP',
        message: `block [${hex(start)}, ${hex(end)}) overlaps [${hex(start + offset)}, ${hex(start + offset + size)}), which this pool already manages`,
      }),
    );
    // Refused, it is still free to be adopted elsewhere.
    expect(adoptable('Arena', 'this arena', block, [fine])).toBe(block);
  });

  test('a Block another allocator manages: refused with its range and the owner kind', () => {
    const region = new ManagedRegion('Arena', block, true);
    expect(() => adoptable('Pool', 'this pool', block, [])).toThrow(
      expect.objectContaining({
        code: 'ERR_MEMORY_OVERLAP',
        message: `block [${hex(start)}, ${hex(end)}) is already managed by an Arena`,
      }),
    );
    region.disown();
    expect(adoptable('Pool', 'this pool', block, [])).toBe(block);
  });

  test('a freed Block: ERR_NOT_ALLOCATED with its size and alignment; not a Block: ERR_INVALID_PARAM', () => {
    const freed = Block.alloc(100, { align: 64 });
    freed.free();
    expect(() => adoptable('Arena', 'this arena', freed, [])).toThrow(
      expect.objectContaining({ code: 'ERR_NOT_ALLOCATED', message: 'cannot add a freed block (size 100, align 64) to this arena' }),
    );
    expect(() => adoptable('Arena', 'this arena', {}, [])).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_PARAM', message: 'block must be a Block; got an Object' }),
    );
  });
});
