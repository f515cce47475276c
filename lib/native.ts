// The one place that loads the addon, and the type of everything it exports.
import bindings = require('bindings');
import * as fs from 'fs';
import * as path from 'path';

/** Mirrors `enum Status` in native/binding_status.h. */
export interface NativeStatus {
  readonly ok: 0;
  readonly invalidParam: 1;
  readonly noMemory: 2;
  readonly notAllocated: 3;
  /** The runtime threw while making the Buffer; lastError() has its message. */
  readonly runtimeThrew: 4;
  /** The runtime returned another Node-API failure; lastError() says which. */
  readonly runtimeRefused: 5;
  /** Page-level blocks: the OS refused to lock the pages. */
  readonly lockRefused: 16;
  /** The block is not page-backed. */
  readonly notPaged: 17;
  /** The OS refused to change the pages' access. */
  readonly protectRefused: 18;
  /** The runtime refuses external buffers: page-level and shared memory cannot be made. */
  readonly externalRefused: 19;
}

/** What served a block: an OS call, or 'runtime' (an ArrayBuffer the runtime allocated, where it refuses external buffers). */
export type SourceName = 'posix_memalign' | 'mmap' | '_aligned_malloc' | 'VirtualAlloc' | 'runtime';

export interface NativeBlockStats {
  liveBlocks: number;
  liveBytes: number;
  cachedBlocks: number;
  cachedBytes: number;
  cacheHits: number;
  /** Blocks freed from JavaScript whose memory is held until the current synchronous run ends (the quarantine). */
  quarantinedBlocks: number;
  quarantinedBytes: number;
  /**
   * Blocks whose memory had moved to another ArrayBuffer (that may live on in
   * another thread) when their environment ended: kept for the life of the
   * process, never returned. Not counted in liveBlocks.
   */
  abandonedBlocks: number;
  abandonedBytes: number;
  osAllocations: Record<SourceName, number>;
  osReleases: Record<SourceName, number>;
}

/** Addresses from native/binding.cc ShimPointers: the shim's functions and its table. */
export interface NativeShimPointers {
  malloc: bigint;
  calloc: bigint;
  realloc: bigint;
  free: bigint;
  alignedAlloc: bigint;
  usableSize: bigint;
  stats: bigint;
  /** The address of `struct sysalloc_api`. */
  table: bigint;
  /** `SYSALLOC_API_VERSION` of the table. */
  version: number;
}

/** Mirrors `struct sysalloc_stats` in native/include/sysalloc.h. */
export interface NativeShimStats {
  allocations: number;
  reallocations: number;
  frees: number;
  liveBlocks: number;
  liveBytes: number;
  peakBytes: number;
  foreignFrees: number;
  invalidFrees: number;
}

