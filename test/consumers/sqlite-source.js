'use strict';

// Puts SQLite's amalgamation (sqlite3.c, sqlite3.h) in ./sqlite/ for the
// test-only consumer addon and prints that folder's name, relative to this one,
// so `npm test` needs no system SQLite. The amalgamation ships inside the
// better-sqlite3 npm package; `npm pack` fetches that package from the registry,
// checked against its integrity hash, into a cache, once per pinned version.

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const PACKAGE = 'better-sqlite3@12.11.1';

const cacheRoot = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
const dir = path.join(cacheRoot, 'sysalloc', 'sqlite', PACKAGE);
const wanted = ['sqlite3.c', 'sqlite3.h'];

function fetch() {
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  try {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const tarball = execFileSync(npm, ['pack', '--silent', PACKAGE, '--pack-destination', tmp], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim().split('\n').pop();
    const members = wanted.map((name) => `package/deps/sqlite3/${name}`);
    execFileSync('tar', ['xzf', path.join(tmp, tarball), '-C', tmp, ...members], { stdio: 'inherit' });
    fs.mkdirSync(`${tmp}/out`);
    for (const name of wanted) fs.renameSync(path.join(tmp, 'package', 'deps', 'sqlite3', name), path.join(tmp, 'out', name));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(path.join(tmp, 'out'), dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (!wanted.every((name) => fs.existsSync(path.join(dir, name)))) fetch();
const local = path.join(__dirname, 'sqlite');
fs.mkdirSync(local, { recursive: true });
for (const name of wanted) {
  const from = path.join(dir, name);
  const to = path.join(local, name);
  if (!fs.existsSync(to) || fs.statSync(to).size !== fs.statSync(from).size) fs.copyFileSync(from, to);
}
process.stdout.write('sqlite');
