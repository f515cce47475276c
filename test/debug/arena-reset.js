'use strict';
// An Arena reset while a thread-pool job still fills one of its Buffers:
// node test/debug/arena-reset.js SIZE, with UV_THREADPOOL_SIZE=1 and SYSALLOC_DEBUG
// set. In debug mode the reset frees the used chunk (to the quarantine) and takes
// a fresh one, so the job's write is caught; the marked lines are the sites
// test/debug.test.ts expects.
const crypto = require('crypto');
const { Arena } = require('../..');

const size = Number(process.argv[2]);
crypto.pbkdf2('password', 'salt', 400000, 32, 'sha256', () => {}); // the one pool thread, busy

const arena = new Arena({ capacity: size }); // ALLOC-ARENA
const old = arena.alloc(size);
// next is checked once the job has run, however long the busy thread takes.
crypto.randomFill(old, (err) => {
  process.stdout.write(`randomFill: ${err ? err.code : 'ok'}\n`);
  process.stdout.write(`next intact: ${next.every((x) => x === 0x62)}\n`);
});
arena.reset(); // RESET-ARENA
const next = arena.alloc(size);
next.fill(0x62);
