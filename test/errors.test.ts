import { spawnSync } from 'child_process';
import * as path from 'path';
import { constants } from 'buffer';
import { AllocError, Block, blockStats, MAX_ALIGN, MAX_SIZE } from '..';
import { native } from '../dist/native';
import { caught, settle } from './helpers';

describe('AllocError', () => {
  test('is a real Error subclass with a name and a code', () => {
    const error = caught(() => Block.alloc(0));
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('AllocError');
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.stack).toContain('AllocError');
    expect(Object.prototype.toString.call(error)).toBe('[object Error]');
  });

  test('the size limit is the largest Buffer Node can hold', () => {
    expect(MAX_SIZE).toBe(constants.MAX_LENGTH);
    expect(MAX_ALIGN).toBe(2 ** 32);
  });
});

describe('ERR_INVALID_PARAM names the argument and the value', () => {
  test.each<[string, unknown, RegExp]>([
    ['0', 0, /^size must be .*; got 0$/],
    ['-1', -1, /^size .*got -1$/],
    ['NaN', NaN, /^size .*got NaN$/],
    ['1.5', 1.5, /^size .*got 1\.5$/],
    ["'4096'", '4096', /^size .*got "4096" \(a string\)$/],
    ['undefined', undefined, /^size .*got undefined$/],
    ['null', null, /^size .*got null$/],
    ['4096n', 4096n, /^size .*got 4096n$/],
    ['2**53', 2 ** 53, /^size .*got 9007199254740992$/],
    ['Infinity', Infinity, /^size .*got Infinity$/],
    ['MAX_LENGTH + 1', constants.MAX_LENGTH + 1, new RegExp(`^size .*got ${constants.MAX_LENGTH + 1}$`)],
  ])('size %s', (_label, size, message) => {
    const error = caught(() => Block.alloc(size as number));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toMatch(message);
  });

  test.each<[string, unknown]>([
    ['0', 0],
    ['3', 3],
    ['2**40', 2 ** 40],
    ['-4096', -4096],
    ['NaN', NaN],
    ['1.5', 1.5],
    ["'4096'", '4096'],
    ['2**33', 2 ** 33],
    ['null', null],
  ])('align %s', (_label, align) => {
    const error = caught(() => Block.alloc(4096, { align: align as number }));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toMatch(/^options\.align must be a power of two from 1 to 4294967296; got /);
  });

  test.each<[string, unknown, RegExp]>([
    ['options not an object', 5, /^options must be a plain object; got 5$/],
    ['options null', null, /^options must be a plain object; got null$/],
    ['zero not a boolean', { zero: 1 }, /^options\.zero must be a boolean; got 1$/],
  ])('%s', (_label, options, message) => {
    const error = caught(() => Block.alloc(4096, options as object));
    expect(error.code).toBe('ERR_INVALID_PARAM');
    expect(error.message).toMatch(message);
  });

  test('a Block cannot be constructed directly', () => {
    const Ctor = Block as unknown as new (...args: unknown[]) => Block;
    expect(caught(() => new Ctor(Symbol('x'), Buffer.alloc(1), 1, 1)).code).toBe('ERR_INVALID_PARAM');
  });
});

describe('ERR_NO_MEMORY', () => {
  // A child process caps its own address space a little above what it uses, so
  // that the operating system refuses 1 GiB: the failure is real, not simulated.
  const child = `
    const { execFileSync } = require('child_process');
    const fs = require('fs');
    const { Block, blockStats } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
    const vmKiB = Number(/VmSize:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
    const limit = (vmKiB + 256 * 1024) * 1024;
    execFileSync('prlimit', ['--pid', String(process.pid), '--as=' + limit]);
    const live = () => JSON.stringify([blockStats().liveBlocks, blockStats().liveBytes, blockStats().cachedBytes]);
    const before = live();
    const results = [];
    for (const options of [undefined, { align: 4096, zero: false }, { align: 4096 }]) {
      try {
        Block.alloc(2 ** 30, options);
        results.push('allocated');
      } catch (e) {
        results.push({ name: e.name, code: e.code, message: e.message });
      }
    }
    const leaked = live() !== before;
    const small = Block.alloc(4096);
    small.buffer.fill(1);
    small.free();
    console.log(JSON.stringify({ results, leaked }));
  `;

  // Windows gives a process no limit it can put on its own memory from
  // JavaScript (a Job Object memory limit takes native code to set).
  const run = process.platform === 'linux' ? test : test.skip;
  run('a request the OS refuses throws, leaks nothing, and the process goes on (linux only: prlimit caps the address space)', () => {
    const result = spawnSync(process.execPath, ['-e', child], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const { results, leaked } = JSON.parse(result.stdout);
    expect(results).toHaveLength(3);
    for (const r of results) {
      expect(r).toEqual({
        name: 'AllocError',
        code: 'ERR_NO_MEMORY',
        message: expect.stringMatching(/^the system allocator refused 1073741824 bytes aligned to (1073741824|4096)$/),
      });
    }
    expect(leaked).toBe(false);
  });

  // On every OS: 2^47 bytes (128 TiB) is more than the user address space of
  // x64 Linux and Windows, so mmap or VirtualAlloc refuses it whatever the memory
  // and overcommit settings. The facade caps sizes at MAX_SIZE (4 GiB), so the
  // raw addon asks; the facade's mapping of noMemory is the test above.
  test.each([65536, 1 << 21])(
    'the OS call refuses a region larger than the address space (align %i): no memory, nothing counted or leaked',
    async (align) => {
      const before = await settle();
      expect(native.blockAlloc(2 ** 47, align, false)).toBe(native.status.noMemory);
      const after = blockStats();
      expect(after.osAllocations).toEqual(before.osAllocations);
      expect([after.liveBlocks, after.liveBytes]).toEqual([before.liveBlocks, before.liveBytes]);
      using block = Block.alloc(1 << 20);
      block.buffer.fill(1);
      expect(block.buffer[(1 << 20) - 1]).toBe(1);
    },
  );
});
