// Shared blocks and shared pools across worker_threads (lib/shared.ts,
// lib/shared-pool.ts, native/shared_binding.cc). Each case runs in a child
// process of the runtime under test with --expose-gc, so that its counters
// start clean and gc() can run in every thread.
import { spawnSync } from 'child_process';
import path = require('path');
import { Block, Pool } from '..';
import { runtimeMemory } from './helpers';

const root = JSON.stringify(path.resolve(__dirname, '..'));
const major = Number(process.versions.node.split('.')[0]);
// node_api_create_external_sharedarraybuffer: exported by the Node 22, 24 and 26 of the matrix, not by Node 20.
const expectSab = major >= 22 && !runtimeMemory;
// Sharing needs memory of sysalloc's own: on runtime memory (npm run test:no-external)
// every way in is refused instead, which the test below asserts.
const sharing = runtimeMemory ? test.skip : test;

(runtimeMemory ? test : test.skip)('on runtime memory (no external buffers): share, fromShared and shared pools are refused', () => {
  using block = Block.alloc(4096);
  expect(() => block.share()).toThrow(/^block\.share\(\): this runtime does not allow external buffers/);
  expect(() => new Pool({ slotSize: 64, slots: 4, shared: true })).toThrow(/this runtime does not allow external buffers/);
  const handle = Object.freeze({ type: 'sysalloc.SharedBlock', id: 1, key: 1n });
  expect(() => Block.fromShared(handle as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PARAM' }));
});

// Runs body (an async function's text, with Block, Pool, blockStats, sharedArrayBuffers,
// spawn(code, workerData) and settle() in scope) and returns what it passes to report().
function run(body: string, timeout = 60000): any {
  const script = `
    const { Worker } = require('worker_threads');
    const sysalloc = require(${root});
    const { Block, Pool, blockStats, sharedArrayBuffers, addressOf } = sysalloc;
    const prelude = 'const { parentPort, workerData } = require("worker_threads"); const sysalloc = require(' + ${JSON.stringify(root)} + '); const { Block, Pool, addressOf } = sysalloc;';
    function spawn(code, workerData) {
      const w = new Worker(prelude + code, { eval: true, workerData });
      // Messages are queued: one that arrives while nobody waits is not lost.
      const queue = [], waiting = [];
      w.on('message', (m) => (waiting.length ? waiting.shift().resolve(m) : queue.push(m)));
      w.on('error', (e) => { while (waiting.length) waiting.shift().reject(e); });
      w.next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve, reject) => waiting.push({ resolve, reject })));
      w.ended = new Promise((resolve) => w.once('exit', resolve));
      return w;
    }
    // Collects and lets the finalizers (immediates; SharedArrayBuffer deleters) run.
    async function settle() {
      for (let i = 0; i < 4; i++) { gc(); await new Promise((r) => setTimeout(r, 20)); }
    }
    function counts() { const s = blockStats(); return { live: s.liveBlocks, regions: s.sharedRegions, refs: s.sharedReferences }; }
    (async () => { ${body} })().then((r) => console.log(JSON.stringify(r, (k, v) => typeof v === 'bigint' ? v.toString() : v)),
      (e) => { console.log(JSON.stringify({ error: String(e && e.stack || e) })); });`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout });
  expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
  return JSON.parse(r.stdout.trim().split('\n').pop() as string);
}

test('the runtime has external SharedArrayBuffers exactly where Node exports them', () => {
  expect(run('return sharedArrayBuffers;')).toBe(expectSab);
});

