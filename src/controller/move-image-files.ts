import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { S3BlobStore } from '../s3/s3-blob-store.js';
import type { Store } from '../store/open-store.js';
import type { Failpoints } from '../util/failpoints.js';
import { errorMessage } from '../errors/nubo-error.js';
import { IMAGE_BUCKET, ImageObjects } from './image-objects.js';
import { IMAGE_STORE_TEMP_PREFIX } from './image-store.js';

/** The names the image store gave its files before images were objects: `<uuid>.<format>`. */
const IMAGE_FILE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(qcow2|raw|kernel|initrd)$/;

export interface MoveImageFilesDeps {
  /** The image store's directory, where data directories before the object store kept images' bytes. */
  readonly imagesDir: string;
  readonly store: Store;
  readonly blobs: S3BlobStore;
  readonly logger: Logger;
  readonly failpoints?: Failpoints | undefined;
}

/**
 * The upgrade of a data directory whose images are files of the image store
 * (before every image was an object): each becomes an object of the system
 * bucket, lazily — at the leader's start, while the API serves — and without
 * a copy (a hard link on the same file system).
 *
 * Every step is safe to cut: the link is a blob no row refers to (the blob
 * sweep removes it); the object row, until the image points at it, is one the
 * image-objects sweep removes; the image moves to the object only if it still
 * points at its file (one conditional update: a deletion meanwhile wins and
 * the object goes again); the old name is removed last, and a file of the
 * store no image refers to any more is removed on the next pass. A download
 * running from the old name keeps reading it (an open file outlives its name).
 */
export async function moveImageFiles(d: MoveImageFilesDeps, signal?: AbortSignal): Promise<number> {
  let moved = 0;
  for (const img of await d.store.images.list()) {
    signal?.throwIfAborted();
    if (dirname(img.path) !== d.imagesDir) continue;
    try {
      const blobId = await linkAsBlob(d.blobs, img.path);
      const key = ImageObjects.keyOf(blobId);
      try {
        await d.failpoints?.hit('image-move.before-object');
        // The sha256 is the image's (checked when it came in); the object's ETag an MD5 of the same bytes.
        const { md5, size } = await md5Of(d.blobs.path(blobId), signal);
        await d.store.s3.putObject({ bucket: IMAGE_BUCKET, key, blobId, size, etag: md5, headers: { 'content-type': 'application/octet-stream' } });
        await d.failpoints?.hit('image-move.before-image');
        if (!(await d.store.images.movePath(img.id, img.path, d.blobs.path(blobId)))) {
          await d.store.s3.deleteObject(IMAGE_BUCKET, key);
          await d.blobs.remove([blobId]);
          continue;
        }
      } catch (err) {
        await d.store.s3.deleteObject(IMAGE_BUCKET, key).catch(() => undefined);
        await d.blobs.remove([blobId]);
        throw err;
      }
      await d.failpoints?.hit('image-move.before-unlink');
      await rm(img.path, { force: true });
      moved += 1;
      d.logger.info({ imageId: img.id, key }, 'image file moved into the system bucket');
    } catch (err) {
      // One image's trouble (its file gone: it could not have served either) does not hold up the others; the next start tries again.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') d.logger.warn({ imageId: img.id, path: img.path }, 'image file missing: not moved into the system bucket');
      else if (signal?.aborted === true) throw err;
      else d.logger.error({ imageId: img.id, err: errorMessage(err) }, 'moving an image file into the system bucket failed');
    }
  }
  await removeStrayFiles(d);
  return moved;
}

/** A hard link of the file as a new blob (the blobs' directory is on the same file system as the image store's). */
async function linkAsBlob(blobs: S3BlobStore, file: string): Promise<string> {
  const blobId = randomUUID();
  await link(file, blobs.path(blobId));
  return blobId;
}

/** Files of the image store no image refers to: ones a cut move had already moved (the image points at its object now). */
async function removeStrayFiles(d: MoveImageFilesDeps): Promise<void> {
  const used = new Set((await d.store.images.list()).map((i) => i.path));
  let names: string[];
  try {
    names = await readdir(d.imagesDir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(IMAGE_STORE_TEMP_PREFIX) || !IMAGE_FILE.test(name)) continue;
    const path = join(d.imagesDir, name);
    if (!used.has(path)) await rm(path, { force: true });
  }
}

async function md5Of(path: string, signal: AbortSignal | undefined): Promise<{ md5: string; size: number }> {
  const h = createHash('md5');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) })) {
    const b = chunk as Buffer;
    h.update(b);
    size += b.length;
  }
  return { md5: h.digest('hex'), size };
}
