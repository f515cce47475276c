#!/usr/bin/env node
// Runs Stryker over the lib/ files listed in test/mutation/files.json, one
// invocation per file, each with only the test files that cover it (every test
// imports the whole package, so Stryker cannot narrow them itself) and its own
// incremental file test/mutation/incremental/<name>.json and report
// reports/mutation/<name>.json.
// Usage: node scripts/mutation-run.js [--full] [--concurrency N] [--timeoutMS N] [lib/x.ts ...]
// Every run is incremental (Stryker's --incremental): only mutants whose code or
// covering tests changed since the committed file are run again, and the file
// is rewritten. --full runs every mutant (--force) and rewrites it from scratch.
// Without files: every listed file. Prints each file's wall time.
//
// A file whose inputs (its source, its listed test files, the mutation
// configuration) hash to what test/mutation/incremental/<name>.inputs.json
// recorded after its last run is not started at all: Stryker would reuse every
// result (its incremental mode compares the same sources), but only after its
// type checker and dry run, minutes per file. Like Stryker's incremental mode,
// this does not see changes to other lib/ files a file imports: --full does.
// --record writes that inputs file for the given files without running them:
// for an incremental file that was just copied from a report of a full run
// over the same inputs (reports/mutation/<name>.json).
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const crypto = require('crypto');

const root = path.resolve(__dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'test/mutation/files.json'), 'utf8'));
const args = process.argv.slice(2);
const flags = ['--incremental'];
let record = false;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--full') flags.push('--force');
  else if (args[i] === '--record') record = true;
  else if (args[i] === '--concurrency' || args[i] === '--timeoutMS') flags.push(args[i], args[++i]);
  else files.push(args[i]);
}
if (!flags.includes('--concurrency')) flags.push('--concurrency', '1');
const selected = files.length ? files : Object.keys(manifest);
for (const file of selected) {
  if (!manifest[file]) {
    console.error(`${file} is not listed in test/mutation/files.json`);
    process.exit(2);
  }
}
// What a file's recorded results depend on, as path -> sha256.
const CONFIG = ['stryker.config.js', 'jest.stryker.config.js', 'jest.config.js', 'test/mutation/resolver.js', 'test/setup.ts', 'test/helpers.ts'];
function inputsOf(file) {
  const out = { tests: manifest[file].join(',') };
  for (const p of [file, ...manifest[file].map((t) => `test/${t}.test.ts`), ...CONFIG]) {
    const full = path.join(root, p);
    out[p] = fs.existsSync(full) ? crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex') : 'missing';
  }
  return out;
}

const full = flags.includes('--force');
const times = [];
for (const file of selected) {
  const name = path.basename(file, '.ts');
  const incrementalFile = path.join(root, `test/mutation/incremental/${name}.json`);
  const inputsFile = path.join(root, `test/mutation/incremental/${name}.inputs.json`);
  const inputs = inputsOf(file);
  if (record) {
    fs.writeFileSync(inputsFile, `${JSON.stringify(inputs, null, 2)}\n`);
    times.push(`${file}: inputs recorded`);
    continue;
  }
  if (
    !full &&
    fs.existsSync(incrementalFile) &&
    fs.existsSync(inputsFile) &&
    JSON.stringify(JSON.parse(fs.readFileSync(inputsFile, 'utf8'))) === JSON.stringify(inputs)
  ) {
    times.push(`${file}: unchanged, not run`);
    continue;
  }
  const started = Date.now();
  const run = spawnSync(
    'npx',
    ['stryker', 'run', '--mutate', file, '--incrementalFile', `test/mutation/incremental/${name}.json`, ...flags],
    {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, SYSALLOC_MUTATION_TESTS: manifest[file].join(','), SYSALLOC_MUTATION_NAME: name },
    },
  );
  const seconds = Math.round((Date.now() - started) / 1000);
  times.push(`${file}: ${seconds} s`);
  if (run.status !== 0) {
    console.error(`stryker failed on ${file} (status ${run.status})`);
    process.exit(run.status ?? 1);
  }
  fs.writeFileSync(inputsFile, `${JSON.stringify(inputs, null, 2)}\n`);
}
console.log(`\nmutation-run: ${times.join(', ')}`);
