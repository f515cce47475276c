'use strict';
// The in-flight misuse of in-flight.js, inside a worker thread: the worker
// allocates and frees, a thread-pool job still writes the freed block. The
// lines marked ALLOC-W and FREE-W are the sites test/debug.test.ts expects.
const { Worker, isMainThread } = require('worker_threads');

if (isMainThread) {
  new Worker(__filename).on('error', (err) => process.stdout.write(`worker error: ${err.message}\n`));
} else {
  const crypto = require('crypto');
  const { Block, debug } = require('../..');
  crypto.pbkdf2('password', 'salt', 400000, 32, 'sha256', () => {});
  const a = Block.alloc(4096); // ALLOC-W
  crypto.randomFill(a.buffer, () => process.stdout.write(`b intact: ${b.buffer.every((x) => x === 0x62)}\n`));
  const address = a.address;
  a.free(); // FREE-W
  const b = Block.alloc(4096, { zero: false });
  b.buffer.fill(0x62);
  process.stdout.write(`a ${address} catcher ${debug.report().quarantine.catcher}\n`);
}
