// The shim plugged into real C libraries through the function table, as another
// addon would: Node's own zlib, the system's SQLite, and Node's own libuv.
import { spawnSync } from 'child_process';
import path = require('path');

import { shim, ShimStats } from '..';
import { consumers as c } from './consumers';

const MiB = 1 << 20;

function changed(before: ShimStats, after: ShimStats) {
  return {
    allocations: after.allocations - before.allocations,
    reallocations: after.reallocations - before.reallocations,
    frees: after.frees - before.frees,
    liveBlocks: after.liveBlocks - before.liveBlocks,
    liveBytes: after.liveBytes - before.liveBytes,
    foreignFrees: after.foreignFrees - before.foreignFrees,
    invalidFrees: after.invalidFrees - before.invalidFrees,
  };
}

beforeAll(() => {
  c.setApi(shim.pointers().table);
});

describe('zlib (Node\'s own) with zalloc/zfree from the shim', () => {
  // Text-like input: words from a small vocabulary picked by a fixed LCG, so it
  // compresses, but not to nothing.
  function input(bytes: number): Buffer {
    const words = ['allocator', 'block', 'header', 'zlib', 'free', 'realloc', 'granule', 'thread', 'size', 'class'];
    const out = Buffer.alloc(bytes);
    let state = 12345;
    let at = 0;
    while (at < bytes) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      const word = words[state % words.length] + (state % 7 === 0 ? `${state % 1000}\n` : ' ');
      at += out.write(word, at);
    }
    return out;
  }

  const data = input(12 * MiB);

  test.each([1, 6])('level %d: 12 MiB deflated and inflated back, every block counted and returned', (level) => {
    const before = shim.stats();
    const r = c.zlibRoundTrip(data, level);
    const after = shim.stats();

    expect(r.output.equals(data)).toBe(true);
    expect(r.compressedLength).toBeLessThan(data.length / 2);
    expect(r.compressedLength).toBeGreaterThan(data.length / 50);
    expect(r.deflate.allocations).toBeGreaterThan(0);
    expect(r.inflate.allocations).toBeGreaterThan(0);
    for (const stream of [r.deflate, r.inflate]) {
      expect(stream.frees).toBe(stream.allocations);
      // While the stream was open the shim held exactly what zlib asked for.
      expect(stream.shimLiveBytesWhileOpen).toBe(stream.hookLiveBytesWhileOpen);
      expect(stream.shimLiveBytesWhileOpen).toBeGreaterThan(32 * 1024);
      expect(stream.shimLiveBytesAfterEnd).toBe(0);
    }
    expect(changed(before, after)).toEqual({
      allocations: r.deflate.allocations + r.inflate.allocations,
      reallocations: 0,
      frees: r.deflate.frees + r.inflate.frees,
      liveBlocks: 0,
      liveBytes: 0,
      foreignFrees: 0,
      invalidFrees: 0,
    });
    expect(after.peakBytes).toBeGreaterThanOrEqual(before.liveBytes + r.deflate.peakLiveBytes);
  });
});

