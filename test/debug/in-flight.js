'use strict';
// A thread-pool job still holding a Block's memory when the Block is freed:
// node test/debug/in-flight.js KIND SIZE, with UV_THREADPOOL_SIZE=1. The lines
// marked ALLOC-A and FREE-A are the sites test/debug.test.ts expects in the report.
const crypto = require('crypto');
const fs = require('fs');
const zlib = require('zlib');
const { Block, debug } = require('../..');

const [kind, sizeArg, file] = process.argv.slice(2);
const size = Number(sizeArg);
// One pool thread, busy for a while: the job below starts only after a.free().
crypto.pbkdf2('password', 'salt', 400000, 32, 'sha256', () => {});

const a = Block.alloc(size); // ALLOC-A
a.buffer.fill(0x61);
// b is checked once the job has run, however long the busy thread takes.
const done = (what) => (err, result) => {
  process.stdout.write(`${what}: ${err ? err.code : 'ok'} ${typeof result === 'number' ? result : ''}\n`);
  process.stdout.write(`b intact: ${b.buffer.every((x) => x === 0x62)}\n`);
  b.free();
};
if (kind === 'read') fs.read(fs.openSync(file, 'r'), a.buffer, 0, size, 0, done('read'));
if (kind === 'write') fs.write(fs.openSync(file, 'w'), a.buffer, 0, size, 0, done('write'));
if (kind === 'randomFill') crypto.randomFill(a.buffer, done('randomFill'));
if (kind === 'deflate') zlib.deflate(a.buffer, done('deflate'));
const address = a.address;
a.free(); // FREE-A
const b = Block.alloc(size, { zero: false });
b.buffer.fill(0x62);
process.stdout.write(`a ${address} b ${b.address} catcher ${debug.report().quarantine.catcher}\n`);
