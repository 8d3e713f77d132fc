import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { AccessKeySecret } from '../aws/sigv4/verify-sigv4.js';
import { presignGetUrl } from '../aws/sigv4/presign-get-url.js';
import { ValidationError } from '../errors/validation-error.js';
import type { S3BlobStore } from '../s3/s3-blob-store.js';
import { convertDiskImage } from '../storage/convert-disk-image.js';
import { DiskImageError } from '../storage/disk-image-error.js';
import { formatOfFileName } from '../storage/format-of-file-name.js';
import { inspectDiskImage, type DiskImageFormat } from '../storage/inspect-disk-image.js';
import { IMAGE_BUCKET, SYSTEM_USER_ID } from '../store/migrations/0017-system-image-bucket.js';
import type { Store } from '../store/open-store.js';
import type { Image } from '../store/repositories/images-repository.js';
import { ConflictError } from '../store/store-errors.js';
import type { WaitOptions } from '../util/deadline.js';
import type { Failpoints } from '../util/failpoints.js';
import { runCommand } from '../util/run-command.js';

export { IMAGE_BUCKET, SYSTEM_USER_ID };

/** How long a presigned image URL may be used to start a download (a download that started runs to its end). */
export const IMAGE_URL_EXPIRY_S = 300;
/** The largest object taken as an image (the largest single S3 object, 5 TiB, is no sane disk for this cloud). */
export const DEFAULT_MAX_IMAGE_BYTES = 512 * 1024 ** 3;
/** The smallest disk taken (qemu-img sees any bytes as a raw disk). */
export const MIN_DISK_BYTES = 1024 ** 2;

export interface ImageObjectsOptions {
  readonly store: Store;
  /** The S3 listener's blob directory: the bytes of image objects are blobs like any object's. */
  readonly blobs: S3BlobStore;
  readonly logger: Logger;
  readonly failpoints?: Failpoints | undefined;
  /** The S3 listener's URL once it listens; undefined: images are served by the controller itself. */
  readonly s3Url: () => string | undefined;
  readonly region: string;
  readonly maxImageBytes?: number | undefined;
}

