// A Block's memory moved into another ArrayBuffer: ArrayBuffer.prototype.transfer()
// (Node 22+), a web byte stream's enqueue and a BYOB read. The Block's own Buffer
// is then detached by someone else. free() ends the Block without releasing the
// memory; it stays counted in liveBlocks and is released when the ArrayBuffer
// that took it over is collected.
import { addressOf, Block, blockStats } from '..';
import { native } from '../dist/native';
import { runtimeMemory, settle } from './helpers';

const size = 1 << 20;
const major = Number(process.versions.node.split('.')[0]);

type Mover = (block: Block) => Promise<ArrayBuffer>;

const movers: [string, Mover][] = [
  [
    'a byte stream enqueue',
    async (block) => {
      const stream = new ReadableStream({
        type: 'bytes',
        start(controller) {
          controller.enqueue(block.buffer);
          controller.close();
        },
      });
      const { value } = await stream.getReader().read();
      return (value as Uint8Array).buffer as ArrayBuffer;
    },
  ],
  [
    'a BYOB read into the block',
    async (block) => {
      const stream = new ReadableStream({
        type: 'bytes',
        pull(controller) {
          const request = controller.byobRequest!;
          (request.view as Uint8Array).fill(5, 0, 16);
          request.respond(16);
        },
      });
      const reader = stream.getReader({ mode: 'byob' });
      const { value } = await reader.read(block.buffer);
      return (value as Uint8Array).buffer as ArrayBuffer;
    },
  ],
];
if (major >= 22) {
  movers.push(['ArrayBuffer.prototype.transfer()', async (block) => (block.buffer.buffer as ArrayBuffer & { transfer(): ArrayBuffer }).transfer()]);
}

test('transfer() exists from Node 22 on, and not on Node 20', () => {
  expect(typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer).toBe(major >= 22 ? 'function' : 'undefined');
});

describe.each(movers)('memory moved by %s', (_label, move) => {
  test('free() ends the block and leaves the memory to its new owner, released when that is collected', async () => {
    const before = await settle();
    let offset = 0;
    let moved: ArrayBuffer | undefined = await (async () => {
      const block = Block.alloc(size, { zero: true });
      block.buffer.fill(5, 0, 16);
      const address = block.address;
      // On runtime memory the whole over-allocated ArrayBuffer moves, the block at its offset in it.
      offset = block.buffer.byteOffset;
      const ab = await move(block);
      expect(block.buffer.length).toBe(0);
      expect(addressOf(ab)).toBe(address - BigInt(offset));
      expect(block.freed).toBe(false);
      block.free();
      expect(block.freed).toBe(true);
      expect(() => block.free()).toThrow(expect.objectContaining({ code: 'ERR_NOT_ALLOCATED' }));
      return ab;
    })();
    await settle();
    // Still the new owner's: counted (on runtime memory: the runtime's, no longer counted), not reused, readable and writable.
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + (runtimeMemory ? 0 : 1));
    ((owner: ArrayBuffer) => {
      const others = Array.from({ length: 4 }, () => Block.alloc(size, { zero: false }));
      const view = new Uint8Array(owner, offset, size);
      for (const other of others) {
        other.buffer.fill(0xee);
        expect(other.address).not.toBe(addressOf(view));
      }
      expect(view.subarray(0, 16).every((x) => x === 5)).toBe(true);
      view.fill(1);
      for (const other of others) {
        expect(other.buffer.every((x) => x === 0xee)).toBe(true);
        other.free();
      }
    })(moved);
    moved = undefined;
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  test('a block never freed after its memory moved is released once, when the new owner is collected', async () => {
    const before = await settle();
    let whole = 0; // size, or on runtime memory size + align - 1
    let align = 0;
    let moved: ArrayBuffer | undefined = await (async () => {
      const block = Block.alloc(size);
      whole = block.buffer.buffer.byteLength;
      align = block.align;
      return move(block);
    })();
    await settle();
    // On runtime memory the moved memory is the runtime's: the block left the counters with its old ArrayBuffer.
    expect(blockStats().liveBlocks).toBe(before.liveBlocks + (runtimeMemory ? 0 : 1));
    expect(whole).toBe(runtimeMemory ? size + align - 1 : size);
    expect(moved.byteLength).toBe(whole);
    moved = undefined;
    const after = await settle();
    expect(after.liveBlocks).toBe(before.liveBlocks);
  });
});

test('blockFree of a detached Buffer that is not a moved block is refused', () => {
  const buffer = native.blockAlloc(4096, 4096, true) as Buffer;
  const address = native.allocAddress[0];
  expect(native.blockFree(buffer, address)).toBe(native.status.ok);
  // Freed by us: not "moved"; a second free, with or without the address, is refused.
  expect(native.blockFree(buffer, address)).toBe(native.status.notAllocated);
  expect(native.blockFree(buffer)).toBe(native.status.notAllocated);
  const plain = new Uint8Array(16);
  structuredClone(plain.buffer, { transfer: [plain.buffer] });
  expect(native.blockFree(plain, address)).toBe(native.status.notAllocated);
});
