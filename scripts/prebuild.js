#!/usr/bin/env node
// npm run prebuild [-- target ...]: the binaries the npm package ships, one
// Node-API build per platform for every Node version, into
// prebuilds/<target>/sysalloc.node. Targets: linux-x64, linux-arm64 (both glibc),
// win32-x64; all three by default.
//
// What to build comes from binding.gyp itself: the Linux targets run node-gyp
// (natively for x64; with Debian's aarch64-linux-gnu cross compiler for arm64)
// in a copy of exactly what the package ships for a source build (binding.gyp
// and native/), under .prebuild/<target>/, so a file the package forgets fails
// here; win32-x64 is read by scripts/windows/gyp.py and built with mingw-w64 by
// scripts/windows/build.js, linked against Node-API's own export list. Warnings
// are errors (SYSALLOC_WERROR=1). The Linux binaries are bound to old glibc
// symbol versions (scripts/prebuild/glibc-compat.h) and checked with objdump:
// this script fails if one needs more than GLIBC_MAX, or a libstdc++ newer
// than GLIBCXX_MAX. Missing Debian toolchains
// are installed with apt-get. The Windows DLL may import only system DLLs and
// node.exe (a mingw runtime DLL would make Windows say only "module not found").
'use strict';

const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const work = path.join(root, '.prebuild');
const out = path.join(root, 'prebuilds');
const GLIBC_MAX = '2.28';
// libstdc++ of GCC 5 (the std::__cxx11 ABI): Ubuntu 16.04, RHEL 8 (GCC 8) and later.
const GLIBCXX_MAX = '3.4.21';

const TARGETS = {
  'linux-x64': {
    packages: { 'g++': 'g++', make: 'make', python3: 'python3', objdump: 'binutils' },
    tools: { CC: 'gcc', CXX: 'g++', LINK: 'g++', STRIP: 'strip', OBJDUMP: 'objdump' },
    arch: 'x64',
    machine: 'Advanced Micro Devices X86-64',
  },
  'linux-arm64': {
    packages: { 'aarch64-linux-gnu-g++': 'g++-aarch64-linux-gnu', make: 'make', python3: 'python3' },
    tools: {
      CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', LINK: 'aarch64-linux-gnu-g++',
      STRIP: 'aarch64-linux-gnu-strip', OBJDUMP: 'aarch64-linux-gnu-objdump',
    },
    arch: 'arm64',
    machine: 'AArch64',
  },
  'win32-x64': {
    packages: {
      'x86_64-w64-mingw32-g++-posix': 'g++-mingw-w64-x86-64-posix',
      'x86_64-w64-mingw32-dlltool': 'binutils-mingw-w64-x86-64',
      python3: 'python3',
    },
  },
};

function say(message) {
  process.stderr.write(`prebuild: ${message}\n`);
}

function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function installMissing(targets) {
  const missing = new Set();
  for (const t of targets) {
    for (const [command, pkg] of Object.entries(TARGETS[t].packages)) if (!have(command)) missing.add(pkg);
  }
  if (missing.size === 0) return;
  const sudo = process.getuid && process.getuid() !== 0 ? ['sudo'] : [];
  say(`installing ${[...missing].join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) => {
    const r = spawnSync(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), ...args],
      { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
  };
  apt(['update', '-qq']);
  apt(['install', '-y', '-qq', '--no-install-recommends', ...missing]);
}

// Copies src to dest only where the content differs, so make sees unchanged
// files as unchanged; removes what src no longer has.
function sync(src, dest) {
  const stat = fs.statSync(src);
  if (stat.isDirectory()) {
    fs.mkdirSync(dest, { recursive: true });
    const names = new Set(fs.readdirSync(src));
    for (const name of fs.readdirSync(dest)) if (!names.has(name)) fs.rmSync(path.join(dest, name), { recursive: true });
    for (const name of names) sync(path.join(src, name), path.join(dest, name));
    return;
  }
  if (fs.existsSync(dest) && fs.readFileSync(dest).equals(fs.readFileSync(src))) return;
  fs.copyFileSync(src, dest);
}

function run(command, args, options) {
  const r = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.signal ?? r.status})`);
}

// The Node headers beside this node: node-gyp then downloads nothing. A Node-API
// addon reads only js_native_api.h and node_api.h, the same in every version.
function nodedirArgs() {
  const prefix = path.resolve(process.execPath, '..', '..');
  const dir = process.env.npm_config_nodedir ||
    (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined);
  return dir ? [`--nodedir=${dir}`] : [];
}

// The symbol versions of one family (GLIBC, GLIBCXX) an ELF file's dynamic
// symbols need, newest first.
function versionsNeeded(objdump, file, family = 'GLIBC') {
  const text = execFileSync(objdump, ['-T', file], { encoding: 'utf8' });
  const pattern = new RegExp(`\\(?${family}_(\\d+)\\.(\\d+)(?:\\.(\\d+))?\\)?\\s+(\\S+)$`, 'gm');
  const versions = [...text.matchAll(pattern)].map((m) => ({
    version: [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)],
    name: `${family}_${m[1]}.${m[2]}${m[3] ? `.${m[3]}` : ''}`,
    symbol: m[4],
  }));
  versions.sort((a, b) => compare(b.version, a.version));
  return versions;
}

