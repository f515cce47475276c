'use strict';
// Blocks left live at exit: node test/debug/leaks.js, with SYSALLOC_DEBUG=1. The
// lines marked LEAK-* are the sites test/debug.test.ts expects in the report.
const { Arena, Block } = require('../..');

const kept = [];
for (let i = 0; i < 3; i++) kept.push(Block.alloc(4096)); // LEAK-SMALL
kept.push(Block.alloc(100000)); // LEAK-LARGE
const arena = new Arena({ capacity: 65536 }); // LEAK-ARENA
arena.alloc(10);
Block.alloc(8192).free(); // FREED
globalThis.kept = kept;
