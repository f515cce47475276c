'use strict';

// Measures one contender at one size and one touch mode, and prints one JSON line to stdout:
//   {"case": ..., "size": ..., "touch": ..., "ns": <ns per op>, "ops": ..., "batch": ..., "maxRssKiB": ...,
//    "afterGc": {"ns": <ns per op of the first ops after a full gc()>, ...} (sizes up to 4 KiB)}
// Usage: node --expose-gc case.js <case> <size> <touch> [ops]
//
// One op allocates, writes the bytes the touch mode asks for (see TOUCH), reads
// the last byte back and releases: free() for a Block and a Pool slot, dropping
// the last reference for the others. An Arena op allocates and drops; the
// arena is reset whenever the next allocation would not fit, and the op that
// resets pays for it.
// The timed region covers whole batches including the event-loop turn after
// each one, because that turn is where Node runs Block finalizers and the
// external-buffer bookkeeping, and where garbage-collected contenders get their
// memory back; every contender pays for it alike.

const { Arena, Block, Pool, addressOf, blockSource, blockStats } = require('..');
const { ARENA_CAPACITY, CASES, HELD, POOL_SLOTS, TOUCH_MODES, PAGE, opsFor, runsAt, sizeInfo } = require('./cases');

function loadDirectIo() {
  try {
    return require('@ronomon/direct-io');
  } catch (err) {
    throw new Error(`@ronomon/direct-io is not installed or did not build (run "npm install" in bench/): ${err.message}`);
  }
}

// touch(bytes, v) writes v where the mode says and returns the last byte read
// back. Both modes write the last byte, so at sizes up to one page they are the
// same op.
const TOUCH = {
  ends: (size) => (bytes, v) => {
    bytes[0] = v;
    bytes[size - 1] = v;
    return bytes[size - 1];
  },
  // Every page of the block gets a write, so the op pays whatever page faults
  // the allocator leaves to its caller, as a user who fills the block would.
  pages: (size) => (bytes, v) => {
    for (let i = 0; i < size; i += PAGE) bytes[i] = v;
    bytes[size - 1] = v;
    return bytes[size - 1];
  },
};

// Each factory takes (size, align, touch) and returns op(v): v is the byte to
// write; op returns the byte read back.
const FACTORIES = {
  'block-nozero'(size, align, touch) {
    const options = { align, zero: false };
    return (v) => {
      const block = Block.alloc(size, options);
      const r = touch(block.buffer, v);
      block.free();
      return r;
    };
  },
  'block-zero'(size, align, touch) {
    const options = { align };
    return (v) => {
      const block = Block.alloc(size, options);
      const r = touch(block.buffer, v);
      block.free();
      return r;
    };
  },
  allocUnsafeSlow(size, align, touch) {
    return (v) => touch(Buffer.allocUnsafeSlow(size), v);
  },
  'allocUnsafeSlow-held'(size, align, touch) {
    const held = new Array(HELD).fill(null);
    let next = 0;
    return (v) => {
      const bytes = Buffer.allocUnsafeSlow(size);
      held[next++ & (HELD - 1)] = bytes;
      return touch(bytes, v);
    };
  },
  alloc(size, align, touch) {
    return (v) => touch(Buffer.alloc(size), v);
  },
  // An ArrayBuffer cannot be written without a view; the view is part of the cost.
  arraybuffer(size, align, touch) {
    return (v) => touch(new Uint8Array(new ArrayBuffer(size)), v);
  },
  getAlignedBuffer(size, align, touch) {
    const { getAlignedBuffer } = loadDirectIo();
    return (v) => touch(getAlignedBuffer(size, align), v);
  },
  allocUnsafe(size, align, touch) {
    return (v) => touch(Buffer.allocUnsafe(size), v);
  },
  'allocUnsafeSlow-aligned'(size, align, touch) {
    return (v) => touch(Buffer.allocUnsafeSlow(size, align), v);
  },
  arena(size, align, touch) {
    const arena = new Arena({ capacity: ARENA_CAPACITY });
    // At 64 @64 and 4096 @4096 no allocation needs padding, so available is exact.
    return (v) => {
      if (arena.available < size) arena.reset();
      return touch(arena.alloc(size, align), v);
    };
  },
  'pool-fast'(size, align, touch) {
    const pool = new Pool({ slotSize: size, slots: POOL_SLOTS, align });
    return (v) => {
      const slot = pool.alloc();
      const r = touch(slot, v);
      pool.free(slot);
      return r;
    };
  },
  'pool-checked'(size, align, touch) {
    const pool = new Pool({ slotSize: size, slots: POOL_SLOTS, align, checked: true });
    return (v) => {
      const slot = pool.alloc();
      const r = touch(slot, v);
      pool.free(slot);
      return r;
    };
  },
};

const ALIGNED = new Set(['block-nozero', 'block-zero', 'getAlignedBuffer', 'arena', 'pool-fast', 'pool-checked', 'allocUnsafeSlow-aligned']);