export interface NativeAddon {
  /** A zero-copy external Buffer over a new block, or a status when none could be made. */
  blockAlloc(size: number, align: number, zero: boolean): Buffer | number;
  /**
   * Detaches the Buffer blockAlloc returned; a status. The memory goes to the
   * quarantine, or waits for the last view of the block to be detached or
   * collected. When the Buffer was detached by someone else (its memory moved to
   * another ArrayBuffer), ends the block and leaves the memory to the new owner;
   * `address` is allocAddress[0] as read right after blockAlloc.
   */
  blockFree(buffer: Uint8Array, address?: number): number;
  /**
   * A page-backed block (native/blocks.h AllocatePages) with options as bits: 1 guard,
   * 2 lock, 4 wipe, 8 dontDump, 16 hugePages; or a status.
   */
  blockAllocPages(size: number, align: number, options: number): Buffer | number;
  /** A page-backed block's PageFlags | access << 8, or minus a status. */
  pageState(buffer: Uint8Array): number;
  /** Sets a page-backed block's access (0 none, 1 read, 2 readwrite); a status. */
  blockProtect(buffer: Uint8Array, access: number): number;
  /** Whether the OS backs a page-backed block with huge pages now, or a status. */
  hugePagesBacked(buffer: Uint8Array): boolean | number;
  /** RLIMIT_MEMLOCK's soft limit in bytes (-1: unlimited); on Windows the minimum working-set size. */
  lockLimit(): number;
  /** One huge page in bytes (2 MiB on x86-64 Linux; Windows' large-page minimum); 0 when none. */
  readonly hugePageSize: number;
  /** allocAddress[0]: the address of the block blockAlloc returned last. */
  readonly allocAddress: Float64Array;
  /** Releases the quarantine now (the microtask armed at the first free of a turn does it otherwise). */
  drainQuarantine(): void;
  /** Why the last runtimeThrew or runtimeRefused status. */
  lastError(): string;
  /** The quarantine's bounds: at most this many blocks and bytes are held; the oldest goes first. */
  readonly quarantineBlocks: number;
  readonly quarantineBytes: number;
  /**
   * A Buffer of its own over [offset, offset + length) of a live block, which
   * viewDetach can detach alone and which keeps the block's memory until then;
   * or a status. One view at a time per address.
   */
  viewWrap(block: Uint8Array, offset: number, length: number): Buffer | number;
  /** Marks, at process 'exit', the blocks whose ArrayBuffer someone else detached (a move); the rest is decided at teardown. */
  teardownScan(): void;
  /** Keeps a weak reference per block so that teardownScan can tell which are still this environment's (workers). */
  trackOwnership(): void;
  /** Makes a live block's memory a shared region (or names the one it is already); [id, key] or a status. */
  blockShare(buffer: Uint8Array, align: number): [number, bigint] | number;
  /** New shared memory: [view, holder, id, key, size, align] or a status (native/shared_binding.cc). */
  sharedCreate(size: number, align: number, zero: boolean, sab: boolean, kind: number): unknown[] | number;
  /** A view of the live shared region (id, key): [view, holder, id, key, size, align] or a status. */
  sharedOpen(id: number, key: bigint, sab: boolean, offset: number, length: number, kind: number): unknown[] | number;
  /** Region kinds: Open finds a region only under its own. */
  readonly sharedKind: { readonly block: number; readonly pool: number };
  /** At process 'exit': drops the references of this environment's external views still attached. */
  sharedScan(): void;
  /** Detaches an external view sharedOpen made and drops its reference; a status. */
  sharedFree(view: Uint8Array, holder: number): number;
  /** Whether (id, key) names a live shared region. */
  sharedValid(id: number, key: bigint): boolean;
  /** Shared regions alive and the references held to them, over all threads. */
  sharedStats(): { sharedRegions: number; sharedReferences: number };
  /** Whether node_api_create_external_sharedarraybuffer was found at load. */
  readonly externalSharedArrayBuffer: boolean;
  /** Blocks abandoned at environments' ends so far in the process, by reason (diagnostics, tests). */
  teardownStats(): { detachedByOther: number; collectedPending: number; safetyNet: number };
  /** Detaches a Buffer viewWrap returned; a status. */
  viewDetach(view: Uint8Array): number;
  /** The address of the first byte, or undefined for anything but an ArrayBuffer or a view. */
  addressOf(value: unknown): bigint | undefined;
  sourceFor(size: number, align: number): SourceName;
  stats(): NativeBlockStats;
  trimCache(): void;
  /** V8's external-memory total, as napi_adjust_external_memory reports it. */
  externalMemory(): number;
  /** Debug mode (native/debug): installs the catcher once, sets the quarantine's bounds; the catcher's name. */
  debugEnable(blocks: number, bytes: number, preferUserfaultfd: boolean): string;
  /** The report of the debug block at `address`, kept for when its memory enters the quarantine. */
  debugDescribe(address: number, text: string): void;
  debugStats(): { quarantinedBlocks: number; quarantinedBytes: number; entered: number; released: number; catcher: string };
  /** Returns every quarantined debug block to the allocator. */
  debugFlush(): void;
  readonly debugMaxBlocks: number;
  readonly debugTextMax: number;
  shimPointers(): NativeShimPointers;
  /** The shim's debug mode (native/shim/tracking.h): on records every shim block with its caller; off forgets them. */
  shimDebug(on: boolean): void;
  /** Live recorded shim blocks by the code that called malloc: [caller, count, bytes]. */
  shimDebugSites(): Array<[string, number, number]>;
  shimDebugStats(): { liveBlocks: number; liveBytes: number; heldBlocks: number; reported: number; on: boolean };
  shimStats(): NativeShimStats;
  readonly pageSize: number;
  readonly allocationGranularity: number;
  readonly maxAlign: number;
  readonly status: NativeStatus;
}

/** The platforms whose binaries the package ships, as folders of prebuilds/. */
export const PREBUILT_TARGETS: readonly string[] = ['linux-x64', 'linux-arm64', 'win32-x64'];

/**
 * The C library a Linux process runs on, from the ELF interpreter of its
 * executable (`/lib/ld-musl-*` or glibc's `ld-linux-*`); glibc when that cannot
 * be read. No child process, no report: a few hundred bytes of one file.
 */
