#!/usr/bin/env node
// Cross-builds every addon of the project for win32-x64 with mingw-w64 and lays
// out a Windows copy of the project (a "stage") where Windows node.exe runs the
// jest suite, with each .node where node-gyp would have put it.
//
//   node scripts/windows/build.js --node-exe <node.exe> --stage <dir> [--objects <dir>]
//
// What to build comes from the binding.gyp files themselves (scripts/windows/gyp.py
// reads them for OS=='win'): the project's own and every one under test/. node-gyp
// cannot cross-compile, so this script plays its part: node-gyp's defines for an
// addon, the Node-API headers of the node-api-headers package plus the Node headers
// node-gyp uses on this machine, and an import library made from the export
// table of the very node.exe the tests run in, so a function that Node does not
// export fails at link time rather than at load time. Linked with -static: a
// mingw-w64 DLL otherwise needs libwinpthread-1.dll and libstdc++-6.dll, and
// Windows then reports only "The specified module could not be found".
'use strict';

const { spawn, execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '../..');
const CXX = 'x86_64-w64-mingw32-g++-posix';
const CC = 'x86_64-w64-mingw32-gcc-posix';
const OBJDUMP = 'x86_64-w64-mingw32-objdump';
const DLLTOOL = 'x86_64-w64-mingw32-dlltool';

// What node-gyp's addon.gypi gives every addon on Windows.
const NODE_GYP_DEFINES = (name) => [
  `NODE_GYP_MODULE_NAME=${name}`,
  'USING_UV_SHARED=1',
  'USING_V8_SHARED=1',
  'V8_DEPRECATION_WARNINGS=1',
  'BUILDING_NODE_EXTENSION',
  'WIN32',
  '_WIN32_WINNT=0x0A00', // Windows 10, what Node 20 requires
];
// addon.gypi's Windows libraries that mingw-w64 has.
const SYSTEM_LIBRARIES = ['-lkernel32', '-luser32', '-ladvapi32', '-lshell32', '-lole32', '-luuid'];

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) usage();
    args[argv[i].slice(2)] = argv[i + 1];
  }
  if (!args['node-exe'] || !args.stage) usage();
  args.objects ??= path.join(args.stage, '..', 'obj');
  return args;
}

function usage() {
  console.error('usage: node scripts/windows/build.js --node-exe <node.exe> --stage <dir> [--objects <dir>]');
  process.exit(2);
}

// The project's binding.gyp and every binding.gyp under test/.
function gypFiles() {
  const found = [path.join(root, 'binding.gyp')];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && !['node_modules', 'build'].includes(entry.name) && !entry.name.startsWith('.')) {
        walk(path.join(dir, entry.name));
      } else if (entry.isFile() && entry.name === 'binding.gyp') {
        found.push(path.join(dir, entry.name));
      }
    }
  };
  walk(path.join(root, 'test'));
  return found;
}

// The Node headers node-gyp compiles against here: npm's nodedir, node-gyp's
// download cache, or the ones installed beside this node. Needed for anything
// beyond Node-API (zlib.h, uv.h); their version must be the Windows node's.
function nodeHeaders(version) {
  const candidates = [
    process.env.npm_config_nodedir && path.join(process.env.npm_config_nodedir, 'include', 'node'),
    process.env.npm_config_devdir && path.join(process.env.npm_config_devdir, version, 'include', 'node'),
    path.join(os.homedir(), '.cache', 'node-gyp', version, 'include', 'node'),
    path.resolve(process.execPath, '..', '..', 'include', 'node'),
  ].filter(Boolean);
  for (const dir of candidates) {
    const header = path.join(dir, 'node_version.h');
    if (!fs.existsSync(header)) continue;
    const text = fs.readFileSync(header, 'utf8');
    const part = (name) => new RegExp(`#define NODE_${name}_VERSION (\\d+)`).exec(text)?.[1];
    if (`${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}` === version) return dir;
  }
  return null;
}

