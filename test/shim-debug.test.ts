// The shim in debug mode (native/shim/tracking.h): a double free, a realloc of
// a freed block and a free of a pointer the shim never issued are reported on
// stderr with the callers' names, then handled as without debug mode; live
// shim blocks are in debug.report() and the exit report by caller. The misuse
// runs in child processes (test/debug/shim.js) from the testing addon's
// exported callers, which the reports must name.
import { spawnSync } from 'child_process';
import path = require('path');

const fixture = path.join(__dirname, 'debug', 'shim.js');
const windows = process.platform === 'win32';

/** How a report names one of the testing addon's callers: symbol and offset where dladdr finds it, module and offset on Windows. */
function caller(name: string): string {
  return windows ? 'sysalloc_testing\\.node\\+0x[0-9a-f]+' : `sysalloc_testing\\.node\\(${name}\\+0x[0-9a-f]+\\)`;
}

interface Outcome {
  stderr: string;
  status: number | null;
  signal: NodeJS.Signals | null;
  lines: Array<Record<string, any>>;
}

function run(kind: string, debug: boolean, report = false): Outcome {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.SYSALLOC_DEBUG;
  delete env.SYSALLOC_DEBUG_REPORT;
  delete env.SYSALLOC_GUARD_SAMPLE;
  if (debug) env.SYSALLOC_DEBUG = '1';
  if (debug && !report) env.SYSALLOC_DEBUG_REPORT = '0';
  if (process.env.ASAN_OPTIONS !== undefined) env.ASAN_OPTIONS = `${process.env.ASAN_OPTIONS}:detect_leaks=0`;
  const result = spawnSync(process.execPath, [fixture, kind], { encoding: 'utf8', env, timeout: 60000 });
  const lines = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
  return { stderr: result.stderr, status: result.status, signal: result.signal, lines };
}

