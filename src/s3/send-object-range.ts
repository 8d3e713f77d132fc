import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { BlobSpan } from '../store/repositories/s3-repository.js';
import { CHUNK_BYTES, OPEN_AT_ONCE, readPieces } from './read-object-range.js';
import { S3Error } from './s3-error.js';
import { spansInRange } from './spans-in-range.js';

/** Reads of a GET in flight at once: one read into while the other's bytes go out on the socket. */
const BUFFERS = 2;
/** Read buffers kept for the next GETs once a GET is done with them (awscli reads an object as 8 MiB ranges, ten at a time). */
const IDLE_BUFFERS = 16;
/** Kept buffers are let go this long after the last GET gave one back: an idle controller holds none. */
const IDLE_MS = 5_000;

/**
 * The read buffers (CHUNK_BYTES each) of every GET, reused from one GET to
 * the next. Measured with bench/s3: awscli's GET of 1 GiB is 128 ranged
 * requests, and two fresh 4 MiB buffers per request made V8 — which counts
 * that memory outside its heap towards its next collection — run a full
 * collection every few requests.
 */
const pool = {
  idle: [] as Buffer[],
  timer: undefined as NodeJS.Timeout | undefined,
  take(): Buffer {
    return this.idle.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
  },
  give(b: Buffer): void {
    if (this.idle.length < IDLE_BUFFERS) this.idle.push(b);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void (this.idle.length = 0), IDLE_MS).unref();
  },
};

/** What sending needs of the blob store: its files opened for reading (a test hands in files that fail). */
export interface BlobOpener {
  openBlob(blobId: string): Promise<FileHandle>;
}

/**
 * Writes bytes [start, end] (inclusive) of an object made of `spans` — one
 * blob, or a multipart object's parts in order — to `out`, a GET's response,
 * and ends it. The blobs are opened first (a missing one fails before `begin`
 * is called, so before any header is sent); `begin` then writes the head.
 *
 * The bytes go through two buffers in turn, straight from the file to the
 * socket: one is read into while the other is being sent, and a buffer is
 * read into again only once the socket has taken all of it (a write's
 * callback). A fresh buffer per read instead (as a stream of the reads had)
 * is, for a gigabyte, 256 new 4 MiB buffers whose pages fault in and whose
 * memory outside V8's heap makes it collect; and no stream stands between.
 *
 * Fails (and reads no further) when a read fails, a blob is shorter than its
 * row says, or the response closes first (a client gone): the caller then
 * destroys the response, which cuts the body short of its content-length,
 * so a client never takes a partial body for the object.
 */
export async function sendObjectRange(blobs: BlobOpener, spans: readonly BlobSpan[], start: number, end: number, out: Writable, begin: () => void): Promise<void> {
  const pieces = spansInRange(spans, start, end);
  const handles: FileHandle[] = [];
  let failed: Error | undefined;
  let wake: (() => void) | undefined;
  const fail = (err: Error): void => {
    failed ??= err;
    wake?.();
  };
  const onClose = (): void => fail(new S3Error(499, 'RequestAborted', 'the response closed before the body was sent whole'));
  /** The buffers this GET took from the pool; `free`: those of them no write holds (only these go back to the pool). */
  const mine: Buffer[] = [];
  const free: Buffer[] = [];
  try {
    for (const p of pieces.slice(0, OPEN_AT_ONCE)) handles.push(await blobs.openBlob(p.blobId));
    begin();
    out.once('close', onClose);
    if (out.destroyed) onClose();
    const take = async (): Promise<Buffer> => {
      for (;;) {
        if (failed !== undefined) throw failed;
        const b = free.pop();
        if (b !== undefined) return b;
        if (mine.length < BUFFERS) {
          const fresh = pool.take();
          mine.push(fresh);
          return fresh;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    };
    for await (const { buf, bytes } of readPieces(blobs, pieces, handles, take)) {
      if (failed !== undefined) throw failed;
      // The buffer is the socket's until this callback: only then is it read into again.
      out.write(bytes, (err) => {
        if (err) return fail(err);
        free.push(buf);
        wake?.();
      });
    }
    out.end();
    // Settles once every byte is handed to the socket; rejects when the response closes first.
    await finished(out);
  } finally {
    out.off('close', onClose);
    // A buffer a failed write may still hold is not given back (the socket could yet read from it): it is left to the GC.
    for (const b of free) pool.give(b);
    for (const fh of handles) await fh.close();
  }
}
