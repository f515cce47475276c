'use strict';
/*
 * copy-odirect.js: copying a file with O_DIRECT through sysalloc Blocks.
 *
 * O_DIRECT moves data between the disk and the process's memory without the
 * kernel's page cache. In exchange the kernel demands that the buffer address,
 * the file offset and the length are all multiples of the device's logical
 * block size, and answers EINVAL otherwise. An ordinary Node Buffer has no
 * such alignment; a Block from Block.alloc(size, { align: 4096 }) does.
 *
 * What the demo does, all inside demo/.work/ (git-ignored):
 *   1. makes a reproducible pseudo-random source file (default 256 MiB);
 *   2. copies it with O_DIRECT on both fds, through 4 aligned 4 MiB Blocks
 *      with up to 4 reads/writes in flight;
 *   3. checks the copy against the source (sha256);
 *   4. copies it again with ordinary buffered I/O and Buffers, for comparison,
 *      and checks that copy too;
 *   5. shows the EINVAL that an unaligned ordinary Buffer gets under O_DIRECT;
 *   6. frees every Block and deletes the files it made, also on failure;
 *   7. prints a summary. Exit code 0 on success, 1 on any failure.
 *
 * Run:   npm run demo                 (256 MiB)
 *        npm run demo -- --size 64    (size in MiB; a fraction such as 5.3
 *                                      gives a file whose tail is not a
 *                                      multiple of 4096, to exercise that path)
 *
 * Linux only (O_DIRECT). The file system must honour O_DIRECT: ext4 and xfs
 * do; tmpfs refuses it (before Linux 6.6) or accepts it with no alignment
 * rule at all, which is why the files live in the project folder, not /tmp.
 */

const fs = require('fs');
const fsp = require('fs/promises');
const path = require('path');
const crypto = require('crypto');
const { Block, addressOf, isAligned, alignUp, blockStats } = require('..');
const { MiB, hex, mib, rate, secs, rel, now, Progress, closeProgressLine, printSummary } = require('./report');

/** Chunk size: every read and write moves this much, except the file's tail. */
const CHUNK = 4 * MiB;
/** Blocks in the pool, which is also the number of chunks in flight. */
const DEPTH = 4;
/**
 * The alignment used for O_DIRECT addresses, offsets and lengths. The rule is
 * the device's logical block size (512 or 4096 on today's disks), so 4096 is
 * safe everywhere.
 */
const DIRECT_ALIGN = 4096;
/** Any xorshift32 seed but 0 works; a fixed one makes the file reproducible. */
const SEED = 0x2545f491;

const WORK_DIR = path.join(__dirname, '.work');
const { O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_DIRECT } = fs.constants;

// --------------------------------------------------------------- helpers ---

function usage(message) {
  if (message) console.error(`copy-odirect: ${message}`);
  console.error('usage: node demo/copy-odirect.js [--size MiB]   (default 256)');
  process.exit(2);
}

/** Returns the source file's size in bytes from `--size N` / `--size=N` (MiB). */
function parseArgs(argv) {
  let sizeMiB = 256;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') usage();
    let value;
    if (arg === '--size') value = argv[++i];
    else if (arg.startsWith('--size=')) value = arg.slice('--size='.length);
    else usage(`unknown argument ${JSON.stringify(arg)}`);
    sizeMiB = Number(value);
    if (value === undefined || value.trim() === '' || !Number.isFinite(sizeMiB) || sizeMiB <= 0 || sizeMiB > 64 * 1024) {
      usage(`--size wants a number of MiB above 0 and up to 65536; got ${JSON.stringify(value)}`);
    }
  }
  return Math.max(1, Math.round(sizeMiB * MiB));
}

/** fs.writeSync until all `length` bytes are written (a write may be short). */
function writeAllSync(fd, buffer, length, position) {
  let done = 0;
  while (done < length) {
    const n = fs.writeSync(fd, buffer, done, length - done, position + done);
    if (n === 0) throw new Error(`write returned 0 at offset ${position + done}`);
    done += n;
  }
}

/**
 * Writes `size` bytes of xorshift32 output to `file`, `buffer.length` bytes at
 * a time, with ordinary buffered writes. The same seed gives the same bytes
 * (on machines of the same endianness). Writes to a temporary name and renames
 * at the end, so an interrupted run never leaves a short file under the final
 * name.
 */
