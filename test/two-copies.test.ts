// Two or more copies of sysalloc in one process (npm nests two versions, and
// both are handed to C libraries): every copy hands out the same shim table, so
// a block from either is freed, resized and measured through either, and
// shim.stats() is the process's. Before, each copy had a shim of its own and
// took the other's blocks for the system allocator's: usable_size, realloc and
// free of them crashed. test/two-copies/child.js does the work in a child node.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const addon = path.join(root, 'build', 'Release', 'sysalloc.node');
const consumers = path.join(root, 'test', 'consumers', 'build', 'Release', 'shim_consumers.node');

interface Step {
  size: number;
  usable: number;
  kept: boolean;
  grown: number;
  shrunk: number;
}

interface Seen {
  tables: string[];
  pointers: string[];
  crossAB: Step[];
  crossBA: Step[];
  statsAgree: boolean;
  counted: Record<string, number>;
  workers: { table: string; cross: Step[] }[];
  mainTable: string;
}

const expectedSteps = (steps: Step[]) => {
  for (const s of steps) {
    expect(s).toEqual({ size: s.size, usable: s.size, kept: true, grown: s.size * 2 + 16, shrunk: s.size });
  }
  expect(steps).toHaveLength(5);
};

describe('two copies of the published addon in one process', () => {
  let seen: Seen;
  beforeAll(() => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysalloc-copies-'));
    try {
      const out = execFileSync(process.execPath, [path.join(__dirname, 'two-copies', 'child.js'), addon, consumers, dir], {
        encoding: 'utf8',
        env: { ...process.env, SYSALLOC_SHIM_TABLE: undefined },
        timeout: 60_000,
      });
      seen = JSON.parse(out);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every copy, on every thread, hands out one table and the same function addresses', () => {
    expect(seen.tables[1]).toBe(seen.tables[0]);
    expect(seen.pointers[1]).toBe(seen.pointers[0]);
    expect(seen.workers.map((w) => w.table)).toEqual([seen.tables[0], seen.tables[0]]);
    expect(seen.mainTable).toBe(seen.tables[0]);
  });

  test("a block from one copy is measured, resized and freed through the other's table", () => {
    expectedSteps(seen.crossAB);
    expectedSteps(seen.crossBA);
  });

  test('the same across threads, with copies that workers loaded at the same moment', () => {
    for (const w of seen.workers) {
      expect(w.cross).toHaveLength(10);
      expectedSteps(w.cross.slice(0, 5));
      expectedSteps(w.cross.slice(5));
    }
  });

  test("shim.stats() is the process's: both copies report the same counters, and nothing went to the system allocator", () => {
    expect(seen.statsAgree).toBe(true);
    expect(seen.counted).toEqual({
      allocations: 10,
      frees: 10,
      reallocations: 20,
      liveBlocks: 0,
      foreignFrees: 0,
      invalidFrees: 0,
    });
  });
});
