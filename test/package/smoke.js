// The public API of an installed sysalloc, run by scripts/package-test.sh in a
// fresh project that installed the packed tarball. Plain Node, no jest: it runs
// in whichever Node the packaging test picks. Exits non-zero on any failure.
'use strict';

const assert = require('assert/strict');
const fs = require('fs');
const path = require('path');

const installed = path.join(process.cwd(), 'node_modules', 'sysalloc');
const sysalloc = require('sysalloc');
const { Block, Arena, Pool, AllocError, alignUp, alignDown, isAligned, addressOf, pageSize, blockSource, shim, includeDir } =
  sysalloc;

// Nothing was compiled at install, the packaged binary is the only one there;
// or, when the packaging test asked for the source build, that build is there.
const built = path.join(installed, 'build', 'Release', 'sysalloc.node');
if (process.env.SMOKE_BUILT_FROM_SOURCE === '1') assert.ok(fs.existsSync(built), 'no source build in build/Release');
else assert.equal(fs.existsSync(path.join(installed, 'build')), false, 'a build/ folder: the install compiled the addon');
assert.ok(fs.existsSync(path.join(installed, 'prebuilds', 'linux-x64', 'sysalloc.node')));

function code(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AllocError, `not an AllocError: ${e}`);
    return e.code;
  }
  assert.fail('expected an AllocError');
}

// Block: a power-of-two size is aligned to itself; another size to what it asks.
const b = Block.alloc(65536);
assert.equal(b.size, 65536);
assert.equal(b.address % 65536n, 0n);
assert.ok(isAligned(b.buffer, 65536));
assert.equal(b.buffer.readUInt32LE(0), 0, 'zero-filled');
b.buffer.fill(0xab);
assert.equal(b.buffer[65535], 0xab);
b.free();
assert.equal(b.buffer.length, 0, 'a freed block leaves no view');
assert.equal(code(() => b.free()), 'ERR_NOT_ALLOCATED');
const c = Block.alloc(1000, { align: 4096 });
assert.equal(addressOf(c.buffer) % 4096n, 0n);
c.free();
assert.equal(code(() => Block.alloc(0)), 'ERR_INVALID_PARAM');
assert.equal(code(() => Block.alloc(64, { align: 3 })), 'ERR_INVALID_PARAM');

// Arena: bump allocation, 16-byte default alignment, reset detaches.
const arena = new Arena({ capacity: 1 << 20 });
const a = arena.alloc(100);
assert.ok(isAligned(a, 16));
const page = arena.alloc(4096, 4096);
assert.ok(isAligned(page, 4096));
assert.ok(arena.used >= 4196);
arena.reset();
assert.equal(a.length, 0);
assert.equal(arena.used, 0);
arena.destroy();

// Pool: fixed slots, full means ERR_NO_MEMORY, a double free ERR_NOT_ALLOCATED.
const pool = new Pool({ slotSize: 4096, slots: 4, align: 4096 });
const slots = [pool.alloc(), pool.alloc(), pool.alloc(), pool.alloc()];
for (const s of slots) assert.ok(isAligned(s, 4096));
assert.equal(code(() => pool.alloc()), 'ERR_NO_MEMORY');
pool.free(slots[0]);
assert.equal(code(() => pool.free(slots[0])), 'ERR_NOT_ALLOCATED');
assert.equal(pool.used, 3);
pool.destroy();

// Alignment helpers.
assert.equal(alignUp(5, 8), 8);
assert.equal(alignDown(13n, 8n), 8n);
assert.ok(pageSize() >= 4096 && (pageSize() & (pageSize() - 1)) === 0);
assert.match(blockSource(), /^(posix_memalign|mmap|_aligned_malloc|VirtualAlloc)$/);

// The shim: its function table and counters, and the header for other addons.
const pointers = shim.pointers();
for (const key of ['malloc', 'calloc', 'realloc', 'free', 'alignedAlloc', 'usableSize', 'stats', 'table']) {
  assert.equal(typeof pointers[key], 'bigint');
  assert.ok(pointers[key] !== 0n, `shim.pointers().${key} is 0`);
}
assert.ok(Number.isInteger(pointers.version) && pointers.version >= 1);
const stats = shim.stats();
for (const key of ['allocations', 'reallocations', 'frees', 'liveBlocks', 'liveBytes', 'peakBytes', 'foreignFrees', 'invalidFrees']) {
  assert.equal(typeof stats[key], 'number');
}
assert.ok(fs.existsSync(path.join(includeDir, 'sysalloc.h')), `includeDir ${includeDir} has no sysalloc.h`);

console.log(`smoke: ok on Node ${process.version} ${process.platform}-${process.arch}`);
