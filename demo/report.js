'use strict';
// The demo's reporting: number formats, the progress line, the copy's result
// line and the final summary. demo/copy-odirect.js does the I/O.
const path = require('path');

const MiB = 1 << 20;

const hex = (address) => '0x' + address.toString(16);
const mib = (bytes) => `${+(bytes / MiB).toFixed(2)} MiB`;
const rate = (bytes, seconds) => `${(bytes / MiB / seconds).toFixed(0)} MiB/s`;
const secs = (seconds) => `${seconds.toFixed(2)} s`;
const rel = (file) => path.relative(process.cwd(), file) || file;
const now = () => Number(process.hrtime.bigint()) / 1e9;

/** True while a TTY progress line is on screen without its newline. */
let progressLineOpen = false;

/** Ends a progress line left open by a failure, so what follows starts on a line of its own. */
function closeProgressLine() {
  if (progressLineOpen) process.stdout.write('\n');
  progressLineOpen = false;
}

/**
 * Progress of one long step. On a TTY, one line rewritten in place at most
 * ten times a second; elsewhere (pipes, CI logs), a line at 25, 50 and 75%.
 */
class Progress {
  constructor(label, total) {
    this.label = label;
    this.total = total;
    this.tty = Boolean(process.stdout.isTTY);
    this.lastDraw = 0;
    this.nextQuarter = 0.25;
    this.started = now();
  }

  update(done) {
    const fraction = done / this.total;
    if (this.tty) {
      const t = Date.now();
      if (t - this.lastDraw < 100) return;
      this.lastDraw = t;
      process.stdout.write(`\r  ${this.label}: ${(fraction * 100).toFixed(0).padStart(3)}%  ${mib(done)}\x1b[K`);
      progressLineOpen = true;
    } else if (fraction >= this.nextQuarter && this.nextQuarter < 1) {
      while (fraction >= this.nextQuarter) this.nextQuarter += 0.25;
      console.log(`  ${this.label}: ${(fraction * 100).toFixed(0)}%  ${mib(done)}`);
    }
  }

  /** Replaces the progress line with the step's result. */
  finish(text) {
    if (this.tty) process.stdout.write('\r\x1b[K');
    progressLineOpen = false;
    console.log(`  ${this.label}: ${text}`);
  }

  /** Ends a copy's progress with its times: `written` when the last write returned, `synced` after fdatasync. */
  finishCopy(size, written, synced) {
    const copySeconds = written - this.started;
    const syncSeconds = synced - written;
    this.finish(
      `${mib(size)} in ${secs(copySeconds)} (${rate(size, copySeconds)}); ` +
        `then fdatasync ${secs(syncSeconds)} (${rate(size, copySeconds + syncSeconds)} overall)`,
    );
    return { copySeconds, syncSeconds };
  }
}

function printSummary(size, chunk, depth, results) {
  const { direct, buffered } = results;
  const rows = [
    ['O_DIRECT copy, Blocks', direct],
    ['buffered copy, Buffers', buffered],
  ].map(([name, r]) => [
    name,
    rate(size, r.copySeconds),
    secs(r.copySeconds),
    secs(r.syncSeconds),
    rate(size, r.copySeconds + r.syncSeconds),
  ]);
  const header = ['copy', 'throughput', 'time', 'fdatasync', 'with fdatasync'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells) => '  ' + cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('   ');

  console.log(`\nSummary (${mib(size)}, ${mib(chunk)} chunks, ${depth} in flight)`);
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(row));
  console.log(`  verification:           ${results.directOk && results.bufferedOk ? 'OK, sha256 of both copies = source' : 'FAILED'}`);
  console.log(`  unaligned Buffer write: ${results.refusal ? `${results.refusal.code}, as expected` : 'not shown'}`);
  console.log('  (buffered reads came from the page cache; see the note in step 4)');
}

module.exports = { MiB, hex, mib, rate, secs, rel, now, Progress, closeProgressLine, printSummary };
