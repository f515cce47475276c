'use strict';
// A Pool slot freed while a thread-pool job still fills it: node
// test/debug/pool-in-flight.js fast|checked, with UV_THREADPOOL_SIZE=1, with or
// without SYSALLOC_DEBUG. The next allocation, a turn later, takes the freed
// slot again without debug mode, so the job's write lands in it; in debug mode
// the freed slot is poisoned and held, and destroy() finds the job's write in
// it. The marked lines are the sites test/debug.test.ts expects.
const crypto = require('crypto');
const { Pool } = require('../..');

const checked = process.argv[2] === 'checked';
crypto.pbkdf2('password', 'salt', 400000, 32, 'sha256', () => {}); // the one pool thread, busy

const pool = new Pool({ slotSize: 256, slots: 8, checked });
const slot = pool.alloc(); // ALLOC-SLOT
let next;
crypto.randomFill(slot, (err) => {
  process.stdout.write(`randomFill: ${err ? err.code : 'ok'}\n`);
  process.stdout.write(`next intact: ${next.every((x) => x === 0x62)}\n`);
  pool.free(next);
  pool.destroy(); // DESTROY
  process.stdout.write('destroyed\n');
});
pool.free(slot); // FREE-SLOT
setImmediate(() => {
  next = pool.alloc();
  next.fill(0x62);
});