// An import library for node.exe made from its own export table: every C name it
// exports (Node-API, libuv, zlib, OpenSSL), none it does not.
function importLibrary(nodeExe, dir) {
  const stat = fs.statSync(nodeExe);
  const key = crypto.createHash('sha1').update(`${nodeExe}:${stat.size}:${stat.mtimeMs}`).digest('hex').slice(0, 12);
  const lib = path.join(dir, `node-${key}.a`);
  if (fs.existsSync(lib)) return lib;
  const dump = execFileSync(OBJDUMP, ['-p', nodeExe], { maxBuffer: 1 << 28, encoding: 'utf8' });
  const table = dump.slice(dump.indexOf('[Ordinal/Name Pointer] Table'));
  const names = [...table.matchAll(/^\t\[\s*\d+\] ([A-Za-z_][A-Za-z0-9_]*)$/gm)].map((m) => m[1]);
  if (!names.includes('napi_create_external_buffer')) throw new Error(`${nodeExe} exports no Node-API`);
  fs.mkdirSync(dir, { recursive: true });
  const def = path.join(dir, `node-${key}.def`);
  fs.writeFileSync(def, `LIBRARY node.exe\nEXPORTS\n${names.join('\n')}\n`);
  execFileSync(DLLTOOL, ['-d', def, '-l', `${lib}.tmp`, '-D', 'node.exe']);
  fs.renameSync(`${lib}.tmp`, lib);
  return lib;
}

