import { createHash } from 'node:crypto';
import { read } from 'node:fs';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { abortReason, deadline } from '../util/deadline.js';
import { handled } from '../util/handled.js';
import { FileTransferError } from './pull-file.js';
import type { HashJob } from './hash-job.js';

/** What hashFile found: the sha256 of the file's bytes and how many there were. */
export interface FileDigest {
  readonly sha256: string;
  readonly bytes: number;
}

export interface HashFileOptions {
  readonly signal?: AbortSignal | undefined;
  /** Default: a minute plus 50 MB/s of the file's expected size. */
  readonly timeoutMs?: number | undefined;
  readonly chunkBytes?: number | undefined;
  /** Sizes the default deadline; a file expected at or below INLINE_HASH_BYTES is hashed on this thread. */
  readonly expectedBytes?: number | undefined;
  /**
   * Read this open descriptor (from offset 0; it stays open) instead of
   * opening `path`, which then only names the file in errors: the digest is
   * of the very inode the caller opened and checked, whatever the path names
   * by the time a worker would open it.
   */
  readonly fd?: number | undefined;
  /**
   * Hash no further than a copy has read (a HashTrail's progress): the worker then reads pages the copy just brought
   * into the page cache, never the disk ahead of a paced copy. Always in a worker, whatever the size.
   */
  readonly trail?: HashTrail | undefined;
  /**
   * Hash no faster than a cap (`bytesPerSecond`, `burstBytes` at once, from the worker's start), or, with a trail too,
   * as far as either allows: beside a copy paced by the same cap whose progress comes late (a child's, which takes a
   * while to start), it reads the disk no faster than the copy may and need not wait for the copy to begin. Always in
   * a worker, whatever the size.
   */
  readonly pace?: { readonly bytesPerSecond: number; readonly burstBytes: number } | undefined;
}

/**
 * How far a copy has got, shared with a hashing worker that trails it: the copy calls `advance` after each read and
 * `end` once it has read everything (or given up); the worker waits on it (Atomics) rather than read ahead.
 */
export class HashTrail {
  /** [0]: bytes readable so far, in pages of TRAIL_PAGE (whole pages: an Int32 holds 8 TiB of them); [1]: 1 once ended. */
  readonly shared = new Int32Array(new SharedArrayBuffer(8));

  advance(bytes: number): void {
    Atomics.store(this.shared, 0, Math.floor(bytes / TRAIL_PAGE));
    Atomics.notify(this.shared, 0);
  }

  /** Everything may be read now, to the file's end. */
  end(): void {
    Atomics.store(this.shared, 1, 1);
    Atomics.notify(this.shared, 0);
  }
}

/** The unit of a HashTrail's progress. */
export const TRAIL_PAGE = 4096;

/** Below this a worker's start (hundreds of milliseconds on a loaded machine) costs more than the hashing it spares the event loop. */
export const INLINE_HASH_BYTES = 8 * 1024 * 1024;

/** A worker started ahead of its job (prewarmHashWorker), waiting for one; undefined once taken, or if it failed. */
let spare: Worker | undefined;

function startWorker(): Worker {
  return new Worker(new URL('./hash-file-worker.js', import.meta.url));
}

/**
 * The sha256 of a whole file, computed in a worker thread: hashing a disk
 * image on the event loop stalls every socket and timer of the agent for the
 * length of it, and a second core can hash while the first copies. The worker
 * is terminated when the signal aborts or the deadline passes.
 * @throws the worker's error (e.g. ENOENT), TimeoutError, or the signal's reason
 */
