#!/usr/bin/env node
// Mutation testing of the native core without a mutation tool (no Mull in
// Debian): each mutant is one operator or constant changed on one line of a
// source file; the native test program (test/native/core_test.cc, built as
// npm run test:native builds it, with the fault switch) is rebuilt with the
// mutated file and run ("all N"). Killed: it fails or times out; survived: it
// passes; a mutant that does not compile is left out of the score.
// Usage: node scripts/mutate-native.js [--ops N] [--timeout S] FILE...
// Writes the survivors and the score to stdout; objects go to test/native/build/mutants.
'use strict';
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
process.chdir(root);
const args = process.argv.slice(2);
let ops = 2000;
let timeout = 60;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--ops') ops = Number(args[++i]);
  else if (args[i] === '--timeout') timeout = Number(args[++i]);
  else files.push(args[i]);
}
if (files.length === 0) {
  console.error('usage: node scripts/mutate-native.js [--ops N] [--timeout S] FILE...');
  process.exit(2);
}

const out = 'test/native/build/mutants';
fs.mkdirSync(out, { recursive: true });
const sources = ['native/os_posix.cc', 'native/blocks.cc', ...fs.readdirSync('native/shim').filter((f) => f.endsWith('.cc')).map((f) => `native/shim/${f}`), 'test/native/core_test.cc'];
const flags = ['-std=c++17', '-w', '-pthread', '-DSYSALLOC_FAULT_INJECTION', '-Inative', '-Inative/shim'];
const objectOf = (src) => path.join(out, src.replace(/[/.]/g, '_') + '.o');

function compile(src, from = src, level = '-O1') {
  const r = spawnSync('g++', [...flags, level, '-c', '-x', 'c++', from, '-o', objectOf(src), '-iquote', path.dirname(src)], { encoding: 'utf8' });
  return r.status === 0;
}
function link(exe) {
  execFileSync('g++', ['-pthread', ...sources.map(objectOf), '-o', exe]);
}
function run(exe) {
  const r = spawnSync(exe, ['all', String(ops)], { timeout: timeout * 1000, encoding: 'utf8' });
  return r.status === 0 && r.signal === null;
}

// Operator and constant swaps, each applied to one occurrence on one line.
const RULES = [
  [/==/g, '!='], [/!=/g, '=='],
  [/(?<![<>=!])<=(?!=)/g, '<'], [/(?<![<>=!-])<(?![<=])/g, '<='],
  [/(?<![<>=!-])>=(?!=)/g, '>'], [/(?<![<>=!-])>(?![>=])/g, '>='],
  [/&&/g, '||'], [/\|\|/g, '&&'],
  [/(?<![+])\+(?![+=])/g, '-'], [/(?<![-])-(?![->=\d])/g, '+'],
  [/\btrue\b/g, 'false'], [/\bfalse\b/g, 'true'],
  [/(?<![\w.])0(?![\w.x])/g, '1'], [/(?<![\w.])1(?![\w.])/g, '0'],
  [/!(?!=)/g, ''],
  [/\breturn ([^;]+);/g, 'return {};'],
];

function mutantsOf(text) {
  const lines = text.split('\n');
  const list = [];
  let inComment = false;
  lines.forEach((line, n) => {
    const t = line.trim();
    if (inComment) { if (t.includes('*/')) inComment = false; return; }
    if (t.startsWith('/*')) { inComment = !t.includes('*/'); return; }
    if (t === '' || t.startsWith('//') || t.startsWith('#') || t.startsWith('static_assert')) return;
    const code = line.replace(/\/\/.*$/, '').replace(/"(?:[^"\\]|\\.)*"/g, (s) => ' '.repeat(s.length));
    if (/^\s*(template|namespace|using|typedef)\b/.test(code) || code.includes('#include')) return;
    // Angle brackets of casts and templates are not comparisons.
    const angles = /(static_cast|reinterpret_cast|const_cast|template|std::\w+|atomic)\s*</.test(code);
    for (const [pattern, replacement] of RULES) {
      if (angles && /[<>]/.test(pattern.source.replace(/\(\?<?[!=][^)]*\)/g, ''))) continue;
      for (const m of code.matchAll(pattern)) {
        const mutated = line.slice(0, m.index) + replacement + line.slice(m.index + m[0].length);
        if (mutated === line) continue;
        list.push({ line: n + 1, from: line.trim(), to: mutated.trim(), text: [...lines.slice(0, n), mutated, ...lines.slice(n + 1)].join('\n') });
      }
    }
  });
  return list;
}

console.log(`building the unmutated objects (${sources.length} files)`);
for (const src of sources) if (!compile(src)) throw new Error(`${src} does not compile`);
const baseline = path.join(out, 'core_test');
link(baseline);
if (!run(baseline)) throw new Error('core_test fails before any mutation');

const summary = [];
for (const file of files) {
  const original = fs.readFileSync(file, 'utf8');
  const mutants = mutantsOf(original);
  let killed = 0, survived = 0, invalid = 0;
  const survivors = [];
  const started = Date.now();
  const tmp = path.join(out, 'mutant_' + path.basename(file));
  for (const [i, m] of mutants.entries()) {
    fs.writeFileSync(tmp, m.text);
    // The mutated file alone, unoptimized: it compiles in a fraction of the time.
    if (!compile(file, tmp, '-O0')) { invalid++; continue; }
    const exe = path.join(out, 'core_test_mutant');
    link(exe);
    if (run(exe)) {
      survived++;
      survivors.push(m);
      console.error(`survived ${file}:${m.line}: \`${m.from}\` -> \`${m.to}\``);
    } else killed++;
    console.error(`${file}: ${i + 1}/${mutants.length} (${killed} killed, ${survived} survived, ${invalid} not compiling)`);
  }
  compile(file); // restore the unmutated object
  const score = killed + survived === 0 ? 100 : (100 * killed) / (killed + survived);
  summary.push({ file, mutants: mutants.length, killed, survived, invalid, score: score.toFixed(1), seconds: Math.round((Date.now() - started) / 1000) });
  console.log(`\n## ${file}: ${score.toFixed(1)}% (${killed} killed, ${survived} survived, ${invalid} did not compile)`);
  for (const s of survivors) console.log(`- ${file}:${s.line}: \`${s.from}\` -> \`${s.to}\``);
}
console.log('\n| file | mutants | killed | survived | not compiling | score | seconds |\n|---|---|---|---|---|---|---|');
for (const s of summary) console.log(`| ${s.file} | ${s.mutants} | ${s.killed} | ${s.survived} | ${s.invalid} | ${s.score}% | ${s.seconds} |`);