sharing('content written in one thread is read in another, at the same address, no copy', () => {
  const r = run(`
    const b = Block.alloc(1 << 20);
    b.buffer.fill(0x5a);
    b.buffer.write('from main', 0);
    const w = spawn(\`
      const b = Block.fromShared(workerData);
      const sab = b.buffer.buffer instanceof SharedArrayBuffer;
      const text = b.buffer.toString('latin1', 0, 9);
      const rest = b.buffer.subarray(9).every((x) => x === 0x5a);
      b.buffer.write('from worker', 100);
      parentPort.postMessage({ address: b.address, size: b.size, align: b.align, shared: b.shared, sab, text, rest });
      b.free();
    \`, b.share());
    const seen = await w.next();
    await w.ended;
    const reply = b.buffer.toString('latin1', 100, 111);
    const same = seen.address === b.address;
    b.free();
    return { ...seen, address: undefined, same, reply };
  `);
  expect(r).toEqual({ size: 1 << 20, align: 1 << 20, shared: true, sab: expectSab, text: 'from main', rest: true, same: true, reply: 'from worker' });
});

sharing('the memory is released only after the last holder, with exact counters', () => {
  const r = run(`
    await settle();
    const base = counts();
    const b = Block.alloc(64 * 1024);
    b.buffer.fill(3);
    const handle = b.share();
    const holder = \`
      const b = Block.fromShared(workerData);
      parentPort.postMessage('open');
      parentPort.on('message', async (m) => {
        if (m === 'check') parentPort.postMessage(b.buffer.every((x) => x === 3));
        if (m === 'free') { b.free(); gc(); await new Promise((r) => setTimeout(r, 20)); gc(); parentPort.postMessage('freed'); }
        if (m === 'exit') process.exit(0);
      });
    \`;
    const w1 = spawn(holder, handle);
    const w2 = spawn(holder, handle);
    await w1.next(); await w2.next();
    const opened = counts();
    b.free();
    await settle();
    const mainFreed = counts();
    w1.postMessage('free'); await w1.next(); w1.postMessage('exit'); await w1.ended;
    await settle();
    const oneLeft = counts();
    w2.postMessage('check');
    const intact = await w2.next();
    w2.postMessage('free'); await w2.next();
    await settle();
    const allFreed = counts();
    w2.postMessage('exit'); await w2.ended;
    await settle();
    let stale;
    try { Block.fromShared(handle); stale = 'opened'; } catch (e) { stale = e.code; }
    const d = (c) => ({ live: c.live - base.live, regions: c.regions - base.regions, refs: c.refs - base.refs });
    return { opened: d(opened), mainFreed: d(mainFreed), oneLeft: d(oneLeft), intact, allFreed: d(allFreed), stale };
  `);
  // Opened: the sharing Block plus one view per worker (a SharedArrayBuffer or an external Buffer, one reference each).
  expect(r.opened).toEqual({ live: 1, regions: 1, refs: 3 });
  expect(r.mainFreed).toEqual({ live: 1, regions: 1, refs: 2 });
  expect(r.oneLeft).toEqual({ live: 1, regions: 1, refs: 1 });
  expect(r.intact).toBe(true);
  expect(r.allFreed).toEqual({ live: 0, regions: 0, refs: 0 });
  expect(r.stale).toBe('ERR_NOT_ALLOCATED');
});

