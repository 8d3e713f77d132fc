import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { BlobSpan } from '../store/repositories/s3-repository.js';
import type { S3BlobStore } from './s3-blob-store.js';
import { S3Error } from './s3-error.js';
import { spansInRange, type BlobPiece } from './spans-in-range.js';

/**
 * Read size: large reads (4 MiB, not a read stream's 64 KiB) so that a GET
 * costs few read calls and few socket writes per gigabyte; one chunk is read
 * ahead while the previous one goes out.
 */
export const CHUNK_BYTES = 4 << 20;
/** Blobs opened before the first byte is read (1 GiB in awscli's 8 MiB parts); an object of more parts opens the rest as the read reaches them, so a GET holds few descriptors however many parts. */
export const OPEN_AT_ONCE = 128;

/**
 * The pieces' bytes in order, each read into a buffer `take(n)` gives (at
 * least n bytes long) and yielded with its bytes: `handles[i]` is piece i's
 * blob if opened before, else it is opened here and closed when read. A blob
 * shorter than its row says fails the read (a broken store, not a short
 * object: the response fails rather than ending early).
 */
export async function* readPieces(
  blobs: { openBlob(blobId: string): Promise<FileHandle> },
  pieces: readonly BlobPiece[],
  handles: readonly FileHandle[],
  take: (n: number) => Promise<Buffer>,
): AsyncGenerator<{ readonly buf: Buffer; readonly bytes: Buffer }> {
  for (const [i, p] of pieces.entries()) {
    const opened = handles[i];
    const fh = opened ?? await blobs.openBlob(p.blobId);
    try {
      for (let pos = p.from; pos <= p.to;) {
        const n = Math.min(CHUNK_BYTES, p.to - pos + 1);
        const buf = await take(n);
        const { bytesRead } = await fh.read(buf, 0, n, pos);
        if (bytesRead === 0) throw new S3Error(500, 'InternalError', `blob ${p.blobId} ends at ${pos}, before ${p.to + 1}`);
        pos += bytesRead;
        yield { buf, bytes: bytesRead === buf.length ? buf : buf.subarray(0, bytesRead) };
      }
    } finally {
      if (opened === undefined) await fh.close();
    }
  }
}

async function* chunksOf(blobs: S3BlobStore, pieces: readonly BlobPiece[], handles: readonly FileHandle[]): AsyncGenerator<Buffer> {
  for await (const { bytes } of readPieces(blobs, pieces, handles, async (n) => Buffer.allocUnsafe(n))) yield bytes;
}

/**
 * Bytes [start, end] (inclusive) of an object made of `spans` — one blob, or
 * a multipart object's parts in order — handed to `use` as a stream. The
 * blobs are opened before `use` runs (a missing one fails here, before any
 * header is sent) and stay open until it has finished, so an object deleted
 * or replaced meanwhile is still read whole from the files it had.
 */
export async function readObjectRange<T>(blobs: S3BlobStore, spans: readonly BlobSpan[], start: number, end: number, use: (body: Readable) => Promise<T>): Promise<T> {
  const pieces = spansInRange(spans, start, end);
  const handles: FileHandle[] = [];
  try {
    for (const p of pieces.slice(0, OPEN_AT_ONCE)) handles.push(await blobs.openBlob(p.blobId));
    return await use(Readable.from(chunksOf(blobs, pieces, handles), { objectMode: true, highWaterMark: 1 }));
  } finally {
    for (const fh of handles) await fh.close();
  }
}
