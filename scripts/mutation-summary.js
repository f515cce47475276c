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
// test/mutation/equivalent.md: a bullet `- name.ts:line:column Mutator ...`
// (under the file's heading) marks the surviving mutants of those mutators at
// that place as equivalent.
const equivalent = new Map();
let heading = '';
const bullets = [];
for (const line of fs.readFileSync(require('path').join(__dirname, '../test/mutation/equivalent.md'), 'utf8').split('\n')) {
  if (/^## /.test(line)) heading = line.slice(3).trim();
  if (/^- /.test(line)) bullets.push([heading, line]);
  else if (/^\s+\S/.test(line) && bullets.length) bullets[bullets.length - 1][1] += ` ${line.trim()}`;
}
for (const [file, text] of bullets) {
  const m = /^- ([\w.-]+):(\d+):(\d+) /.exec(text);
  if (m) equivalent.set(`${file}:${m[2]}:${m[3]}`, [...(equivalent.get(`${file}:${m[2]}:${m[3]}`) ?? []), text]);
}
function isEquivalent(file, m) {
  const texts = equivalent.get(`${file}:${m.location.start.line}:${m.location.start.column}`) ?? [];
  return texts.some((t) => t.includes(m.mutatorName));
}
const rows = [];
const open = [];
const total = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, CompileError: 0, RuntimeError: 0, Ignored: 0, Equivalent: 0 };
for (const [name, entry] of Object.entries(report.files)) {
  const count = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, CompileError: 0, RuntimeError: 0, Ignored: 0, Equivalent: 0 };
  for (const m of entry.mutants) {
    count[m.status] = (count[m.status] ?? 0) + 1;
    if ((m.status === 'Survived' || m.status === 'NoCoverage') && isEquivalent(name, m)) count.Equivalent++;
    else if (m.status === 'Survived' || m.status === 'NoCoverage') {
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
const nonEquivalent = (c) => {
  const detected = c.Killed + c.Timeout;
  const valid = detected + c.Survived + c.NoCoverage - c.Equivalent;
  return valid === 0 ? 'n/a' : `${detected} of ${valid} (${((100 * detected) / valid).toFixed(1)}%)`;
};
console.log('| file | score | killed | timeout | survived | no coverage | type errors | equivalent | non-equivalent killed |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const [name, c] of [...rows, ['all', total]]) {
  console.log(
    `| ${name} | ${score(c)} | ${c.Killed} | ${c.Timeout} | ${c.Survived} | ${c.NoCoverage} | ${c.CompileError} | ${c.Equivalent} | ${nonEquivalent(c)} |`,
  );
}
if (open.length) console.log(`\nSurviving and uncovered mutants not listed as equivalent:\n${open.join('\n')}`);
