// What an allocator holds after it lets go of memory its caller freed against
// the addMemory contract: Arena.reset() drops that chunk wherever it is in the
// list, and a checked Pool retires that block's slots, counted out of `slots`
// and `available` at once and out of `slots` as each live one is freed.
import { AllocError, Arena, Block, Pool, addressOf } from '..';
import { ordinaryBlocks, runtimeMemory } from './helpers';

// Which chunks a reset keeps, by address: debug mode (npm run test:debug) renews
// every used chunk of the arena's own at reset instead (test/debug.test.ts).
ordinaryBlocks();

function caught(fn: () => unknown): AllocError {
  try {
    fn();
  } catch (error) {
    return error as AllocError;
  }
  throw new Error('expected a throw');
}

test('Arena.reset() drops a freed chunk in the middle of the list and keeps the ones on either side, in order', async () => {
  const arena = new Arena({ capacity: 4096 });
  const middle = Block.alloc(8192);
  const last = Block.alloc(16384);
  arena.addMemory(middle);
  arena.addMemory(last);
  const lastAddress = last.address;
  const firstAddress = arena.regions()[0].address;
  arena.alloc(4096, 1);
  arena.alloc(8192, 1);
  arena.alloc(100, 1);
  expect(arena.used).toBe(4096 + 8192 + 100);
  middle.free(); // against the contract
  arena.reset();
  // On runtime memory the reset renewed the used chunks (fresh blocks of the same sizes, in the same order).
  if (runtimeMemory) expect(arena.regions().map((r) => r.size)).toEqual([4096, 16384]);
  else {
    expect(arena.regions()).toEqual([
      { address: firstAddress, size: 4096 },
      { address: lastAddress, size: 16384 },
    ]);
  }
  expect([arena.capacity, arena.used, arena.available]).toEqual([4096 + 16384, 0, 4096 + 16384]);
  // Both kept chunks serve again, from their starts, once the run that reset
  // them has returned to the event loop (README, Arena: memory a reset released).
  await new Promise((resolve) => setImmediate(resolve));
  const [firstNow, lastNow] = runtimeMemory ? arena.regions().map((r) => r.address) : [firstAddress, lastAddress];
  expect(addressOf(arena.alloc(4096, 1))).toBe(firstNow);
  expect(addressOf(arena.alloc(16384, 1))).toBe(lastNow);
  const full = caught(() => arena.alloc(1, 1));
  // On runtime memory the freed block's ArrayBuffer was detached with it: the arena saw its memory move away.
  const lost = runtimeMemory ? '; 8192 more bytes left the arena when their memory was moved to another ArrayBuffer (a web byte stream, transfer() or a BYOB read)' : '';
  expect([full.code, full.message]).toEqual(['ERR_NO_MEMORY', `arena has no room for 1 bytes aligned to 1 (capacity ${4096 + 16384}, used ${4096 + 16384}${lost})`]);
  arena.destroy();
  expect(last.freed).toBe(true);
});

(runtimeMemory ? describe.skip : describe)(`a checked Pool retires the slots of a block its caller freed${runtimeMemory ? " [not on runtime memory: a checked pool's slots are blocks of their own, addMemory refused]" : ''}`, () => {
  test('free slots leave slots and available together when alloc meets the block', () => {
    const pool = new Pool({ slotSize: 64, slots: 2, align: 64, checked: true });
    const added = Block.alloc(4096);
    pool.addMemory(added);
    expect([pool.slots, pool.available, pool.used]).toEqual([2 + 64, 66, 0]);
    const own = [pool.alloc(), pool.alloc()]; // the pool's own block first
    added.free();
    const full = caught(() => pool.alloc());
    expect([full.code, full.message]).toEqual(['ERR_NO_MEMORY', 'every slot of the pool is taken (2 slots of 64 bytes)']);
    expect([pool.slots, pool.available, pool.used]).toEqual([2, 0, 2]);
    expect(pool.regions().length).toBe(1);
    pool.free(own[0]);
    expect([pool.slots, pool.available, pool.used]).toEqual([2, 1, 1]);
    pool.free(own[1]);
    pool.destroy();
  });

  test('a live slot of the retired block leaves slots when it is freed, and is not handed out again', () => {
    const pool = new Pool({ slotSize: 64, slots: 1, align: 64, checked: true });
    const added = Block.alloc(4096);
    pool.addMemory(added);
    const own = pool.alloc();
    const live = [pool.alloc(), pool.alloc()]; // two slots of the added block
    expect(live.map((b) => addressOf(b) - added.address)).toEqual([0n, 64n]);
    added.free();
    expect(() => pool.alloc()).toThrow(expect.objectContaining({ code: 'ERR_NO_MEMORY' }));
    // Retired: the 62 free slots are gone; the two live ones still count until freed.
    expect([pool.slots, pool.available, pool.used]).toEqual([3, 0, 3]);
    pool.free(live[0]);
    expect([pool.slots, pool.available, pool.used]).toEqual([2, 0, 2]);
    expect(live[0].length).toBe(0);
    pool.free(live[1]);
    expect([pool.slots, pool.available, pool.used]).toEqual([1, 0, 1]);
    pool.free(own);
    expect([pool.slots, pool.available, pool.used]).toEqual([1, 1, 0]);
    expect(addressOf(pool.alloc())).toBe(pool.regions()[0].address);
    pool.destroy();
  });
});
