import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { sharedHashPool, type HashPool, type PooledHash } from '../util/hash-pool.js';
import { Pacer } from './pacer.js';

/** Read size of a transfer: fewer, larger reads cost less per byte on both ends (a disk image is read whole anyway). */
export const SEND_CHUNK_BYTES = 4 * 1024 * 1024;

export interface FileSendOptions {
  /** The size the offer recorded: a file that ends elsewhere is not sent whole. */
  readonly sizeBytes: number;
  /** The receiver's cap; without one nothing paces the reads. */
  readonly maxBytesPerSecond?: number | undefined;
  readonly chunkBytes?: number | undefined;
  /** Where the sha256 is computed (default: the process's shared pool). */
  readonly hashPool?: HashPool | undefined;
}

/**
 * One offered file as a stream, hashed as it is read: a single stage between
 * the disk and the socket instead of a read stream, a limiter and a hashing
 * transform (each a copy of every chunk through the event loop). The sha256
 * is computed on a hash-pool thread while the socket sends (on the event loop
 * it held back the reads and every other request of the agent). A cap paces
 * the reads themselves, so nothing ahead of it is ever queued for the wire.
 * Owns the file handle: closed when the stream ends or is destroyed.
 */
export class FileSendStream extends Readable {
  readonly #fh: FileHandle;
  readonly #size: number;
  readonly #chunk: number;
  readonly #pacer: Pacer | undefined;
  readonly #hash: PooledHash;
  #digest: Promise<string> | undefined;
  #sent = 0;
  #ended = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(fh: FileHandle, o: FileSendOptions) {
    const chunk = o.chunkBytes ?? SEND_CHUNK_BYTES;
    // One chunk buffered ahead: the next read overlaps the socket's write of this one.
    super({ highWaterMark: chunk });
    this.#fh = fh;
    this.#size = o.sizeBytes;
    this.#pacer = o.maxBytesPerSecond === undefined ? undefined : new Pacer(o.maxBytesPerSecond);
    this.#chunk = this.#pacer ? this.#pacer.sliceBytes(chunk) : chunk;
    this.#hash = (o.hashPool ?? sharedHashPool()).open('sha256');
  }

  /** Whether a cap paces this stream (false: no pacing code runs at all). */
  get paced(): boolean {
    return this.#pacer !== undefined;
  }

  get sentBytes(): number {
    return this.#sent;
  }

  /** The sha256 of what was sent once the whole recorded size went and the file ended there; undefined otherwise. */
  async digest(): Promise<string | undefined> {
    return this.#ended && this.#sent === this.#size ? this.#digest : undefined;
  }

  override _read(): void {
    const wait = this.#pacer?.take(this.#chunk) ?? 0;
    if (wait === 0) return void this.#readChunk();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#readChunk();
    }, wait);
  }

  async #readChunk(): Promise<void> {
    try {
      const buf = Buffer.allocUnsafe(this.#chunk);
      const { bytesRead } = await this.#fh.read(buf, 0, buf.length, this.#sent);
      if (this.destroyed) return;
      if (bytesRead === 0) {
        this.#ended = true;
        // Asked for at the end of the file, whoever reads it later: the pool's job is finished either way.
        this.#digest = this.#hash.digest();
        this.#digest.catch(() => {});
        this.push(null);
        return;
      }
      const data = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
      // Copied to the hashing thread; waits only when that thread is behind by more than the pool's limit.
      await this.#hash.update(data);
      if (this.destroyed) return;
      this.#sent += bytesRead;
      this.push(data);
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    clearTimeout(this.#timer);
    if (this.#digest === undefined) this.#hash.drop();
    this.#fh.close().then(() => cb(err), (e: unknown) => cb(err ?? (e as Error)));
  }
}
