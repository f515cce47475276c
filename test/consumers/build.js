'use strict';

// Builds the test-only consumer addon in this folder with node-gyp, before jest
// runs (npm test's pretest). Configures only when there is no build yet or
// binding.gyp changed; make then rebuilds only what changed.
//
// SQLite comes from sqlite-source.js (an npm package's amalgamation, cached).

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const here = __dirname;
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const makefile = path.join(here, 'build', 'Makefile');

// npm passes its nodedir setting to scripts; run by hand, use the headers
// installed beside this node (NodeSource packages and the official tarballs ship
// them in <prefix>/include/node) rather than download them.
const prefix = path.resolve(process.execPath, '..', '..');
const nodedir =
  process.env.npm_config_nodedir ||
  (fs.existsSync(path.join(prefix, 'include', 'node', 'node_version.h')) ? prefix : undefined);

function run(args) {
  const full = nodedir ? [...args, `--nodedir=${nodedir}`] : args;
  const result = spawnSync(process.execPath, [nodeGyp, ...full], { cwd: here, stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(
      `node-gyp ${args[0]} failed in ${here}.\n`,
    );
    process.exit(result.status === null ? 1 : result.status);
  }
}

const stale = !fs.existsSync(makefile) || fs.statSync(makefile).mtimeMs < fs.statSync(path.join(here, 'binding.gyp')).mtimeMs;
if (stale) run(['configure']);
run(['build']);