sharing('a worker that ends or is terminated while holding: the others keep the memory, the last one out releases it', () => {
  const r = run(`
    await settle();
    const base = counts();
    const d = (c) => ({ live: c.live - base.live, regions: c.regions - base.regions, refs: c.refs - base.refs });
    const b = Block.alloc(1 << 20);
    const handle = b.share();
    // A natural end without free(): the worker's view goes with it.
    const w0 = spawn('const b = Block.fromShared(workerData); b.buffer.fill(8); globalThis.kept = b;', handle);
    await w0.ended;
    await settle();
    const afterEnd = d(counts());
    const w = spawn(\`
      const b = Block.fromShared(workerData);
      b.buffer.fill(9);
      parentPort.postMessage('holding');
      setInterval(() => {}, 1000);
    \`, handle);
    await w.next();
    await w.terminate();
    await settle();
    const afterTerminate = d(counts());
    const intact = b.buffer.every((x) => x === 9);
    // The other way round: the sharing thread lets go first, the worker is terminated holding the last reference.
    const w2 = spawn(\`
      const b = Block.fromShared(workerData);
      parentPort.postMessage('holding');
      setInterval(() => {}, 1000);
    \`, handle);
    await w2.next();
    b.free();
    await settle();
    const workerOnly = d(counts());
    await w2.terminate();
    await settle();
    return { afterEnd, afterTerminate, intact, workerOnly, released: d(counts()) };
  `);
  if (expectSab) {
    // A SharedArrayBuffer's reference goes when its isolate is disposed, however the worker ends.
    expect(r).toEqual({
      afterEnd: { live: 1, regions: 1, refs: 1 }, afterTerminate: { live: 1, regions: 1, refs: 1 }, intact: true,
      workerOnly: { live: 1, regions: 1, refs: 1 }, released: { live: 0, regions: 0, refs: 0 },
    });
  } else {
    // Node 20 (external Buffer per thread): a natural end drops the worker's reference at 'exit'. terminate()
    // runs no JavaScript, and Node detaches every Buffer before its finalizer, so a view still held cannot be told
    // from memory moved to an ArrayBuffer that lives on elsewhere: its reference is abandoned (kept for the
    // life of the process), never dropped early.
    expect(r).toEqual({
      afterEnd: { live: 1, regions: 1, refs: 1 }, afterTerminate: { live: 1, regions: 1, refs: 2 }, intact: true,
      workerOnly: { live: 1, regions: 1, refs: 2 }, released: { live: 1, regions: 1, refs: 2 },
    });
  }
});

sharing('forged, foreign and stale handles are refused with ERR_NOT_ALLOCATED', () => {
  const r = run(`
    const b = Block.alloc(4096);
    const h = b.share();
    const pool = new Pool({ slotSize: 64, slots: 8, shared: true });
    const ph = pool.share();
    const tries = {
      wrongKey: { ...h, key: h.key ^ 1n },
      nextId: { ...h, id: h.id + 1 },
      numberKey: { ...h, key: Number(h.key & 0xffffn) },
      noType: { id: h.id, key: h.key },
      poolAsBlock: { ...ph, type: 'sysalloc.SharedBlock' },
      getter: Object.defineProperty({ type: 'sysalloc.SharedBlock', key: h.key }, 'id', { get() { return h.id; }, enumerable: true }),
      proxy: new Proxy(h, {}),
      nul: null, num: 42, str: 'sysalloc.SharedBlock', undef: undefined,
    };
    const out = {};
    for (const [name, value] of Object.entries(tries)) {
      try { Block.fromShared(value); out[name] = 'opened'; } catch (e) { out[name] = e.code; }
    }
    try { Pool.fromShared({ ...h, type: 'sysalloc.SharedPool' }); out.blockAsPool = 'opened'; } catch (e) { out.blockAsPool = e.code; }
    const copy = { ...h };
    b.free();
    await settle();
    try { Block.fromShared(copy); out.stale = 'opened'; } catch (e) { out.stale = e.code; }
    // A handle from this process opened in a worker is fine; a key the worker makes up is not.
    const w = spawn(\`
      const out = {};
      try { const p = Pool.fromShared(workerData); out.pool = p.slots; p.destroy(); } catch (e) { out.pool = e.code; }
      try { Pool.fromShared({ ...workerData, key: workerData.key + 1n }); out.forged = 'opened'; } catch (e) { out.forged = e.code; }
      parentPort.postMessage(out);
    \`, ph);
    out.worker = await w.next();
    await w.ended;
    pool.destroy();
    return out;
  `);
  const refused = 'ERR_NOT_ALLOCATED';
  expect(r).toEqual({
    wrongKey: refused, nextId: refused, numberKey: refused, noType: refused, poolAsBlock: refused, getter: refused,
    proxy: refused, nul: refused, num: refused, str: refused, undef: refused, blockAsPool: refused, stale: refused,
    worker: { pool: 8, forged: refused },
  });
});

