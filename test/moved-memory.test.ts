// A web byte stream, ArrayBuffer.prototype.transfer() (Node 22+) or a BYOB
// read moves an ArrayBuffer's memory into a new ArrayBuffer and detaches the
// old one. Node gives a library no way to forbid it for memory it shares
// between views (docs/design.md, "Memory moved out of an Arena or a Pool"), so
// an Arena or a fast Pool, whose allocations share one ArrayBuffer per chunk,
// detects the move on its next operation: the moved memory stays with the
// ArrayBuffer that took it until that one is collected, is never handed out
// again, and the allocator goes on with a fresh chunk.
import { ReadableStream } from 'stream/web';
import { MessageChannel } from 'worker_threads';
import { addressOf, Arena, Block, blockStats, Pool } from '..';
import { caught, externalOnly, runtimeMemory, settle } from './helpers';

type Move = (view: Uint8Array) => Promise<Uint8Array>;

const MOVES: [string, Move][] = [
  [
    'enqueued into a web byte stream',
    async (view) => {
      const stream = new ReadableStream({
        type: 'bytes',
        start(controller) {
          controller.enqueue(view);
          controller.close();
        },
      });
      const { value } = await stream.getReader().read();
      return value as Uint8Array;
    },
  ],
];
// Node 22 and later: transfer() moves the memory without a copy.
if (typeof (new ArrayBuffer(1) as { transfer?: unknown }).transfer === 'function') {
  MOVES.push([
    'its ArrayBuffer transferred',
    async (view) => {
      const { byteOffset, byteLength } = view;
      const moved = (view.buffer as ArrayBuffer & { transfer(): ArrayBuffer }).transfer();
      return new Uint8Array(moved, byteOffset, byteLength);
    },
  ]);
}

const MOVED = 'moved to another ArrayBuffer (a web byte stream, transfer() or a BYOB read)';

function within(view: Uint8Array, start: bigint, size: number): boolean {
  const address = addressOf(view);
  return address >= start && address + BigInt(view.length) <= start + BigInt(size);
}

