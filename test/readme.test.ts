// Every JavaScript and TypeScript example in README.md runs, as written, under
// the node running jest (so under each Node of npm run test:matrix). Each runs in
// a folder of its own inside the project (O_DIRECT needs a real file system;
// /tmp may be tmpfs) where 'sysalloc' resolves to this package, with:
// - a prelude importing every export of sysalloc when the example imports
//   nothing from it (the fragments under "API" read as if after its import);
// - TypeScript transpiled to CommonJS first (`using` included), as ts-jest does;
// - data.bin (3 MiB and 100 bytes) for the examples that read a file;
// - build/Release/driver.node, the test consumer addon, whose useSysalloc does
//   what the README's C++ UseSysalloc does (sysalloc_api_at on the table);
// - test/readme/fixture.js preloaded: an example's HTTP server is sent two
//   requests and closed.
// An example passes when its process exits 0 with nothing on stderr.
import { spawnSync } from 'child_process';
import crypto = require('crypto');
import fs = require('fs');
import path = require('path');
import ts = require('typescript');
import { runtimeMemory } from './helpers';

const root = path.join(__dirname, '..');
const work = path.join(root, '.readme-examples');

interface Example {
  line: number;
  lang: 'js' | 'ts';
  heading: string;
  code: string;
}

function examples(): Example[] {
  const lines = fs.readFileSync(path.join(root, 'README.md'), 'utf8').split('\n');
  const found: Example[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const h = /^#+\s+(.*)$/.exec(lines[i]);
    if (h) heading = h[1];
    const fence = /^```(\w*)\s*$/.exec(lines[i]);
    if (!fence) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    const lang = { js: 'js', javascript: 'js', ts: 'ts', typescript: 'ts' }[fence[1]] as 'js' | 'ts' | undefined;
    if (lang) found.push({ line: start + 1, lang, heading, code: body.join('\n') + '\n' });
  }
  return found;
}

const all = examples();
const exportNames = Object.keys(require('..')).filter((n) => n !== '__esModule');

function source(example: Example): string {
  const importsSysalloc = /require\(['"]sysalloc['"]\)|from ['"]sysalloc['"]/.test(example.code);
  let code = example.code;
  if (!importsSysalloc) {
    code =
      (example.lang === 'ts'
        ? `import { ${exportNames.join(', ')} } from 'sysalloc';\n`
        : `const { ${exportNames.join(', ')} } = require('sysalloc');\n`) + code;
  }
  if (example.lang === 'js') return code;
  const out = ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    reportDiagnostics: true,
  });
  if (out.diagnostics?.length) throw new Error(ts.flattenDiagnosticMessageText(out.diagnostics[0].messageText, '\n'));
  return out.outputText;
}

function folder(): string {
  fs.mkdirSync(work, { recursive: true });
  const dir = fs.mkdtempSync(path.join(work, 'example-'));
  // 'sysalloc' is this checkout: a package that forwards to it (wine has no
  // symbolic links or junctions; the exports map itself is test/package.test.ts's).
  const forward = path.join(dir, 'node_modules', 'sysalloc');
  fs.mkdirSync(forward, { recursive: true });
  fs.writeFileSync(path.join(forward, 'package.json'), JSON.stringify({ name: 'sysalloc', main: 'index.js' }));
  fs.writeFileSync(path.join(forward, 'index.js'), `module.exports = require(${JSON.stringify(root)});\n`);
  fs.writeFileSync(path.join(dir, 'data.bin'), crypto.randomBytes((3 << 20) + 100));
  fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
  fs.copyFileSync(
    path.join(root, 'test', 'consumers', 'build', 'Release', 'shim_consumers.node'),
    path.join(dir, 'build', 'Release', 'driver.node'),
  );
  return dir;
}

test('README.md has JavaScript and TypeScript examples to run', () => {
  expect(all.filter((e) => e.lang === 'js').length).toBeGreaterThanOrEqual(4);
  expect(all.filter((e) => e.lang === 'ts').length).toBeGreaterThanOrEqual(4);
});

test('no JavaScript example uses `using` (a SyntaxError before Node 24)', () => {
  const offenders = all.filter((e) => e.lang === 'js' && /^\s*(await\s+)?using\s/m.test(e.code)).map((e) => e.line);
  expect(offenders).toEqual([]);
});

// O_DIRECT is a POSIX flag: on Windows (node.exe under wine) those examples cannot apply.
const posixOnly = (e: Example) => /O_DIRECT/.test(e.code);

// On runtime memory (npm run test:no-external) page-level blocks and sharing are refused and debug mode has no
// quarantine (README "Runtimes without external buffers"; asserted in pages, shared and debug tests).
const externalOnly = (e: Example) => runtimeMemory && /^(Secure and page-level blocks|Sharing memory between threads|The leak report and the memory profile)/.test(e.heading);

describe.each(
  all.map(
    (e) =>
      [
        `line ${e.line} (${e.lang}, "${e.heading}")${posixOnly(e) ? ', POSIX only: O_DIRECT' : ''}${externalOnly(e) ? ' [not on runtime memory: refused there]' : ''}`,
        e,
      ] as const,
  ),
)(
  'README example at %s',
  (_name, example) => {
    const run = (process.platform === 'win32' && posixOnly(example)) || externalOnly(example) ? test.skip : test;
    run('runs: exit 0, nothing on stderr', () => {
      const dir = folder();
      try {
        fs.writeFileSync(path.join(dir, 'example.js'), source(example));
        const result = spawnSync(
          process.execPath,
          ['--require', path.join(__dirname, 'readme', 'fixture.js'), 'example.js'],
          { cwd: dir, encoding: 'utf8', timeout: 60000 },
        );
        expect({ status: result.status, signal: result.signal, stderr: result.stderr }).toEqual({
          status: 0,
          signal: null,
          stderr: '',
        });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
