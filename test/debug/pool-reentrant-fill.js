'use strict';
// A checked Pool slot freed inside its own fill(): node
// test/debug/pool-reentrant-fill.js, with or without SYSALLOC_DEBUG. The
// value's valueOf frees the slot while fill() is under way; what fill() then
// writes lands in the freed slot (held until the run ends, so no other
// allocation is touched). Debug mode finds the write at destroy(). The marked
// lines are the sites test/debug.test.ts expects.
const { Pool } = require('../..');

const pool = new Pool({ slotSize: 256, slots: 8, checked: true });
const buf = pool.alloc(); // ALLOC-FILL
let outcome = 'returned';
try {
  buf.fill({
    valueOf() {
      pool.free(buf); // FREE-FILL
      return 0x41;
    },
  });
} catch (error) {
  outcome = `threw ${error.name}`;
}
process.stdout.write(`fill ${outcome}\n`);
pool.destroy();
process.stdout.write('destroyed\n');
