import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ValidationError } from '../errors/validation-error.js';
import { convertDiskImage } from '../storage/convert-disk-image.js';
import { DiskImageError } from '../storage/disk-image-error.js';
import { formatOfFileName } from '../storage/format-of-file-name.js';
import { inspectDiskImage } from '../storage/inspect-disk-image.js';
import { growImage } from '../storage/qemu-img.js';
import type { Store } from '../store/open-store.js';
import type { Image } from '../store/repositories/images-repository.js';
import { ConflictError } from '../store/store-errors.js';
import type { WaitOptions } from '../util/deadline.js';
import { copyFileAbortable } from '../util/copy-file-abortable.js';
import type { ImageObjects } from './image-objects.js';
import { receiveUpload } from './receive-upload.js';
import { resolveImportPath } from './resolve-import-path.js';

export type ImageFormat = Image['format'];
/** What a file may be registered as: the stored formats plus vmdk and vdi, which are converted to qcow2. */
export type RegisterFormat = ImageFormat | 'vmdk' | 'vdi';

/** Temporary directories inside the store start with this (a conversion's temporary file with a dot): leftovers of a crash are recognisable. */
export const IMAGE_STORE_TEMP_PREFIX = '.tmp-';

export interface AddImageInput {
  readonly name: string;
  readonly ownerId: string;
  /** A file in one of this store's temporary directories: it is moved (or converted), not copied. */
  readonly file: string;
  /** As the caller declared it; undefined: a disk image of the format qemu-img detects. */
  readonly format?: RegisterFormat | undefined;
  /** How messages name the file (the user's path, an OVA member). */
  readonly displayName: string;
  /** A disk smaller than this is grown to it (an OVF disk's declared capacity). */
  readonly minVirtualSize?: number | undefined;
  /** The least memory its guest boots with; default the store's (core/memory-minimum.ts). */
  readonly minMemoryMib?: number | undefined;
}

/** The part of ImageObjects the image store uses. */
export type ImageObjectsSeam = Pick<ImageObjects, 'commit' | 'holds' | 'forget'>;

/**
 * The controller's image store: every image's bytes are an object of the
 * system bucket (image-objects.ts, one store with S3). Uploads, registered
 * files, OVA disks and captured disks are staged in a temporary directory
 * here (so a user's later change to the source file cannot change a base that
 * VMs' overlays sit on), checked with qemu-img, converted (vmdk and vdi to
 * qcow2), and only then moved into the object store with their rows.
 * Images of older data directories whose bytes are still files of `dir` keep
 * working and are moved into objects at start (move-image-files.ts).
 */
export class ImageStore {
  /**
   * @param importDir the one directory whose files an admin may register by
   * path (`--image-import-dir`), images and templates' packages alike;
   * undefined: registration by path is off and both come in as uploads only.
   */
  constructor(readonly dir: string, private readonly store: Store, readonly objects: ImageObjectsSeam, readonly importDir?: string) {}

  /**
   * Takes an uploaded body into the store: exactly `sizeBytes` bytes are
   * written to a temporary file (a shorter or longer body, or a client that
   * goes away, leaves nothing), their SHA-256 held against `sha256` if given,
   * then checked and recorded as a registered file is.
   */
  async upload(input: { name: string; ownerId: string; format?: RegisterFormat | undefined; sizeBytes: number; sha256?: string | undefined; minMemoryMiB?: number | undefined }, body: Readable, opts: WaitOptions = {}): Promise<Image> {
    await this.ensureNameFree(input.ownerId, input.name, 'name');
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    return this.withTempDir(async (tmp) => {
      const staged = join(tmp, 'upload');
      await receiveUpload(body, staged, input, 'image', opts);
      try {
        return await this.add({ name: input.name, ownerId: input.ownerId, file: staged, format: input.format, displayName: `upload ${input.name}`, minMemoryMib: input.minMemoryMiB }, opts);
      } catch (err) {
        if (err instanceof DiskImageError) throw new ValidationError('image', [{ field: err.problem === 'format-mismatch' && input.format !== undefined ? 'format' : 'body', message: err.message }]);
        throw err;
      }
    });
  }

