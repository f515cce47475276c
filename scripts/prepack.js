#!/usr/bin/env node
// npm pack / npm publish: the package holds a fresh dist/ (compiled from lib/
// alone, so no stale file ships) and a prebuilt binary for every target, each
// newer than every file it is built from; otherwise this fails and names the fix.
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const TARGETS = ['linux-x64', 'linux-arm64', 'win32-x64'];

function newest(file) {
  const stat = fs.statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...fs.readdirSync(file).map((name) => newest(path.join(file, name))));
}

const sources = Math.max(newest(path.join(root, 'binding.gyp')), newest(path.join(root, 'native')));
const problems = [];
for (const target of TARGETS) {
  const file = path.join(root, 'prebuilds', target, 'sysalloc.node');
  if (!fs.existsSync(file)) problems.push(`${path.relative(root, file)} is missing`);
  else if (fs.statSync(file).mtimeMs < sources) problems.push(`${path.relative(root, file)} is older than native/ or binding.gyp`);
}
if (problems.length) {
  process.stderr.write(`prepack: ${problems.join('; ')}. Run npm run prebuild first.\n`);
  process.exit(1);
}

fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', 'tsconfig.build.json'],
  { cwd: root, stdio: 'inherit' });
