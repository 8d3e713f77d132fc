import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { writevFully } from '../util/writev-fully.js';
import { Pacer } from './pacer.js';

/** How much the receiver buffers before the socket is made to wait (and the size of its batched writes). */
export const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

export interface FileReceiveOptions {
  /** A cap held where the bytes arrive too, in case the sender does not pace; without one nothing paces the writes. */
  readonly maxBytesPerSecond?: number | undefined;
  /** Called with each batch's length once it is written. */
  readonly onBytes?: ((n: number) => void) | undefined;
}

/**
 * The receiving end of a transfer: hashes and writes what arrives in one
 * stage. The socket's small reads are gathered into one `writev` per batch
 * (one system call and one thread-pool round trip for many chunks), and the
 * digest is of exactly the bytes handed to the file. Does not own the file
 * handle: the caller fsyncs and closes it.
 */
export class FileReceiveStream extends Writable {
  readonly #fh: FileHandle;
  readonly #pacer: Pacer | undefined;
  readonly #onBytes: ((n: number) => void) | undefined;
  readonly #hash = createHash('sha256');
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

  /** The sha256 of everything written so far. */
  digest(): string {
    return this.#hash.copy().digest('hex');
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
    for (const b of bufs) {
      this.#hash.update(b);
      n += b.length;
    }
    const at = this.#written;
    this.#written += n;
    writevFully(this.#fh, bufs, at).then(() => {
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
    cb(err);
  }
}