describe.each(MOVES)('an allocation %s', (_how, move) => {
  test('Arena: the other allocations read length 0; alloc, reset and destroy go on with a fresh chunk', async () => {
    const before = await settle();
    // In a function of its own: a suspended async function can keep an awaited value in a register.
    await (async () => {
      const arena = new Arena({ capacity: 4096 });
      const [old] = arena.regions();
      const a = arena.alloc(100).fill(1);
      const b = arena.alloc(100).fill(2);
      const moved = await move(a);
      expect(moved.length).toBe(100);
      expect(addressOf(moved)).toBe(old.address); // the same memory, now another ArrayBuffer's
      expect([a.length, b.length]).toEqual([0, 0]);

      const c = arena.alloc(100).fill(3);
      expect(c.length).toBe(100);
      const [fresh] = arena.regions();
      expect(fresh.size).toBe(4096);
      expect(fresh.address).not.toBe(old.address);
      expect(within(c, fresh.address, fresh.size)).toBe(true);
      expect([arena.used, arena.capacity]).toEqual([100, 4096]);
      expect(moved.every((x) => x === 1)).toBe(true); // nothing of the arena's writes reached it

      arena.reset();
      expect(c.length).toBe(0);
      expect([arena.used, arena.capacity, arena.regions().length]).toEqual([0, 4096, 1]);
      expect(arena.alloc(4096).length).toBe(4096);
      arena.destroy();
      // The moved memory is still the new ArrayBuffer's: returned only once that one is collected
      // (on runtime memory the runtime's, no longer counted).
      expect(blockStats().liveBlocks).toBe(before.liveBlocks + (runtimeMemory ? 0 : 1));
      expect(moved.every((x) => x === 1)).toBe(true);
    })();
    expect((await settle()).liveBlocks).toBe(before.liveBlocks);
  });

  test('Arena: reset() right after the move neither throws nor loses the chunk', async () => {
    const arena = new Arena({ capacity: 8192 });
    const a = arena.alloc(10);
    const moved = await move(a);
    arena.reset();
    expect([arena.capacity, arena.used, arena.regions().length]).toEqual([8192, 0, 1]);
    expect(arena.alloc(8192).length).toBe(8192);
    arena.destroy();
    expect(moved.length).toBe(10);
  });

  test('Arena: a chunk from addMemory leaves the arena; ERR_NO_MEMORY says where its bytes went', async () => {
    const arena = new Arena({ capacity: 4096 });
    arena.addMemory(Block.alloc(8192));
    const big = arena.alloc(5000); // only the added chunk has room
    const moved = await move(big);
    expect(arena.capacity).toBe(12288); // the getters do not look for moved chunks
    expect(arena.regions().length).toBe(1); // a method does
    expect(arena.capacity).toBe(4096);
    const error = caught(() => arena.alloc(5000));
    expect(error.code).toBe('ERR_NO_MEMORY');
    expect(error.message).toBe(
      `arena has no room for 5000 bytes aligned to 16 (capacity 4096, used 0; 8192 more bytes left the arena when their memory was ${MOVED})`,
    );
    expect(arena.alloc(4096).length).toBe(4096);
    arena.destroy();
    expect(moved.length).toBe(5000);
  });

  test('Arena with grow: moved chunks are replaced, chunks that were not keep their allocations', async () => {
    const arena = new Arena({ capacity: 4096, grow: true });
    const first = arena.alloc(4096).fill(1);
    const second = arena.alloc(4096).fill(2); // a new chunk of 8192
    const moved = await move(second);
    expect(first.length).toBe(4096);
    expect(first.every((x) => x === 1)).toBe(true);
    expect(arena.regions().map((r) => r.size)).toEqual([4096, 8192]);
    expect(arena.used).toBe(4096);
    expect(arena.alloc(8192).length).toBe(8192);
    arena.destroy();
    expect(moved.every((x) => x === 2)).toBe(true);
  });

  test('fast Pool: the other slots read length 0, free of any of them does nothing, every slot is usable again', async () => {
    const before = await settle();
    await (async () => {
      const pool = new Pool({ slotSize: 64, slots: 4 });
      const [old] = pool.regions();
      const slots = [pool.alloc().fill(1), pool.alloc().fill(2), pool.alloc().fill(3)];
      const moved = await move(slots[1]);
      expect(slots.map((s) => s.length)).toEqual([0, 0, 0]);
      expect([pool.used, pool.available, pool.slots]).toEqual([3, 1, 4]); // the getters do not look
      const [fresh] = pool.regions(); // a method does
      expect([pool.used, pool.available, pool.slots]).toEqual([0, 4, 4]);
      expect(fresh.address).not.toBe(old.address);
      for (const slot of slots) pool.free(slot); // their memory is gone: accepted, nothing changes
      expect([pool.used, pool.available]).toEqual([0, 4]);
      const again = Array.from({ length: 4 }, () => pool.alloc().fill(9));
      for (const slot of again) expect(within(slot, fresh.address, fresh.size)).toBe(true);
      expect(moved.every((x) => x === 2)).toBe(true);
      const error = caught(() => pool.alloc());
      expect(error.code).toBe('ERR_NO_MEMORY');
      expect(error.message).toBe('every slot of the pool is taken (4 slots of 64 bytes)');
      for (const slot of again) pool.free(slot);
      expect(caught(() => pool.free(again[0])).code).toBe('ERR_NOT_ALLOCATED');
      pool.destroy();
      expect(blockStats().liveBlocks).toBe(before.liveBlocks + (runtimeMemory ? 0 : 1));
    })();
    expect((await settle()).liveBlocks).toBe(before.liveBlocks);
  });

  test('fast Pool: a region from addMemory leaves the pool; ERR_NO_MEMORY says how many slots went', async () => {
    const pool = new Pool({ slotSize: 4096, slots: 1, align: 4096 });
    pool.addMemory(Block.alloc(8192, { align: 4096 }));
    const own = pool.alloc();
    const added = pool.alloc();
    expect(addressOf(added)).toBe(pool.regions()[1].address);
    const moved = await move(added);
    expect(own.length).toBe(4096); // another region: untouched
    expect(pool.regions().length).toBe(1);
    expect([pool.slots, pool.used]).toEqual([1, 1]);
    const error = caught(() => pool.alloc());
    expect(error.code).toBe('ERR_NO_MEMORY');
    expect(error.message).toBe(`every slot of the pool is taken (1 slots of 4096 bytes; 2 more slots left the pool when their memory was ${MOVED})`);
    pool.free(own);
    pool.free(added); // does nothing: its region left
    expect(pool.alloc().length).toBe(4096);
    pool.destroy();
    expect(moved.length).toBe(4096);
  });

  test('checked Pool: only the moved slot is affected; it leaves the pool when freed', async () => {
    const pool = new Pool({ slotSize: 64, slots: 2, checked: true });
    const a = pool.alloc().fill(1);
    const b = pool.alloc().fill(2);
    const moved = await move(a);
    expect([a.length, b.length]).toEqual([0, 64]);
    expect(b.every((x) => x === 2)).toBe(true);
    pool.free(a);
    // On runtime memory each checked slot is a block of its own: the slot number comes back with new memory.
    expect([pool.slots, pool.used, pool.available]).toEqual(runtimeMemory ? [2, 1, 1] : [1, 1, 0]);
    pool.free(b);
    const c = pool.alloc();
    expect(addressOf(c)).not.toBe(addressOf(moved));
    pool.free(c);
    pool.destroy();
    expect(moved.every((x) => x === 1)).toBe(true);
  });
});

