'use strict';

// The command line.

const { crypto } = require('./env');

function usage(message) {
  if (message) process.stderr.write(`fuzz: ${message}\n`);
  process.stderr.write('usage: npm run fuzz -- [--seed N] [--seconds N | --ops N] [--verbose]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const out = { seed: undefined, seconds: 60, ops: undefined, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const number = (name) => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) usage(`${name} takes a non-negative integer, got ${argv[i]}`);
      return v;
    };
    if (arg === '--seed') out.seed = number('--seed') >>> 0;
    else if (arg === '--seconds') out.seconds = number('--seconds');
    else if (arg === '--ops') out.ops = number('--ops');
    else if (arg === '--verbose') out.verbose = true;
    else if (arg === '--help' || arg === '-h') usage();
    else usage(`unknown argument ${arg}`);
  }
  if (out.seed === undefined) out.seed = crypto.randomInt(2 ** 32 - 1);
  return out;
}

Object.assign(module.exports, { parseArgs, usage });
