'use strict';

// What every part uses: the library under test, the consumer addon that calls
// the shim as C does, sizes.

const path = require('path');
const crypto = require('crypto');

const root = path.join(__dirname, '..', '..');
const sysalloc = require(root);
const { Block, Arena, Pool, AllocError, addressOf, blockStats, shim, pageSize } = sysalloc;
const consumers = require('bindings')({ bindings: 'shim_consumers', module_root: path.join(root, 'test', 'consumers') });

const DISPOSE = Symbol.dispose ?? Symbol.for('nodejs.dispose');
const KiB = 1024;
const MiB = 1024 * KiB;
const PAGE = pageSize();

Object.assign(module.exports, { AllocError, Arena, Block, DISPOSE, KiB, MiB, PAGE, Pool, addressOf, blockStats, consumers, crypto, pageSize, path, root, shim, sysalloc });
