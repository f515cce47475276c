'use strict';
// The worker of the runtime suite's sharing test: opens the shared block and
// the shared pool the main thread posted, proves the memory is the same, and
// lets go of both.
const { parentPort, workerData } = require('worker_threads');
const path = require('path');
const { Block, Pool, addressOf } = require(path.join(__dirname, '..', '..', 'dist', 'index.js'));

const block = Block.fromShared(workerData.block);
const text = block.buffer.toString('latin1', 0, 6);
block.buffer.write('worker', 8);
const pool = Pool.fromShared(workerData.pool);
const slot = pool.alloc();
slot.fill(7);
const used = pool.used;
const slotAddress = addressOf(slot);
pool.free(slot);
pool.destroy();
parentPort.postMessage({ address: block.address, text, sab: block.buffer.buffer instanceof SharedArrayBuffer, used,
  slotAddress });
block.free();