export function linuxLibc(executable: string = process.execPath): 'glibc' | 'musl' {
  let fd: number | undefined;
  try {
    fd = fs.openSync(executable, 'r');
    const read = (length: number, position: number): Buffer => {
      const buf = Buffer.alloc(length);
      return buf.subarray(0, fs.readSync(fd as number, buf, 0, length, position));
    };
    const head = read(64, 0);
    if (head.length < 52 || head.toString('latin1', 0, 4) !== '\x7fELF') return 'glibc';
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (b: Buffer, o: number) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    const phoff = word(head, is64 ? 0x20 : 0x1c);
    const phentsize = u16(head, is64 ? 0x36 : 0x2a);
    const phnum = u16(head, is64 ? 0x38 : 0x2c);
    const table = read(phentsize * phnum, phoff);
    for (let i = 0; i + phentsize <= table.length; i += phentsize) {
      if (u32(table, i) !== 3) continue; // PT_INTERP
      const offset = word(table, i + (is64 ? 8 : 4));
      const size = word(table, i + (is64 ? 32 : 16));
      return /musl/.test(read(Math.min(size, 4096), offset).toString('latin1')) ? 'musl' : 'glibc';
    }
    return 'glibc';
  } catch {
    return 'glibc';
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * The folder under prebuilds/ that holds the binary for a platform:
 * `linux-x64` and `linux-arm64` (glibc), `linux-x64-musl`, `win32-x64`, ...
 */
export function prebuildTarget(
  platform: string = process.platform,
  arch: string = process.arch,
  libc: 'glibc' | 'musl' | undefined = platform === 'linux' ? linuxLibc() : undefined,
): string {
  return `${platform}-${arch}${libc === 'musl' ? '-musl' : ''}`;
}

/** The package's root: the nearest folder above this file that holds binding.gyp. */
function packageRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'binding.gyp'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, '..');
  }
}

export interface LoadOptions {
  /** The package's root folder (build/ and prebuilds/ are inside it). */
  root?: string;
  /** The prebuilds/ folder to use; prebuildTarget() by default. */
  target?: string;
  /** Skip a local build in build/ and load only the packaged binary (SYSALLOC_PREBUILT=1). */
  prebuiltOnly?: boolean;
}

/**
 * Loads the addon with `bindings`: a local build (build/Release, build/Debug)
 * first, so a developer's or an install-time build wins; then the packaged
 * binary, prebuilds/<target>/sysalloc.node. When neither loads, an Error (not an
 * AllocError) that names the platform, what was tried and how to build from source.
 */
export function loadAddon(options: LoadOptions = {}): { addon: NativeAddon; path: string } {
  const root = options.root ?? packageRoot();
  const target = options.target ?? prebuildTarget();
  const prebuiltOnly = options.prebuiltOnly ?? process.env.SYSALLOC_PREBUILT === '1';
  const tries = [
    ...(prebuiltOnly ? [] : [['module_root', 'build', 'Release', 'bindings'], ['module_root', 'build', 'Debug', 'bindings']]),
    ['module_root', 'prebuilds', 'sysalloc_target', 'bindings'],
  ];
  const where = `${target} (${describeTarget(target)})`;
  const fix =
    'To build it from source: install Python 3, make and a C++17 compiler (node-gyp\'s needs), then run ' +
    '`npm rebuild sysalloc --build-from-source` in your project (npm 12 blocks install scripts: ' +
    'run `npm approve-scripts sysalloc` first). ' +
    `The package ships binaries for ${PREBUILT_TARGETS.join(', ')} (Linux: glibc 2.17 or newer).`;
  let addon: NativeAddon & { path?: string };
  try {
    addon = bindings({ bindings: 'sysalloc', module_root: root, try: tries, sysalloc_target: target } as bindings.Options);
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    if (/Could not locate the bindings file/.test(message)) {
      const tried = tries.map((t) => path.join(root, ...t.slice(1, -1).map((p) => (p === 'sysalloc_target' ? target : p)), 'sysalloc.node'));
      throw new Error(
        `sysalloc: no native addon for ${where}, Node-API 8: the package has no prebuilt binary for this ` +
          `platform and none was built at install. ${fix}\nLooked for:\n  ${tried.join('\n  ')}`,
        { cause: e },
      );
    }
    throw new Error(`sysalloc: the native addon for ${where} failed to load: ${message}\n${fix}`, { cause: e });
  }
  return { addon, path: addon.path ?? '' };
}

function describeTarget(target: string): string {
  const [platform, arch, libc] = target.split('-');
  return `platform ${platform}, arch ${arch}` + (platform === 'linux' ? `, libc ${libc ?? 'glibc'}` : '');
}

const loaded = loadAddon();

export const native: NativeAddon = loaded.addon;

/** The file the addon was loaded from. */
export const nativePath: string = loaded.path;

// Node only (Bun and Deno may run finalizers inside garbage collection, where
// the checks below cannot run; there a worker's end behaves as before, see
// README "Lifetime"). The last JavaScript an environment runs before Node calls
// every Buffer's finalizer is process 'exit': decide there which blocks' memory
// moved away, and which shared views this thread still holds. A worker's end is
// not the process's: there, keep what it takes to tell the blocks still the
// worker's from those moved away (a weak reference each).
const versions = typeof process === 'object' && process !== null ? (process.versions as Record<string, string | undefined>) : {};
const isNode = versions.node !== undefined && versions.bun === undefined && versions.deno === undefined;
if (typeof process === 'object' && process !== null && typeof process.once === 'function') {
  process.once('exit', () => {
    if (isNode) native.teardownScan();
    native.sharedScan();
  });
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
if (isNode && !(require('worker_threads') as typeof import('worker_threads')).isMainThread) native.trackOwnership();
