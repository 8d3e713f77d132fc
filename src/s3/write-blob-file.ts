import type { FileHandle } from 'node:fs/promises';
import type { PooledHash } from '../util/hash-pool.js';
import { writevFully } from '../util/writev-fully.js';

/** A write starts once this much has gathered (or the body ended): one `writev` per MiB, not one per socket read. */
export const MIN_WRITE_BYTES = 1 << 20;
/** While a write runs, more than this gathered holds the reader back until it ends (a slow disk bounds the memory held). */
export const MAX_PENDING_BYTES = 8 << 20;
/** How much is written between flushes to the disk started beside the writes. */
export const FLUSH_EVERY_BYTES = 32 << 20;

export interface BlobFileOptions {
  /** The body's MD5, fed each chunk as it arrives (the hashing runs on its own thread). */
  readonly md5: PooledHash;
  /** More than this fails with `onTooLarge()`. */
  readonly maxBytes: number;
  readonly onTooLarge: () => Error;
  /** Told after each flush beside the writes (tests). */
  readonly onFlushed?: (() => void) | undefined;
}

/**
 * Writes a body into `fh` from offset 0 as it arrives, and returns its size.
 *
 * Each chunk goes to the MD5's thread the moment it arrives, and is written
 * in large `writev`s — one at a time, the chunks that arrive meanwhile
 * gathered for the next — so the event loop spends little per byte and the
 * hash, the socket and the disk work side by side. Every FLUSH_EVERY_BYTES
 * an fdatasync starts beside the writes (at most one at a time): the disk
 * writes the blob back while the client still sends it, and the final sync
 * that makes the blob durable has only the tail left instead of the whole
 * object at the disk's speed after the last byte came.
 *
 * Settles only when no write or flush of it runs any more (the caller may
 * close the handle then). A failed flush fails the write: the kernel reports
 * a failed write-back once per open file, so the caller's final sync on the
 * same handle would not see it again.
 */
export async function writeBlobFile(source: AsyncIterable<Buffer>, fh: FileHandle, o: BlobFileOptions): Promise<number> {
  let size = 0;
  let written = 0;
  let flushedAt = 0;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let writing: Promise<void> | undefined;
  let flushing: Promise<void> | undefined;
  let failed: Error | undefined;
  const fail = (err: unknown): void => void (failed ??= err instanceof Error ? err : new Error(String(err)));
  const startWrite = (): void => {
    const bufs = batch;
    batch = [];
    batchBytes = 0;
    writing = writevFully(fh, bufs, written).then((n) => {
      written += n;
      if (flushing === undefined && written - flushedAt >= FLUSH_EVERY_BYTES) {
        flushedAt = written;
        flushing = fh.datasync().then(() => o.onFlushed?.(), fail).finally(() => (flushing = undefined));
      }
    }, fail);
  };
  const writeEnded = async (): Promise<void> => {
    await writing;
    writing = undefined;
    if (failed !== undefined) throw failed;
  };
  try {
    for await (const chunk of source) {
      size += chunk.length;
      if (size > o.maxBytes) throw o.onTooLarge();
      // Copied to the hashing thread at once; awaited only when its backlog is full.
      await o.md5.update(chunk);
      if (failed !== undefined) throw failed;
      batch.push(chunk);
      batchBytes += chunk.length;
      if (writing === undefined) {
        if (batchBytes >= MIN_WRITE_BYTES) startWrite();
      } else if (batchBytes >= MAX_PENDING_BYTES) {
        await writeEnded();
        startWrite();
      }
    }
    await writeEnded();
    if (batchBytes > 0) {
      startWrite();
      await writeEnded();
    }
    while (flushing) await flushing;
    if (failed !== undefined) throw failed;
    return size;
  } finally {
    // On a failure too: nothing of ours may touch the handle after this returns.
    await writing;
    while (flushing) await flushing;
  }
}
