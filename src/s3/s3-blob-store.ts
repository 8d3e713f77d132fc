import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sharedHashPool } from '../util/hash-pool.js';
import { unlinkBehind } from '../util/unlink-behind.js';
import { writeBlobFile } from './write-blob-file.js';

/** What writing a blob produced: its opaque id, size and MD5 (hex, the ETag of a simple object). */
export interface WrittenBlob {
  readonly blobId: string;
  readonly size: number;
  readonly md5: string;
}

const BLOB_ID = /^[0-9a-f-]{36}$/;
/** From this announced size on (or when none is), a body goes through writeBlobFile; below it, through a write stream. */
export const LARGE_BODY_BYTES = 64 << 20;

/**
 * The bytes of S3 objects and parts, one file per blob under one directory,
 * named by a random id: an object key is never a path, so no key can reach
 * outside. A blob is written to `tmp-…`, synced, and renamed to its id only
 * when complete and verified; the store's row is written after that, so a
 * crash leaves at worst a temp file or an unreferenced blob, which the
 * start-up sweep removes.
 */
export class S3BlobStore {
  /** @param onFlushed told after each flush beside a blob's writes (tests) */
  constructor(readonly dir: string, private readonly onFlushed?: () => void) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  path(blobId: string): string {
    if (!BLOB_ID.test(blobId)) throw new RangeError(`not a blob id: ${blobId}`);
    return join(this.dir, blobId);
  }

  /**
   * Streams `body` through `check` (which fails the stream when the body is
   * not what was signed) into a new blob (`writeBlobFile`: the MD5 on its
   * own thread, large writes, flushed to the disk beside them); nothing is
   * left behind on failure.
   * @param maxBytes more than this fails with `onTooLarge()`
   */
  async write(body: Readable, check: Transform | undefined, o: { signal: AbortSignal; maxBytes: number; onTooLarge: () => Error; sizeHint?: number | undefined }): Promise<WrittenBlob> {
    if (o.sizeHint !== undefined && o.sizeHint < LARGE_BODY_BYTES) return this.#writeStreamed(body, check, o);
    const blobId = randomUUID();
    const tmp = join(this.dir, `tmp-${blobId}`);
    // The MD5 (the ETag) is worked out on the hash pool's thread, beside the socket and the disk.
    const md5 = sharedHashPool().open('md5');
    let size: number;
    let digest: string;
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        // The writer reads the end of the stream itself (no stream after it), and its own refusal — too large, a failed
        // write — is the one reported: leaving its loop destroys the streams before it, which then fail with an abort.
        const through = check ?? new PassThrough();
        const upstream = pipeline(body, through, { signal: o.signal });
        const [written, flowed] = await Promise.allSettled([writeBlobFile(through, fh, { md5, maxBytes: o.maxBytes, onTooLarge: o.onTooLarge, onFlushed: this.onFlushed }), upstream]);
        if (written.status === 'rejected') throw written.reason;
        if (flowed.status === 'rejected') throw flowed.reason;
        size = written.value;
        [digest] = await Promise.all([md5.digest(), fh.sync()]);
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path(blobId));
    } catch (err) {
      md5.drop();
      await rm(tmp, { force: true });
      throw err;
    }
    return { blobId, size, md5: digest };
  }

  /**
   * A body announced smaller than LARGE_BODY_BYTES (awscli's and boto3's 8 MiB parts, ten at a time): through a tap
   * that posts each chunk to the MD5's thread into a write stream, then synced. Measured with bench/s3, such parts
   * cost more CPU and went slower through writeBlobFile (its reads run ahead of the disk by up to 8 MiB per part).
   */
  async #writeStreamed(body: Readable, check: Transform | undefined, o: { signal: AbortSignal; maxBytes: number; onTooLarge: () => Error }): Promise<WrittenBlob> {
    const blobId = randomUUID();
    const tmp = join(this.dir, `tmp-${blobId}`);
    const md5 = sharedHashPool().open('md5');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _e, done) {
        size += chunk.length;
        if (size > o.maxBytes) return done(o.onTooLarge());
        md5.update(chunk).then(() => done(null, chunk), done);
      },
    });
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    let digest: string;
    try {
      await pipeline([body, ...(check ? [check] : []), tap, out], { signal: o.signal });
      [digest] = await Promise.all([md5.digest(), syncFile(tmp)]);
      await rename(tmp, this.path(blobId));
    } catch (err) {
      md5.drop();
      await rm(tmp, { force: true });
      throw err;
    }
    return { blobId, size, md5: digest };
  }

  /** A new blob with the bytes of the given ones, in order (multipart completion, CopyObject). */
  async concat(sources: readonly string[], signal: AbortSignal): Promise<string> {
    const blobId = randomUUID();
    const tmp = join(this.dir, `tmp-${blobId}`);
    try {
      const first = sources[0];
      if (sources.length === 1 && first !== undefined) {
        // The kernel's copy (a reflink where the file system has them).
        await copyFile(this.path(first), tmp);
      } else {
        const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
        const { createReadStream } = await import('node:fs');
        const paths = sources.map((s) => this.path(s));
        await pipeline(async function* () {
          for (const p of paths) for await (const c of createReadStream(p, { highWaterMark: 1 << 20 })) yield c as Buffer;
        }, out, { signal });
      }
      await syncFile(tmp);
      await rename(tmp, this.path(blobId));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return blobId;
  }

  /** A new blob for each of the given ones, with its bytes (CopyObject); none is left on failure. */
  async copyEach(sources: readonly string[], signal: AbortSignal): Promise<string[]> {
    const made: string[] = [];
    try {
      for (const s of sources) {
        signal.throwIfAborted();
        made.push(await this.concat([s], signal));
      }
    } catch (err) {
      await this.remove(made);
      throw err;
    }
    return made;
  }

  /**
   * Makes a complete file on this file system a new blob: synced, then
   * renamed to a fresh id (it vanishes from where it was). Until a row refers
   * to the blob, the start-up sweep removes it.
   */
  async adopt(file: string): Promise<string> {
    const blobId = randomUUID();
    await syncFile(file);
    await rename(file, this.path(blobId));
    return blobId;
  }

  /** Opened for reading (an object deleted meanwhile stays readable through the handle). */
  openBlob(blobId: string): Promise<FileHandle> {
    return open(this.path(blobId), 'r');
  }

  /**
   * Gone by name when this resolves; their blocks are freed behind (unlinkBehind): unlinking a large file frees its
   * extents inside the call — ~240 ms for 1 GiB here — which an overwriting PUT or a DELETE would otherwise wait for
   * before its answer.
   */
  async remove(blobIds: readonly string[]): Promise<void> {
    for (const id of blobIds) await unlinkBehind(this.path(id));
  }

  /** Removes temp files and blobs the store does not refer to (run at start, before the listener serves). */
  async sweep(referenced: ReadonlySet<string>): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.dir)) {
      if (name.startsWith('tmp-') || (BLOB_ID.test(name) && !referenced.has(name))) {
        await rm(join(this.dir, name), { force: true });
        removed += 1;
      }
    }
    return removed;
  }
}

async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
