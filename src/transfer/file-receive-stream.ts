import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { FLUSH_BEHIND_BYTES, FlushBehind } from '../util/flush-behind.js';
import { sharedHashPool, type HashPool, type PooledHash } from '../util/hash-pool.js';
import { writevFully } from '../util/writev-fully.js';
import { Pacer } from './pacer.js';

/** How much the receiver buffers before the socket is made to wait (and the size of its batched writes). */
export const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

export interface FileReceiveOptions {
  /** A cap held where the bytes arrive too, in case the sender does not pace; without one nothing paces the writes. */
  readonly maxBytesPerSecond?: number | undefined;
  /** Called with each batch's length once it is written. */
  readonly onBytes?: ((n: number) => void) | undefined;
  /** Where the sha256 is computed (default: the process's shared pool). */
  readonly hashPool?: HashPool | undefined;
  /** Bytes between the fdatasyncs started beside the writes (default FLUSH_BEHIND_BYTES). */
  readonly flushEveryBytes?: number | undefined;
}

/**
 * The receiving end of a transfer: hashes and writes what arrives in one
 * stage. The socket's small reads are gathered into one `writev` per batch
 * (one system call and one thread-pool round trip for many chunks), and the
 * digest is of exactly the bytes handed to the file. The sha256 is computed
 * on a hash-pool thread beside the write (on the event loop it took a core's
 * worth of time from the socket and every other request of the agent), and
 * the file is flushed to the disk as it fills (FlushBehind), so that the
 * caller's fsync at the end has only the tail left. Does not own the file
 * handle: the caller waits for `flushed()`, fsyncs and closes it.
 */
export class FileReceiveStream extends Writable {
  readonly #fh: FileHandle;
  readonly #pacer: Pacer | undefined;
  readonly #onBytes: ((n: number) => void) | undefined;
  readonly #hash: PooledHash;
  readonly #flush: FlushBehind;
  #digest: Promise<string> | undefined;
  #written = 0;
  #chunks = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(fh: FileHandle, o: FileReceiveOptions = {}) {
    const pacer = o.maxBytesPerSecond === undefined ? undefined : new Pacer(o.maxBytesPerSecond);
    // Capped, it buffers no more than about a burst: a sender that ignores the cap is held back within a slice.
    super({ highWaterMark: pacer ? pacer.sliceBytes(RECEIVE_BUFFER_BYTES) : RECEIVE_BUFFER_BYTES });
    this.#fh = fh;
    this.#pacer = pacer;
    this.#onBytes = o.onBytes;
    this.#hash = (o.hashPool ?? sharedHashPool()).open('sha256');
    this.#flush = new FlushBehind(fh, o.flushEveryBytes ?? FLUSH_BEHIND_BYTES);
  }

  get paced(): boolean {
    return this.#pacer !== undefined;
  }

  get writtenBytes(): number {
    return this.#written;
  }

  /** How many pieces the bytes arrived in (the socket's reads): a copy in many small reads spends its time per read. */
  get chunkCount(): number {
    return this.#chunks;
  }

  /** The sha256 of everything written, once the stream finished; rejects if it failed. */
  digest(): Promise<string> {
    return this.#digest ?? Promise.reject(new Error('the stream has not finished'));
  }

  /** Resolves once no flush beside the writes runs (the handle may be closed); rejects with a flush's error. */
  flushed(): Promise<void> {
    return this.#flush.settled();
  }

  override _final(cb: (err?: Error | null) => void): void {
    // Asked for here, not by the caller: every hash the stream opened is finished or dropped, whatever the caller does next.
    this.#digest = this.#hash.digest();
    this.#digest.catch(() => {});
    cb();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#writeAll([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.#writeAll(chunks.map((c) => c.chunk), cb);
  }

  #writeAll(bufs: Buffer[], cb: (err?: Error | null) => void): void {
    let n = 0;
    this.#chunks += bufs.length;
    // Handed to the hashing thread (copied: the buffers are on their way to the disk) before the write starts; the
    // promise holds the stream back only when that thread falls behind.
    const hashed = Promise.all(bufs.map((b) => {
      n += b.length;
      return this.#hash.update(b);
    }));
    const at = this.#written;
    this.#written += n;
    Promise.all([hashed, writevFully(this.#fh, bufs, at)]).then(() => {
      this.#flush.wrote(this.#written);
      this.#onBytes?.(n);
      const wait = this.#pacer?.take(n) ?? 0;
      if (wait === 0) return cb();
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        cb();
      }, wait);
    }, (err: unknown) => cb(err as Error));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    clearTimeout(this.#timer);
    if (this.#digest === undefined) this.#hash.drop();
    cb(err);
  }
}
