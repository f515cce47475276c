#!/usr/bin/env node
// Prints the per-file table of Stryker JSON reports (reports/mutation/mutation.json
// by default; the incremental files of test/mutation/incremental/ have the same
// form) as markdown, and every surviving or uncovered mutant with its place.
// Usage: node scripts/mutation-summary.js [report.json ...]
'use strict';
const fs = require('fs');
const inputs = process.argv.length > 2 ? process.argv.slice(2) : ['reports/mutation/mutation.json'];
const report = { files: {} };
for (const input of inputs) Object.assign(report.files, JSON.parse(fs.readFileSync(input, 'utf8')).files);
const rows = [];
const open = [];
const total = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, CompileError: 0, RuntimeError: 0, Ignored: 0 };
for (const [name, entry] of Object.entries(report.files)) {
  const count = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, CompileError: 0, RuntimeError: 0, Ignored: 0 };
  for (const m of entry.mutants) {
    count[m.status] = (count[m.status] ?? 0) + 1;
    if (m.status === 'Survived' || m.status === 'NoCoverage') {
      const line = entry.source.split('\n')[m.location.start.line - 1].trim();
      open.push(`- ${name}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} (${m.status}): \`${m.replacement ?? ''}\` in \`${line.slice(0, 120)}\``);
    }
  }
  for (const k of Object.keys(total)) total[k] += count[k] ?? 0;
  rows.push([name, count]);
}
const score = (c) => {
  const detected = c.Killed + c.Timeout;
  const valid = detected + c.Survived + c.NoCoverage;
  return valid === 0 ? 'n/a' : `${((100 * detected) / valid).toFixed(1)}%`;
};
console.log('| file | score | killed | timeout | survived | no coverage | type errors | ignored |');
console.log('|---|---|---|---|---|---|---|---|');
for (const [name, c] of [...rows, ['all', total]]) {
  console.log(`| ${name} | ${score(c)} | ${c.Killed} | ${c.Timeout} | ${c.Survived} | ${c.NoCoverage} | ${c.CompileError} | ${c.Ignored} |`);
}
if (open.length) console.log(`\nSurviving and uncovered mutants:\n${open.join('\n')}`);
