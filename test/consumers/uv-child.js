'use strict';

// Run by test/shim-libraries.test.ts in a child process of its own. Hands the
// shim to Node's own libuv with uv_replace_allocator, as a C driver inside Node
// does (the Cassandra driver's cass_alloc_set_functions), while handles that
// libuv allocated before are still open; then uses the event loop and ends
// normally. Prints the shim's counters at each step as one line of JSON, the
// last reading from the 'exit' event.

const childProcess = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const { shim } = require('../..');
const consumers = require('bindings')({ bindings: 'shim_consumers', module_root: __dirname });

const steps = {};
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysalloc-uv-'));
const watched = path.join(dir, 'watched');
fs.writeFileSync(watched, 'x');

// Handles whose memory libuv takes from the system allocator, before the swap.
const watcher = fs.watch(dir, () => {});
fs.watchFile(watched, { interval: 5 }, () => {});

consumers.setApi(shim.pointers().table);
steps.before = shim.stats();
steps.replaceResult = consumers.uvReplaceAllocator();

async function main() {
  // Closing the handles frees, through the shim, blocks the system allocator
  // gave. libuv frees them in the handles' close callbacks, which on Windows wait
  // for the cancelled directory read: wait for the frees, for up to 5 s.
  watcher.close();
  fs.unwatchFile(watched);
  for (let i = 0; i < 500 && shim.stats().foreignFrees === steps.before.foreignFrees; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  steps.afterClosingOldHandles = shim.stats();

  // Timers.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const interval = setInterval(() => {}, 1);
  await new Promise((resolve) => setTimeout(resolve, 10));
  clearInterval(interval);

  // The file system on libuv's thread pool.
  for (let i = 0; i < 40; i++) await fs.promises.writeFile(path.join(dir, `f${i}`), 'y'.repeat(i * 97));
  const names = await fs.promises.readdir(dir);
  const sizes = await Promise.all(names.map(async (n) => (await fs.promises.stat(path.join(dir, n))).size));
  const real = await fs.promises.realpath(dir);
  const readBack = await fs.promises.readFile(path.join(dir, 'f39'), 'utf8');
  steps.fs = { files: names.length, bytes: sizes.reduce((a, b) => a + b, 0), real: real === fs.realpathSync(dir), readBack: readBack.length };

  // A child process.
  steps.child = await new Promise((resolve, reject) => {
    childProcess.execFile(process.execPath, ['-e', 'process.stdout.write(String(6 * 7))'], (error, stdout) =>
      error ? reject(error) : resolve(stdout));
  });

  // Enough sockets at once that libuv grows its array of watchers, allocated
  // before the swap; then every handle is closed.
  const server = net.createServer((socket) => socket.end('ok'));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const replies = await Promise.all(Array.from({ length: 300 }, () => new Promise((resolve, reject) => {
    const socket = net.connect(server.address().port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk) => { data += chunk; });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  })));
  await new Promise((resolve) => server.close(resolve));
  steps.sockets = replies.filter((r) => r === 'ok').length;

  fs.rmSync(dir, { recursive: true });
  steps.beforeExit = shim.stats();
}

process.on('exit', () => {
  steps.exit = shim.stats();
  process.stdout.write(`${JSON.stringify(steps)}\n`);
});

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
});
