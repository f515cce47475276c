// Secure and page-level blocks (README "Secure and page-level blocks"): each
// promise proved from outside the facade: a child process killed by the fault a
// guard page or a protection raises, the kernel's own accounts in /proc (VmLck,
// VmFlags dd, AnonHugePages), and the bytes left behind at free().
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import bindings = require('bindings');

import { AllocError, Block, blockStats } from '..';
import { native } from '../dist/native';
import { ordinaryBlocks, runtimeMemory, settle } from './helpers';

const root = path.join(__dirname, '..');
const pageSize: number = native.pageSize;
const linux = process.platform === 'linux';
const windows = process.platform === 'win32';
const KiB = 1024;
const MiB = 1024 * KiB;

// The testing addon (test/faults): pokeByte/peekByte write and read one byte at
// any address, as a native consumer of the block would.
const testing = bindings({ bindings: 'sysalloc_testing', module_root: path.join(__dirname, 'faults') }).testing as {
  pokeByte(address: bigint, offset: number): void;
  peekByte(address: bigint, offset: number): number;
};

// A fault kills the child: SIGSEGV on POSIX, STATUS_ACCESS_VIOLATION on Windows.
function expectFault(result: SpawnSyncReturns<string>): void {
  if (windows) expect(result.status).toBe(0xc0000005);
  else expect(result.signal).toBe('SIGSEGV');
  expect(result.stdout).toContain('before');
  expect(result.stdout).not.toContain('after');
}

function child(body: string, prefix: string[] = []): SpawnSyncReturns<string> {
  const script =
    `const { Block } = require(${JSON.stringify(root)});\n` +
    `const testing = require('bindings')({ bindings: 'sysalloc_testing', module_root: ${JSON.stringify(path.join(__dirname, 'faults'))} }).testing;\n` +
    body;
  const [command, ...args] = [...prefix, process.execPath, '-e', script];
  return spawnSync(command, args, { encoding: 'utf8', cwd: root });
}

function statusKiB(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (m === null) throw new Error(`no ${field} in /proc/self/status`);
  return Number(m[1]);
}

// The /proc/self/smaps entry of the mapping that holds address.
function smapsEntry(address: bigint): string {
  const lines = fs.readFileSync('/proc/self/smaps', 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(lines[i]);
    if (m === null || address < BigInt(`0x${m[1]}`) || address >= BigInt(`0x${m[2]}`)) continue;
    let j = i + 1;
    while (j < lines.length && !/^[0-9a-f]+-[0-9a-f]+ /.test(lines[j])) j++;
    return lines.slice(i, j).join('\n');
  }
  throw new Error(`no mapping holds 0x${address.toString(16)}`);
}

// Page-level blocks need a mapping of sysalloc's own: on runtime memory (npm run
// test:no-external) every option is refused instead, which the describe below asserts.
const pageLevel = runtimeMemory ? describe.skip : describe;

(runtimeMemory ? describe : describe.skip)('on runtime memory (no external buffers)', () => {
  test.each(['guard', 'lock', 'wipe', 'dontDump', 'hugePages', 'secure'])('options.%s: ERR_INVALID_PARAM naming it, nothing held', (option) => {
    const before = blockStats().liveBlocks;
    let error: unknown;
    try {
      Block.alloc(4096, { [option]: true });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AllocError);
    expect((error as AllocError).code).toBe('ERR_INVALID_PARAM');
    expect((error as Error).message).toMatch(new RegExp(`^options\\.${option}: this runtime does not allow external buffers`));
    expect(blockStats().liveBlocks).toBe(before);
  });

  test('protect() on a runtime block: ERR_INVALID_PARAM', () => {
    using block = Block.alloc(4096);
    expect(block.source).toBe('runtime');
    expect(() => block.protect('read')).toThrow(/^block\.protect\(\): this runtime does not allow external buffers/);
  });
});