describe('the shim in debug mode', () => {
  test('a double free names the block, its allocation and free sites and the second caller, and is counted as before', () => {
    const on = run('double-free', true);
    const off = run('double-free', false);
    expect(on.status).toBe(0);
    expect(on.stderr).toMatch(
      new RegExp(
        `sysalloc debug: double free of shim block 0x[0-9a-f]+ \\(100 bytes\\), already freed; ignored\\n` +
          `  allocated by: ${caller('sysalloc_testing_shim_malloc')}\\n` +
          `  freed by:     ${caller('sysalloc_testing_shim_free')}\\n` +
          `  again by:     ${caller('sysalloc_testing_shim_free')}\\n`,
      ),
    );
    expect(off.status).toBe(0);
    expect(off.stderr).not.toMatch(/sysalloc debug/);
    const stats = (o: Outcome) => o.lines[o.lines.length - 1].stats;
    expect(stats(on).invalidFrees).toBe(1);
    expect(stats(on)).toMatchObject({ allocations: 1, frees: 1, liveBlocks: 0, liveBytes: 0 });
    expect(stats(on)).toEqual(stats(off));
    expect(on.lines[0].report).toMatchObject({ liveBlocks: 0, heldBlocks: 1, reported: 1 });
  });

  test('a realloc of a freed block is reported and fails with NULL as before', () => {
    const on = run('realloc-freed', true);
    const off = run('realloc-freed', false);
    expect(on.stderr).toMatch(
      new RegExp(
        `sysalloc debug: realloc of shim block 0x[0-9a-f]+ \\(200 bytes\\), already freed; ignored\\n` +
          `  allocated by: ${caller('sysalloc_testing_shim_malloc')}\\n` +
          `  freed by:     ${caller('sysalloc_testing_shim_free')}\\n` +
          `  again by:     ${caller('sysalloc_testing_shim_realloc')}\\n`,
      ),
    );
    expect(on.lines[0].realloc).toBe('0');
    expect(off.lines[0].realloc).toBe('0');
    expect(on.lines[1].stats).toEqual(off.lines[1].stats);
  });

  test('a free of a pointer inside a block is reported with its caller and ignored as before', () => {
    const on = run('interior', true);
    const off = run('interior', false);
    expect(on.stderr).toMatch(
      new RegExp(
        `sysalloc debug: free of 0x[0-9a-f]+, a pointer the shim never issued \\(inside its memory, not a live block's start; ignored\\)\\n` +
          `  by: ${caller('sysalloc_testing_shim_free')}\\n`,
      ),
    );
    expect(on.stderr.match(/sysalloc debug:/g)).toHaveLength(1);
    expect(on.lines[0].stats).toMatchObject({ invalidFrees: 1, frees: 1, liveBlocks: 0 });
    expect(on.lines[0].stats).toEqual(off.lines[0].stats);
  });

  // C libraries free memory they had before the shim was plugged in (libuv
  // does); such a pointer cannot be told from a wild one, so it is not reported.
  test("a free of the system allocator's block is handed to it as before, without a report", () => {
    const on = run('foreign', true);
    const off = run('foreign', false);
    expect(on.stderr).not.toContain('sysalloc debug:');
    expect(on.lines[0].stats).toMatchObject({ foreignFrees: 1, invalidFrees: 0 });
    expect(on.lines[0].stats).toEqual(off.lines[0].stats);
  });

  test('live shim blocks are in debug.report() and the exit report, by caller', () => {
    const on = run('leak', true, true);
    expect(on.status).toBe(0);
    const shim = on.lines[0].report;
    expect(shim).toMatchObject({ liveBlocks: 4, liveBytes: 48 + 48 + 300 + 5000, reported: 0, heldBlocks: 1 });
    // One call site each: realloc(NULL, 300) and the moving realloc share sysalloc_testing_shim_realloc's.
    expect(shim.sites).toHaveLength(2);
    const [reallocated, allocated] = shim.sites;
    expect(reallocated).toMatchObject({ count: 2, bytes: 5300 });
    expect(reallocated.site).toMatch(new RegExp(`^${caller('sysalloc_testing_shim_realloc')}$`));
    expect(allocated).toMatchObject({ count: 2, bytes: 96 });
    expect(allocated.site).toMatch(new RegExp(`^${caller('sysalloc_testing_shim_malloc')}$`));
    expect(on.stderr).toMatch(
      new RegExp(
        `live shim blocks: 4, 5396 bytes; by the code that allocated them \\(bytes, count, caller\\):\\n` +
          ` +5300 +2  ${caller('sysalloc_testing_shim_realloc')}\\n` +
          ` +96 +2  ${caller('sysalloc_testing_shim_malloc')}\\n`,
      ),
    );
    const off = run('leak', false);
    expect(off.stderr).not.toMatch(/sysalloc debug|live shim blocks/);
    expect(off.lines[0].report).toMatchObject({ liveBlocks: 0, sites: [] });
    expect(off.lines[0].stats).toEqual(on.lines[0].stats);
  });
  test('a freed block is filled with the poison 0xdd while it is held', () => {
    const on = run('poison', true);
    expect(on.status).toBe(0);
    expect(on.lines[0]).toEqual({ poisoned: true });
  });

  test('a write into a freed block is reported with its sites when the block leaves the hold, and stops the process', () => {
    const on = run('write-after-free', true);
    // abort(): SIGABRT on POSIX, status 3 on Windows.
    if (windows) expect(on.status).toBe(3);
    else expect(on.signal).toBe('SIGABRT');
    expect(on.lines).toEqual([]);
    expect(on.stderr).toMatch(
      new RegExp(
        `sysalloc debug: use after free: byte 40 of freed shim block 0x[0-9a-f]+ \\(100 bytes\\) was written: ` +
          `it holds 0x5a, not the poison 0xdd; found when the block left the hold\\n` +
          `  allocated by: ${caller('sysalloc_testing_shim_malloc')}\\n` +
          `  freed by:     ${caller('sysalloc_testing_shim_free')}\\n`,
      ),
    );
  });
});
