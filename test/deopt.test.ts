// Arena's and Pool's fast paths must keep their optimized code across full
// garbage collections (scripts/check-deopt.js reads V8's own deopt trace and
// optimization status; it fails on a Pool that brands its Buffers with a
// private field).
import { spawnSync } from 'child_process';
import * as path from 'path';

test('Arena.alloc, Pool.alloc and Pool.free stay optimized across gc()', () => {
  // The production fast path: debug mode (npm run test:debug sets SYSALLOC_DEBUG)
  // is not held to it (its Block.alloc loses optimized code at full collections).
  const env = { ...process.env };
  delete env.SYSALLOC_DEBUG;
  delete env.SYSALLOC_GUARD_SAMPLE;
  const run = spawnSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'check-deopt.js')], { encoding: 'utf8', env });
  expect(run.stderr).toBe('');
  expect(run.stdout).toMatch(/\nok: Arena\.prototype\.alloc, Pool\.prototype\.alloc, Pool\.prototype\.free stayed optimized across every collection\n$/);
  expect(run.status).toBe(0);
});
