import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../src/util/run-command.js';

const MiB = 1024 * 1024;

/** The disk's own write bandwidth for `bytes`: ms for dd from /dev/zero into `dir`, flushed to the disk before it returns. */
export async function ddWrite(dir: string, bytes: number): Promise<number> {
  const f = join(dir, 'dd-probe.bin');
  try {
    const t0 = performance.now();
    await runCommand('dd', ['if=/dev/zero', `of=${f}`, 'bs=1M', `count=${Math.ceil(bytes / MiB)}`, 'conv=fdatasync', 'status=none'], { timeoutMs: 600_000 });
    return performance.now() - t0;
  } finally {
    await rm(f, { force: true });
  }
}

/** ms to read `file` with O_DIRECT, so that the page cache does not stand in for the disk. */
export async function ddReadFile(file: string): Promise<number> {
  const t0 = performance.now();
  await runCommand('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'iflag=direct', 'status=none'], { timeoutMs: 600_000 });
  return performance.now() - t0;
}

/**
 * ms to read `file` with O_DIRECT into a new file on /dev/shm (tmpfs, removed after): the disk's bandwidth when
 * what is read must land in RAM not in use before, as a resumed guest's memory must — each page is allocated on
 * its first write, as a memfd's are.
 */
export async function ddReadFileIntoMemory(file: string): Promise<number> {
  const to = join('/dev/shm', `nubo-bench-dd-${process.pid}.bin`);
  try {
    const t0 = performance.now();
    await runCommand('dd', [`if=${file}`, `of=${to}`, 'bs=1M', 'iflag=direct', 'status=none'], { timeoutMs: 600_000 });
    return performance.now() - t0;
  } finally {
    await rm(to, { force: true });
  }
}

/**
 * The disk's own read bandwidth for `bytes`: a file written untimed into `dir` first, then read back (ddReadFile);
 * then read again into fresh memory (ddReadFileIntoMemory).
 */
export async function ddRead(dir: string, bytes: number): Promise<{ ms: number; intoMemoryMs: number }> {
  const f = join(dir, 'dd-probe.bin');
  try {
    await runCommand('dd', ['if=/dev/urandom', `of=${f}`, 'bs=1M', `count=${Math.ceil(bytes / MiB)}`, 'conv=fdatasync', 'status=none'], { timeoutMs: 600_000 });
    const ms = await ddReadFile(f);
    return { ms, intoMemoryMs: await ddReadFileIntoMemory(f) };
  } finally {
    await rm(f, { force: true });
  }
}
