// The operating system's facts, asserted on whichever OS runs the suite. `npm test`
// checks the POSIX ones; `npm run test:windows` runs this same file in the real
// Windows node.exe (under wine) and checks the Windows ones, so neither
// native/os_posix.cc nor native/os_windows.cc is code that only compiles.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { Block, blockSource, blockStats, BlockStats, pageSize, SourceName, trimBlockCache } from '..';
import { native, nativePath } from '../dist/native';
import { ALIGNS, delta, ordinaryBlocks, runtimeMemory, settle, SIZES } from './helpers';

interface Facts {
  /** The call that serves a small block, and the one that serves a large block. */
  small: SourceName;
  large: SourceName;
  /** The rule of native/os_*.cc SourceFor, as documented there. */
  isLarge(size: number, align: number): boolean;
  page: number;
  /** Every address the large-block call returns is a multiple of this. */
  granularity: number;
  /** The first bytes of the addon file: a PE image, an ELF or a Mach-O object. */
  magic: string;
}

const windows = process.platform === 'win32';
const facts: Facts = windows
  ? {
      small: '_aligned_malloc',
      large: 'VirtualAlloc',
      // os_windows.cc: VirtualAlloc once the size or the alignment reaches the
      // allocation granularity; GetSystemInfo gives 4 KiB pages and a 64 KiB
      // granularity on every x64 Windows.
      isLarge: (size, align) => size >= 65536 || align >= 65536,
      page: 4096,
      granularity: 65536,
      magic: 'MZ',
    }
  : (() => {
      const page = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }));
      return {
        small: 'posix_memalign',
        large: 'mmap',
        // os_posix.cc: mmap once size plus alignment reaches glibc's mmap threshold.
        isLarge: (size: number, align: number) => size + align >= 128 * 1024,
        page,
        granularity: page,
        magic: process.platform === 'darwin' ? '\xcf\xfa\xed\xfe' : '\x7fELF',
      };
    })();

// process.platform's name for the kernel uname(1) reports (Linux, Darwin, FreeBSD, ...).
function platformFromUname(): string {
  const kernel = execFileSync('uname', ['-s'], { encoding: 'utf8' }).trim();
  const names: Record<string, string> = { Linux: 'linux', Darwin: 'darwin', SunOS: 'sunos', AIX: 'aix' };
  return names[kernel] ?? kernel.toLowerCase();
}

// On runtime memory (npm run test:no-external) every block is served by the runtime, never cached.
const served = (source: SourceName): SourceName => (runtimeMemory ? 'runtime' : source);
const isMapped = (source: SourceName): boolean => !runtimeMemory && source === facts.large;
const sourceOf = (size: number, align: number): SourceName => served(facts.isLarge(size, align) ? facts.large : facts.small);

function calls(before: BlockStats, after: BlockStats, key: 'osAllocations' | 'osReleases'): Record<string, number> {
  return Object.fromEntries(Object.entries(delta(before, after, key)).filter(([, n]) => n !== 0));
}

describe(`${process.platform}: the addon and the OS it runs on`, () => {
  test('the suite runs in the node and with the addon built for this OS', () => {
    // The platform from outside this node: npm run test:windows sets
    // SYSALLOC_TEST_PLATFORM=win32 (proving jest ran in node.exe, not in the
    // Linux node that launched it); elsewhere the kernel's name, from uname(1).
    expect(process.platform).toBe(process.env.SYSALLOC_TEST_PLATFORM ?? platformFromUname());
    if (windows) expect(process.arch).toBe('x64');
    // The file the addon was loaded from (build/, or prebuilds/ under SYSALLOC_PREBUILT=1).
    const head = fs.readFileSync(nativePath).subarray(0, facts.magic.length).toString('latin1');
    expect(head).toBe(facts.magic);
  });

  test(`the page size is ${windows ? "GetSystemInfo's" : "sysconf's"}, and so is the allocation granularity`, () => {
    expect(pageSize()).toBe(facts.page);
    expect(native.pageSize).toBe(facts.page);
    expect(native.allocationGranularity).toBe(facts.granularity);
  });
});