describe('SQLite (its amalgamation, compiled into the test addon) with SQLITE_CONFIG_MALLOC from the shim', () => {
  const ROWS = 10000;
  let installedAt: ShimStats;

  beforeAll(() => {
    installedAt = shim.stats();
    c.sqliteInstall();
  });

  afterAll(() => {
    c.sqliteUninstall();
  });

  test('create, insert 10,000 rows, query, close: sqlite3_memory_used() equals the shim\'s live bytes throughout', () => {
    const usedAtStart = c.sqliteMemoryUsed();
    const before = shim.stats();
    const inStep = () => {
      const used = c.sqliteMemoryUsed() - usedAtStart;
      const live = shim.stats().liveBytes - before.liveBytes;
      expect(live).toBe(used);
      return used;
    };

    c.sqliteOpen(':memory:');
    expect(inStep()).toBeGreaterThan(0);
    c.sqliteExec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score INTEGER NOT NULL, payload BLOB)');
    c.sqliteExec('CREATE INDEX t_score ON t (score)');
    inStep();
    c.sqliteInsertRows(ROWS);
    expect(inStep()).toBeGreaterThan(MiB);

    let scoreSum = 0;
    let payloadBytes = 0;
    const byDigit = new Map<number, number>();
    for (let i = 0; i < ROWS; i++) {
      const score = (i * 3) % 1000;
      scoreSum += score;
      payloadBytes += i % 300;
      byDigit.set(score % 10, (byDigit.get(score % 10) ?? 0) + 1);
    }
    expect(c.sqliteQuery('SELECT count(*), sum(score), max(length(name)), sum(length(payload)) FROM t')).toEqual([
      [ROWS, scoreSum, 97, payloadBytes],
    ]);
    inStep();
    const grouped = c.sqliteQuery('SELECT score % 10 AS digit, count(*) FROM t GROUP BY digit ORDER BY digit');
    expect(grouped).toEqual([...byDigit.entries()].sort((a, b) => a[0] - b[0]));
    expect(c.sqliteQuery('SELECT name FROM t WHERE id = 1234')).toEqual([[`name-1234${'x'.repeat((1 + (1234 % 97)) - 9)}`]]);
    expect(c.sqliteQuery('SELECT count(*) FROM t WHERE score BETWEEN 100 AND 199')).toEqual([[ROWS / 10]]);
    inStep();
    // Each page of an in-memory database is one allocation of SQLite's page
    // cache (apart from the first PCACHE_INITSZ, 20, which come in one bulk).
    const [[pages]] = c.sqliteQuery('PRAGMA page_count') as number[][];
    expect(pages).toBeGreaterThan(100);

    c.sqliteClose();
    expect(c.sqliteMemoryUsed()).toBe(usedAtStart);
    const after = shim.stats();
    expect(after.liveBytes).toBe(before.liveBytes);
    const change = changed(before, after);
    expect(change.allocations).toBeGreaterThanOrEqual(pages - 20);
    expect(change).toEqual({
      allocations: change.allocations,
      reallocations: change.reallocations,
      frees: change.allocations,
      liveBlocks: 0,
      liveBytes: 0,
      foreignFrees: 0,
      invalidFrees: 0,
    });
  });

  test('after sqlite3_shutdown nothing of SQLite\'s is left in the shim', () => {
    c.sqliteUninstall();
    expect(shim.stats().liveBytes).toBe(installedAt.liveBytes);
    expect(shim.stats().liveBlocks).toBe(installedAt.liveBlocks);
    c.sqliteInstall();
  });
});

describe('libuv inside Node: uv_replace_allocator with the shim on Node\'s own libuv', () => {
  test('timers, fs, a child process and sockets work, old blocks come back foreign, and the process exits normally', () => {
    const child = spawnSync(process.execPath, [path.join(__dirname, 'consumers', 'uv-child.js')], {
      encoding: 'utf8',
      timeout: 60000,
    });
    expect(child.error).toBeUndefined();
    expect(child.stderr).toBe('');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    const steps = JSON.parse(child.stdout);
    expect(steps.replaceResult).toBe(0);
    expect(steps.fs).toEqual({ files: 41, bytes: 1 + (97 * 39 * 40) / 2, real: true, readBack: 39 * 97 });
    expect(steps.child).toBe('42');
    expect(steps.sockets).toBe(300);
    // Closing handles opened before the swap freed system blocks through the shim.
    expect(steps.afterClosingOldHandles.foreignFrees - steps.before.foreignFrees).toBeGreaterThan(0);
    expect(steps.exit.foreignFrees).toBeGreaterThan(0);
    // libuv allocated through the shim, and nothing it gave the shim was invalid.
    expect(steps.exit.allocations).toBeGreaterThan(steps.before.allocations);
    expect(steps.exit.frees).toBeGreaterThan(steps.before.frees);
    expect(steps.exit.invalidFrees).toBe(0);
  });
});