  /**
   * Copies `path` into the store and records it. The copy is inspected, not
   * the source, so what is checked is what is kept. A name that is taken
   * fails before anything is copied.
   */
  async register(input: { name: string; path: string; format?: RegisterFormat | undefined; ownerId: string; minMemoryMiB?: number | undefined }, opts: WaitOptions = {}): Promise<Image> {
    const { path: real } = await resolveImportPath(this.importDir, input.path, 'image');
    const st = await stat(real).catch(() => undefined);
    if (!st?.isFile()) throw new ValidationError('image', [{ field: 'path', message: `${input.path} is not a readable file on the controller` }]);
    await this.ensureNameFree(input.ownerId, input.name, 'name');
    const format = input.format ?? formatOfFileName(input.path);
    return this.withTempDir(async (tmp) => {
      const staged = join(tmp, 'source');
      await copyFileAbortable(real, staged, opts.signal).catch((err: unknown) => {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new ValidationError('image', [{ field: 'path', message: `cannot read ${input.path}: ${(err as Error).message}` }]);
        throw err;
      });
      try {
        return await this.add({ name: input.name, ownerId: input.ownerId, file: staged, format, displayName: input.path, minMemoryMib: input.minMemoryMiB }, opts);
      } catch (err) {
        if (err instanceof DiskImageError) {
          // A mismatch with a format the caller gave is that field's fault; anything else is the file's.
          const field = err.problem === 'format-mismatch' && input.format !== undefined ? 'format' : 'path';
          throw new ValidationError('image', [{ field, message: err.message }]);
        }
        throw err;
      }
    });
  }

  /**
   * Takes a file staged in one of this store's temporary directories into the
   * store and records it: disk images are inspected (DiskImageError says why
   * one is refused), vmdk and vdi converted to qcow2 (beside it, in the same
   * temporary directory); kernels and initrds are kept as they are. The
   * checked file becomes an object of the system bucket and the image's
   * bytes (image-objects.ts): it appears there only together with its row.
   */
  async add(input: AddImageInput, opts: WaitOptions = {}): Promise<Image> {
    let format: ImageFormat;
    let virtualSize: number;
    let file = input.file;
    if (input.format === 'kernel' || input.format === 'initrd') {
      format = input.format;
      virtualSize = (await stat(input.file)).size;
    } else {
      const info = await inspectDiskImage(input.file, { declaredFormat: input.format, datastoreDir: this.dir, displayName: input.displayName, ...opts });
      format = info.format === 'raw' ? 'raw' : 'qcow2';
      virtualSize = info.virtualSize;
      if (info.format !== 'qcow2' && info.format !== 'raw') {
        file = `${input.file}.converted.qcow2`;
        await convertDiskImage(input.file, info.format, file, { format: 'qcow2' }, opts);
        await rm(input.file, { force: true });
      }
      if (input.minVirtualSize !== undefined && input.minVirtualSize > virtualSize) {
        await growImage(file, format, input.minVirtualSize, opts);
        virtualSize = input.minVirtualSize;
      }
    }
    return this.objects.commit({ file, name: input.name, ownerId: input.ownerId, format, virtualSizeBytes: virtualSize, minMemoryMib: input.minMemoryMib }, opts);
  }

  /** 409 on `field` if the owner already has an image of this name: checked before any copy or conversion. */
  async ensureNameFree(ownerId: string, name: string, field: string): Promise<void> {
    if (await this.store.images.findByName(ownerId, name)) throw new ConflictError('image', field, name, 'already exists for this owner');
  }

  /**
   * A fresh directory inside the store (same file system, so its files can be
   * renamed into the store); the caller removes it. Its name starts with
   * IMAGE_STORE_TEMP_PREFIX, so leftovers of a crash are recognisable.
   */
  async tempDir(): Promise<{ readonly path: string; remove(): Promise<void> }> {
    const path = join(this.dir, `${IMAGE_STORE_TEMP_PREFIX}${randomUUID()}`);
    await mkdir(path, { recursive: true, mode: 0o700 });
    return { path, remove: () => rm(path, { recursive: true, force: true }) };
  }

  /** Runs `fn` with a fresh temporary directory (see tempDir) and removes it afterwards, whatever happened. */
  async withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const tmp = await this.tempDir();
    try {
      return await fn(tmp.path);
    } finally {
      await tmp.remove();
    }
  }

  /** Removes the record, then its object and bytes (a file of an image not yet moved into the object store: the file). */
  async delete(id: string): Promise<void> {
    const img = await this.store.images.get(id);
    await this.store.images.delete(id);
    if (this.objects.holds(img)) await this.objects.forget(img);
    else await rm(img.path, { force: true });
  }

  /**
   * Removes the temporary directories a crash left (an upload cut by a
   * controller killed mid-stream, a capture or an import under way): run at
   * start, before the API serves, when none can be in use.
   */
  async sweepTemp(): Promise<number> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    let removed = 0;
    for (const name of await readdir(this.dir)) {
      if (!name.startsWith(IMAGE_STORE_TEMP_PREFIX)) continue;
      await rm(join(this.dir, name), { recursive: true, force: true });
      removed += 1;
    }
    return removed;
  }
}