describe(`${process.platform}: blockSource names the call per size class`, () => {
  const boundaries: [number, number][] = windows
    ? [[1, 1], [4096, 4096], [65535, 4096], [65535, 32768], [65536, 1], [65536, 65536], [1, 65536], [100, 1 << 24], [1 << 20, 1 << 20]]
    : [[1, 1], [4096, 4096], [126975, 4096], [126976, 4096], [131072, 1], [1, 131072], [100, 1 << 24], [1 << 20, 1 << 20]];

  test.each(boundaries)('size %i aligned to %i', (size, align) => {
    expect(blockSource(size, align)).toBe(sourceOf(size, align));
  });

  test('without an alignment: a page-sized block is small, 1 MiB is large', () => {
    expect(blockSource()).toBe(served(facts.small));
    expect(blockSource(4096)).toBe(served(facts.small));
    expect(blockSource(1 << 20)).toBe(served(facts.large));
  });
});

describe(`${process.platform}: each block comes from the call blockSource names and goes back through its match`, () => {
  ordinaryBlocks();
  beforeAll(async () => {
    await settle();
  });

  // The native counters count each OS call per source; blocks.cc releases a
  // region with the call matching the one that served it (_aligned_free after
  // _aligned_malloc, VirtualFree after VirtualAlloc, free after posix_memalign,
  // munmap after mmap) and counts it under that same source.
  test.each(SIZES.flatMap((size) => ALIGNS.map((align) => [size, align, sourceOf(size, align)] as const)))(
    'size %i aligned to %i: %s',
    (size, align, source) => {
      trimBlockCache();
      const before = blockStats();
      const block = Block.alloc(size, { align, zero: false });
      const allocated = blockStats();
      expect(block.source).toBe(source);
      expect(calls(before, allocated, 'osAllocations')).toEqual({ [source]: 1 });
      expect(block.address % BigInt(align)).toBe(0n);
      if (isMapped(source)) {
        // VirtualAlloc hands out 64 KiB-aligned regions, mmap whole pages, even
        // when less alignment was asked for.
        expect(block.address % BigInt(facts.granularity)).toBe(0n);
      }
      block.buffer[0] = 1;
      block.buffer[size - 1] = 2;
      block.free();
      native.drainQuarantine(); // what the microtask after this turn does
      const freed = blockStats();
      if (isMapped(source)) {
        // Kept mapped for reuse (blocks.cc's cache) until trimmed.
        expect(freed.cachedBlocks).toBe(1);
        expect(calls(allocated, freed, 'osReleases')).toEqual({});
        trimBlockCache();
      } else {
        expect(freed.cachedBlocks).toBe(0);
      }
      expect(calls(before, blockStats(), 'osReleases')).toEqual({ [source]: 1 });
      expect(blockStats().liveBlocks).toBe(before.liveBlocks);
    },
  );

  test('an alignment beyond the granularity (16 MiB) is met exactly', () => {
    trimBlockCache();
    const before = blockStats();
    const blocks = [1, 2, 3].map(() => Block.alloc(100, { align: 1 << 24 }));
    for (const block of blocks) {
      expect(block.source).toBe(served(facts.large));
      expect(block.address % BigInt(1 << 24)).toBe(0n);
    }
    for (const block of blocks) block.free();
    native.drainQuarantine(); // what the microtask after this turn does
    trimBlockCache();
    expect(calls(before, blockStats(), 'osAllocations')).toEqual({ [served(facts.large)]: 3 });
    expect(calls(before, blockStats(), 'osReleases')).toEqual({ [served(facts.large)]: 3 });
  });

  test('a fresh large region is zero-filled by the OS, so zero: false still reads zeros', () => {
    trimBlockCache();
    using block = Block.alloc(1 << 20, { zero: false });
    expect(block.source).toBe(served(facts.large));
    expect(block.buffer.every((byte) => byte === 0)).toBe(true);
  });

  test('a large block past the cache goes back to the OS at free: the resident memory drops by its size', () => {
    const size = 64 << 20; // more than the 16 MiB the cache keeps of one region
    const mib = (bytes: number) => bytes / (1 << 20);
    const before = blockStats();
    const start = process.memoryUsage().rss;
    const block = Block.alloc(size, { zero: false });
    block.buffer.fill(1); // every page resident
    const touched = process.memoryUsage().rss;
    block.free();
    native.drainQuarantine(); // what the microtask after this turn does
    const freed = process.memoryUsage().rss;
    expect(calls(before, blockStats(), 'osReleases')).toEqual({ [served(facts.large)]: 1 });
    expect(mib(touched - start)).toBeGreaterThan(56);
    expect(mib(touched - freed)).toBeGreaterThan(56);
  });
});
