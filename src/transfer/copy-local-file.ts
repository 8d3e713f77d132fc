import { constants } from 'node:fs';
import { copyFile, open, stat, type FileHandle } from 'node:fs/promises';
import type { TransferLocalSource } from '../contract/agent-api.js';
import { abortReason, deadline, sleep } from '../util/deadline.js';
import { hashFile } from './hash-file.js';
import { isOfferedFile } from './local-source.js';
import { Pacer } from './pacer.js';
import { FileTransferError, type PulledFile, type PullFileRequest } from './pull-file.js';

/** As a pull (where the bytes go, the offered size, a cap, progress, the signal and deadline), from a file on this machine. A cap paces the copy as it would the network's (slices of a burst); without one the kernel copies the file in one call. */
export interface LocalCopyRequest extends Pick<PullFileRequest, 'dest' | 'sizeBytes' | 'maxBytesPerSecond' | 'onBytes' | 'signal' | 'timeoutMs'> {
  /** What the offer said of the file on this machine. */
  readonly source: TransferLocalSource;
}

const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Copies an offered file that lies on this very machine (an agent beside the
 * source's, or a datastore both see) without the network: `copyFile` —
 * a reflink where the filesystem has them, else `copy_file_range`, the bytes
 * never leaving the kernel. Integrity is checked as on the network path, by
 * two digests computed apart once the copy is done: the source file's sha256
 * in one worker thread, the copy's in another, while it is fsynced; they
 * must match each other and the offer's size, and the source path must still
 * name the offered inode afterwards. Returns undefined, having written
 * nothing, when the file cannot be opened here as the offered file (another
 * machine's path, another mount): the caller then pulls it over the network.
 * @throws FileTransferError (short, changed or corrupt copy), TimeoutError, the signal's reason
 */
export async function copyLocalFile(r: LocalCopyRequest): Promise<PulledFile | undefined> {
  const src = await open(r.source.path, 'r').catch(() => undefined);
  if (src === undefined) return undefined;
  const what = `local copy of ${r.source.path}`;
  try {
    if (!(await isOfferedFile(src, r.source, r.sizeBytes))) return undefined;
    const rate = Math.min(10_000_000, r.maxBytesPerSecond ?? Infinity);
    const d = deadline(what, r.timeoutMs ?? 60_000 + Math.ceil((r.sizeBytes / rate) * 1000), r.signal);
    const t0 = performance.now();
    try {
      await untilAborted(d.signal, what, r.maxBytesPerSecond === undefined ? copyWhole(r) : copyPaced(src, r, r.maxBytesPerSecond, d.signal));
      const t1 = performance.now();
      // After the copy, not beside it: the copy brought both files into the page cache, so the two digests are CPU only (one core each) and overlap the fsync.
      const hashing = { signal: d.signal, expectedBytes: r.sizeBytes };
      const [ours, source] = await Promise.all([hashFile(r.dest, hashing), hashFile(r.source.path, hashing), syncFile(r.dest)]);
      const gone = await stat(r.source.path, { bigint: true }).then((s) => s.dev.toString() !== r.source.dev || s.ino.toString() !== r.source.ino, () => true);
      if (gone) throw new FileTransferError(what, 'the source path no longer names the offered file');
      if (source.bytes !== r.sizeBytes) throw new FileTransferError(what, `the source has ${source.bytes} bytes, the offer said ${r.sizeBytes}`);
      if (ours.bytes !== r.sizeBytes) throw new FileTransferError(what, `got ${ours.bytes} bytes, expected ${r.sizeBytes}`);
      if (ours.sha256 !== source.sha256) throw new FileTransferError(what, `sha256 mismatch: copied ${ours.sha256}, the source has ${source.sha256}`);
      return { sha256: ours.sha256, streamMs: Math.round(t1 - t0), syncMs: Math.round(performance.now() - t1), meanReadBytes: r.maxBytesPerSecond === undefined ? r.sizeBytes : CHUNK_BYTES, via: 'local' };
    } finally {
      d.dispose();
    }
  } finally {
    await src.close();
  }
}

/** The kernel's copy: a reflink if the filesystem can, else copy_file_range. Progress is told once, at the end. */
async function copyWhole(r: LocalCopyRequest): Promise<void> {
  await copyFile(r.source.path, r.dest, constants.COPYFILE_FICLONE);
  r.onBytes?.(r.sizeBytes);
}

/** A capped copy: slices of about one burst, each read and written, then the pacer's wait — the cap holds from the first slice. */
async function copyPaced(src: FileHandle, r: LocalCopyRequest, bytesPerSecond: number, signal: AbortSignal): Promise<void> {
  const pacer = new Pacer(bytesPerSecond);
  const buf = Buffer.allocUnsafe(pacer.sliceBytes(CHUNK_BYTES));
  const out = await open(r.dest, 'w', 0o600);
  try {
    for (let at = 0; at < r.sizeBytes; ) {
      const wait = pacer.take(Math.min(buf.length, r.sizeBytes - at));
      if (wait > 0) await sleep(wait, signal);
      if (signal.aborted) throw abortReason(signal, 'local copy');
      const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, r.sizeBytes - at), at);
      if (bytesRead === 0) throw new FileTransferError(`local copy of ${r.source.path}`, `the source ended after ${at} of ${r.sizeBytes} bytes`);
      await out.write(buf, 0, bytesRead, at);
      at += bytesRead;
      r.onBytes?.(bytesRead);
    }
  } finally {
    await out.close();
  }
}

/** Waits for `work`, or rejects as soon as the signal aborts (a kernel copy cannot be stopped; the caller removes what it wrote). */
function untilAborted(signal: AbortSignal, what: string, work: Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = (): void => reject(abortReason(signal, what));
    if (signal.aborted) stop();
    signal.addEventListener('abort', stop, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

/** fsync of the copy: the source's is deleted once the controller committed. */
async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
