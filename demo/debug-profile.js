'use strict';
/*
 * debug-profile.js: the debug mode's memory profile on a small workload.
 *
 * A file is compressed in chunks the way a service might: each chunk is read
 * into a Block, hashed and deflated on the thread pool, and the Block freed
 * once both jobs are done; an Arena per batch holds the batch's headers, reset
 * after each batch; a "cache" keeps one Block in eight, and one code path
 * forgets to free its scratch Block: the leak the report points at.
 *
 * At the end it prints debug.report().text: live Blocks by allocation site
 * (counts, bytes) and by size, and the quarantine of freed Blocks.
 *
 * Run:   npm run demo:debug              (debug mode is switched on by the demo)
 *        npm run demo:debug -- --chunks 64
 */
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { Arena, Block, debug } = require('..');

debug.enable({ reportAtExit: false });

const chunksArg = process.argv.indexOf('--chunks');
const CHUNKS = chunksArg > 0 ? Number(process.argv[chunksArg + 1]) : 32;
const CHUNK = 64 * 1024;
const file = path.join(os.tmpdir(), `sysalloc-debug-demo-${process.pid}.bin`);

const cache = [];
const forgotten = [];

function scratchFor(i) {
  const scratch = Block.alloc(4096 + (i % 4) * 1024, { zero: false });
  if (i % 5 === 0) forgotten.push(scratch); // the leak: this path never frees its scratch block
  else scratch.free();
}

async function processChunk(fd, i, arena) {
  const block = Block.alloc(CHUNK, { zero: false });
  try {
    const { bytesRead } = await new Promise((resolve, reject) =>
      fs.read(fd, block.buffer, 0, CHUNK, i * CHUNK, (err, n) => (err ? reject(err) : resolve({ bytesRead: n }))),
    );
    const data = block.buffer.subarray(0, bytesRead);
    const [digest, packed] = await Promise.all([
      new Promise((resolve) => resolve(crypto.createHash('sha256').update(data).digest('hex'))),
      new Promise((resolve, reject) => zlib.deflate(data, (err, out) => (err ? reject(err) : resolve(out)))),
    ]);
    const header = arena.alloc(64);
    header.write(digest.slice(0, 32));
    scratchFor(i);
    if (i % 8 === 0) cache.push(Block.alloc(packed.length, { zero: false }));
    return packed.length;
  } finally {
    block.free(); // every job using block.buffer has completed: safe
  }
}

async function main() {
  fs.writeFileSync(file, crypto.randomBytes(CHUNKS * CHUNK));
  const fd = fs.openSync(file, 'r');
  let packed = 0;
  try {
    const arena = new Arena({ capacity: 16 * 1024 });
    for (let batch = 0; batch < CHUNKS; batch += 8) {
      const jobs = [];
      for (let i = batch; i < Math.min(CHUNKS, batch + 8); i++) jobs.push(processChunk(fd, i, arena));
      for (const n of await Promise.all(jobs)) packed += n;
      arena.reset();
    }
    console.log(`${CHUNKS} chunks of ${CHUNK} bytes deflated to ${packed} bytes\n`);
    console.log(debug.report().text);
    arena.destroy();
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  for (const b of [...cache, ...forgotten]) b.free();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