// An import library for node.exe from a .def file (node-api-headers'
// def/node_api.def: the Node-API functions every Node version exports).
function importLibraryFromDef(def, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const lib = path.join(dir, `${path.basename(def, '.def')}.a`);
  if (fs.existsSync(lib) && fs.statSync(lib).mtimeMs >= fs.statSync(def).mtimeMs) return lib;
  execFileSync(DLLTOOL, ['-d', def, '-l', `${lib}.tmp`, '-D', 'node.exe']);
  fs.renameSync(`${lib}.tmp`, lib);
  return lib;
}

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${command} failed (${signal ?? code}):\n  ${args.join(' ')}`)));
  });
}

// Runs jobs with at most `limit` at once; rejects with the first failure after
// the running ones end.
async function parallel(jobs, limit) {
  const results = [];
  let next = 0;
  let failure = null;
  const worker = async () => {
    while (next < jobs.length && failure === null) {
      const job = jobs[next++];
      try {
        results.push(await job());
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  if (failure) throw failure;
  return results;
}

// An object is current when its recorded command is the same and neither its
// source nor any header the compiler listed (-MMD) is newer.
function upToDate(object, command) {
  const cmdFile = `${object}.cmd`;
  const depFile = `${object}.d`;
  if (!fs.existsSync(object) || !fs.existsSync(depFile) || !fs.existsSync(cmdFile)) return false;
  if (fs.readFileSync(cmdFile, 'utf8') !== command) return false;
  const built = fs.statSync(object).mtimeMs;
  const deps = fs.readFileSync(depFile, 'utf8').replace(/\\\n/g, ' ').split(/:\s/).slice(1).join(' ');
  for (const dep of deps.split(/(?<!\\)\s+/).filter(Boolean)) {
    const file = dep.replace(/\\ /g, ' ');
    if (!fs.existsSync(file) || fs.statSync(file).mtimeMs > built) return false;
  }
  return true;
}

function compileJob(source, object, flags) {
  const isC = source.endsWith('.c');
  const compiler = isC ? CC : CXX;
  const args = [...flags.common, ...(isC ? flags.c : flags.cc), '-MMD', '-MF', `${object}.d`, '-c', source, '-o', object];
  const command = [compiler, ...args].join(' ');
  return async () => {
    if (upToDate(object, command)) return { object, built: false };
    fs.mkdirSync(path.dirname(object), { recursive: true });
    fs.rmSync(`${object}.cmd`, { force: true });
    await run(compiler, args);
    fs.writeFileSync(`${object}.cmd`, command);
    return { object, built: true };
  };
}

function libraryArgs(libraries) {
  // gyp lists Windows libraries as -lname.lib or name.lib; mingw wants -lname.
  return libraries.map((lib) => {
    const m = /^(?:-l)?"?([^"]+?)(?:\.lib)?"?$/.exec(lib);
    return lib.startsWith('-l') || lib.endsWith('.lib') ? `-l${m[1]}` : lib;
  });
}

// args: { objects, stage } and optionally outputDir: where each target's file
// goes (default: <stage>/<gyp's folder>/build/Release, where node-gyp puts it).
async function buildTargets(gyp, args, importLib, headers) {
  const { targets } = JSON.parse(execFileSync('python3', [path.join(__dirname, 'gyp.py'), gyp,
    `node_root_dir=${headers ? path.resolve(headers, '..', '..') : ''}`], { encoding: 'utf8' }));
  const relDir = path.relative(root, path.dirname(gyp));
  const objectDir = (t) => path.join(args.objects, relDir, t.target_name);
  const napiHeaders = require('node-api-headers').include_dir;

  const objectsOf = new Map();
  const compileJobs = [];
  for (const t of targets) {
    if (t.type === 'none') continue;
    const includes = [...t.include_dirs, napiHeaders, ...(headers ? [headers] : [])];
    const common = ['-O2', '-g0', '-fexceptions',
      ...[...NODE_GYP_DEFINES(t.target_name), ...t.defines].map((d) => `-D${d}`),
      ...includes.map((dir) => `-I${dir}`), ...t.cflags];
    const flags = { common, c: [], cc: ['-std=gnu++17', ...t.cflags_cc] };
    const objects = [];
    for (const source of t.sources.filter((s) => /\.(c|cc|cpp|cxx)$/.test(s))) {
      const object = path.join(objectDir(t), path.relative(root, source).replace(/\.\.\//g, '__/') + '.o');
      objects.push(object);
      compileJobs.push(compileJob(source, object, flags));
    }
    objectsOf.set(t.target_name, objects);
  }
  const compiled = await parallel(compileJobs, os.cpus().length);

  const outputs = [];
  for (const t of targets) {
    if (t.type !== 'loadable_module' && t.type !== 'shared_library' && t.type !== 'executable') continue;
    const ext = t.type === 'executable' ? '.exe' : t.type === 'shared_library' ? '.dll' : '.node';
    const output = path.join(args.outputDir ?? path.join(args.stage, relDir, 'build', 'Release'), t.target_name + ext);
    const objects = [...objectsOf.get(t.target_name), ...t.link_with.flatMap((name) => objectsOf.get(name) ?? [])];
    const linkArgs = [...(t.type === 'executable' ? [] : ['-shared']), '-static', '-o', output, ...objects,
      ...t.ldflags, ...libraryArgs(t.libraries), importLib, ...SYSTEM_LIBRARIES];
    const stale = !fs.existsSync(output) || compiled.some((c) => c.built && objects.includes(c.object)) ||
      fs.statSync(output).mtimeMs < Math.max(...objects.map((o) => fs.statSync(o).mtimeMs));
    const command = [CXX, ...linkArgs].join(' ');
    const cmdFile = path.join(objectDir(t), 'link.cmd');
    if (stale || !fs.existsSync(cmdFile) || fs.readFileSync(cmdFile, 'utf8') !== command) {
      fs.mkdirSync(path.dirname(output), { recursive: true });
      await run(CXX, linkArgs);
      fs.writeFileSync(cmdFile, command);
    }
    outputs.push(args.outputDir ? output : path.relative(args.stage, output));
  }
  return outputs;
}

// The Windows copy of the project: what the tests read (package.json, dist/,
// test/, native/ headers...), node_modules linked, build/ only from this script.
function stage(stageDir) {
  const skip = new Set(['node_modules', 'build', 'bench']);
  fs.mkdirSync(stageDir, { recursive: true });
  for (const entry of fs.readdirSync(stageDir)) {
    if (entry !== 'build' && entry !== 'node_modules') fs.rmSync(path.join(stageDir, entry), { recursive: true, force: true });
  }
  for (const entry of fs.readdirSync(root)) {
    if (skip.has(entry) || entry.startsWith('.')) continue; // .git, .windows, .ci...
    fs.cpSync(path.join(root, entry), path.join(stageDir, entry), {
      recursive: true,
      filter: (src) => !/[\\/](node_modules|build)$/.test(src) && !/[\\/]test[\\/]\.odirect/.test(src),
    });
  }
  const link = path.join(stageDir, 'node_modules');
  if (!fs.existsSync(link)) fs.symlinkSync(path.join(root, 'node_modules'), link, 'dir');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  args.stage = path.resolve(args.stage);
  args.objects = path.resolve(args.objects);
  const version = process.env.SYSALLOC_WINDOWS_NODE_VERSION || process.versions.node;
  const headers = nodeHeaders(version);
  if (!headers) {
    console.warn(`windows build: no Node ${version} headers found here; only Node-API headers are available`);
  }
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run npm run build:ts');
  const importLib = importLibrary(path.resolve(args['node-exe']), args.objects);
  stage(args.stage);
  const built = [];
  for (const gyp of gypFiles()) built.push(...(await buildTargets(gyp, args, importLib, headers)));
  console.log(`windows build: ${built.join(', ')}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
}

module.exports = { buildTargets, importLibraryFromDef, CXX, DLLTOOL, OBJDUMP };