function generateSource(file, size, buffer) {
  const words = new Uint32Array(buffer.buffer, buffer.byteOffset, buffer.length >>> 2);
  const progress = new Progress('generating', size);
  const temporary = file + '.partial';
  const started = now();
  let x = SEED | 0;
  const fd = fs.openSync(temporary, 'w', 0o644);
  try {
    for (let position = 0; position < size; position += buffer.length) {
      for (let i = 0; i < words.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        words[i] = x;
      }
      writeAllSync(fd, buffer, Math.min(buffer.length, size - position), position);
      progress.update(Math.min(size, position + buffer.length));
    }
    // Flushed here on purpose: an O_DIRECT read of a range with dirty pages
    // first makes the kernel write those pages back, which would otherwise be
    // charged to the O_DIRECT copy's time.
    fs.fdatasyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(temporary, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(temporary, file);
  const seconds = now() - started;
  progress.finish(`${mib(size)} in ${secs(seconds)} (${rate(size, seconds)}, including fdatasync)`);
}

/** Opens with `flags`; explains the usual reason when O_DIRECT is refused. */
async function open(file, flags, mode) {
  try {
    return await fsp.open(file, flags, mode);
  } catch (err) {
    if ((flags & O_DIRECT) !== 0 && err.code === 'EINVAL') {
      err.message += ` (the file system under ${rel(path.dirname(file))} refuses O_DIRECT, as tmpfs did before Linux 6.6)`;
    }
    throw err;
  }
}

/**
 * Reads into buffer[0..] from `position` until at least `need` bytes arrived,
 * asking for up to `want` bytes. With O_DIRECT `want` is `need` rounded up to
 * the alignment, and at the end of the file the read comes back short: that is
 * where `need` stops the loop (one more read would start at an unaligned
 * offset and fail with EINVAL).
 */
async function readAtLeast(handle, buffer, need, want, position) {
  let got = 0;
  while (got < need) {
    const { bytesRead } = await handle.read(buffer, got, want - got, position + got);
    if (bytesRead === 0) throw new Error(`source ended early: no data at offset ${position + got}`);
    got += bytesRead;
  }
}

/** Writes buffer[0..length) at `position`, repeating after a short write. */
async function writeAll(handle, buffer, length, position) {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await handle.write(buffer, done, length - done, position + done);
    if (bytesWritten === 0) throw new Error(`write returned 0 at offset ${position + done}`);
    done += bytesWritten;
  }
}

/**
 * Copies `from` to `to`, one chunk per buffer in flight: each buffer runs its
 * own read-then-write loop over the chunks still unclaimed, so up to
 * `buffers.length` operations overlap on libuv's thread pool. With `direct`
 * both fds get O_DIRECT, and every buffer must then be aligned and
 * `buffers[i].length` a multiple of DIRECT_ALIGN.
 *
 * Resolves only once no read or write is using any buffer, even when one
 * fails, so the caller may free the buffers as soon as this settles.
 *
 * Returns { copySeconds, syncSeconds }: the time to the last write, and the
 * time of the final fdatasync of the destination.
 */
async function copyFile(from, to, { direct, buffers, label }) {
  const extra = direct ? O_DIRECT : 0;
  const chunk = buffers[0].length;
  const source = await open(from, O_RDONLY | extra);
  let target;
  try {
    target = await open(to, O_WRONLY | O_CREAT | O_TRUNC | extra, 0o644);
    const { size } = await source.stat();
    const progress = new Progress(label, size);
    let next = 0; // offset of the first chunk no loop has claimed yet
    let copied = 0;
    let failed = false;
    const loop = async (buffer) => {
      while (!failed && next < size) {
        const position = next;
        next += chunk;
        const need = Math.min(chunk, size - position);
        // O_DIRECT lengths must be aligned too: a short last chunk is written
        // rounded up, zero-padded, and the file cut back below.
        const length = direct ? alignUp(need, DIRECT_ALIGN) : need;
        await readAtLeast(source, buffer, need, length, position);
        if (length > need) buffer.fill(0, need, length);
        await writeAll(target, buffer, length, position);
        copied += need;
        progress.update(copied);
      }
    };
    const stopOthers = (err) => {
      failed = true; // the other loops stop at their next chunk
      throw err;
    };
    const outcomes = await Promise.allSettled(buffers.map((buffer) => loop(buffer).catch(stopOthers)));
    const failure = outcomes.find((o) => o.status === 'rejected');
    if (failure) throw failure.reason;
    await target.truncate(size); // drops the padding of an unaligned tail
    const written = now();
    await target.datasync();
    return progress.finishCopy(size, written, now());
  } finally {
    if (target) await target.close();
    await source.close();
  }
}

/** The sha256 of a file, in hex, read with ordinary I/O through `buffer`. */
function sha256File(file, buffer) {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    let n;
    while ((n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0) hash.update(buffer.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Writes 4096 bytes through an O_DIRECT fd twice: from an ordinary Buffer
 * that starts one byte into its allocation (so not 512-aligned), which must
 * fail with EINVAL, and from the aligned `block`, which must succeed.
 * Returns the EINVAL error; throws if either write behaves otherwise.
 */
function showUnalignedWrite(file, block) {
  const unaligned = Buffer.alloc(DIRECT_ALIGN + 1).subarray(1);
  const aligned = block.buffer.subarray(0, DIRECT_ALIGN);
  console.log(`  ordinary Buffer at ${hex(addressOf(unaligned))}: isAligned(buf, 512) = ${isAligned(unaligned, 512)}`);
  console.log(`  Block buffer    at ${hex(addressOf(aligned))}: isAligned(buf, 512) = ${isAligned(aligned, 512)}`);
  if (isAligned(unaligned, 512)) throw new Error('the test Buffer happens to be 512-aligned; cannot show EINVAL');

  const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0o644);
  try {
    let refusal;
    try {
      fs.writeSync(fd, unaligned, 0, unaligned.length, 0);
    } catch (err) {
      refusal = err;
    }
    if (refusal === undefined) {
      throw new Error(
        'UNEXPECTED: the O_DIRECT write from an unaligned Buffer succeeded. This kernel or ' +
          'file system does not enforce O_DIRECT alignment here, so the demo cannot show it.',
      );
    }
    if (refusal.code !== 'EINVAL') throw refusal;
    console.log(`  write(O_DIRECT fd, ordinary Buffer, 4096 bytes) -> code ${refusal.code}, message "${refusal.message}"`);

    const n = fs.writeSync(fd, aligned, 0, aligned.length, 0);
    console.log(`  write(O_DIRECT fd, Block buffer,    4096 bytes) -> ${n} bytes written`);
    if (n !== aligned.length) throw new Error(`the aligned O_DIRECT write wrote ${n} of ${aligned.length} bytes`);
    return refusal;
  } finally {
    fs.closeSync(fd);
  }
}

// ------------------------------------------------------------------ main ---

/** The steps of the demo. Every file it creates goes into `created`, every Block into `blocks`. */
async function run(size, blocks, created, results) {
  fs.mkdirSync(WORK_DIR, { recursive: true });
  const sourceFile = path.join(WORK_DIR, `source-${size}.bin`);
  const directFile = path.join(WORK_DIR, 'copy-direct.bin');
  const bufferedFile = path.join(WORK_DIR, 'copy-buffered.bin');
  const probeFile = path.join(WORK_DIR, 'einval-probe.bin');

  for (let i = 0; i < DEPTH; i++) blocks.push(Block.alloc(CHUNK, { align: DIRECT_ALIGN, zero: false }));
  console.log(
    `Pool: ${DEPTH} Blocks of ${mib(CHUNK)}, align ${DIRECT_ALIGN}, from ${blocks[0].source}, at ` +
      blocks.map((b) => hex(b.address)).join(', '),
  );

  console.log(`\n[1/5] Source file ${rel(sourceFile)} (${mib(size)})`);
  if (fs.existsSync(sourceFile) && fs.statSync(sourceFile).size === size) {
    console.log('  already there from an earlier run: reused, and left in place at the end');
  } else {
    created.push(sourceFile, sourceFile + '.partial');
    generateSource(sourceFile, size, blocks[0].buffer); // the first Block doubles as the generator's buffer
  }

  console.log(`\n[2/5] O_DIRECT copy -> ${rel(directFile)} (${mib(CHUNK)} chunks, ${DEPTH} in flight)`);
  created.push(directFile);
  results.direct = await copyFile(sourceFile, directFile, {
    direct: true,
    buffers: blocks.map((b) => b.buffer),
    label: 'O_DIRECT',
  });

  console.log('\n[3/5] Verify (sha256 of each file, read back with ordinary I/O)');
  const hashBuffer = Buffer.allocUnsafe(CHUNK);
  const sourceHash = sha256File(sourceFile, hashBuffer);
  const directHash = sha256File(directFile, hashBuffer);
  console.log(`  source         ${sourceHash}`);
  console.log(`  O_DIRECT copy  ${directHash}`);
  results.directOk = directHash === sourceHash;
  if (!results.directOk) throw new Error('MISMATCH: the O_DIRECT copy differs from the source');
  console.log('  OK: the O_DIRECT copy is identical to the source');

  console.log(`\n[4/5] Buffered copy -> ${rel(bufferedFile)} (ordinary Buffers, same chunks and depth)`);
  created.push(bufferedFile);
  const plainBuffers = Array.from({ length: DEPTH }, () => Buffer.allocUnsafe(CHUNK));
  results.buffered = await copyFile(sourceFile, bufferedFile, { direct: false, buffers: plainBuffers, label: 'buffered' });
  const bufferedHash = sha256File(bufferedFile, hashBuffer);
  console.log(`  buffered copy  ${bufferedHash}`);
  results.bufferedOk = bufferedHash === sourceHash;
  if (!results.bufferedOk) throw new Error('MISMATCH: the buffered copy differs from the source');
  console.log('  OK: the buffered copy is identical to the source');
  console.log(
    '  Note: the source was just written and hashed, so the reads of this copy are served\n' +
      '  from the page cache, not the disk; its writes land in the cache and reach the disk\n' +
      '  only at the fdatasync. Node has no posix_fadvise(POSIX_FADV_DONTNEED) to drop the\n' +
      '  cache first. The O_DIRECT copy bypassed the page cache both ways (in a VM, the host\n' +
      '  may still cache below us).',
  );

  console.log('\n[5/5] O_DIRECT and an ordinary, unaligned Buffer');
  created.push(probeFile);
  results.refusal = showUnalignedWrite(probeFile, blocks[0]);
}

/** Frees the Blocks and deletes the files; reports, rather than throws, any failure. */
function cleanUp(blocks, created) {
  let ok = true;
  let freed = 0;
  for (const block of blocks) {
    try {
      if (!block.freed) {
        block.free();
        freed++;
      }
    } catch (err) {
      ok = false;
      console.error(`  could not free a Block: ${err.message}`);
    }
  }
  let removed = 0;
  for (const file of created) {
    try {
      if (fs.existsSync(file)) {
        fs.rmSync(file);
        removed++;
      }
    } catch (err) {
      ok = false;
      console.error(`  could not remove ${rel(file)}: ${err.message}`);
    }
  }
  const live = blockStats().liveBlocks;
  console.log(`  freed ${freed} Blocks (blockStats: ${live} still live), removed ${removed} files`);
  return ok && live === 0;
}

async function main() {
  if (O_DIRECT === undefined) {
    console.error('copy-odirect: fs.constants.O_DIRECT is not defined on this platform (it is Linux-only)');
    return 1;
  }
  const size = parseArgs(process.argv.slice(2));
  console.log(`sysalloc demo: copying ${mib(size)} with O_DIRECT through aligned Blocks`);

  const blocks = [];
  const created = [];
  const results = {};
  let failure;
  try {
    await run(size, blocks, created, results);
  } catch (err) {
    failure = err;
  } finally {
    closeProgressLine();
    console.log('\nCleanup');
    if (!cleanUp(blocks, created) && failure === undefined) failure = new Error('cleanup failed');
  }
  if (failure !== undefined) {
    console.error(`\nFAILED: ${failure.stack || failure}`);
    return 1;
  }
  printSummary(size, CHUNK, DEPTH, results);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