pageLevel('options', () => {
  test('each page-level option is a boolean, named in the error', () => {
    for (const key of ['guard', 'lock', 'wipe', 'dontDump', 'hugePages', 'secure']) {
      expect(() => Block.alloc(64, { [key]: 1 } as never)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_PARAM', message: `options.${key} must be a boolean; got 1` }),
      );
    }
  });

  test('options are read once each, from a plain object', () => {
    const reads: string[] = [];
    const options = {};
    for (const key of ['guard', 'wipe']) {
      Object.defineProperty(options, key, { enumerable: true, get: () => (reads.push(key), true) });
    }
    const block = Block.alloc(64, options);
    expect(reads).toEqual(['guard', 'wipe']);
    expect(block.guarded && block.wipes).toBe(true);
    block.free();
    expect(() => Block.alloc(64, new (class Opts { guard = true })() as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_PARAM' }),
    );
  });

  test('secure is guard, lock, wipe and dontDump; an explicit false takes one out', () => {
    const secure = Block.alloc(100, { secure: true });
    expect([secure.pageBacked, secure.guarded, secure.locked, secure.wipes]).toEqual([true, true, true, true]);
    expect(secure.dontDump).toBe(linux);
    expect(secure.hugePages).toBe(false);
    expect(secure.source).toBe(windows ? 'VirtualAlloc' : 'mmap');
    secure.free();
    expect(secure.locked).toBe(false);
    const unlocked = Block.alloc(100, { secure: true, lock: false });
    expect([unlocked.guarded, unlocked.locked, unlocked.wipes]).toEqual([true, false, true]);
    unlocked.free();
  });

  test('an ordinary block is not page-backed: every property says so', () => {
    const block = Block.alloc(64);
    expect([block.pageBacked, block.guarded, block.locked, block.wipes, block.dontDump, block.hugePages]).toEqual([
      false, false, false, false, false, false,
    ]);
    expect(block.protection).toBe('readwrite');
    block.free();
  });

  describe('with debug mode off (its quarantine keeps freed mappings)', () => {
    ordinaryBlocks();
    test('page-backed blocks count as live blocks of their mapping, and return on free', async () => {
      await settle();
      const source = windows ? 'VirtualAlloc' : 'mmap';
      const before = blockStats();
      const block = Block.alloc(10, { guard: true, wipe: true });
      expect(blockStats().liveBlocks).toBe(before.liveBlocks + 1);
      expect(blockStats().osAllocations[source]).toBe(before.osAllocations[source] + 1);
      block.free();
      await settle();
      const after = blockStats();
      expect(after.liveBlocks).toBe(before.liveBlocks);
      expect(after.osReleases[source] - before.osReleases[source]).toBe(1);
      expect(after.cachedBlocks).toBe(before.cachedBlocks);
    });
  });
});

pageLevel('guard pages', () => {
  test('placement: the last byte touches the trailing guard; a page-multiple size touches both', () => {
    const page = pageSize;
    const cases: Array<[number, number | undefined, number]> = [
      // size, align asked, expected align
      [100, undefined, 4],
      [page, undefined, page],
      [2 * page, undefined, 2 * page],
      [48, 16, 16],
    ];
    for (const [size, asked, align] of cases) {
      const block = Block.alloc(size, { guard: true, ...(asked === undefined ? {} : { align: asked }) });
      expect(block.align).toBe(align);
      expect(block.address % BigInt(align)).toBe(0n);
      expect((block.address + BigInt(size)) % BigInt(page)).toBe(0n);
      block.free();
    }
    // An alignment above the page size: the pages start aligned, a whole alignment after the mapping.
    const wide = Block.alloc(8 * page, { guard: true, align: 16 * page });
    expect(wide.address % BigInt(16 * page)).toBe(0n);
    wide.free();
    // Alignment first: 100 bytes aligned to 64 leave 28 bytes of slack before the guard.
    const slack = Block.alloc(100, { guard: true, align: 64 });
    expect(slack.address % 64n).toBe(0n);
    expect(Number((slack.address + 100n) % BigInt(page))).toBe(page - 28);
    slack.free();
  });

  test('writing the last byte is fine; one byte past it kills the process', () => {
    const body = (offset: string) =>
      `const b = Block.alloc(4096, { guard: true }); console.log('before'); testing.pokeByte(b.address, ${offset}); console.log('after');`;
    const inside = child(body('4095'));
    expect(inside.status).toBe(0);
    expect(inside.stdout).toContain('after');
    expectFault(child(body('4096')));
  });

  test('one byte before a page-multiple block kills the process', () => {
    expectFault(
      child(`const b = Block.alloc(8192, { guard: true }); console.log('before'); testing.pokeByte(b.address, -1); console.log('after');`),
    );
  });

  test('a size that is no page multiple: overrun faults, the byte before lands in the leading slack', () => {
    expectFault(
      child(`const b = Block.alloc(100, { secure: true }); console.log('before'); testing.pokeByte(b.address, 100); console.log('after');`),
    );
    const under = child(
      `const b = Block.alloc(100, { guard: true }); testing.pokeByte(b.address, -1); console.log('after', testing.peekByte(b.address, -1));`,
    );
    expect(under.status).toBe(0);
    expect(under.stdout).toContain('after 90');
  });
});

pageLevel('protect', () => {
  test('a read-only block reads from JavaScript; a write kills the process', () => {
    const reads = child(`const b = Block.alloc(64, { guard: true }); b.buffer[3] = 9; b.protect('read'); console.log('after', b.buffer[3], b.protection);`);
    expect(reads.status).toBe(0);
    expect(reads.stdout).toContain('after 9 read');
    expectFault(child(`const b = Block.alloc(64, { wipe: true }); b.protect('read'); console.log('before'); b.buffer[0] = 1; console.log('after');`));
  });

  test("a 'none' block kills the process on a read", () => {
    expectFault(child(`const b = Block.alloc(64, { wipe: true }); b.protect('none'); console.log('before'); console.log(b.buffer[0]); console.log('after');`));
  });

  test("readwrite again, then free() of a protected block works and wipes", () => {
    const block = Block.alloc(4096, { wipe: true });
    block.buffer.fill(0xab);
    block.protect('none');
    block.protect('readwrite');
    expect(block.buffer[17]).toBe(0xab);
    block.protect('read');
    const address = block.address;
    block.free();
    // In the quarantine until this turn ends: still mapped, already zero.
    expect(testing.peekByte(address, 17)).toBe(0);
    expect(() => block.protect('read')).toThrow(expect.objectContaining({ code: 'ERR_NOT_ALLOCATED' }));
  });

  test('errors: a block that is not page-backed, a bad mode', () => {
    const plain = Block.alloc(64);
    expect(() => plain.protect('read')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_PARAM', message: expect.stringMatching(/needs a page-backed block/) }),
    );
    plain.free();
    const paged = Block.alloc(64, { guard: true });
    expect(() => paged.protect('write' as never)).toThrow(
      new AllocError('ERR_INVALID_PARAM', `mode must be 'none', 'read' or 'readwrite'; got "write" (a string)`),
    );
    expect(paged.protection).toBe('readwrite');
    paged.free();
  });
});

pageLevel('wipe', () => {
  test('free() zeroes the bytes before the quarantine; without wipe they stay', () => {
    const wiped = Block.alloc(256, { wipe: true });
    const kept = Block.alloc(256, { guard: true });
    wiped.buffer.fill(0x5c);
    kept.buffer.fill(0x5c);
    const [a, b] = [wiped.address, kept.address];
    wiped.free();
    kept.free();
    expect([testing.peekByte(a, 0), testing.peekByte(a, 255)]).toEqual([0, 0]);
    expect([testing.peekByte(b, 0), testing.peekByte(b, 255)]).toEqual([0x5c, 0x5c]);
  });
});

pageLevel('lock', () => {
  if (linux) {
    test('VmLck grows by the locked pages and returns after free (Linux /proc/self/status)', async () => {
      await settle();
      const before = statusKiB('VmLck');
      const block = Block.alloc(MiB, { lock: true });
      expect(statusKiB('VmLck') - before).toBe(1024);
      const secure = Block.alloc(3 * pageSize, { secure: true });
      // The guards are not locked: only the block's pages.
      expect(statusKiB('VmLck') - before).toBe(1024 + (3 * pageSize) / KiB);
      block.free();
      secure.free();
      await settle();
      expect(statusKiB('VmLck')).toBe(before);
    });

    test('past RLIMIT_MEMLOCK: ERR_NO_MEMORY naming the limit and its value (child without CAP_IPC_LOCK)', () => {
      // Root's CAP_IPC_LOCK ignores the limit: the child runs without it, with an 8 MiB limit.
      const prefix = ['prlimit', '--memlock=8388608:8388608', 'setpriv', '--bounding-set', '-ipc_lock'];
      const result = child(
        `const small = Block.alloc(1 << 20, { lock: true }); console.log('small', small.locked);\n` +
          `try { Block.alloc(16 << 20, { lock: true }); } catch (e) { console.log(e.code, e.message); }`,
        prefix,
      );
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain('small true');
      expect(result.stdout).toContain(
        'ERR_NO_MEMORY mlock refused to lock 16777216 bytes: RLIMIT_MEMLOCK is 8388608 bytes (ulimit -l 8192)',
      );
    });
  } else {
    test('VirtualLock: the block is locked; the refusal names the working-set minimum', () => {
      const block = Block.alloc(64 * KiB, { lock: true });
      expect(block.locked).toBe(true);
      block.free();
      expect(native.lockLimit()).toBeGreaterThan(0);
    });
  }
});

pageLevel('dontDump', () => {
  if (linux) {
    test('VmFlags of the mapping has dd; not without the option', () => {
      const block = Block.alloc(3 * pageSize, { dontDump: true });
      expect(block.dontDump).toBe(true);
      expect(smapsEntry(block.address)).toMatch(/^VmFlags:.* dd\b/m);
      const plain = Block.alloc(3 * pageSize, { guard: true });
      expect(smapsEntry(plain.address)).not.toMatch(/^VmFlags:.* dd\b/m);
      block.free();
      plain.free();
    });
  } else {
    test('Windows has no per-range dump exclusion: dontDump reports false', () => {
      const block = Block.alloc(4096, { dontDump: true });
      expect(block.dontDump).toBe(false);
      expect(block.pageBacked).toBe(true);
      block.free();
    });
  }
});

pageLevel('huge pages', () => {
  if (linux) {
    test('precondition: transparent huge pages in madvise mode (this machine; stated, never skipped)', () => {
      expect(fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8')).toMatch(/\[madvise\]/);
      expect(native.hugePageSize).toBe(2 * MiB);
    });

    test('a 4 MiB hugePages block: 2 MiB-aligned, AnonHugePages in smaps, block.hugePages true; a plain one: none', () => {
      const block = Block.alloc(4 * MiB, { hugePages: true });
      const plain = Block.alloc(4 * MiB, { guard: true });
      try {
        expect(block.address % BigInt(2 * MiB)).toBe(0n);
        const huge = Number(/^AnonHugePages:\s+(\d+) kB/m.exec(smapsEntry(block.address))![1]);
        expect(huge).toBeGreaterThanOrEqual(4096);
        expect(block.hugePages).toBe(true);
        plain.buffer.fill(1);
        expect(Number(/^AnonHugePages:\s+(\d+) kB/m.exec(smapsEntry(plain.address))![1])).toBe(0);
        expect(plain.hugePages).toBe(false);
      } finally {
        block.free();
        plain.free();
      }
      expect(block.hugePages).toBe(false);
    });
  } else {
    test('large pages need SeLockMemoryPrivilege: without it the block falls back and says so', () => {
      const block = Block.alloc(4 * MiB, { hugePages: true });
      expect(block.pageBacked).toBe(true);
      expect(block.hugePages).toBe(false);
      block.buffer.fill(3);
      block.free();
    });
  }
});
