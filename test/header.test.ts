// The public header, native/include/sysalloc.h, as another addon's compiler sees
// it: its version is the package's, it compiles alone as C99 and C++17 with
// warnings as errors, and its attributes reach the compiler (a discarded
// allocation is a warning).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const header = fs.readFileSync(path.join(root, 'native', 'include', 'sysalloc.h'), 'utf8');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
const windows = process.platform === 'win32';

function macro(name: string): number {
  const m = new RegExp(`^#define ${name} (\\d+)$`, 'm').exec(header);
  if (m === null) throw new Error(`${name} is not defined as a number in sysalloc.h`);
  return Number(m[1]);
}

// Compiles source (C or C++) that includes the header; the compiler's status and output.
function compile(lang: 'c' | 'c++', source: string, extra: string[] = []) {
  const compiler = lang === 'c' ? 'cc' : 'c++';
  const std = lang === 'c' ? '-std=c99' : '-std=c++17';
  return spawnSync(
    compiler,
    // -c, not -fsyntax-only: gcc's C front end warns about an unused result only when it generates code.
    ['-x', lang, std, '-c', '-o', os.devNull, '-Wall', '-Wextra', '-Werror', '-pedantic', `-I${path.join(root, 'native', 'include')}`, ...extra, '-'],
    // Without test:asan's preloaded ASan runtime: the compiler is not under test.
    {
      input: `#include "sysalloc.h"\n${source}\n`,
      encoding: 'utf8',
      env: { ...process.env, LD_PRELOAD: undefined, ASAN_OPTIONS: undefined },
    },
  );
}

test('SYSALLOC_VERSION is the package version', () => {
  const [major, minor, patch] = pkg.version.split('.').map(Number);
  expect([macro('SYSALLOC_VERSION_MAJOR'), macro('SYSALLOC_VERSION_MINOR'), macro('SYSALLOC_VERSION_PATCH')]).toEqual([
    major,
    minor,
    patch,
  ]);
  expect(header).toMatch(/#define SYSALLOC_VERSION \(SYSALLOC_VERSION_MAJOR \* 10000 \+ SYSALLOC_VERSION_MINOR \* 100 \+ SYSALLOC_VERSION_PATCH\)/);
});

test('the ABI carries no layout constants and one name per thing', () => {
  expect(header).not.toMatch(/SYSALLOC_HEADER_SIZE|SYSALLOC_SMALL_MAX/);
  // struct sysalloc_stats is the type; the function is sysalloc_get_stats.
  expect(header).not.toMatch(/\bsysalloc_stats\s*\(/);
  expect(header).toMatch(/void sysalloc_get_stats\(struct sysalloc_stats\* out\)/);
});

(windows ? describe.skip : describe)('compiled alone (skipped on Windows: no cc there)', () => {
  const use = 'int use(void) { void* p = sysalloc_malloc(8); sysalloc_free(p); return sysalloc_api_at(0) == 0 && SYSALLOC_VERSION >= 100 ? 0 : 1; }';

  test.each(['c', 'c++'] as const)('as %s, warnings as errors', (lang) => {
    const r = compile(lang, use);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test.each(['c', 'c++'] as const)('as %s, discarding what sysalloc_malloc returns is a warning', (lang) => {
    const r = compile(lang, 'void drop(void) { sysalloc_malloc(8); }');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/sysalloc_malloc/);
    expect(r.stderr).toMatch(/unused-result|nodiscard|warn_unused_result|ignoring return value/);
  });
});