function compare(a, b) {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

async function buildLinux(target) {
  const spec = TARGETS[target];
  const stage = path.join(work, target);
  fs.mkdirSync(stage, { recursive: true });
  // What a user's source build gets: the files package.json's "files" ships for it.
  sync(path.join(root, 'binding.gyp'), path.join(stage, 'binding.gyp'));
  sync(path.join(root, 'native'), path.join(stage, 'native'));
  const modules = path.join(stage, 'node_modules');
  if (!fs.existsSync(modules)) fs.symlinkSync(path.join(root, 'node_modules'), modules, 'dir');

  const compat = path.join(__dirname, 'prebuild', 'glibc-compat.h');
  const env = {
    ...process.env,
    ...spec.tools,
    SYSALLOC_WERROR: '1',
    CPPFLAGS: `-include ${compat}`,
  };
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
  run(process.execPath, [nodeGyp, 'configure', '--loglevel=warn', `--arch=${spec.arch}`, ...nodedirArgs()], { cwd: stage, env, stdio: ['ignore', 'ignore', 'inherit'] });
  run(process.execPath, [nodeGyp, 'build', '--loglevel=warn', '--jobs', String(os.cpus().length)], { cwd: stage, env, stdio: ['ignore', 'ignore', 'inherit'] });

  const built = path.join(stage, 'build', 'Release', 'sysalloc.node');
  const dest = path.join(out, target, 'sysalloc.node');
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  run(spec.tools.STRIP, ['--strip-unneeded', '-o', `${dest}.tmp`, built]);
  const header = execFileSync(spec.tools.OBJDUMP, ['-f', `${dest}.tmp`], { encoding: 'utf8' });
  const readelf = execFileSync('readelf', ['-h', `${dest}.tmp`], { encoding: 'utf8' });
  if (!readelf.includes(spec.machine)) throw new Error(`${target}: ${built} is not an ${spec.machine} object:\n${header}`);
  const needs = versionsNeeded(spec.tools.OBJDUMP, `${dest}.tmp`);
  const cxx = versionsNeeded(spec.tools.OBJDUMP, `${dest}.tmp`, 'GLIBCXX')[0];
  const newest = needs[0];
  if (newest && compare(newest.version, GLIBC_MAX.split('.').map(Number)) > 0) {
    const over = needs.filter((n) => compare(n.version, GLIBC_MAX.split('.').map(Number)) > 0);
    throw new Error(`${target}: needs glibc newer than ${GLIBC_MAX}: ${over.map((n) => `${n.symbol}@${n.name}`).join(', ')} ` +
      '(bind it to its old version in scripts/prebuild/glibc-compat.h if that is the same function, or avoid it)');
  }
  const cxxOver = versionsNeeded(spec.tools.OBJDUMP, `${dest}.tmp`, 'GLIBCXX')
    .filter((n) => compare(n.version, GLIBCXX_MAX.split('.').map(Number)) > 0);
  if (cxxOver.length) {
    throw new Error(`${target}: needs libstdc++ newer than GLIBCXX_${GLIBCXX_MAX}: ` +
      `${cxxOver.map((n) => `${n.symbol}@${n.name}`).join(', ')} (define it hidden in native/libstdcxx_compat.cc, or avoid it)`);
  }
  fs.renameSync(`${dest}.tmp`, dest);
  return { target, file: dest, glibc: `${newest ? newest.name : 'no GLIBC'}, ${cxx ? cxx.name : 'no GLIBCXX'}` };
}

async function buildWindows() {
  const { buildTargets, importLibraryFromDef } = require('./windows/build.js');
  const objects = path.join(work, 'win32-x64', 'obj');
  const importLib = importLibraryFromDef(require('node-api-headers').def_paths.node_api_def, objects);
  const outputDir = path.join(work, 'win32-x64', 'out');
  const previous = process.env.SYSALLOC_WERROR;
  process.env.SYSALLOC_WERROR = '1'; // read by binding.gyp through gyp.py
  try {
    const [built] = await buildTargets(path.join(root, 'binding.gyp'), { objects, stage: work, outputDir }, importLib, null);
    const dest = path.join(out, 'win32-x64', 'sysalloc.node');
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    run('x86_64-w64-mingw32-strip', ['--strip-unneeded', '-o', `${dest}.tmp`, built]);
    // Only Node-API, and nothing a Windows install lacks: the DLLs it imports.
    const imports = [...execFileSync('x86_64-w64-mingw32-objdump', ['-p', `${dest}.tmp`], { encoding: 'utf8' })
      .matchAll(/DLL Name: (\S+)/g)].map((m) => m[1]);
    const foreign = imports.filter((dll) => !/^(kernel32|msvcrt|advapi32|user32|shell32|ole32|node)\.(dll|exe)$/i.test(dll));
    if (foreign.length) throw new Error(`win32-x64: imports ${foreign.join(', ')}, which Windows does not ship`);
    fs.renameSync(`${dest}.tmp`, dest);
    return { target: 'win32-x64', file: dest, glibc: '-', imports };
  } finally {
    if (previous === undefined) delete process.env.SYSALLOC_WERROR;
    else process.env.SYSALLOC_WERROR = previous;
  }
}

async function main() {
  const targets = process.argv.slice(2);
  if (targets.length === 0) targets.push(...Object.keys(TARGETS));
  for (const t of targets) {
    if (!TARGETS[t]) throw new Error(`unknown target ${t}; known: ${Object.keys(TARGETS).join(', ')}`);
  }
  installMissing(targets);
  const results = [];
  for (const t of targets) {
    const started = Date.now();
    say(`building ${t}`);
    const result = t === 'win32-x64' ? await buildWindows() : await buildLinux(t);
    result.seconds = ((Date.now() - started) / 1000).toFixed(1);
    results.push(result);
  }
  for (const r of results) {
    const size = fs.statSync(r.file).size;
    const needs = r.imports ? `imports: ${r.imports.join(' ')}` : `needs: ${r.glibc}`;
    console.log(`${path.relative(root, r.file)}  ${size} bytes  ${needs}  (${r.seconds} s)`);
  }
}

main().catch((e) => {
  say(e.message);
  process.exit(1);
});
