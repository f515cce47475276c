#!/usr/bin/env node
// The package's install script. Installed as a dependency, sysalloc compiles
// nothing when its prebuilt binary for this platform loads (prebuilds/<target>/);
// it runs `node-gyp rebuild` only when none loads, or when asked to
// (`npm rebuild sysalloc --build-from-source`, or SYSALLOC_BUILD_FROM_SOURCE=1).
// In the project's own checkout (not inside a node_modules folder) it always
// compiles: developers test what they change. npm 12 blocks this script unless
// the user approves it; the prebuilt binary is then what loads.
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');

function say(message) {
  process.stderr.write(`sysalloc: ${message}\n`);
}

function truthy(value) {
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

const fromSource = truthy(process.env.npm_config_build_from_source) || truthy(process.env.SYSALLOC_BUILD_FROM_SOURCE);
const inNodeModules = path.basename(path.dirname(fs.realpathSync(root))) === 'node_modules';

// Whether the packaged binary loads, in a child process so that a binary that
// aborts its process cannot take npm with it. dist/native.js is the loader the
// package uses; SYSALLOC_PREBUILT=1 makes it ignore build/.
function prebuiltLoads() {
  const loader = path.join(root, 'dist', 'native.js');
  if (!fs.existsSync(loader)) return { ok: false, why: 'dist/native.js is missing' };
  const child = spawnSync(
    process.execPath,
    ['-e', `process.stdout.write(require(${JSON.stringify(loader)}).nativePath)`],
    { env: { ...process.env, SYSALLOC_PREBUILT: '1' }, encoding: 'utf8' },
  );
  if (child.status === 0) return { ok: true, file: child.stdout };
  const why = (child.stderr || '').split('\n').find((line) => line.startsWith('Error: ')) || `exit ${child.status ?? child.signal}`;
  return { ok: false, why };
}

function nodeGyp() {
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] })];
  } catch {
    return ['node-gyp'];
  }
}

function main() {
  if (inNodeModules && !fromSource) {
    const result = prebuiltLoads();
    if (result.ok) {
      say(`using the prebuilt binary ${path.relative(root, result.file)}`);
      return 0;
    }
    say(`no prebuilt binary loads here (${result.why.replace(/^Error: /, '')}); building from source`);
  }
  const [command, ...args] = nodeGyp();
  // The headers installed beside this node, when there are some and npm names
  // none: node-gyp then downloads nothing.
  const prefix = path.resolve(process.execPath, '..', '..');
  const nodedir = !process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))
    ? [`--nodedir=${prefix}`] : [];
  const child = spawnSync(command, [...args, 'rebuild', ...nodedir], {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32' && command === 'node-gyp',
  });
  if (child.error) {
    say(`could not run node-gyp: ${child.error.message}`);
    return 1;
  }
  return child.status ?? 1;
}

process.exitCode = main();
