// The fast paths of Arena, Pool and Block must keep their optimized code across
// full garbage collections (scripts/check-deopt.js reads V8's own deopt trace and
// optimization status; it fails on a Pool that brands its Buffers with a
// private field, and on a Block class whose map nothing keeps alive).
import { spawnSync } from 'child_process';
import * as path from 'path';

test('Arena.alloc, Pool.alloc, Pool.free, Block.alloc, block.free and block.buffer stay optimized across gc()', () => {
  // The production fast path: debug mode (npm run test:debug sets SYSALLOC_DEBUG)
  // is not held to it (its Block.alloc loses optimized code at full collections).
  const env = { ...process.env };
  delete env.SYSALLOC_DEBUG;
  delete env.SYSALLOC_GUARD_SAMPLE;
  const run = spawnSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'check-deopt.js')], { encoding: 'utf8', env });
  expect(run.stderr).toBe('');
  expect(run.stdout).toMatch(
    /\nok: Arena\.prototype\.alloc, Pool\.prototype\.alloc, Pool\.prototype\.free, Block\.alloc, Block\.prototype\.free, Block\.prototype\.buffer stayed optimized across every collection\n$/,
  );
  expect(run.status).toBe(0);
});
