#!/usr/bin/env node
'use strict';

// npm run fuzz [-- --seed N] [--seconds N | --ops N] [--verbose]
//
// Seeded random operation sequences across Block, Arena, Pool and the shim,
// interleaved in one process, for a set time (default 60 s) or a set number of
// operations. Every live allocation holds a pattern derived from its id, written
// when it is made and verified before it is freed, resized or reset and at
// random checkpoints; every allocation is checked for alignment, for lying
// inside the memory its allocator manages, and against every other live
// allocation (of any kind) for overlap by address; the counters (blockStats,
// shim.stats, used + available) are held to a ledger kept here; use after free,
// double free and foreign pointers must be refused as the README says. At the
// end everything is freed and the counters must be back at their baseline.
//
// It also breaks the addMemory contract now and then (frees a Block an Arena or
// a Pool owns), where the README promises memory safety all the same.
//
// Each operation draws from a generator seeded by (seed, operation index), so a
// failure at op I of seed S replays with --seed S --ops I+1 (--ops wins over
// --seconds; --verbose names each op). Addresses differ from run to run, so a
// failure that depends on where memory lands may take a few replays. Exit
// status: 0 when every check held, 1 on the first failure (with the seed and the
// op index), 2 for a bad command line. Needs node --expose-gc (npm run fuzz
// passes it).
//
// The shim is driven through the test-only consumer addon (test/consumers/),
// which calls the shim's function table as a C library would: npm run fuzz
// builds it first.
//
// The parts are under scripts/fuzz/: env, args, rng, checks, state, block,
// arena, pool, shim, counters, run.

require('./fuzz/run').main();
