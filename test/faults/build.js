'use strict';

// Builds the test-only testing addons with node-gyp, before jest runs (npm
// test's pretest): test/faults (sysalloc_testing: the fault switch) and, on
// Linux, test/asan (sysalloc_testing_asan: the same with AddressSanitizer and
// UBSan, whose runtimes gcc ships with g++). Configures a folder only when it has
// no build yet or its binding.gyp changed; make then rebuilds only what changed.

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const dirs = [__dirname, ...(process.platform === 'linux' ? [path.join(__dirname, '..', 'asan')] : [])];

// npm passes its nodedir setting to scripts; run by hand, use the headers
// installed beside this node rather than download them.
const prefix = path.resolve(process.execPath, '..', '..');
const nodedir =
  process.env.npm_config_nodedir ||
  (fs.existsSync(path.join(prefix, 'include', 'node', 'node_version.h')) ? prefix : undefined);

function run(dir, args) {
  const full = nodedir ? [...args, `--nodedir=${nodedir}`] : args;
  const result = spawnSync(process.execPath, [nodeGyp, ...full], { cwd: dir, stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(`node-gyp ${args[0]} failed in ${dir}.\n`);
    process.exit(result.status === null ? 1 : result.status);
  }
}

for (const dir of dirs) {
  const makefile = path.join(dir, 'build', 'Makefile');
  const gyp = path.join(dir, 'binding.gyp');
  if (!fs.existsSync(makefile) || fs.statSync(makefile).mtimeMs < fs.statSync(gyp).mtimeMs) run(dir, ['configure']);
  run(dir, ['build', '--jobs', 'max']);
}