export interface ImageFromObject {
  readonly name: string;
  readonly ownerId: string;
  readonly bucket: string;
  readonly key: string;
  readonly format?: DiskImageFormat | undefined;
  /** Default: the store's (core/memory-minimum.ts). */
  readonly minMemoryMiB?: number | undefined;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * Images as objects in the system bucket (Walrus' role): an image registered
 * from a user's S3 object is copied into a new blob, checked with qemu-img as
 * `image register` checks a file, and becomes an object of `_nubo-images`
 * and an image whose path is that blob — one set of bytes, which agents
 * fetch by a presigned GET of the S3 listener (the image data route
 * redirects there).
 *
 * Crash safety: the copy and any conversion are temp files and then a blob no
 * row refers to, both removed by the S3 listener's start-up sweep; the object
 * row is the decision, written before the image row; `sweep()` at start
 * removes an object whose image row never came (or whose image was deleted
 * before its object), so a half-registered image is never used and never kept.
 */
export class ImageObjects {
  /** The system's signing key: in memory only, a new one each start (URLs live minutes). */
  readonly accessKeyId = `AKIANUBO${[...randomBytes(12)].map((b) => BASE32[b % 32]).join('')}`;
  readonly #secret = randomBytes(30).toString('base64');

  constructor(private readonly o: ImageObjectsOptions) {}

  /** The S3 listener's lookup for the system key (the only key that owns the system bucket). */
  lookupSecret(accessKeyId: string): AccessKeySecret | undefined {
    return accessKeyId === this.accessKeyId ? { secret: this.#secret, userId: SYSTEM_USER_ID } : undefined;
  }

  /** Whether the image's bytes are an object of the system bucket. */
  holds(img: Pick<Image, 'path'>): boolean {
    return dirname(img.path) === this.o.blobs.dir;
  }

  /** The system object's key for a blob. */
  static keyOf(blobId: string): string {
    return `images/${blobId}`;
  }

  /**
   * A presigned GET of the image's object, valid IMAGE_URL_EXPIRY_S, for a
   * caller that reached the controller at `requestHost`: undefined when the
   * image is not an object or the S3 listener is not reachable at that address
   * (it listens on another one), and the caller is then served the same bytes
   * by the controller.
   */
  presignedUrl(img: Pick<Image, 'path'>, requestHost: string | undefined, now = new Date()): string | undefined {
    const s3 = this.o.s3Url();
    if (s3 === undefined || !this.holds(img) || requestHost === undefined) return undefined;
    const u = new URL(s3);
    const asked = new URL(`http://${requestHost}`).hostname;
    if (u.hostname === '0.0.0.0' || u.hostname === '[::]') u.hostname = asked;
    else if (u.hostname !== asked) return undefined;
    return presignGetUrl({ endpoint: u.origin, bucket: IMAGE_BUCKET, key: ImageObjects.keyOf(basename(img.path)), accessKeyId: this.accessKeyId, secret: this.#secret, region: this.o.region, expiresSeconds: IMAGE_URL_EXPIRY_S, now });
  }

  /**
   * Makes an image of `bucket/key`, which `ownerId` must own. Every refusal
   * is a ValidationError naming `bucket`, `key`, `format` or `object`, with
   * nothing written.
   */
  async importObject(input: ImageFromObject, opts: WaitOptions = {}): Promise<Image> {
    const { store, blobs } = this.o;
    if (await store.images.findByName(input.ownerId, input.name)) throw new ConflictError('image', 'name', input.name, 'already exists for this owner');
    const bucket = await store.s3.getBucket(input.bucket);
    // Another user's bucket reads as one that does not exist: its name says nothing of its contents.
    if (!bucket || bucket.ownerId !== input.ownerId) throw new ValidationError('image', [{ field: 'bucket', message: `no bucket ${input.bucket} of yours` }]);
    const object = await store.s3.getObject(input.bucket, input.key);
    if (!object) throw new ValidationError('image', [{ field: 'key', message: `no object ${input.key} in bucket ${input.bucket}` }]);
    const max = this.o.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
    if (object.size > max) throw new ValidationError('image', [{ field: 'object', message: `${input.bucket}/${input.key} is ${object.size} bytes, more than the ${max} an image may be` }]);
    const display = `s3://${input.bucket}/${input.key}`;
    await this.o.failpoints?.hit('image-object.before-copy');
    // A copy of its own, one file (a reflink where the file system has them; a multipart object's parts joined): the user may overwrite or delete the object later, and QEMU reads an image as one file.
    let blobId = await blobs.concat(object.blobs.map((b) => b.blobId), opts.signal ?? new AbortController().signal);
    try {
      // As `image register` does with a path: the key's extension (disk.qcow2) is a claim held against what qemu-img detects.
      const declared = input.format ?? formatOfFileName(input.key);
      const info = await inspectDiskImage(blobs.path(blobId), { declaredFormat: declared, datastoreDir: blobs.dir, displayName: display, ...opts }).catch((err: unknown) => {
        if (err instanceof DiskImageError) throw new ValidationError('image', [{ field: err.problem === 'format-mismatch' && input.format !== undefined ? 'format' : 'object', message: err.message }]);
        throw err;
      });
      // Any bytes are a raw disk to qemu-img: a few KiB of text is not one a guest boots from.
      if (info.virtualSize < MIN_DISK_BYTES || (info.format === 'raw' && info.virtualSize % 512 !== 0)) {
        throw new ValidationError('image', [{ field: 'object', message: `${display} is a ${info.format} disk of ${info.virtualSize} bytes: a disk is at least ${MIN_DISK_BYTES} bytes${info.format === 'raw' ? ' and a whole number of 512-byte sectors' : ''}` }]);
      }
      let format: Image['format'] = info.format === 'raw' ? 'raw' : 'qcow2';
      if (info.format === 'vmdk' || info.format === 'vdi') {
        const converted = randomUUID();
        const tmp = join(blobs.dir, `tmp-${converted}`);
        try {
          await convertDiskImage(blobs.path(blobId), info.format, tmp, { format: 'qcow2' }, opts);
          await rename(tmp, blobs.path(converted));
        } finally {
          await rm(tmp, { force: true });
        }
        await blobs.remove([blobId]);
        blobId = converted;
        format = 'qcow2';
      }
      const img = await this.#record({ blobId, name: input.name, ownerId: input.ownerId, format, virtualSizeBytes: info.virtualSize, minMemoryMib: input.minMemoryMiB }, opts);
      this.o.logger.info({ imageId: img.id, source: display, key: ImageObjects.keyOf(blobId), format, size: img.sizeBytes }, 'image registered from an S3 object');
      return img;
    } catch (err) {
      await blobs.remove([blobId]);
      throw err;
    }
  }

  /**
   * Takes a checked file as an image (an upload, a registered file, an OVA's
   * disk, a VM's captured disk: image-store.ts checks them): the file, on
   * the blobs' file system, is moved into a blob of its own, which becomes an
   * object of the system bucket and then the image. On any failure nothing
   * stays: no row, no object, no blob (a crash leaves what the sweeps remove).
   */
  async commit(input: { file: string; name: string; ownerId: string; format: Image['format']; virtualSizeBytes: number; minMemoryMib?: number | undefined }, opts: WaitOptions = {}): Promise<Image> {
    await chmod(input.file, 0o600);
    const blobId = await this.o.blobs.adopt(input.file);
    try {
      return await this.#record({ ...input, blobId }, opts);
    } catch (err) {
      await this.o.blobs.remove([blobId]);
      throw err;
    }
  }

  /** The object row (the decision), then the image row; the object goes again if the image row fails. The caller removes the blob on failure. */
  async #record(input: { blobId: string; name: string; ownerId: string; format: Image['format']; virtualSizeBytes: number; minMemoryMib?: number | undefined }, opts: WaitOptions): Promise<Image> {
    const { store, blobs } = this.o;
    const path = blobs.path(input.blobId);
    await chmod(path, 0o600);
    const { sha256, md5, size } = await digestsOf(path, opts.signal);
    await this.o.failpoints?.hit('image-object.before-object');
    const key = ImageObjects.keyOf(input.blobId);
    await store.s3.putObject({ bucket: IMAGE_BUCKET, key, blobId: input.blobId, size, etag: md5, headers: { 'content-type': 'application/octet-stream' } });
    try {
      await this.o.failpoints?.hit('image-object.before-image');
      return await store.images.create({ name: input.name, ownerId: input.ownerId, format: input.format, sizeBytes: size, virtualSizeBytes: input.virtualSizeBytes, sha256, path, ...(input.minMemoryMib !== undefined ? { minMemoryMib: input.minMemoryMib } : {}) });
    } catch (err) {
      await store.s3.deleteObject(IMAGE_BUCKET, key);
      throw err;
    }
  }

  /**
   * Writes an image's disk as the object `bucket/key` of a bucket `ownerId`
   * owns (EC2's ExportImage): a copy of the image's blob as it is (qcow2) or
   * converted (raw), into a new blob first, then the object row; an object
   * already at the key is replaced. The object carries its sha256 as the user
   * metadata `x-amz-meta-sha256`, so a downloader can check what it got.
   * Refusals are ValidationErrors naming `bucket` or `format`, nothing written.
   */
  async exportToObject(img: Image, input: { ownerId: string; bucket: string; key: string; format: 'qcow2' | 'raw' }, opts: WaitOptions = {}): Promise<{ bucket: string; key: string; size: number; sha256: string; etag: string }> {
    const { store, blobs } = this.o;
    const bucket = await store.s3.getBucket(input.bucket);
    if (!bucket || bucket.ownerId !== input.ownerId) throw new ValidationError('export', [{ field: 'bucket', message: `no bucket ${input.bucket} of yours` }]);
    if (img.format !== 'qcow2' && img.format !== 'raw') throw new ValidationError('export', [{ field: 'format', message: `image ${img.name} is ${img.format}, not a disk` }]);
    const blobId = randomUUID();
    const tmp = join(blobs.dir, `tmp-${blobId}`);
    try {
      if (input.format === img.format) await copyFile(img.path, tmp);
      else await runCommand('qemu-img', ['convert', '-q', '-f', img.format, '-O', input.format, img.path, tmp], { signal: opts.signal, timeoutMs: 3_600_000 });
      await rename(tmp, blobs.path(blobId));
    } finally {
      await rm(tmp, { force: true });
    }
    try {
      const { sha256, md5, size } = await digestsOf(blobs.path(blobId), opts.signal);
      await this.o.failpoints?.hit('image-object.export.before-object');
      const { replaced } = await store.s3.putObject({ bucket: input.bucket, key: input.key, blobId, size, etag: md5, headers: { 'content-type': 'application/octet-stream', 'x-amz-meta-sha256': sha256 } });
      await blobs.remove(replaced);
      this.o.logger.info({ imageId: img.id, bucket: input.bucket, key: input.key, format: input.format, size }, 'image exported to an S3 object');
      return { bucket: input.bucket, key: input.key, size, sha256, etag: md5 };
    } catch (err) {
      await blobs.remove([blobId]);
      throw err;
    }
  }

  /** Removes the image's object and bytes (its row is gone already: a crash between leaves an object `sweep` removes). */
  async forget(img: Pick<Image, 'path'>): Promise<void> {
    if (!this.holds(img)) return;
    const blobs = await this.o.store.s3.deleteObject(IMAGE_BUCKET, ImageObjects.keyOf(basename(img.path)));
    await this.o.blobs.remove(blobs ?? [basename(img.path)]);
  }

  /** Removes objects of the system bucket no image refers to (an interrupted registration or deletion); run before serving. */
  async sweep(startedAt = new Date()): Promise<number> {
    const { store, blobs } = this.o;
    const before = startedAt.toISOString();
    const used = new Set((await store.images.list()).map((i) => i.path));
    let removed = 0;
    for (let after: string | undefined; ;) {
      const page = await store.s3.listObjects(IMAGE_BUCKET, { prefix: '', after, limit: 500 });
      for (const o of page) {
        // One written since this controller started belongs to a registration in flight, not to a crash.
        if (used.has(blobs.path(o.blobId)) || o.modifiedAt >= before) continue;
        await store.s3.deleteObject(IMAGE_BUCKET, o.key);
        await blobs.remove(o.blobs.map((b) => b.blobId));
        removed += 1;
      }
      if (page.length < 500) break;
      after = page[page.length - 1]?.key;
    }
    if (removed > 0) this.o.logger.info({ removed }, 'image objects: removed objects of registrations that did not finish');
    return removed;
  }
}

async function digestsOf(path: string, signal: AbortSignal | undefined): Promise<{ sha256: string; md5: string; size: number }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) })) {
    const b = chunk as Buffer;
    sha.update(b);
    md5.update(b);
    size += b.length;
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), size };
}