// Refuses to time a contender that does not hand out what its column claims.
function checkContender(name, size, align, zeroed) {
  const probe = {
    'block-nozero': () => Block.alloc(size, { align, zero: false }),
    'block-zero': () => Block.alloc(size, { align }),
    allocUnsafeSlow: () => Buffer.allocUnsafeSlow(size),
    'allocUnsafeSlow-held': () => Buffer.allocUnsafeSlow(size),
    alloc: () => Buffer.alloc(size),
    arraybuffer: () => new Uint8Array(new ArrayBuffer(size)),
    getAlignedBuffer: () => loadDirectIo().getAlignedBuffer(size, align),
    allocUnsafe: () => Buffer.allocUnsafe(size),
    'allocUnsafeSlow-aligned': () => Buffer.allocUnsafeSlow(size, align),
    arena: () => new Arena({ capacity: 4 * size }).alloc(size, align),
    'pool-fast': () => new Pool({ slotSize: size, slots: 2, align }).alloc(),
    'pool-checked': () => new Pool({ slotSize: size, slots: 2, align, checked: true }).alloc(),
  }[name];
  for (let i = 0; i < 8; i++) {
    const made = probe();
    const bytes = made instanceof Block ? made.buffer : made;
    if (bytes.length !== size) throw new Error(`${name}: length ${bytes.length}, expected ${size}`);
    if (ALIGNED.has(name) && addressOf(bytes) % BigInt(align) !== 0n) {
      throw new Error(`${name}: address ${addressOf(bytes)} is not aligned to ${align}`);
    }
    if (zeroed && bytes.some((b) => b !== 0)) throw new Error(`${name}: not zero-filled`);
    bytes.fill(0xa5);
    if (made instanceof Block) made.free();
  }
}

const turn = () => new Promise(setImmediate);

// The after-GC phase: a service collects garbage all the time, and whatever
// V8 throws away at a full collection (optimized code that embedded an object
// the collector freed) is paid again by the operations that follow. So each
// case also times the first AFTER_GC_OPS operations right after a full gc(),
// AFTER_GC_ROUNDS times, and reports the median. Sizes up to 4 KiB only: at
// larger sizes the op itself dwarfs any JIT effect.
const AFTER_GC_OPS = 20_000;
const AFTER_GC_ROUNDS = 5;
const AFTER_GC_MAX_SIZE = 4096;

async function measureAfterGc(op, info) {
  const perOp = [];
  let sink = 0;
  for (let round = 0; round < AFTER_GC_ROUNDS; round++) {
    await turn();
    gc();
    const start = process.hrtime.bigint();
    sink ^= await runBatches(op, AFTER_GC_OPS, info.batch);
    perOp.push(Number(process.hrtime.bigint() - start) / AFTER_GC_OPS);
  }
  perOp.sort((a, b) => a - b);
  return { ns: perOp[perOp.length >> 1], ops: AFTER_GC_OPS, rounds: AFTER_GC_ROUNDS, sink };
}

async function runBatches(op, ops, batch) {
  let sink = 0;
  for (let done = 0; done < ops; done += batch) {
    const end = Math.min(ops, done + batch);
    for (let i = done; i < end; i++) sink ^= op(i & 0xff);
    await turn();
  }
  return sink;
}

async function main() {
  const [name, sizeArg, touchArg, opsArg] = process.argv.slice(2);
  const spec = CASES.find((c) => c.name === name);
  if (spec === undefined) {
    throw new Error(`unknown case "${name}"; known: ${CASES.map((c) => c.name).join(', ')}`);
  }
  const info = sizeInfo(Number(sizeArg));
  if (!runsAt(spec, info.size)) throw new Error(`case "${name}" runs only at ${spec.sizes.join(', ')} bytes`);
  if (!TOUCH_MODES.includes(touchArg)) throw new Error(`unknown touch mode "${touchArg}"; known: ${TOUCH_MODES.join(', ')}`);
  const ops = opsArg === undefined ? opsFor(spec, info, touchArg) : Number(opsArg);
  if (!Number.isSafeInteger(ops) || ops <= 0) throw new Error(`bad op count "${opsArg}"`);
  if (typeof gc !== 'function') throw new Error('run with --expose-gc');

  checkContender(name, info.size, info.align, spec.zeroed);
  const op = FACTORIES[name](info.size, info.align, TOUCH[touchArg](info.size));

  let sink = await runBatches(op, Math.max(info.batch, Math.floor(ops / 5)), info.batch);
  await turn();
  gc();
  await turn();

  const statsBefore = blockStats();
  const start = process.hrtime.bigint();
  sink ^= await runBatches(op, ops, info.batch);
  const elapsed = process.hrtime.bigint() - start;
  const statsAfter = blockStats();

  const afterGc = info.size <= AFTER_GC_MAX_SIZE ? await measureAfterGc(op, info) : undefined;

  const result = {
    case: name,
    size: info.size,
    touch: touchArg,
    ns: Number(elapsed) / ops,
    ops,
    batch: info.batch,
    maxRssKiB: process.resourceUsage().maxRSS,
    sink,
  };
  if (afterGc !== undefined) result.afterGc = afterGc;
  if (name.startsWith('block-')) {
    const osCalls = (stats) => Object.values(stats.osAllocations).reduce((a, b) => a + b, 0);
    result.block = {
      source: blockSource(info.size, info.align),
      cacheHits: statsAfter.cacheHits - statsBefore.cacheHits,
      osAllocations: osCalls(statsAfter) - osCalls(statsBefore),
    };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exitCode = 1;
});
