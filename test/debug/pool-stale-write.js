'use strict';
// A fast Pool slot written through a Buffer kept after free(): node
// test/debug/pool-stale-write.js with SYSALLOC_DEBUG=1. The freed slot is
// poisoned and held while other slots are free; the allocation that finally
// hands it out again finds the write and stops the process. The marked lines
// are the sites test/debug.test.ts expects.
const { Pool } = require('../..');

const pool = new Pool({ slotSize: 64, slots: 4 });
const stale = pool.alloc(); // ALLOC-STALE
pool.free(stale); // FREE-STALE
stale[5] = 7;
const others = [pool.alloc(), pool.alloc(), pool.alloc()];
process.stdout.write(`other slots: ${others.length}\n`);
pool.alloc();
process.stdout.write('handed out\n');
