// npm run test:asan must fail on a memory bug. A child node with the ASan
// runtime preloaded, under the options of that run (test/asan/options.js),
// calls the deliberate bugs of the sanitized testing addon (test/asan/binding.gyp,
// test/faults/testing.cc); each must stop the child with the sanitizer's report
// and its exit status. A control child runs the same addon clean, so the
// failures come from the bugs, not from the setup.
import { execFileSync, spawnSync } from 'child_process';
import path = require('path');

const options: {
  ASAN_OPTIONS: string;
  UBSAN_OPTIONS: string;
  LSAN_OPTIONS: string;
  ASAN_EXIT: number;
  UBSAN_EXIT: number;
} = require('./asan/options');

const linux = process.platform === 'linux';
const run = linux ? test : test.skip;

function child(body: string) {
  const script = `
    const addon = require('bindings')({ bindings: 'sysalloc_testing_asan', module_root: ${JSON.stringify(path.join(__dirname, 'asan'))} });
    const t = addon.testing;
    if (!t.sanitized) throw new Error('not the sanitized build');
    ${body}
  `;
  // gcc itself, run under test:asan's preloaded runtime, would report its own leaks.
  const runtime = execFileSync('gcc', ['-print-file-name=libasan.so'], {
    encoding: 'utf8',
    env: { ...process.env, LD_PRELOAD: '' },
  }).trim();
  return spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    cwd: path.join(__dirname, '..'),
    // The options as they are, without test:asan's log_path: reports on stderr.
    env: {
      ...process.env,
      LD_PRELOAD: runtime,
      ASAN_OPTIONS: options.ASAN_OPTIONS,
      UBSAN_OPTIONS: options.UBSAN_OPTIONS,
      LSAN_OPTIONS: options.LSAN_OPTIONS,
    },
  });
}

describe('sanitizers (linux only: gcc builds the ASan addon; mingw-w64 has no ASan)', () => {
  run('control: the sanitized addon runs clean (blocks, a view, the shim)', () => {
    const result = child(`
      const bytes = [];
      for (const size of [1, 100, 4096, 65536, 1 << 20, 3 << 20]) {
        const b = addon.blockAlloc(size, 4096, true);
        b.fill(1);
        bytes.push(b.length);
        if (addon.blockFree(b) !== addon.status.ok) throw new Error('free');
      }
      const block = addon.blockAlloc(65536, 4096, false);
      const view = addon.viewWrap(block, 4096, 100);
      view.fill(2);
      addon.viewDetach(view);
      addon.blockFree(block);
      t.shimTable(addon.shimPointers().table);
      for (const n of [0, 16, 1000, 1 << 20, 5 << 20]) {
        const p = t.malloc(n);
        t.fill(p, n, 3);
        const q = t.realloc(p, n * 2 + 1);
        if (!t.check(q, n, 3)) throw new Error('contents');
        t.free(q);
      }
      console.log(JSON.stringify({ bytes, live: addon.stats().liveBlocks, shim: addon.shimStats().liveBlocks }));
    `);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ bytes: [1, 100, 4096, 65536, 1 << 20, 3 << 20], live: 0, shim: 0 });
  });

  run('an off-by-one heap write stops the process with ASan\'s heap-buffer-overflow report', () => {
    const result = child(`
      console.log('before');
      t.overflowByOne(16);
      console.log('after');
    `);
    expect(result.stdout).toBe('before\n');
    expect(result.status).toBe(options.ASAN_EXIT);
    expect(result.stderr).toContain('ERROR: AddressSanitizer: heap-buffer-overflow');
    expect(result.stderr).toContain('WRITE of size 1');
    expect(result.stderr).toContain('0 bytes to the right of 16-byte region');
    expect(result.stderr).toMatch(/in OverflowByOne .*testing\.cc/);
  });

  run('a block never freed fails the process at exit with LeakSanitizer\'s report', () => {
    const result = child(`
      t.leakOnce(4000);
      console.log('exiting');
    `);
    expect(result.stdout).toBe('exiting\n');
    expect(result.status).toBe(options.ASAN_EXIT);
    expect(result.stderr).toContain('ERROR: LeakSanitizer: detected memory leaks');
    expect(result.stderr).toContain('Direct leak of 4000 byte(s) in 1 object(s)');
    expect(result.stderr).toMatch(/in LeakOnce .*testing\.cc/);
  });

  run('a signed integer overflow stops the process with UBSan\'s report', () => {
    const result = child(`
      console.log('before');
      t.signedOverflow(2147483647, 1);
      console.log('after');
    `);
    expect(result.stdout).toBe('before\n');
    expect(result.status).toBe(options.UBSAN_EXIT);
    expect(result.stderr).toContain('runtime error: signed integer overflow: 2147483647 + 1 cannot be represented');
    expect(result.stderr).toMatch(/in SignedOverflow .*testing\.cc/);
  });
});
