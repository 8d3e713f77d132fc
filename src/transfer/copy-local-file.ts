import { constants } from 'node:fs';
import { copyFile, open, stat, type FileHandle } from 'node:fs/promises';
import type { TransferLocalSource } from '../contract/agent-api.js';
import { abortReason, deadline, sleep } from '../util/deadline.js';
import { FlushBehind } from '../util/flush-behind.js';
import { handled } from '../util/handled.js';
import { writevFully } from '../util/writev-fully.js';
import { KERNEL_SLICE_BYTES, copyKernelPaced } from './copy-kernel-paced.js';
import { TrailingHash } from './hash-file.js';
import { isOfferedFile } from './local-source.js';
import { Pacer } from './pacer.js';
import { FileTransferError, type PulledFile, type PullFileRequest } from './pull-file.js';

/** As a pull (where the bytes go, the offered size, a cap, progress, the signal and deadline), from a file on this machine. A cap paces the copy as it would the network's (slices of a burst); without one, or with one whose burst holds the whole file, the kernel copies the file in one call. */
export interface LocalCopyRequest extends Pick<PullFileRequest, 'dest' | 'sizeBytes' | 'maxBytesPerSecond' | 'onBytes' | 'signal' | 'timeoutMs'> {
  /** What the offer said of the file on this machine. */
  readonly source: TransferLocalSource;
  /** The interpreter that runs a capped copy's kernel copy (default: systemPython(); copyKernelPaced). */
  readonly python?: string | undefined;
  /**
   * Told once every byte is in `dest`, before the source's digest is known, the source is checked unchanged and
   * the copy is fsynced: the caller may read the copy beside the hash's last reads (what it learns counts only if
   * this then resolves).
   */
  readonly onWritten?: (() => void) | undefined;
}

