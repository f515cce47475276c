#!/usr/bin/env node
// Mirrors the project into a stage folder for npm run test:asan (scripts/asan.sh),
// where every addon is built with the sanitizers and jest runs against them,
// so the project's own build/ folders are never touched.
//
//   node scripts/asan-stage.js <stage>
//
// Copies what the tests read (package.json, dist/, lib/, native/, test/, the
// configs), keeping modification times so that make rebuilds only what changed;
// removes what the project no longer has; keeps the stage's build/ (and
// node_modules/ stamp) folders; links node_modules.
'use strict';

const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const stage = path.resolve(process.argv[2] || '');
if (!process.argv[2] || stage === root) {
  console.error('usage: node scripts/asan-stage.js <stage folder>');
  process.exit(2);
}

// Top-level entries the tests do not read, and folders never copied at any depth.
const SKIP_TOP = new Set(['bench']);
const SKIP_ANY = new Set(['node_modules', 'build', '.odirect']);

function sync(from, to, top) {
  fs.mkdirSync(to, { recursive: true });
  const wanted = new Set();
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const name = entry.name;
    if (name.startsWith('.') || SKIP_ANY.has(name) || (top && SKIP_TOP.has(name))) continue;
    wanted.add(name);
    const src = path.join(from, name);
    const dst = path.join(to, name);
    if (entry.isDirectory()) {
      sync(src, dst, false);
    } else if (entry.isFile()) {
      const s = fs.statSync(src);
      const d = fs.existsSync(dst) ? fs.statSync(dst) : null;
      if (!d || d.size !== s.size || d.mtimeMs !== s.mtimeMs) {
        fs.copyFileSync(src, dst);
        fs.utimesSync(dst, s.atime, s.mtime);
      }
    }
  }
  for (const name of fs.readdirSync(to)) {
    if (wanted.has(name) || name === 'build' || name === 'node_modules') continue;
    fs.rmSync(path.join(to, name), { recursive: true, force: true });
  }
}

sync(root, stage, true);
const link = path.join(stage, 'node_modules');
if (!fs.existsSync(link)) fs.symlinkSync(path.join(root, 'node_modules'), link, 'dir');
