// The package as users install it: `npm pack`, the tarball installed into a
// fresh project, then `import` and `require` of 'sysalloc' (the exports map),
// and TypeScript typechecking both against the packaged types with
// moduleResolution node16 and bundler. Install scripts are not run: the
// project's own build of the addon is copied in where bindings finds it
// (building from source at install is the packaging test's subject, not this
// one's). Runs under whichever node runs jest (every Node of npm run test:matrix).
import { execFileSync, spawnSync } from 'child_process';
import fs = require('fs');
import os = require('os');
import path = require('path');

const root = path.join(__dirname, '..');
// node.exe under wine has no npm beside it to pack and install with.
const run = process.platform === 'win32' ? test.skip : test;
let project = '';

// npm and tsc load no addon: under npm run test:asan they run without the
// preloaded sanitizer runtime, which would only slow them and report V8's heap
// as leaked when npm ends through process.exit() (test/asan/options.js).
const toolEnv: NodeJS.ProcessEnv = { ...process.env };
delete toolEnv.LD_PRELOAD;

function node(args: string[], cwd = project) {
  return spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 60000 });
}

function tsc(options: Record<string, string | boolean>, files: string[]) {
  const args = [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict'];
  for (const [k, v] of Object.entries(options)) args.push(`--${k}`, String(v));
  return spawnSync(process.execPath, [...args, '--types', 'node', ...files], { cwd: project, encoding: 'utf8', timeout: 60000, env: toolEnv });
}

beforeAll(() => {
  if (process.platform === 'win32') return;
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'sysalloc-package-'));
  // --ignore-scripts: prepare would rebuild dist/ under the feet of the other test files.
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], { cwd: root, encoding: 'utf8', env: toolEnv }),
  );
  const tarball = path.join(project, packed[0].filename);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  execFileSync('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', tarball], {
    cwd: project,
    encoding: 'utf8',
    env: toolEnv,
  });
  const release = path.join(project, 'node_modules', 'sysalloc', 'build', 'Release');
  fs.mkdirSync(release, { recursive: true });
  fs.copyFileSync(path.join(root, 'build', 'Release', 'sysalloc.node'), path.join(release, 'sysalloc.node'));
  // The consumer's TypeScript needs Node's types, as any TypeScript project using Buffer does.
  fs.mkdirSync(path.join(project, 'node_modules', '@types'), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules', '@types', 'node'), path.join(project, 'node_modules', '@types', 'node'), 'dir');
}, 120000);

afterAll(() => {
  if (project) fs.rmSync(project, { recursive: true, force: true });
});

run('import { Block } from \'sysalloc\' and require(\'sysalloc\') give the same one copy', () => {
  fs.writeFileSync(
    path.join(project, 'esm.mjs'),
    `import { Block, blockStats } from 'sysalloc';
     import sysalloc from 'sysalloc';
     import * as namespace from 'sysalloc';
     import { createRequire } from 'module';
     const cjs = createRequire(import.meta.url)('sysalloc');
     const block = Block.alloc(4096);
     const address = block.address % 4096n;
     block.free();
     const names = Object.keys(namespace).filter((n) => n !== 'default').sort();
     const expected = Object.keys(cjs).filter((n) => n !== '__esModule').sort();
     console.log(JSON.stringify({
       address: String(address), live: blockStats().liveBlocks,
       sameNames: JSON.stringify(names) === JSON.stringify(expected), count: names.length,
       sameCopy: sysalloc === cjs && namespace.Block === cjs.Block && Block === cjs.Block,
     }));`,
  );
  const result = node(['esm.mjs']);
  expect(result.stderr).toBe('');
  // Every name the CommonJS entry of this tree exports, no more, no fewer.
  const exported = Object.keys(require('..') as object).filter((n) => n !== '__esModule').length;
  expect(exported).toBeGreaterThanOrEqual(16);
  expect(JSON.parse(result.stdout)).toEqual({ address: '0', live: 0, sameNames: true, count: exported, sameCopy: true });
});

run('require(\'sysalloc\') from CommonJS; internal paths are not exported', () => {
  fs.writeFileSync(
    path.join(project, 'cjs.cjs'),
    `const { Arena } = require('sysalloc');
     const arena = new Arena({ capacity: 4096 });
     const length = arena.alloc(100).length;
     arena.destroy();
     let internal;
     try { require('sysalloc/dist/native'); internal = 'loaded'; } catch (e) { internal = e.code; }
     console.log(JSON.stringify({ length, internal, pkg: require('sysalloc/package.json').name }));`,
  );
  const result = node(['cjs.cjs']);
  expect(result.stderr).toBe('');
  expect(JSON.parse(result.stdout)).toEqual({ length: 100, internal: 'ERR_PACKAGE_PATH_NOT_EXPORTED', pkg: 'sysalloc' });
});

const esmSource = `import { Block, AllocError, type AllocErrorCode, type BlockStats } from 'sysalloc';
import sysalloc from 'sysalloc';
const block: Block = Block.alloc(64);
const code: AllocErrorCode = 'ERR_NO_MEMORY';
const stats: BlockStats = sysalloc.blockStats();
const error: AllocError = new AllocError(code, 'm');
export const used = [block.size, stats.liveBlocks, error.code];
`;
const cjsSource = `import sysalloc = require('sysalloc');
const block: sysalloc.Block = sysalloc.Block.alloc(64);
const code: sysalloc.AllocErrorCode = 'ERR_INVALID_PARAM';
export const used = [block.size, code];
`;

// One tsc run per resolution mode (each takes seconds: it checks Node's types too).
run('TypeScript, moduleResolution node16: types for import (.mts) and require (.cts); a wrong argument fails', () => {
  fs.writeFileSync(path.join(project, 'a.mts'), esmSource);
  fs.writeFileSync(path.join(project, 'b.cts'), cjsSource);
  fs.writeFileSync(path.join(project, 'd.mts'), `import { Block } from 'sysalloc';\nBlock.alloc('4096');\n`);
  fs.writeFileSync(path.join(project, 'e.cts'), `import sysalloc = require('sysalloc');\nsysalloc.Block.alloc('4096');\n`);
  const result = tsc({ module: 'node16', moduleResolution: 'node16', target: 'es2022', skipLibCheck: false }, [
    'a.mts',
    'b.cts',
    'd.mts',
    'e.cts',
  ]);
  // Exactly the two wrong calls: the declaration files and a.mts, b.cts check clean.
  expect(result.stdout.trim().split('\n')).toEqual([
    "d.mts(2,13): error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'.",
    "e.cts(2,22): error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'.",
  ]);
  expect(result.status).not.toBe(0);
}, 120000);

run('TypeScript, moduleResolution bundler: types for import', () => {
  fs.writeFileSync(path.join(project, 'c.ts'), esmSource);
  const result = tsc({ module: 'esnext', moduleResolution: 'bundler', target: 'es2022', skipLibCheck: true }, ['c.ts']);
  expect(result.stdout).toBe('');
  expect(result.status).toBe(0);
}, 120000);