const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Copies an offered file that lies on this very machine (an agent beside the
 * source's, or a datastore both see) without the network: `copyFile` —
 * a reflink where the filesystem has them, else `copy_file_range`, the bytes
 * never leaving the kernel. The source's sha256 (the digest the caller
 * records and compares, as the network path's trailer) is computed in a
 * worker thread *beside* the kernel's copy, from the descriptor opened and
 * checked as the offered inode: both read the same page cache on two cores.
 *
 * The copy itself is not read back and hashed again. Nothing of ours touches
 * its bytes: the kernel moves page-cache pages (or shares extents) from the
 * source to the copy, as on the network path it moves the bytes we hashed
 * into the file — which that path does not read back either. What could
 * make the copy differ from the digest is a source that changed while it
 * was read, and that is caught without reading the copy: the source path
 * must still name the offered inode afterwards, with the offered size and
 * the same modification and change times as before (every write moves them;
 * from Linux 6.13 those are fine-grained once read, before that a write
 * within one clock tick of the first look could go unseen — a VM's files at
 * rest are written by nobody while offered), and the copy must hold the
 * offered size. A capped copy is the kernel's too, in paced slices by a
 * python3 child (copyKernelPaced; without python3 the slices pass through
 * this process, copyPaced), and its digest too is the source's, by a worker
 * trailing the copy from the same descriptor, checked the same way. The copy is fsynced before this
 * resolves. Returns undefined, having written nothing, when the file cannot
 * be opened here as the offered file (another machine's path, another
 * mount): the caller then pulls it over the network.
 * @throws FileTransferError (short, changed or corrupt copy), TimeoutError, the signal's reason
 */
export async function copyLocalFile(r: LocalCopyRequest): Promise<PulledFile | undefined> {
  const src = await open(r.source.path, 'r').catch(() => undefined);
  if (src === undefined) return undefined;
  const what = `local copy of ${r.source.path}`;
  try {
    if (!(await isOfferedFile(src, r.source, r.sizeBytes))) return undefined;
    const before = await src.stat({ bigint: true });
    const rate = Math.min(10_000_000, r.maxBytesPerSecond ?? Infinity);
    const d = deadline(what, r.timeoutMs ?? 60_000 + Math.ceil((r.sizeBytes / rate) * 1000), r.signal);
    const t0 = performance.now();
    try {
      // A cap the whole file fits under in one burst would never hold a paced copy back: it goes as one kernel copy.
      const whole = r.maxBytesPerSecond === undefined || new Pacer(r.maxBytesPerSecond).withinBurst(r.sizeBytes);
      const { sha256, hashMs, sliceBytes } = whole || r.maxBytesPerSecond === undefined
        ? { ...await copyWholeHashing(src, r, d.signal, what), sliceBytes: r.sizeBytes }
        : await copyCapped(src, r, r.maxBytesPerSecond, d.signal, what);
      const t1 = performance.now();
      const copied = await syncFile(r.dest);
      const after = await stat(r.source.path, { bigint: true }).catch(() => undefined);
      if (after === undefined || after.dev !== before.dev || after.ino !== before.ino) throw new FileTransferError(what, 'the source path no longer names the offered file');
      if (after.size !== BigInt(r.sizeBytes)) throw new FileTransferError(what, `the source has ${after.size} bytes, the offer said ${r.sizeBytes}`);
      if (after.mtimeNs !== before.mtimeNs || after.ctimeNs !== before.ctimeNs) throw new FileTransferError(what, 'the source was written to during the copy');
      if (copied !== r.sizeBytes) throw new FileTransferError(what, `got ${copied} bytes, expected ${r.sizeBytes}`);
      return { sha256, streamMs: Math.round(t1 - t0), syncMs: Math.round(performance.now() - t1), hashMs: hashMs === undefined ? undefined : Math.round(hashMs), meanReadBytes: sliceBytes, via: 'local' };
    } finally {
      d.dispose();
    }
  } finally {
    await src.close();
  }
}

/**
 * The kernel's copy (a reflink if the filesystem can, else copy_file_range)
 * with the source's digest computed beside it, read through `src`. Progress
 * is told once, at the end. On a failure of either, the other is stopped and
 * waited for (the hashing worker reads `src`, which the caller closes next).
 */
async function copyWholeHashing(src: FileHandle, r: LocalCopyRequest, signal: AbortSignal, what: string): Promise<{ sha256: string; hashMs: number }> {
  const hash = new TrailingHash(r.source.path, { fd: src.fd, sizeBytes: r.sizeBytes, signal, what, follow: false });
  try {
    await untilAborted(signal, what, copyFile(r.source.path, r.dest, constants.COPYFILE_FICLONE));
    r.onWritten?.();
    const { sha256, ms } = await hash.digest();
    r.onBytes?.(r.sizeBytes);
    return { sha256, hashMs: ms };
  } finally {
    await hash.settle();
  }
}

/**
 * A capped copy: by the kernel in paced slices (copyKernelPaced), or, where no python3 can be started, through this
 * process (copyPaced).
 */
async function copyCapped(src: FileHandle, r: LocalCopyRequest, rate: number, signal: AbortSignal, what: string): Promise<{ sha256: string; hashMs: undefined; sliceBytes: number }> {
  const kernel = await copyKernelPaced({ src, srcPath: r.source.path, dest: r.dest, sizeBytes: r.sizeBytes, bytesPerSecond: rate, onBytes: r.onBytes, onWritten: r.onWritten, signal, python: r.python });
  if (kernel !== undefined) return { sha256: kernel, hashMs: undefined, sliceBytes: new Pacer(rate).sliceBytes(KERNEL_SLICE_BYTES) };
  return { sha256: await untilAborted(signal, what, copyPaced(src, r, rate, signal)), hashMs: undefined, sliceBytes: new Pacer(rate).sliceBytes(CHUNK_BYTES) };
}

/**
 * The capped copy where no python3 runs (every cold migration has a cap: its policy's, 1 GiB/s by
 * default, within the host's migration budget): slices of about one burst,
 * each read and written, the pacer's wait before each read — the cap holds
 * from the first slice. Pipelined over three buffers: the next slice is read
 * (a pool thread) while the one before is written (another pool thread).
 * The source's digest is computed as on the uncapped path, beside the copy
 * from the same descriptor, by a worker that trails the reads (TrailingHash): it
 * hashes pages the copy has just brought into the page cache, so it neither
 * reads the disk ahead of the cap nor costs the event loop a copy of every
 * byte (feeding a hashing thread the slices took about a fifth of the copy's
 * time). The copy is flushed to the disk as it fills (FlushBehind), so that
 * the fsync after it has only the tail left (started once the last slice is
 * written, beside the hash's last reads). Resolves with the source's sha256.
 */
async function copyPaced(src: FileHandle, r: LocalCopyRequest, bytesPerSecond: number, signal: AbortSignal): Promise<string> {
  const pacer = new Pacer(bytesPerSecond);
  const slice = pacer.sliceBytes(CHUNK_BYTES);
  const bufs = [Buffer.allocUnsafe(slice), Buffer.allocUnsafe(slice), Buffer.allocUnsafe(slice)] as const;
  const what = `local copy of ${r.source.path}`;
  // The read and the write in flight are each handled from the start: one that fails while the other is awaited is told when its turn comes.
  const hash = new TrailingHash(r.source.path, { fd: src.fd, sizeBytes: r.sizeBytes, signal, what });
  const readSlice = async (at: number, buf: Buffer): Promise<number> => {
    const n = Math.min(buf.length, r.sizeBytes - at);
    const wait = pacer.take(n);
    if (wait > 0) await sleep(wait, signal);
    if (signal.aborted) throw abortReason(signal, 'local copy');
    const { bytesRead } = await src.read(buf, 0, n, at);
    if (bytesRead === 0) throw new FileTransferError(what, `the source ended after ${at} of ${r.sizeBytes} bytes`);
    hash.advance(at + bytesRead);
    return bytesRead;
  };
  const out = await open(r.dest, 'w', 0o600);
  const flush = new FlushBehind(out);
  let reading: Promise<number> | undefined;
  let writing: Promise<void> = Promise.resolve();
  try {
    let at = 0;
    reading = r.sizeBytes > 0 ? handled(readSlice(0, bufs[0])) : undefined;
    for (let k = 0; reading !== undefined; k++) {
      const n = await reading;
      const cur = bufs[k % 3]!.subarray(0, n);
      const pos = at;
      at += n;
      // The buffer read next was written two slices ago: that write was waited for in the last round.
      reading = at < r.sizeBytes ? handled(readSlice(at, bufs[(k + 1) % 3]!)) : undefined;
      await writing;
      writing = handled(writevFully(out, [cur], pos).then(() => {
        flush.wrote(pos + n);
        r.onBytes?.(n);
      }));
    }
    await writing;
    flush.finish();
    r.onWritten?.();
    return (await hash.digest()).sha256;
  } finally {
    // Nothing left running on a buffer or a handle once this returns or throws (the hash reads `src`, which the caller closes next).
    await Promise.allSettled([reading, writing, hash.settle()]);
    await flush.settled().finally(() => out.close());
  }
}

/** Waits for `work`, or rejects as soon as the signal aborts (a kernel copy cannot be stopped; the caller removes what it wrote). */
function untilAborted<T>(signal: AbortSignal, what: string, work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const stop = (): void => reject(abortReason(signal, what));
    if (signal.aborted) stop();
    signal.addEventListener('abort', stop, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

/** fsync of the copy (the source's is deleted once the controller committed); returns its size. */
async function syncFile(path: string): Promise<number> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}