// A transfer list does not move sysalloc's memory: Node 20 sends a copy, Node
// 22 and later refuse with DataCloneError. Either way the allocation keeps its
// memory and contents, and nothing else reaches it.
const copiesOnTransfer = Number(process.versions.node.split('.')[0]) < 22;
const transferTest = externalOnly(true, "runtime memory is the runtime's own ArrayBuffer: a transfer list moves it as transfer() does");
describe.each([
  ['a Block', () => {
    const block = Block.alloc(4096);
    return { view: block.buffer, end: () => block.free() };
  }],
  ['an Arena allocation', () => {
    const arena = new Arena({ capacity: 8192 });
    return { view: arena.alloc(100), end: () => arena.destroy() };
  }],
  ['a fast Pool slot', () => {
    const pool = new Pool({ slotSize: 64, slots: 4 });
    return { view: pool.alloc(), end: () => pool.destroy() };
  }],
  ['a checked Pool slot', () => {
    const pool = new Pool({ slotSize: 64, slots: 4, checked: true });
    return { view: pool.alloc(), end: () => pool.destroy() };
  }],
] as [string, () => { view: Buffer; end(): void }][])('%s in a transfer list', (_name, make) => {
  const senders: [string, (ab: ArrayBuffer) => unknown][] = [
    [
      'postMessage',
      (ab) => {
        const { port1, port2 } = new MessageChannel();
        try {
          port1.postMessage(ab, [ab]);
        } finally {
          port1.close();
          port2.close();
        }
      },
    ],
    ['structuredClone', (ab) => structuredClone(ab, { transfer: [ab] })],
  ];
  for (const [how, send] of senders) {
    transferTest(`${how} ${copiesOnTransfer ? 'sends a copy (Node 20)' : 'throws DataCloneError (Node 22+)'}; the allocation keeps its memory`, () => {
      const { view, end } = make();
      view.fill(7);
      const address = addressOf(view);
      const ab = view.buffer as ArrayBuffer;
      if (copiesOnTransfer) {
        const copy = structuredClone(ab, { transfer: [ab] });
        expect(addressOf(copy)).not.toBe(addressOf(ab));
        new Uint8Array(copy).fill(1);
        send(ab);
      } else {
        expect(() => send(ab)).toThrow(expect.objectContaining({ name: 'DataCloneError' }));
      }
      expect(view.length).toBeGreaterThan(0);
      expect(addressOf(view)).toBe(address);
      expect(view.every((x) => x === 7)).toBe(true);
      end();
    });
  }
});

(runtimeMemory ? test : test.skip)("on runtime memory a transfer list moves a Block's whole ArrayBuffer, as transfer() does: the Block reads length 0 and free() ends it", () => {
  const before = blockStats().liveBlocks;
  const block = Block.alloc(4096);
  block.buffer.fill(7);
  const ab = block.buffer.buffer as ArrayBuffer;
  const moved = structuredClone(ab, { transfer: [ab] });
  expect(moved.byteLength).toBeGreaterThanOrEqual(4096);
  expect(block.buffer.length).toBe(0);
  block.free();
  expect(blockStats().liveBlocks).toBe(before);
});
