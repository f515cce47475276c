import * as fs from 'fs';
import * as path from 'path';
import { addressOf, Block, isAligned } from '..';

// O_DIRECT moves data between the device and the buffer without the page cache,
// so the kernel demands a buffer address, file offset and length aligned to the
// device's logical block size. The project folder is on a real file system;
// /tmp may be tmpfs, which refuses O_DIRECT outright.
const directory = path.join(__dirname, '.odirect');
const O_DIRECT = (fs.constants as { O_DIRECT?: number }).O_DIRECT;
const posixOnly = O_DIRECT === undefined ? test.skip : test;

beforeAll(() => fs.mkdirSync(directory, { recursive: true }));
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

function openDirect(file: string, flags: number): number {
  return fs.openSync(file, flags | (O_DIRECT as number), 0o600);
}

posixOnly('O_DIRECT round trip of 1 MiB through Blocks (O_DIRECT is a POSIX flag)', () => {
  const file = path.join(directory, 'roundtrip.bin');
  const chunk = 256 * 1024;
  const sources = [0, 1, 2, 3].map(() => Block.alloc(chunk, { align: 4096, zero: false }));
  const targets = [0, 1, 2, 3].map(() => Block.alloc(chunk, { align: 4096 }));
  try {
    sources.forEach((block, i) => {
      for (let j = 0; j < chunk; j++) block.buffer[j] = (j * 31 + i * 7) & 255;
    });
    const writer = openDirect(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC);
    try {
      sources.forEach((block, i) => expect(fs.writeSync(writer, block.buffer, 0, chunk, i * chunk)).toBe(chunk));
    } finally {
      fs.closeSync(writer);
    }
    expect(fs.statSync(file).size).toBe(4 * chunk);

    const reader = openDirect(file, fs.constants.O_RDONLY);
    try {
      targets.forEach((block, i) => expect(fs.readSync(reader, block.buffer, 0, chunk, i * chunk)).toBe(chunk));
    } finally {
      fs.closeSync(reader);
    }
    targets.forEach((block, i) => expect(block.buffer.equals(sources[i].buffer)).toBe(true));
  } finally {
    for (const block of [...sources, ...targets]) block.free();
  }
});

posixOnly('the same O_DIRECT write from a Buffer not 512-aligned fails with EINVAL (O_DIRECT is a POSIX flag)', () => {
  const file = path.join(directory, 'misaligned.bin');
  const misaligned = Buffer.allocUnsafeSlow(4096 + 1).subarray(1);
  expect(isAligned(misaligned, 512)).toBe(false);
  expect(addressOf(misaligned) % 16n).toBe(1n);
  using aligned = Block.alloc(4096);
  const fd = openDirect(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC);
  try {
    // Same fd, offset and length: only the buffer's address differs.
    expect(fs.writeSync(fd, aligned.buffer, 0, 4096, 0)).toBe(4096);
    let error: NodeJS.ErrnoException | undefined;
    try {
      fs.writeSync(fd, misaligned, 0, 4096, 0);
    } catch (e) {
      error = e as NodeJS.ErrnoException;
    }
    expect(error?.code).toBe('EINVAL');
  } finally {
    fs.closeSync(fd);
  }
});
