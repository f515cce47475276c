'use strict';

// Passing 1 MiB from one worker to another, one message at a time (each
// message answered before the next is sent), four ways, side by side in one
// run, several rounds interleaved; prints the median us per message and the
// ratio to the copied Buffer.
//
//   node bench/share.js [--messages=N] [--rounds=N] [--size=BYTES]
//
// copy:           postMessage(buffer): structured clone copies the bytes.
// transfer:       postMessage(arrayBuffer, [arrayBuffer]), transferred back
//                 with the answer (no allocation per message).
// block handle:   the producer allocates a sysalloc Block, shares it and posts
//                 the handle; the consumer opens it (Block.fromShared), reads,
//                 frees; the producer frees its Block after the answer. The
//                 whole lifetime of a shared block per message.
// shared, reused: one shared Block opened once on both sides; a message only
//                 says "the bytes are ready" (the steady state of sharing).

const { Worker, MessageChannel, isMainThread, parentPort, workerData } = require('worker_threads');
const path = require('path');

const arg = (name, fallback) => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split('=')[1]) : fallback;
};
const MODES = ['copy', 'transfer', 'block handle', 'shared, reused'];

if (isMainThread) {
  const messages = arg('messages', 400);
  const rounds = arg('rounds', 5);
  const size = arg('size', 1 << 20);
  const root = path.resolve(__dirname, '..');
  const runOnce = (mode) =>
    new Promise((resolve, reject) => {
      const { port1, port2 } = new MessageChannel();
      const consumer = new Worker(__filename, { workerData: { role: 'consumer', mode, root, port: port2 }, transferList: [port2] });
      const producer = new Worker(__filename, { workerData: { role: 'producer', mode, root, port: port1, messages, size }, transferList: [port1] });
      producer.once('message', (us) => {
        consumer.terminate().then(() => resolve(us));
      });
      producer.once('error', reject);
      consumer.once('error', reject);
    });
  (async () => {
    const { sharedArrayBuffers } = require(root);
    console.log(`${process.version}, ${size} bytes per message, ${messages} messages x ${rounds} rounds; ` +
      `shared views are ${sharedArrayBuffers ? 'SharedArrayBuffers' : 'external Buffers per thread'}`);
    const times = Object.fromEntries(MODES.map((m) => [m, []]));
    for (let r = 0; r < rounds; r++) for (const mode of MODES) times[mode].push(await runOnce(mode));
    const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
    const base = median(times.copy);
    for (const mode of MODES) {
      const m = median(times[mode]);
      console.log(`${mode.padEnd(16)} ${m.toFixed(1).padStart(9)} us/message   ${(base / m).toFixed(2).padStart(7)}x of copy's speed`);
    }
  })();
} else {
  const { role, mode, root, port, messages, size } = workerData;
  const { Block } = require(root);
  if (role === 'consumer') {
    let reused;
    port.on('message', (m) => {
      if (mode === 'copy') {
        port.postMessage(m[0] + m[m.length - 1]);
      } else if (mode === 'transfer') {
        const v = new Uint8Array(m);
        v[0] = v[v.length - 1];
        port.postMessage(m, [m]);
      } else if (mode === 'block handle') {
        const b = Block.fromShared(m);
        const sum = b.buffer[0] + b.buffer[b.size - 1];
        b.free();
        port.postMessage(sum);
      } else {
        if (reused === undefined) reused = Block.fromShared(m.handle);
        port.postMessage(reused.buffer[0] + reused.buffer[reused.size - 1]);
      }
    });
  } else {
    const reply = () => new Promise((resolve) => port.once('message', resolve));
    (async () => {
      const copyBuffer = Buffer.alloc(size, 1);
      let ab = new ArrayBuffer(size);
      const reused = Block.alloc(size);
      const reusedHandle = reused.share();
      const warm = Math.min(50, messages);
      let t0 = 0;
      for (let i = 0; i < warm + messages; i++) {
        if (i === warm) t0 = process.hrtime.bigint();
        if (mode === 'copy') {
          copyBuffer[0] = i;
          port.postMessage(copyBuffer);
          await reply();
        } else if (mode === 'transfer') {
          new Uint8Array(ab)[0] = i;
          port.postMessage(ab, [ab]);
          ab = await reply();
        } else if (mode === 'block handle') {
          const b = Block.alloc(size, { zero: false });
          b.buffer[0] = i;
          b.buffer[size - 1] = 1;
          port.postMessage(b.share());
          await reply();
          b.free();
        } else {
          reused.buffer[0] = i;
          port.postMessage({ handle: reusedHandle });
          await reply();
        }
      }
      const us = Number(process.hrtime.bigint() - t0) / 1000 / messages;
      reused.free();
      parentPort.postMessage(us);
    })();
  }
}