sharing('Atomics.wait/notify across threads on a shared block (a SharedArrayBuffer view where the runtime has one)', () => {
  const r = run(`
    const b = Block.alloc(4096);
    // The sharing Block keeps its external Buffer: this thread opens a shared view of its own.
    const mine = Block.fromShared(b.share());
    const words = new Int32Array(mine.buffer.buffer, mine.buffer.byteOffset, 4);
    const w = spawn(\`
      const b = Block.fromShared(workerData);
      const words = new Int32Array(b.buffer.buffer, b.buffer.byteOffset, 4);
      Atomics.store(words, 1, 1);
      // Atomics.wait takes only an Int32Array over a SharedArrayBuffer: probe it on a word that is not 1.
      let canWait = true;
      try { Atomics.wait(words, 3, 1, 0); } catch (e) { canWait = e.constructor.name; }
      parentPort.postMessage('ready');
      let waited;
      if (canWait === true) {
        waited = Atomics.wait(words, 0, 0, 20000);
      } else {
        // The fallback: a non-shared Int32Array over the same memory. Atomics.wait refuses it,
        // the other Atomics operations work on it and see the other thread's stores.
        waited = canWait;
        const t0 = Date.now();
        while (Atomics.load(words, 0) === 0 && Date.now() - t0 < 20000);
      }
      parentPort.postMessage({ waited, value: Atomics.load(words, 0) });
    \`, b.share());
    await w.next();
    await new Promise((r) => setTimeout(r, 50));
    Atomics.store(words, 0, 42);
    let woken = null;
    try { woken = Atomics.notify(words, 0); } catch (e) { woken = e.constructor.name; }
    const seen = await w.next();
    await w.ended;
    const workerSetFlag = Atomics.load(words, 1) === 1;
    mine.free();
    b.free();
    return { ...seen, workerSetFlag, woken: typeof woken };
  `);
  if (expectSab) {
    // notify's count is not asserted: the worker may not be asleep yet; wait() then returns 'not-equal'.
    expect(['ok', 'not-equal']).toContain(r.waited);
    expect(r).toMatchObject({ value: 42, workerSetFlag: true, woken: 'number' });
  } else {
    expect(r).toEqual({ waited: 'TypeError', value: 42, workerSetFlag: true, woken: 'number' });
  }
});

sharing('8 workers hammer one shared pool: a slot is never held by two threads at once', () => {
  // 10^5 operations (an alloc or a free) per worker, 8 workers, 64 slots: each worker holds up to 4
  // slots, writes its id over the whole slot after alloc and checks it before free.
  const OPS = 100000;
  const r = run(`
    await settle();
    const base = counts();
    const pool = new Pool({ slotSize: 64, slots: 64, shared: true });
    const t0 = Date.now();
    const workers = Array.from({ length: 8 }, (_, i) => spawn(\`
      const pool = Pool.fromShared(workerData.handle);
      const id = workerData.id;
      const held = [];
      let bad = 0, full = 0, ops = 0;
      while (ops < ${OPS}) {
        if (held.length < 4 && (held.length === 0 || (ops * 7919 + id) % 3 !== 0)) {
          let buf;
          try { buf = pool.alloc(); } catch (e) { if (e.code !== 'ERR_NO_MEMORY') throw e; full++; continue; }
          buf.fill(id);
          held.push(buf);
        } else {
          const buf = held.shift();
          for (let j = 0; j < buf.length; j++) if (buf[j] !== id) { bad++; break; }
          pool.free(buf);
        }
        ops++;
      }
      for (const buf of held) pool.free(buf);
      const used = pool.used;
      pool.destroy();
      parentPort.postMessage({ bad, ops, full });
    \`, { handle: pool.share(), id: i + 1 }));
    const results = await Promise.all(workers.map((w) => w.next()));
    await Promise.all(workers.map((w) => w.ended));
    const seconds = (Date.now() - t0) / 1000;
    const used = pool.used;
    pool.destroy();
    await settle();
    const after = counts();
    return { bad: results.reduce((a, x) => a + x.bad, 0), ops: results.map((x) => x.ops), used, seconds,
      released: { live: after.live - base.live, regions: after.regions - base.regions, refs: after.refs - base.refs } };
  `, 120000);
  expect(r.bad).toBe(0);
  expect(r.ops).toEqual(new Array(8).fill(OPS));
  expect(r.used).toBe(0);
  expect(r.released).toEqual({ live: 0, regions: 0, refs: 0 });
});

