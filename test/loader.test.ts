// How the addon is found: a local build in build/ first, then the packaged
// binary in prebuilds/<target>/, else an Error that names the platform and the fix.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AllocError } from '..';
import { linuxLibc, loadAddon, nativePath, prebuildTarget, PREBUILT_TARGETS } from '../dist/native';

const root = path.resolve(__dirname, '..');
const temps: string[] = [];

function tempRoot(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysalloc-loader-'));
  temps.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

/** A minimal ELF64 little-endian header with one PT_INTERP program header. */
function elfWithInterpreter(interp: string): Buffer {
  const text = Buffer.from(`${interp}\0`, 'latin1');
  const file = Buffer.alloc(64 + 56 + text.length);
  file.write('\x7fELF', 0, 'latin1');
  file[4] = 2; // ELFCLASS64
  file[5] = 1; // little-endian
  file[6] = 1;
  file.writeBigUInt64LE(64n, 0x20); // e_phoff
  file.writeUInt16LE(64, 0x34); // e_ehsize
  file.writeUInt16LE(56, 0x36); // e_phentsize
  file.writeUInt16LE(1, 0x38); // e_phnum
  file.writeUInt32LE(3, 64); // p_type = PT_INTERP
  file.writeBigUInt64LE(120n, 64 + 8); // p_offset
  file.writeBigUInt64LE(BigInt(text.length), 64 + 32); // p_filesz
  text.copy(file, 120);
  return file;
}

describe('the addon in use', () => {
  test('comes from build/ in a checkout, or from prebuilds/ under SYSALLOC_PREBUILT=1', () => {
    const expected =
      process.env.SYSALLOC_PREBUILT === '1'
        ? path.join(root, 'prebuilds', prebuildTarget(), 'sysalloc.node')
        : path.join(root, 'build', 'Release', 'sysalloc.node');
    expect(nativePath).toBe(expected);
    expect(fs.existsSync(nativePath)).toBe(true);
  });

  test('the packaged binary for this platform is found when build/ is skipped', () => {
    const file = path.join(root, 'prebuilds', prebuildTarget(), 'sysalloc.node');
    if (!fs.existsSync(file)) {
      // Without npm run prebuild, the packaged binary cannot be found: a clear error, not a crash.
      expect(thrown(() => loadAddon({ prebuiltOnly: true })).message).toMatch(/no native addon for/);
      return;
    }
    const loaded = loadAddon({ prebuiltOnly: true });
    expect(loaded.path).toBe(file);
    expect(typeof loaded.addon.blockAlloc).toBe('function');
  });
});

describe('the platform folder', () => {
  test('is <platform>-<arch>, with -musl on musl Linux', () => {
    expect(prebuildTarget('linux', 'x64', 'glibc')).toBe('linux-x64');
    expect(prebuildTarget('linux', 'arm64', 'glibc')).toBe('linux-arm64');
    expect(prebuildTarget('linux', 'x64', 'musl')).toBe('linux-x64-musl');
    expect(prebuildTarget('win32', 'x64')).toBe('win32-x64');
    expect(prebuildTarget('darwin', 'arm64')).toBe('darwin-arm64');
    expect(PREBUILT_TARGETS).toEqual(['linux-x64', 'linux-arm64', 'win32-x64']);
  });

  test("the C library is read from the executable's ELF interpreter", () => {
    const dir = tempRoot();
    const musl = path.join(dir, 'musl-exe');
    const glibc = path.join(dir, 'glibc-exe');
    fs.writeFileSync(musl, elfWithInterpreter('/lib/ld-musl-x86_64.so.1'));
    fs.writeFileSync(glibc, elfWithInterpreter('/lib64/ld-linux-x86-64.so.2'));
    expect(linuxLibc(musl)).toBe('musl');
    expect(linuxLibc(glibc)).toBe('glibc');
    // Not an ELF file, or none at all: glibc, the common case.
    fs.writeFileSync(path.join(dir, 'text'), 'hello');
    expect(linuxLibc(path.join(dir, 'text'))).toBe('glibc');
    expect(linuxLibc(path.join(dir, 'missing'))).toBe('glibc');
    if (process.platform === 'linux') expect(linuxLibc()).toBe('glibc'); // Node's official Linux builds
  });
});

describe('when no binary loads', () => {
  test('an Error (not an AllocError) names the platform, arch, libc and the fix', () => {
    const dir = tempRoot();
    const e = thrown(() => loadAddon({ root: dir, target: 'linux-riscv64-musl', prebuiltOnly: false }));
    expect(e).toBeInstanceOf(Error);
    expect(e).not.toBeInstanceOf(AllocError);
    expect(e.message).toContain('no native addon for linux-riscv64-musl (platform linux, arch riscv64, libc musl)');
    expect(e.message).toContain('npm rebuild sysalloc --build-from-source');
    expect(e.message).toContain('npm approve-scripts sysalloc');
    expect(e.message).toContain(path.join(dir, 'build', 'Release', 'sysalloc.node'));
    expect(e.message).toContain(path.join(dir, 'prebuilds', 'linux-riscv64-musl', 'sysalloc.node'));
    expect((e as Error & { cause?: Error }).cause?.message).toMatch(/Could not locate the bindings file/);
  });

  test('a platform the package does not ship, with build/ skipped', () => {
    const e = thrown(() => loadAddon({ root, target: 'darwin-arm64', prebuiltOnly: true }));
    expect(e.message).toContain('darwin-arm64 (platform darwin, arch arm64)');
    expect(e.message).not.toContain(path.join(root, 'build'));
  });

  test('a binary that is there but does not load: the loader says which and why', () => {
    const dir = tempRoot();
    fs.mkdirSync(path.join(dir, 'prebuilds', 'linux-x64'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'prebuilds', 'linux-x64', 'sysalloc.node'), 'not a shared object');
    const e = thrown(() => loadAddon({ root: dir, target: 'linux-x64', prebuiltOnly: false }));
    expect(e).not.toBeInstanceOf(AllocError);
    expect(e.message).toMatch(/^sysalloc: the native addon for linux-x64 \(platform linux, arch x64, libc glibc\) failed to load: /);
    expect(e.message).toContain('npm rebuild sysalloc --build-from-source');
    // The system's own reason, which names the file ("invalid ELF header", "Bad EXE format").
    expect((e as Error & { cause?: Error }).cause?.message).toContain('sysalloc.node');
  });
});