export async function hashFile(path: string, o: HashFileOptions = {}): Promise<FileDigest> {
  const d = deadline(`sha256 of ${path}`, o.timeoutMs ?? 60_000 + Math.ceil(((o.expectedBytes ?? 0) / 50e6) * 1000), o.signal);
  if (o.trail === undefined && o.pace === undefined && o.expectedBytes !== undefined && o.expectedBytes <= INLINE_HASH_BYTES) {
    try {
      return await hashHere(path, o.fd, o.chunkBytes ?? 1024 * 1024, d.signal);
    } finally {
      d.dispose();
    }
  }
  // 1 MiB reads, not 4: the chunk is still in the core's cache when SHA-256 reads it (513 MiB from the page cache:
  // 451-455 ms in 256 KiB or 1 MiB reads, 470-473 in 4 MiB, on these machines).
  const job: HashJob = { path, fd: o.fd, chunkBytes: o.chunkBytes ?? 1024 * 1024, trail: o.trail?.shared, pace: o.pace };
  const took = spare;
  spare = undefined;
  const worker = took ?? startWorker();
  worker.ref();
  worker.postMessage(job);
  try {
    return await new Promise<FileDigest>((resolve, reject) => {
      const stop = (): void => reject(abortReason(d.signal, `sha256 of ${path}`));
      if (d.signal.aborted) return stop();
      d.signal.addEventListener('abort', stop, { once: true });
      worker.once('message', (m: FileDigest) => resolve(m));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the hashing worker for ${path} exited (${code}) without a digest`)));
    });
  } finally {
    d.dispose();
    await worker.terminate();
    // The process keeps one ready (prewarmHashWorker): the next hash starts at once too. Started once this one's
    // thread is gone, not beside it: a thread's start takes a core for tens of milliseconds.
    if (took !== undefined) prewarmHashWorker();
  }
}

/**
 * Starts a hashing worker that waits, idle, for the next hashFile of this process that needs a thread — and, once
 * that one took it, another after it. A worker's start (a new V8 isolate and its modules) is 40–80 ms on these
 * machines, 200 for the process's first, and the hash beside a local copy is what the copy waits for last: the
 * agent calls this at its start. The waiting thread neither keeps the process alive nor costs anything but its
 * memory (a few MB). Idempotent.
 */
export function prewarmHashWorker(): void {
  if (spare !== undefined) return;
  const w = startWorker();
  w.unref();
  // A spare that fails before it is taken is dropped; the next hash starts its own (its listeners are its own).
  const drop = (): void => {
    if (spare === w) spare = undefined;
  };
  w.once('error', drop);
  w.once('exit', drop);
  spare = w;
}

/** Whether a started worker waits for the next hash (tests). */
export function hashWorkerReady(): boolean {
  return spare !== undefined;
}

const readAt = promisify(read);

/** The same digest on this thread, for a small file. */
async function hashHere(path: string, givenFd: number | undefined, chunkBytes: number, signal: AbortSignal): Promise<FileDigest> {
  const fh = givenFd === undefined ? await open(path, 'r') : undefined;
  const fd = fh?.fd ?? givenFd!;
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(chunkBytes);
    let bytes = 0;
    for (;;) {
      if (signal.aborted) throw abortReason(signal, `sha256 of ${path}`);
      const { bytesRead } = await readAt(fd, buf, 0, buf.length, bytes);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { sha256: hash.digest('hex'), bytes };
  } finally {
    await fh?.close();
  }
}

/**
 * The source's sha256 computed beside a copy of it, from the descriptor the copy reads (hashFile's `fd`): the
 * copy tells how far it has got (`advance`, when `follow`: the hash then reads no further, or than `pace` allows),
 * `digest` once it copied everything, and `settle` whatever happened — in a `finally`, so that nothing reads the
 * descriptor once the copy returns or throws (its caller closes it next). A hash that fails while the copy runs
 * is told by `digest`, never as an unhandled rejection.
 */
export class TrailingHash {
  readonly #trail = new HashTrail();
  readonly #stop = new AbortController();
  readonly #hashing: Promise<FileDigest & { ms: number }>;
  #done = false;

  /**
   * @param o.follow false: the hash runs as fast as it can from the start (a copy that tells no progress)
   * @param o.what names the copy in errors
   */
  constructor(path: string, private readonly o: {
    readonly fd: number; readonly sizeBytes: number; readonly signal: AbortSignal; readonly what: string;
    readonly follow?: boolean | undefined; readonly pace?: HashFileOptions['pace'];
  }) {
    const t0 = performance.now();
    this.#hashing = handled(hashFile(path, {
      fd: o.fd, trail: o.follow === false ? undefined : this.#trail, pace: o.pace, expectedBytes: o.sizeBytes,
      signal: AbortSignal.any([o.signal, this.#stop.signal]),
    }).then((d) => ({ ...d, ms: performance.now() - t0 })));
  }

  /** The copy has read (or copied) `bytes` from the start. */
  advance(bytes: number): void {
    this.#trail.advance(bytes);
  }

  /**
   * The copy is complete: the hash may read to the end. Resolves with the digest and how long the hash took.
   * @throws FileTransferError when the source held other than `sizeBytes`, the hash's error
   */
  async digest(): Promise<{ sha256: string; ms: number }> {
    this.#trail.end();
    const d = await this.#hashing;
    if (d.bytes !== this.o.sizeBytes) throw new FileTransferError(this.o.what, `the source has ${d.bytes} bytes, the offer said ${this.o.sizeBytes}`);
    this.#done = true;
    return { sha256: d.sha256, ms: d.ms };
  }

  /** Stops a hash no longer wanted (the copy failed) and waits until its thread is gone. Never rejects. */
  async settle(): Promise<void> {
    if (!this.#done) {
      this.#trail.end();
      this.#stop.abort(new Error('the copy ended first'));
    }
    await this.#hashing.catch(() => {});
  }
}