sharing('a shared pool: slots across threads, checked mode, released when the last thread lets go', () => {
  const r = run(`
    await settle();
    const base = counts();
    const d = (c) => ({ live: c.live - base.live, regions: c.regions - base.regions, refs: c.refs - base.refs });
    const out = {};
    // The pool's Buffers stay in this function: a SharedArrayBuffer is released once they are collected.
    const one = async (checked) => {
      const pool = new Pool({ slotSize: 100, slots: 3, align: 64, shared: true, checked });
      const mine = pool.alloc();
      mine.fill(1);
      const w = spawn(\`
        const pool = Pool.fromShared(workerData);
        const a = pool.alloc(), b = pool.alloc();
        let full; try { pool.alloc(); } catch (e) { full = e.code; }
        a.fill(2);
        parentPort.postMessage({ full, used: pool.used, shared: pool.shared, instance: pool instanceof Pool,
          aligned: Number(addressOf(a) % 64n), slotSize: pool.slotSize, checked: pool.checked });
        parentPort.once('message', (other) => {
          let foreign; try { pool.free(other); } catch (e) { foreign = e.code; }
          pool.free(a);
          const afterFree = a.length;
          pool.destroy();
          parentPort.postMessage({ foreign, afterFree, bLength: b.length });
        });
      \`, pool.share());
      const first = await w.next();
      w.postMessage(Buffer.from(mine));
      const second = await w.next();
      await w.ended;
      const usedAfter = pool.used;
      let double; pool.free(mine); try { pool.free(mine); } catch (e) { double = e.code; }
      const beforeDestroy = d(counts());
      pool.destroy();
      return { first, second, usedAfter, mineAfterFree: mine.length, double, beforeDestroy };
    };
    for (const checked of [false, true]) {
      const result = await one(checked);
      await settle();
      out[checked ? 'checked' : 'fast'] = { ...result, released: d(counts()) };
    }
    let grow; try { new Pool({ slotSize: 8, slots: 1, shared: true }).addMemory(Block.alloc(64)); } catch (e) { grow = e.code; }
    out.grow = grow;
    let notShared; try { new Pool({ slotSize: 8, slots: 1 }).share(); } catch (e) { notShared = e.code; }
    out.notShared = notShared;
    return out;
  `);
  const first = { full: 'ERR_NO_MEMORY', used: 3, shared: true, instance: true, aligned: 0, slotSize: 100 };
  expect(r.fast.first).toEqual({ ...first, checked: false });
  expect(r.checked.first).toEqual({ ...first, checked: true });
  // The worker's destroy() returned its remaining slot; only the main thread's is in use.
  expect(r.fast.usedAfter).toBe(1);
  expect(r.checked.usedAfter).toBe(1);
  expect(r.fast.second.foreign).toBe('ERR_NOT_ALLOCATED');
  expect(r.checked.second.foreign).toBe('ERR_NOT_ALLOCATED');
  // Checked mode detaches a freed slot everywhere; fast mode over a SharedArrayBuffer cannot.
  expect(r.checked.second.afterFree).toBe(0);
  expect(r.checked.mineAfterFree).toBe(0);
  expect(r.fast.second.afterFree).toBe(100);
  expect(r.fast.double).toBe('ERR_NOT_ALLOCATED');
  expect(r.checked.double).toBe('ERR_NOT_ALLOCATED');
  expect(r.fast.beforeDestroy).toEqual({ live: 1, regions: 1, refs: 1 });
  expect(r.fast.released).toEqual({ live: 0, regions: 0, refs: 0 });
  expect(r.checked.released).toEqual({ live: 0, regions: 0, refs: 0 });
  expect(r.grow).toBe('ERR_INVALID_PARAM');
  expect(r.notShared).toBe('ERR_INVALID_PARAM');
});
