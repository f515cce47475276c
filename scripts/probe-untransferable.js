'use strict';
// What worker_threads.markAsUntransferable does to an ArrayBuffer on this Node:
// for an external one (an Arena chunk's ArrayBuffer) and one V8 allocated.
// Usage: node scripts/probe-untransferable.js [external|runtime] [mark|nomark] [exit]
// Prints one JSON line; with `exit`, the process ends with the buffer still
// attached, to see whether Node's teardown survives it.
const { markAsUntransferable, MessageChannel } = require('worker_threads');
const { Arena } = require('../dist');

const kind = process.argv[2] ?? 'external';
const mark = (process.argv[3] ?? 'mark') === 'mark';
const atExit = process.argv[4] === 'exit';

function fresh() {
  if (kind === 'runtime') return { ab: new ArrayBuffer(4096), done() {} };
  const arena = new Arena({ capacity: 4096 });
  const a = arena.alloc(16);
  return { ab: a.buffer, arena, done() { try { arena.destroy(); } catch (e) { return `destroy: ${e.code ?? e.name}: ${e.message}`; } return 'destroy: ok'; } };
}

function attempt(what, fn) {
  const { ab, done } = fresh();
  if (mark) markAsUntransferable(ab);
  let result;
  try {
    result = fn(ab);
  } catch (e) {
    result = `threw ${e.name}: ${e.message}`;
  }
  return { what, result, lengthAfter: ab.byteLength, cleanup: done() };
}

async function main() {
  const out = { node: process.version, kind, mark };
  out.transfer = typeof ArrayBuffer.prototype.transfer === 'function'
    ? attempt('transfer', (ab) => `moved ${ab.transfer().byteLength} bytes`)
    : 'no ArrayBuffer.prototype.transfer';
  out.stream = await (async () => {
    const { ab, done } = fresh();
    if (mark) markAsUntransferable(ab);
    let result;
    try {
      const rs = new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new Uint8Array(ab, 0, 16)); c.close(); } });
      const r = await rs.getReader().read();
      result = `read ${r.value.byteLength} bytes, same memory: ${r.value.buffer === ab}`;
    } catch (e) {
      result = `threw ${e.name}: ${e.message}`;
    }
    return { what: 'byte stream enqueue', result, lengthAfter: ab.byteLength, cleanup: done() };
  })();
  out.postMessage = attempt('postMessage transfer list', (ab) => {
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(ab, [ab]);
    port1.close(); port2.close();
    return 'posted';
  });
  out.structuredClone = attempt('structuredClone transfer', (ab) => `cloned ${structuredClone(ab, { transfer: [ab] }).byteLength}`);
  console.log(JSON.stringify(out));
  if (atExit) {
    const { ab } = fresh(); // left attached and never destroyed
    if (mark) markAsUntransferable(ab);
    globalThis.keep = ab;
  }
}
main();
